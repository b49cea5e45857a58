-- Times are unix microseconds (INTEGER): SQLite has no timestamp type, and
-- integers sort and compare exactly.

-- One row per accepted webhook. (source, delivery_id) is the provider's
-- delivery id, unique per source: a repeat is answered with the original
-- event. NULL delivery ids (a source without one) never conflict.
CREATE TABLE events (
    id           TEXT    NOT NULL PRIMARY KEY,
    source       TEXT    NOT NULL,
    delivery_id  TEXT,
    content_type TEXT    NOT NULL,
    headers      TEXT    NOT NULL, -- JSON object of the request headers, credentials removed
    body         BLOB    NOT NULL,
    received_at  INTEGER NOT NULL,
    UNIQUE (source, delivery_id)
);

CREATE INDEX events_source_received_at ON events (source, received_at);

-- One row per delivery to one endpoint.
CREATE TABLE jobs (
    id           TEXT    NOT NULL PRIMARY KEY,
    endpoint     TEXT    NOT NULL,
    event_id     TEXT    REFERENCES events (id),
    payload      BLOB    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX jobs_event_id ON jobs (event_id);
CREATE INDEX jobs_state_run_at ON jobs (state, run_at);
