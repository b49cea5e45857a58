-- name: GetEventIDByDeliveryID :one
SELECT id FROM events WHERE source = $1 AND delivery_id = $2;

-- name: GetEvent :one
SELECT * FROM events WHERE id = $1;

-- name: CountEventsBySource :one
SELECT count(*) FROM events WHERE source = $1;

-- name: InsertJob :one
-- Inserts a job, or, when a pending job of the endpoint has the same
-- coalesce key, replaces that job's payload (the latest update wins) and
-- returns its id instead.
INSERT INTO jobs (id, endpoint, event_id, payload, state, attempts, run_at, created_at, updated_at,
                  coalesce_key, ordering_key, source, idempotency_key, retry, trace_parent, payload_event_id,
                  last_error, finished_at)
VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (endpoint, coalesce_key) WHERE coalesce_key IS NOT NULL AND state IN ('scheduled', 'available', 'retrying')
DO UPDATE SET payload = excluded.payload, payload_event_id = excluded.payload_event_id, updated_at = excluded.updated_at
RETURNING id;

-- name: ListJobsByEvent :many
SELECT * FROM jobs WHERE event_id = $1 ORDER BY id;

-- name: Ping :one
SELECT 1;

-- name: InsertEventsBatch :batchone
-- InsertEvent for a whole group commit in one round trip: a conflict (a
-- delivery id already stored) returns no row.
INSERT INTO events (id, source, delivery_id, content_type, headers, body, received_at, type)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (source, delivery_id) DO NOTHING
RETURNING id;

-- name: InsertJobsBatch :batchone
-- InsertJob for a whole group commit in one round trip.
INSERT INTO jobs (id, endpoint, event_id, payload, state, attempts, run_at, created_at, updated_at,
                  coalesce_key, ordering_key, source, idempotency_key, retry, trace_parent, payload_event_id,
                  last_error, finished_at)
VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (endpoint, coalesce_key) WHERE coalesce_key IS NOT NULL AND state IN ('scheduled', 'available', 'retrying')
DO UPDATE SET payload = excluded.payload, payload_event_id = excluded.payload_event_id, updated_at = excluded.updated_at
RETURNING id;

-- name: GetEventBodies :many
-- The bodies of the events that routed jobs take their payload from.
SELECT id, body FROM events WHERE id = ANY(@ids::text[]);
