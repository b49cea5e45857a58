-- name: InsertRequests :exec
-- Requests to the log in one statement, one row per array position (as
-- InsertEvents, one statement instead of one per request).
INSERT INTO requests (id, source, bucket, accepted, received_at, outcome, reason, status_code, size, remote_addr, event_id, headers, body_excerpt)
SELECT unnest(@ids::text[]), unnest(@sources::text[]), unnest(@buckets::text[]), unnest(@accepted::boolean[]),
       unnest(@received_ats::timestamptz[]), unnest(@outcomes::text[]), unnest(@reasons::text[]),
       unnest(@status_codes::integer[]), unnest(@sizes::bigint[]), unnest(@remote_addrs::text[]),
       unnest(@event_ids::text[]), unnest(@headers::text[]), unnest(@body_excerpts::bytea[]);

-- name: TrimRequests :execrows
-- Keeps the newest @skip + 1 refused or duplicate rows of a bucket.
DELETE FROM requests
WHERE NOT requests.accepted AND requests.bucket = @trim_bucket AND requests.id < coalesce((
    SELECT r.id FROM requests AS r WHERE NOT r.accepted AND r.bucket = @trim_bucket
    ORDER BY r.id DESC LIMIT 1 OFFSET @skip), '');

-- name: CountRequest :exec
-- Adds to the commit's own shard of the count (0025).
INSERT INTO request_count_shards (source, minute, outcome, shard, n) VALUES (@source, @minute, @outcome, @shard, @n)
ON CONFLICT (source, minute, outcome, shard) DO UPDATE SET n = request_count_shards.n + excluded.n;

