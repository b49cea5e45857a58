-- Events have a type (order.created…): from the source's event_type, or
-- given to POST /v1/events. '' when the source does not say.
ALTER TABLE events ADD COLUMN type TEXT NOT NULL DEFAULT '';
-- GET /v1/events?type=… pages by id (newest first) within one type.
CREATE INDEX events_type_id ON events (type, id);

-- The event catalog: every type declared in the file or seen in an
-- event, with how many were stored and the body of the last one.
CREATE TABLE event_types (
    name          TEXT    NOT NULL PRIMARY KEY,
    description   TEXT    NOT NULL DEFAULT '',
    schema        TEXT,                       -- JSON Schema; NULL: none
    declared      INTEGER NOT NULL DEFAULT 0,
    seen_count    INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER,
    last_seen_at  INTEGER,
    example       BLOB,
    updated_at    INTEGER NOT NULL
);
