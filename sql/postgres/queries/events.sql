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

-- name: InsertEvents :many
-- A group commit's events in one statement, one row per array position,
-- inserted in array order (the store core's (source, delivery id) order,
-- so that racing commits take the delivery ids' locks in one order). One
-- statement instead of one per event: on PostgreSQL each statement's bind,
-- executor start and end were a fifth of the server's work per webhook
-- (profiled). An empty delivery id is NULL. A conflict (the delivery id
-- is stored already) inserts nothing: the ids returned are those inserted.
INSERT INTO events (id, source, delivery_id, content_type, headers, body, received_at, type)
SELECT e.id, e.source, nullif(e.delivery_id, ''), e.content_type, e.headers::jsonb, e.body, e.received_at, e.type
FROM (
    -- Set-returning functions in a select list run in step.
    SELECT unnest(@ids::text[]) AS id, unnest(@sources::text[]) AS source,
           unnest(@delivery_ids::text[]) AS delivery_id, unnest(@content_types::text[]) AS content_type,
           unnest(@headers::text[]) AS headers, unnest(@bodies::bytea[]) AS body,
           unnest(@received_ats::timestamptz[]) AS received_at, unnest(@types::text[]) AS type,
           generate_subscripts(@ids::text[], 1) AS pos
) e
ORDER BY e.pos
ON CONFLICT (source, delivery_id) DO NOTHING
RETURNING id;

-- name: InsertUncoalescedJobs :exec
-- A group commit's jobs without a coalesce key in one statement, one row
-- per array position, in array order (as InsertEvents). With nothing to
-- coalesce into, each is a plain insert. An empty text is NULL, and so is
-- a zero finished_at.
INSERT INTO jobs (id, endpoint, event_id, payload, state, attempts, run_at, created_at, updated_at,
                  ordering_key, source, idempotency_key, retry, trace_parent, payload_event_id,
                  last_error, finished_at)
SELECT j.id, j.endpoint, nullif(j.event_id, ''), j.payload, j.state, 0, j.run_at, j.created_at, j.updated_at,
       nullif(j.ordering_key, ''), nullif(j.source, ''), nullif(j.idempotency_key, ''), nullif(j.retry, '')::jsonb,
       j.trace_parent, nullif(j.payload_event_id, ''), j.last_error,
       nullif(j.finished_at, '0001-01-01 00:00:00Z'::timestamptz)
FROM (
    SELECT unnest(@ids::text[]) AS id, unnest(@endpoints::text[]) AS endpoint,
           unnest(@event_ids::text[]) AS event_id, unnest(@payloads::bytea[]) AS payload,
           unnest(@states::text[]) AS state, unnest(@run_ats::timestamptz[]) AS run_at,
           unnest(@created_ats::timestamptz[]) AS created_at, unnest(@updated_ats::timestamptz[]) AS updated_at,
           unnest(@ordering_keys::text[]) AS ordering_key, unnest(@sources::text[]) AS source,
           unnest(@idempotency_keys::text[]) AS idempotency_key, unnest(@retries::text[]) AS retry,
           unnest(@trace_parents::text[]) AS trace_parent, unnest(@payload_event_ids::text[]) AS payload_event_id,
           unnest(@last_errors::text[]) AS last_error, unnest(@finished_ats::timestamptz[]) AS finished_at,
           generate_subscripts(@ids::text[], 1) AS pos
) j
ORDER BY j.pos;

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