-- name: ListRequests :many
-- Newest first in id order (the primary key); the id range is after_id (live
-- tail) to before_id (the page). The store core picks this shape when no
-- indexed filter is given.
SELECT * FROM requests
WHERE (sqlc.narg('source')::text IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('outcome')::text IS NULL OR outcome = sqlc.narg('outcome'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListRequestsBySource :many
-- One source's requests, on its index.
SELECT * FROM requests
WHERE source = sqlc.narg('source')
  AND (sqlc.narg('outcome')::text IS NULL OR outcome = sqlc.narg('outcome'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListRequestsByOutcome :many
-- One outcome's requests, on its index.
SELECT * FROM requests
WHERE (sqlc.narg('source')::text IS NULL OR source = sqlc.narg('source'))
  AND outcome = sqlc.narg('outcome')
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: GetRequest :one
SELECT * FROM requests WHERE id = @id;

-- name: PruneRequests :execrows
DELETE FROM requests WHERE id IN (
    SELECT r.id FROM requests AS r
    WHERE r.received_at < (CASE WHEN r.accepted THEN @accepted_before::timestamptz ELSE @refused_before::timestamptz END)
    LIMIT @max_rows);

-- name: PruneRequestCounts :execrows
DELETE FROM request_count_shards WHERE minute < @before;

-- name: PruneLegacyRequestCounts :execrows
-- The counts from before the shards (0025).
DELETE FROM request_counts WHERE minute < @before;

-- name: RequestSeries :many
-- The shards and the counts from before them (0025), summed.
SELECT c.minute, c.outcome, sum(c.n)::bigint AS n FROM (
    SELECT s.minute, s.outcome, s.n FROM request_count_shards AS s
    WHERE s.minute >= @since AND (sqlc.narg('source')::text IS NULL OR s.source = sqlc.narg('source'))
    UNION ALL
    SELECT l.minute, l.outcome, l.n FROM request_counts AS l
    WHERE l.minute >= @since AND (sqlc.narg('source')::text IS NULL OR l.source = sqlc.narg('source'))
) AS c
GROUP BY c.minute, c.outcome ORDER BY c.minute;

-- name: DeliverySeries :many
-- The attempts of one endpoint per bucket of @bucket seconds and outcome,
-- read on attempts_endpoint_started_at alone (no job lookup).
SELECT date_bin(make_interval(secs => @bucket_secs::bigint), started_at, 'epoch'::timestamptz)::timestamptz AS at, outcome, count(*) AS n
FROM attempts WHERE endpoint = @endpoint::text AND started_at >= @since
GROUP BY 1, outcome ORDER BY 1;

-- name: DeliverySeriesUnattributed :many
-- DeliverySeries of the attempts recorded before attempts named their
-- endpoint (0017), each job looked up.
SELECT date_bin(make_interval(secs => @bucket_secs::bigint), a.started_at, 'epoch'::timestamptz)::timestamptz AS at, a.outcome, count(*) AS n
FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
WHERE a.endpoint IS NULL AND a.started_at >= @since AND j.endpoint = @endpoint::text
GROUP BY 1, a.outcome ORDER BY 1;

-- name: DeliverySeriesAll :many
-- DeliverySeries of every endpoint: the window's attempts alone (on
-- attempts_started_at), without a job lookup per attempt.
SELECT date_bin(make_interval(secs => @bucket_secs::bigint), started_at, 'epoch'::timestamptz)::timestamptz AS at, outcome, count(*) AS n
FROM attempts WHERE started_at >= @since
GROUP BY 1, outcome ORDER BY 1;

-- name: RecentLatenciesAll :many
-- RecentLatencies of every endpoint, without a job lookup per attempt.
SELECT latency_us FROM attempts WHERE started_at >= @since
ORDER BY started_at DESC LIMIT @max_rows;

-- name: RecentLatencies :many
-- The latencies of one endpoint's newest attempts of the window: a sample
-- for p50/p95, on attempts_endpoint_started_at alone.
SELECT latency_us FROM attempts WHERE endpoint = @endpoint::text AND started_at >= @since
ORDER BY started_at DESC LIMIT @max_rows;

-- name: RecentLatenciesUnattributed :many
-- RecentLatencies of the attempts recorded before they named their endpoint.
SELECT a.latency_us FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
WHERE a.endpoint IS NULL AND a.started_at >= @since AND j.endpoint = @endpoint::text
ORDER BY a.started_at DESC LIMIT @max_rows;

-- name: QueueDepth :one
SELECT count(*) AS depth, coalesce(min(run_at), 'epoch'::timestamptz)::timestamptz AS oldest_ready FROM jobs
WHERE state IN ('scheduled', 'available', 'retrying') AND run_at <= @now
  AND (sqlc.narg('endpoint')::text IS NULL OR endpoint = sqlc.narg('endpoint'));

-- name: ListBulkJobIDs :many
-- One batch of the jobs a bulk action matches, in id order after after_id.
SELECT id FROM jobs
WHERE (sqlc.narg('state')::text IS NULL OR state = sqlc.narg('state'))
  AND (sqlc.narg('endpoint')::text IS NULL OR endpoint = sqlc.narg('endpoint'))
  AND (sqlc.narg('source')::text IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND state = ANY(@states::text[])
  AND id > @after_id
ORDER BY id
LIMIT @max_rows;

-- name: InsertAuditEntry :exec
INSERT INTO audit_entries (id, at, key_id, key_name, action, target, detail)
VALUES (@id, @at, @key_id, @key_name, @action, @target, @detail);

-- name: ListAuditEntries :many
SELECT * FROM audit_entries
WHERE (sqlc.narg('before_id')::text IS NULL OR id < sqlc.narg('before_id'))
ORDER BY id DESC LIMIT @page_size;

-- name: CountKeyUse :exec
INSERT INTO key_usage (key_id, day, n) VALUES (@key_id, @day, @n)
ON CONFLICT (key_id, day) DO UPDATE SET n = key_usage.n + excluded.n;

-- name: ListKeyUsage :many
SELECT * FROM key_usage WHERE day >= @since ORDER BY key_id, day;
