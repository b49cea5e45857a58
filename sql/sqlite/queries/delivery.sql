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
SELECT * FROM endpoints WHERE name = ?;

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
WHERE endpoint = @endpoint AND (state = 'scheduled' OR state = 'available' OR state = 'retrying')
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
-- endpoint, whichever process changed it.
--
-- The limit is an expression, not a bare parameter: SQLite plans with a
-- LIMIT it can read from the binding and expires the statement (parses and
-- plans it again) whenever the bound value changes, which a claim's free
-- slots do from one claim to the next (measured: about 125 us a claim).
-- CAST keeps one plan for every limit. Both claims do this.
UPDATE jobs SET
    lease_id = @lease_id,
    lease_expires_at = @lease_until,
    attempts = attempts + 1,
    updated_at = @now
WHERE id IN (
    SELECT j.id FROM jobs j
    WHERE j.endpoint = @endpoint AND j.state = 'running' AND j.lease_expires_at <= @now
      AND EXISTS (SELECT 1 FROM endpoints e
                  WHERE e.name = j.endpoint AND e.paused = 0 AND e.disabled_at IS NULL)
    ORDER BY j.lease_expires_at
    LIMIT CAST(@max_jobs AS INTEGER))
RETURNING *;

-- name: ClaimReadyJobs :many
-- Leases up to max pending jobs of one endpoint whose time has come, in
-- run-time order, walking the partial index jobs_ready so that the cost
-- does not grow with the backlog. A job with an ordering key is due only
-- when no older job with that key is unfinished (one probe of the partial
-- index jobs_ordering_unfinished), so each key's jobs go one at a time, in
-- order.
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
      AND (j.state = 'scheduled' OR j.state = 'available' OR j.state = 'retrying') AND j.run_at <= @now
      AND EXISTS (SELECT 1 FROM endpoints e
                  WHERE e.name = j.endpoint AND e.paused = 0 AND e.disabled_at IS NULL)
      AND (j.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM jobs o
            WHERE o.endpoint = j.endpoint AND o.ordering_key = j.ordering_key AND o.id < j.id
              AND (o.state = 'scheduled' OR o.state = 'available' OR o.state = 'retrying' OR o.state = 'running')))
    ORDER BY j.run_at
    LIMIT CAST(@max_jobs AS INTEGER))
RETURNING *;

-- name: FinishJob :execrows
-- Ends a lease: completed, dead or back to retrying at run_at. Fenced: only
-- the holder of the job's current lease can finish it.
UPDATE jobs SET
    state = @state,
    run_at = coalesce(sqlc.narg('run_at'), run_at),
    last_error = @last_error,
    finished_at = sqlc.narg('finished_at'),
    lease_id = NULL,
    lease_expires_at = NULL,
    updated_at = @now
WHERE id = @id AND lease_id = @lease_id AND state = 'running';

-- name: FinishJobGroup :many
-- FinishJob for jobs that end alike (the records of one bulk POST, one
-- lease, one outcome) in one statement instead of one per job: per
-- statement the driver's and database/sql's work was about as much as
-- SQLite's (profiled). @ids is a JSON array of job ids. Returns the ids
-- whose lease was held.
UPDATE jobs SET
    state = @state,
    run_at = coalesce(sqlc.narg('run_at'), run_at),
    last_error = @last_error,
    finished_at = sqlc.narg('finished_at'),
    lease_id = NULL,
    lease_expires_at = NULL,
    updated_at = @now
WHERE id IN (SELECT value FROM json_each(@ids)) AND lease_id = @lease_id AND state = 'running'
RETURNING id;

-- name: InsertAttemptGroup :exec
-- InsertAttempt for the attempts of one bulk POST, which differ only in
-- their id, job and number: @rows is a JSON array of [id, job_id,
-- attempt_number] arrays.
INSERT INTO attempts (id, job_id, attempt_number, batch_id, started_at, latency_us, status_code, outcome, error_class, error, response_excerpt,
    endpoint, request_headers, retry_after_us)
