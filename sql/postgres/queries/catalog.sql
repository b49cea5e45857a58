-- name: ListEvents :many
-- Newest first, without bodies, in id order (the primary key); the id range is the
-- page (before_id) narrowed by the time range. The store core picks this shape
-- when no indexed filter is given.
SELECT id, source, delivery_id, content_type, type, received_at FROM events
WHERE (sqlc.narg('source')::text IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('type')::text IS NULL OR type = sqlc.narg('type'))
  AND (sqlc.narg('delivery_id')::text IS NULL OR delivery_id = sqlc.narg('delivery_id'))
  AND (sqlc.narg('received_after')::timestamptz IS NULL OR received_at >= sqlc.narg('received_after'))
  AND (sqlc.narg('received_before')::timestamptz IS NULL OR received_at < sqlc.narg('received_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListEventsByReceived :many
-- A time window and no other filter (the store core uses it only then):
-- the window's ids on the time's index, sorted, then the page's rows.
SELECT id, source, delivery_id, content_type, type, received_at FROM events WHERE id IN (
    SELECT w.id FROM events AS w
    WHERE w.received_at >= @received_after AND w.received_at < @received_before
      AND w.id > @after_id AND w.id < @before_id
    ORDER BY w.id DESC LIMIT @page_size)
ORDER BY id DESC;

-- name: ListEventsBySource :many
-- One source's events, on its index.
SELECT id, source, delivery_id, content_type, type, received_at FROM events
WHERE source = sqlc.narg('source')
  AND (sqlc.narg('type')::text IS NULL OR type = sqlc.narg('type'))
  AND (sqlc.narg('delivery_id')::text IS NULL OR delivery_id = sqlc.narg('delivery_id'))
  AND (sqlc.narg('received_after')::timestamptz IS NULL OR received_at >= sqlc.narg('received_after'))
  AND (sqlc.narg('received_before')::timestamptz IS NULL OR received_at < sqlc.narg('received_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListEventsByType :many
-- One type's events, on its index.
SELECT id, source, delivery_id, content_type, type, received_at FROM events
WHERE (sqlc.narg('source')::text IS NULL OR source = sqlc.narg('source'))
  AND type = sqlc.narg('type')
  AND (sqlc.narg('delivery_id')::text IS NULL OR delivery_id = sqlc.narg('delivery_id'))
  AND (sqlc.narg('received_after')::timestamptz IS NULL OR received_at >= sqlc.narg('received_after'))
  AND (sqlc.narg('received_before')::timestamptz IS NULL OR received_at < sqlc.narg('received_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListEventsByDeliveryID :many
-- The events with a provider's delivery id: at most one per source, each
-- found on the unique (source, delivery_id) index. The sources are walked
-- on that index too, one seek each (a loose index scan), so the lookup
-- costs a few seeks per source whatever the table's size; an index of
-- delivery ids alone would cost every webhook's commit a random page.
WITH RECURSIVE sources (name) AS (
    SELECT min(source) FROM events
    UNION ALL
    SELECT (SELECT min(n.source) FROM events AS n WHERE n.source > sources.name)
    FROM sources WHERE sources.name IS NOT NULL
)
SELECT e.id, e.source, e.delivery_id, e.content_type, e.type, e.received_at
FROM sources JOIN events AS e ON e.source = sources.name AND e.delivery_id = sqlc.narg('delivery_id')
WHERE (sqlc.narg('source')::text IS NULL OR e.source = sqlc.narg('source'))
  AND (sqlc.narg('type')::text IS NULL OR e.type = sqlc.narg('type'))
  AND (sqlc.narg('received_after')::timestamptz IS NULL OR e.received_at >= sqlc.narg('received_after'))
  AND (sqlc.narg('received_before')::timestamptz IS NULL OR e.received_at < sqlc.narg('received_before'))
  AND e.id > @after_id AND e.id < @before_id
ORDER BY e.id DESC
LIMIT @page_size;

-- name: RecordEventTypeCount :exec
-- Adds a group commit's events of one type to this process's shard; the
-- example is the newest body.
INSERT INTO event_type_counts (name, shard, seen_count, first_seen_at, last_seen_at, example)
VALUES (@name, @shard, @seen, @first_seen_at, @last_seen_at, @example)
ON CONFLICT (name, shard) DO UPDATE SET
    seen_count = event_type_counts.seen_count + excluded.seen_count,
    first_seen_at = least(event_type_counts.first_seen_at, excluded.first_seen_at),
    example = CASE WHEN excluded.last_seen_at >= event_type_counts.last_seen_at
                   THEN excluded.example ELSE event_type_counts.example END,
    last_seen_at = greatest(event_type_counts.last_seen_at, excluded.last_seen_at);

-- name: DeclareEventType :exec
INSERT INTO event_types (name, description, schema, declared, updated_at)
VALUES (@name, @description, @schema, true, @now)
ON CONFLICT (name) DO UPDATE SET
    description = excluded.description, schema = excluded.schema, declared = true, updated_at = excluded.updated_at;

-- name: UndeclareEventTypes :exec
-- Types the file no longer declares stay in the catalog as seen types.
UPDATE event_types SET declared = false, schema = NULL, description = '', updated_at = @now
WHERE declared AND NOT (name = ANY(@names::text[]));

-- name: ListEventTypes :many
SELECT * FROM event_types ORDER BY name;

-- name: ListEventTypeCounts :many
-- The shards of each type summed, with the example of the shard that saw
-- the type last.
SELECT c.name,
    CAST(sum(c.seen_count) AS bigint) AS seen_count,
    CAST(min(c.first_seen_at) AS timestamptz) AS first_seen_at,
    CAST(max(c.last_seen_at) AS timestamptz) AS last_seen_at,
    (SELECT n.example FROM event_type_counts n WHERE n.name = c.name
     ORDER BY n.last_seen_at DESC LIMIT 1) AS example
FROM event_type_counts c
GROUP BY c.name
ORDER BY c.name;
