-- The inbound request log: one row per request to /v1/webhooks/{source}.
-- An accepted request is written in the group commit of its event and
-- pruned with events. Every other outcome (refused, duplicate) is bounded
-- twice: at most 1000 rows per bucket (the source, or '*' for all unknown
-- source names together, so made-up names cannot add buckets) and 24 h of
-- retention. body_excerpt holds the first 2 KiB of refused bodies only.
CREATE TABLE requests (
    id           TEXT    NOT NULL PRIMARY KEY, -- req_…, sorts by time
    source       TEXT    NOT NULL,
    bucket       TEXT    NOT NULL,
    accepted     BOOLEAN NOT NULL,             -- true: stored as an event
    received_at  TIMESTAMPTZ NOT NULL,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    status_code  INTEGER NOT NULL,
    size         BIGINT  NOT NULL,
    remote_addr  TEXT    NOT NULL DEFAULT '',
    event_id     TEXT    NOT NULL DEFAULT '',
    headers      TEXT    NOT NULL DEFAULT '{}', -- credentials removed
    body_excerpt BYTEA   NOT NULL DEFAULT ''
);
CREATE INDEX requests_source_id ON requests (source, id);
CREATE INDEX requests_outcome_id ON requests (outcome, id);
CREATE INDEX requests_bucket_id ON requests (accepted, bucket, id);
CREATE INDEX requests_received_at ON requests (received_at);

-- Counts of received requests per source, minute and outcome: the stats'
-- time series, exact across processes even when refused rows are capped.
CREATE TABLE request_counts (
    source TEXT    NOT NULL,
    minute TIMESTAMPTZ NOT NULL,
    outcome TEXT   NOT NULL,
    n      BIGINT  NOT NULL,
    PRIMARY KEY (source, minute, outcome)
);

-- Who did what: bulk actions, rotations, pauses, deletes, keys.
CREATE TABLE audit_entries (
    id       TEXT    NOT NULL PRIMARY KEY, -- aud_…, sorts by time
    at       TIMESTAMPTZ NOT NULL,
    key_id   TEXT    NOT NULL,
    key_name TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL DEFAULT '',
    detail   TEXT    NOT NULL DEFAULT ''
);

-- Requests per API key and UTC day.
CREATE TABLE key_usage (
    key_id TEXT    NOT NULL,
    day    TEXT    NOT NULL, -- YYYY-MM-DD
    n      BIGINT  NOT NULL,
    PRIMARY KEY (key_id, day)
);

-- Delivery stats read attempts by time.
CREATE INDEX attempts_started_at ON attempts (started_at);