SELECT json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), json_extract(r.value, '$[2]'),
    @batch_id, @started_at, @latency_us, @status_code, @outcome, @error_class, @error, @response_excerpt,
    @endpoint, @request_headers, @retry_after_us
FROM json_each(@rows) AS r;

-- name: InsertAttempt :exec
INSERT INTO attempts (id, job_id, attempt_number, batch_id, started_at, latency_us, status_code, outcome, error_class, error, response_excerpt,
    endpoint, request_headers, retry_after_us)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: GetJob :one
SELECT * FROM jobs WHERE id = ?;

-- name: ListAttempts :many
SELECT * FROM attempts WHERE job_id = ? ORDER BY attempt_number, started_at;

-- name: CountUnfinishedJobsByState :many
-- Queue depth by state, for metrics (finished jobs are counted as they
-- finish, not here). Each count reads one partial index and no row:
-- jobs_state_id for the rare states, jobs_ready for every waiting job
-- (available is what the rare ones leave of them), jobs_leased for
-- running. One statement: the counts are of one snapshot.
SELECT 'scheduled' AS state, count(*) AS n FROM jobs INDEXED BY jobs_state_id
WHERE state = 'scheduled' AND (state = 'scheduled' OR state = 'retrying' OR state = 'cancelled' OR state = 'dead')
UNION ALL
SELECT 'retrying', count(*) FROM jobs INDEXED BY jobs_state_id
WHERE state = 'retrying' AND (state = 'scheduled' OR state = 'retrying' OR state = 'cancelled' OR state = 'dead')
UNION ALL
SELECT 'available',
    (SELECT count(*) FROM jobs INDEXED BY jobs_ready WHERE (state = 'scheduled' OR state = 'available' OR state = 'retrying'))
    - (SELECT count(*) FROM jobs INDEXED BY jobs_state_id WHERE (state = 'scheduled' OR state = 'retrying') AND (state = 'scheduled' OR state = 'retrying' OR state = 'cancelled' OR state = 'dead'))
UNION ALL
SELECT 'running', count(*) FROM jobs INDEXED BY jobs_leased
WHERE state = 'running';

-- name: OldestReadyRunAt :one
-- The run time of the job that has waited longest past it (no rows: none
-- is ready).
SELECT run_at FROM jobs
WHERE (state = 'scheduled' OR state = 'available' OR state = 'retrying') AND run_at <= @now
ORDER BY run_at LIMIT 1;

-- name: GetRateBucket :one
-- Read under the transaction's write lock (SQLite's single writer).
SELECT rate_tokens, rate_updated_at FROM endpoints WHERE name = @name;

-- name: SetRateBucket :exec
UPDATE endpoints SET rate_tokens = @rate_tokens, rate_updated_at = @rate_updated_at WHERE name = @name;

-- name: PruneAttempts :execrows
-- Attempts of finished jobs older than the cutoffs, a batch at a time.
-- The last two conditions are the partial index jobs_finished and a range
-- of it: with the cutoffs only under OR, the whole table was scanned on
-- every pass (seconds on a store of a million finished jobs, holding
-- SQLite's writer).
DELETE FROM attempts WHERE job_id IN (
    SELECT id FROM jobs
    WHERE ((state IN ('completed', 'cancelled') AND finished_at < @finished_before)
        OR (state = 'dead' AND finished_at < @dead_before))
      AND (state = 'completed' OR state = 'cancelled' OR state = 'dead') AND finished_at < max(@finished_before, @dead_before)
    LIMIT @max_jobs);

-- name: PruneJobs :execrows
DELETE FROM jobs WHERE id IN (
    SELECT j.id FROM jobs j
    WHERE ((j.state IN ('completed', 'cancelled') AND j.finished_at < @finished_before)
        OR (j.state = 'dead' AND j.finished_at < @dead_before))
      AND (j.state = 'completed' OR j.state = 'cancelled' OR j.state = 'dead') AND j.finished_at < max(@finished_before, @dead_before)
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
