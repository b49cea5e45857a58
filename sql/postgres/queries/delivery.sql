-- name: UpsertEndpoint :exec
-- Declares an endpoint. Its state (paused, failing) is kept; a disabled
-- endpoint whose spec changed is enabled again: the operator fixed it.
INSERT INTO endpoints (name, spec, origin, created_at, updated_at)
VALUES (@name, @spec, @origin, @now, @now)
ON CONFLICT (name) DO UPDATE SET
    spec = excluded.spec,
    origin = excluded.origin,
    updated_at = excluded.updated_at,
    disabled_at = CASE WHEN endpoints.spec = excluded.spec THEN endpoints.disabled_at END,
    disabled_reason = CASE WHEN endpoints.spec = excluded.spec THEN endpoints.disabled_reason ELSE '' END;

-- name: GetEndpoint :one
SELECT * FROM endpoints WHERE name = $1;

-- name: ListEndpoints :many
SELECT * FROM endpoints ORDER BY name;

-- name: SetEndpointPaused :execrows
UPDATE endpoints SET paused = @paused, updated_at = @now WHERE name = @name;

-- name: DisableEndpoint :execrows
UPDATE endpoints SET disabled_at = @now, disabled_reason = @reason, updated_at = @now
WHERE name = @name AND disabled_at IS NULL;

-- name: EnableEndpoint :execrows
UPDATE endpoints SET disabled_at = NULL, disabled_reason = '', failing_since = NULL, updated_at = @now
WHERE name = @name;

-- name: MarkEndpointFailing :one
-- Records a failed delivery and returns since when the endpoint has been
-- failing without a success in between.
UPDATE endpoints SET failing_since = coalesce(failing_since, @now) WHERE name = @name
RETURNING failing_since;

-- name: MarkEndpointHealthy :exec
UPDATE endpoints SET failing_since = NULL WHERE name = @name AND failing_since IS NOT NULL;

-- name: NextRunAt :one
-- When the endpoint's earliest pending job is due (no rows: none pending).
SELECT run_at FROM jobs
WHERE endpoint = @endpoint AND state IN ('scheduled', 'available', 'retrying')
ORDER BY run_at LIMIT 1;

-- name: NextLeaseExpiry :one
-- When the endpoint's earliest running job's lease expires (no rows: none
-- running).
SELECT lease_expires_at FROM jobs
WHERE endpoint = @endpoint AND state = 'running' AND lease_expires_at IS NOT NULL
ORDER BY lease_expires_at LIMIT 1;

-- name: ClaimExpiredLeases :many
-- Leases up to max running jobs of one endpoint whose lease expired: their
-- worker died or hung. Nothing is claimed for a paused or disabled
-- endpoint, whichever process changed it. SKIP LOCKED lets workers of several
-- processes claim side by side.
UPDATE jobs SET
    lease_id = @lease_id,
    lease_expires_at = @lease_until,
    attempts = attempts + 1,
    updated_at = @now
