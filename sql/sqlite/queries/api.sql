-- name: GetJobIDByIdempotencyKey :one
SELECT id FROM jobs WHERE endpoint = @endpoint AND idempotency_key = @idempotency_key;

-- name: ListJobs :many
-- Newest first in id order (the primary key); every filter is checked row by row, so the
-- store core uses this shape only when no indexed filter is given.
-- The id range is the page (before_id) narrowed by the time range.
SELECT * FROM jobs
WHERE (sqlc.narg('state') IS NULL OR state = sqlc.narg('state'))
  AND (sqlc.narg('endpoint') IS NULL OR endpoint = sqlc.narg('endpoint'))
  AND (sqlc.narg('source') IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('created_after') IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before') IS NULL OR created_at < sqlc.narg('created_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListJobsByCreated :many
-- A time window, perhaps with a state most jobs are in (available,
-- completed), and no other filter (the store core uses it only then): the
-- window's ids on the time's index, sorted, then the page's rows (the
-- cost grows with the window, not the table; a state is checked on the
-- window's rows).
SELECT * FROM jobs WHERE id IN (
    SELECT w.id FROM jobs AS w INDEXED BY jobs_created_at
    WHERE w.created_at >= @created_after AND w.created_at < @created_before
      AND (sqlc.narg('state') IS NULL OR w.state = sqlc.narg('state'))
      AND w.id > @after_id AND w.id < @before_id
    ORDER BY w.id DESC LIMIT @page_size)
ORDER BY id DESC;

-- name: ListJobsByState :many
-- One of the rare states (scheduled, retrying, cancelled, dead) on its
-- index; the repeated predicate is the index's own, so that the planner
-- may use it.
-- The id range is the page (before_id) narrowed by the time range.
SELECT * FROM jobs INDEXED BY jobs_state_id
WHERE state = sqlc.narg('state')
  AND (state = 'scheduled' OR state = 'retrying' OR state = 'cancelled' OR state = 'dead')
  AND (sqlc.narg('endpoint') IS NULL OR endpoint = sqlc.narg('endpoint'))
  AND (sqlc.narg('source') IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('created_after') IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before') IS NULL OR created_at < sqlc.narg('created_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListJobsRunning :many
-- The running jobs, on the lease index: there are as many as the
-- endpoints' concurrency allows, all read and sorted by id.
-- The id range is the page (before_id) narrowed by the time range.
SELECT * FROM jobs INDEXED BY jobs_leased
WHERE state = 'running'
  AND (sqlc.narg('endpoint') IS NULL OR endpoint = sqlc.narg('endpoint'))
  AND (sqlc.narg('source') IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('created_after') IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before') IS NULL OR created_at < sqlc.narg('created_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListJobsByEndpoint :many
-- One endpoint, any state.
-- The id range is the page (before_id) narrowed by the time range.
SELECT * FROM jobs INDEXED BY jobs_endpoint_id
WHERE (sqlc.narg('state') IS NULL OR state = sqlc.narg('state'))
  AND endpoint = sqlc.narg('endpoint')
  AND (sqlc.narg('source') IS NULL OR source = sqlc.narg('source'))
  AND (sqlc.narg('created_after') IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before') IS NULL OR created_at < sqlc.narg('created_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: ListJobsBySource :many
-- One source, any state.
-- The id range is the page (before_id) narrowed by the time range.
SELECT * FROM jobs INDEXED BY jobs_source_id
WHERE (sqlc.narg('state') IS NULL OR state = sqlc.narg('state'))
  AND (sqlc.narg('endpoint') IS NULL OR endpoint = sqlc.narg('endpoint'))
  AND source = sqlc.narg('source')
  AND (sqlc.narg('created_after') IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before') IS NULL OR created_at < sqlc.narg('created_before'))
  AND id > @after_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: CancelJob :one
UPDATE jobs SET state = 'cancelled', finished_at = @now, updated_at = @now
WHERE id = @id AND (state = 'scheduled' OR state = 'available' OR state = 'retrying')
RETURNING *;

-- name: RetryJob :one
-- A dead or cancelled job is due again now, with a new retry window.
UPDATE jobs SET state = 'available', run_at = @now, first_attempt_at = NULL, finished_at = NULL,
    last_error = '', updated_at = @now
WHERE id = @id AND state IN ('dead', 'cancelled')
RETURNING *;

-- name: ReplayDeadJobs :execrows
UPDATE jobs SET state = 'available', run_at = @now, first_attempt_at = NULL, finished_at = NULL,
    last_error = '', updated_at = @now
WHERE state = 'dead'
  AND (sqlc.narg('endpoint') IS NULL OR endpoint = sqlc.narg('endpoint'))
  AND (sqlc.narg('created_after') IS NULL OR created_at >= sqlc.narg('created_after'))
  AND (sqlc.narg('created_before') IS NULL OR created_at < sqlc.narg('created_before'));

-- name: InsertEndpoint :execrows
INSERT INTO endpoints (name, spec, origin, created_at, updated_at)
VALUES (@name, @spec, 'api', @now, @now)
ON CONFLICT (name) DO NOTHING;

-- name: UpdateEndpointSpec :execrows
UPDATE endpoints SET spec = @spec, updated_at = @now WHERE name = @name;

-- name: DeleteEndpoint :execrows
DELETE FROM endpoints WHERE name = @name;

-- name: CountUnfinishedJobs :one
SELECT count(*) FROM jobs
WHERE endpoint = @endpoint AND (state = 'scheduled' OR state = 'available' OR state = 'retrying' OR state = 'running');

-- name: UpsertSource :exec
INSERT INTO sources (name, spec, origin, created_at, updated_at)
VALUES (@name, @spec, @origin, @now, @now)
ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, origin = excluded.origin, updated_at = excluded.updated_at;

-- name: InsertSource :execrows
INSERT INTO sources (name, spec, origin, created_at, updated_at)
VALUES (@name, @spec, 'api', @now, @now)
ON CONFLICT (name) DO NOTHING;

-- name: GetSource :one
SELECT * FROM sources WHERE name = ?;

-- name: ListSources :many
SELECT * FROM sources ORDER BY name;

-- name: UpdateSourceSpec :execrows
UPDATE sources SET spec = @spec, updated_at = @now WHERE name = @name;

-- name: DeleteSource :execrows
DELETE FROM sources WHERE name = ?;

-- name: SetSourcePaused :execrows
UPDATE sources SET paused = @paused, updated_at = @now WHERE name = @name;
