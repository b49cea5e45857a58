-- Events have a type (order.created…): from the source's event_type, or
-- given to POST /v1/events. '' when the source does not say.
ALTER TABLE events ADD COLUMN type TEXT NOT NULL DEFAULT '';
-- GET /v1/events?type=… pages by id (newest first) within one type.
CREATE INDEX events_type_id ON events (type, id);

-- The event catalog: every type declared in the file or seen in an
-- event, with how many were stored and the body of the last one.
CREATE TABLE event_types (
    name          TEXT        NOT NULL PRIMARY KEY,
    description   TEXT        NOT NULL DEFAULT '',
    schema        JSONB,                       -- JSON Schema; NULL: none
    declared      BOOLEAN     NOT NULL DEFAULT false,
    seen_count    BIGINT      NOT NULL DEFAULT 0,
    first_seen_at TIMESTAMPTZ,
    last_seen_at  TIMESTAMPTZ,
    example       BYTEA,
    updated_at    TIMESTAMPTZ NOT NULL
);