WHERE id IN (
    SELECT j.id FROM jobs j
    WHERE j.endpoint = @endpoint AND j.state = 'running' AND j.lease_expires_at <= @now
      AND EXISTS (SELECT 1 FROM endpoints e
                  WHERE e.name = j.endpoint AND NOT e.paused AND e.disabled_at IS NULL)
    ORDER BY j.lease_expires_at
    LIMIT @max_jobs
    FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: ClaimReadyJobs :many
-- Leases up to max pending jobs of one endpoint whose time has come, in
-- run-time order, walking the partial index jobs_ready so that the cost
-- does not grow with the backlog. A job with an ordering key is due only
-- when no older job with that key is unfinished (one probe of the partial
-- index jobs_ordering_unfinished), so each key's jobs go one at a time, in
-- order. SKIP LOCKED lets workers of several
-- processes claim side by side.
UPDATE jobs SET
    state = 'running',
    lease_id = @lease_id,
    lease_expires_at = @lease_until,
    attempts = attempts + 1,
    first_attempt_at = coalesce(first_attempt_at, @now),
    updated_at = @now
WHERE id IN (
    SELECT j.id FROM jobs j
    WHERE j.endpoint = @endpoint
      AND j.state IN ('scheduled', 'available', 'retrying') AND j.run_at <= @now
      AND EXISTS (SELECT 1 FROM endpoints e
                  WHERE e.name = j.endpoint AND NOT e.paused AND e.disabled_at IS NULL)
      AND (j.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM jobs o
            WHERE o.endpoint = j.endpoint AND o.ordering_key = j.ordering_key AND o.id < j.id
              AND o.state IN ('scheduled', 'available', 'retrying', 'running')))
    ORDER BY j.run_at
    LIMIT @max_jobs
    FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: GetJob :one
SELECT * FROM jobs WHERE id = $1;

-- name: ListAttempts :many
SELECT * FROM attempts WHERE job_id = $1 ORDER BY attempt_number, started_at;

-- name: NotifyJobs :exec
-- Wakes the workers of every process (they LISTEN on dispatchd_jobs):
-- payload is the comma-separated names of endpoints that got jobs.
SELECT pg_notify('dispatchd_jobs', @payload::text);

-- name: ListenJobs :exec
LISTEN dispatchd_jobs;

-- name: CountUnfinishedJobsByState :many
-- Queue depth by state, for metrics (finished jobs are counted as they
-- finish, not here). Each count reads one partial index and no row:
-- jobs_state_id for the rare states, jobs_ready for every waiting job
-- (available is what the rare ones leave of them), jobs_leased for
-- running. One statement: the counts are of one snapshot.
SELECT 'scheduled' AS state, count(*) AS n FROM jobs
WHERE state = 'scheduled' AND state IN ('scheduled', 'retrying', 'cancelled', 'dead')
UNION ALL
SELECT 'retrying', count(*) FROM jobs
WHERE state = 'retrying' AND state IN ('scheduled', 'retrying', 'cancelled', 'dead')
UNION ALL
SELECT 'available',
    (SELECT count(*) FROM jobs WHERE state IN ('scheduled', 'available', 'retrying'))
    - (SELECT count(*) FROM jobs WHERE (state = 'scheduled' OR state = 'retrying') AND state IN ('scheduled', 'retrying', 'cancelled', 'dead'))
UNION ALL
SELECT 'running', count(*) FROM jobs
WHERE state = 'running';

-- name: OldestReadyRunAt :one
-- The run time of the job that has waited longest past it (no rows: none
-- is ready).
SELECT run_at FROM jobs
WHERE state IN ('scheduled', 'available', 'retrying') AND run_at <= @now
ORDER BY run_at LIMIT 1;

-- name: GetRateBucket :one
-- FOR NO KEY UPDATE: workers of every process take tokens one after
-- another, while ingestion's FOR KEY SHARE of the endpoint (LockEndpoints)
-- does not wait for them.
SELECT rate_tokens, rate_updated_at FROM endpoints WHERE name = @name FOR NO KEY UPDATE;

-- name: SetRateBucket :exec
UPDATE endpoints SET rate_tokens = @rate_tokens, rate_updated_at = @rate_updated_at WHERE name = @name;

-- name: PruneAttempts :execrows
-- Attempts of finished jobs older than the cutoffs, a batch at a time.
-- The last two conditions are the partial index jobs_finished and a range
-- of it, one index scan (SQLite's query has the same shape: there the OR
-- alone scanned the whole table).
DELETE FROM attempts WHERE job_id IN (
    SELECT id FROM jobs
    WHERE ((state IN ('completed', 'cancelled') AND finished_at < @finished_before)
        OR (state = 'dead' AND finished_at < @dead_before))
      AND state IN ('completed', 'cancelled', 'dead') AND finished_at < greatest(@finished_before, @dead_before)
    LIMIT @max_jobs);

-- name: PruneJobs :execrows
DELETE FROM jobs WHERE id IN (
    SELECT j.id FROM jobs j
    WHERE ((j.state IN ('completed', 'cancelled') AND j.finished_at < @finished_before)
        OR (j.state = 'dead' AND j.finished_at < @dead_before))
      AND j.state IN ('completed', 'cancelled', 'dead') AND j.finished_at < greatest(@finished_before, @dead_before)
      AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = j.id)
    LIMIT @max_jobs);

-- name: PruneEvents :execrows
-- Events older than the cutoff whose jobs are all gone: their delivery ids
-- are forgotten with them (the deduplication window is the retention).
DELETE FROM events WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.received_at < @received_before
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.payload_event_id = e.id)
    LIMIT @max_events);

