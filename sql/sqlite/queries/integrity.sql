-- name: LockEndpoints :many
-- The endpoints among names that exist. Read in a write transaction, under
-- SQLite's single writer: no DeleteEndpoint can run until it commits.
SELECT name FROM endpoints WHERE name IN (sqlc.slice('names'));

-- name: KillOrphanJobs :execrows
-- Unfinished jobs whose endpoint does not exist (deleted under them, or
-- replayed after it was) would wait forever: they are dead, a batch at a
-- time, so they show in listings and can be replayed once it is recreated.
UPDATE jobs SET
    state = 'dead',
    last_error = 'endpoint "' || endpoint || '" was deleted; recreate it and replay the job',
    finished_at = @now,
    lease_id = NULL,
    lease_expires_at = NULL,
    updated_at = @now
WHERE id IN (
    -- Waiting and running jobs apart: each half walks its partial index
    -- (jobs_ready, jobs_leased), where one condition on the four states
    -- scanned the whole table, finished jobs included.
    SELECT j.id FROM jobs j
    WHERE (j.state = 'scheduled' OR j.state = 'available' OR j.state = 'retrying')
      AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.name = j.endpoint)
    UNION ALL
    SELECT j.id FROM jobs j
    WHERE j.state = 'running'
      AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.name = j.endpoint)
    LIMIT @max_jobs);