-- name: TryPruneLock :one
-- The key spells "prun" (migrations use "disp").
-- Only one process prunes at a time; the lock is the session's, released
-- by PruneUnlock or when the connection ends.
SELECT pg_try_advisory_lock(1886549358);

-- name: PruneUnlock :exec
SELECT pg_advisory_unlock(1886549358);

-- name: FinishJobs :many
-- Ends the leases of a group commit's deliveries in one statement (one
-- row per array position, each job named once). Fenced: only the holder
-- of a job's current lease finishes it; the positions returned are those
-- whose lease was held. A zero run_at keeps the job's run time, a zero
-- finished_at is NULL (a retry). id = ANY(@ids) lets the planner look the
-- jobs up by key: it cannot tell how many rows the arrays hold, and
-- otherwise hashed the whole table.
UPDATE jobs SET
    state = f.state,
    run_at = coalesce(nullif(f.run_at, '0001-01-01 00:00:00Z'::timestamptz), jobs.run_at),
    last_error = f.last_error,
    finished_at = nullif(f.finished_at, '0001-01-01 00:00:00Z'::timestamptz),
    lease_id = NULL,
    lease_expires_at = NULL,
    updated_at = f.now
FROM (
    -- Set-returning functions in a select list run in step.
    SELECT unnest(@ids::text[]) AS id, unnest(@lease_ids::text[]) AS lease_id,
           unnest(@states::text[]) AS state, unnest(@last_errors::text[]) AS last_error,
           unnest(@run_ats::timestamptz[]) AS run_at, unnest(@finished_ats::timestamptz[]) AS finished_at,
           unnest(@nows::timestamptz[]) AS now, generate_subscripts(@ids::text[], 1) AS pos
) f
WHERE jobs.id = ANY(@ids::text[]) AND jobs.id = f.id AND jobs.lease_id = f.lease_id AND jobs.state = 'running'
RETURNING f.pos;

-- name: InsertAttempts :exec
-- A group commit's attempts in one statement, one row per array position.
-- Arrays hold no NULL here: an empty endpoint or request headers (unknown) and a -1
-- Retry-After (none) are stored as NULL.
INSERT INTO attempts (id, job_id, attempt_number, batch_id, started_at, latency_us, status_code, outcome, error_class, error, response_excerpt,
    endpoint, request_headers, retry_after_us)
SELECT unnest(@ids::text[]), unnest(@job_ids::text[]), unnest(@attempt_numbers::integer[]), unnest(@batch_ids::text[]),
       unnest(@started_ats::timestamptz[]), unnest(@latencies_us::bigint[]), unnest(@status_codes::integer[]),
       unnest(@outcomes::text[]), unnest(@error_classes::text[]), unnest(@errors::text[]), unnest(@response_excerpts::text[]),
       nullif(unnest(@endpoints::text[]), ''), nullif(unnest(@request_headers::text[]), ''), nullif(unnest(@retry_afters_us::bigint[]), -1);

-- name: AutovacuumOn :one
SELECT current_setting('autovacuum') = 'on';

-- name: QueueNeedsVacuum :one
-- Whether a table that churns has changed enough since its last vacuum or
-- analyze to need one, by autovacuum's own default thresholds. An empty
-- table is never analyzed: statistics saying "no rows" would stay while
-- the table fills, and the planner would then pick plans (nested loops
-- over the whole queue) that make every claim take seconds.
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_class c
    WHERE c.oid IN (to_regclass('jobs'), to_regclass('attempts'), to_regclass('events'), to_regclass('endpoints'))
      AND (pg_stat_get_dead_tuples(c.oid) > 50 + 0.2 * greatest(c.reltuples, 0)
           OR pg_stat_get_mod_since_analyze(c.oid) > 50 + 0.1 * greatest(c.reltuples, 0)))::bool AS needed;

-- name: LiftStatementTimeout :exec
-- A vacuum after a long time without one may outlast statement_timeout;
-- VacuumQueue runs without it, and ResetStatementTimeout restores it.
SELECT set_config('statement_timeout', '0', false);

-- name: VacuumQueue :exec
-- The tables that churn: jobs are updated at every claim and outcome and
-- deleted by retention, with their attempts and events; endpoints hold the
-- rate-limit buckets, updated at every draw.
VACUUM (ANALYZE) jobs, attempts, events, endpoints;

-- name: ResetStatementTimeout :exec
RESET statement_timeout;
