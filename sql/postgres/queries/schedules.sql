-- Schedules. The casts make parameters required (non-NULL): without them
-- sqlc would type them after nullable columns.

-- name: UpsertSchedule :exec
-- Declares a schedule from the file. An unchanged spec keeps the row as it
-- is (paused, next tick, last fire); a changed spec starts again from the
-- next tick the caller computed.
INSERT INTO schedules (name, spec, origin, next_tick, created_at, updated_at)
VALUES (@name, @spec, @origin, @next_tick, @now, @now)
ON CONFLICT (name) DO UPDATE SET
    spec = excluded.spec,
    origin = excluded.origin,
    next_tick = excluded.next_tick,
    version = schedules.version + 1,
    updated_at = excluded.updated_at
WHERE schedules.spec IS DISTINCT FROM excluded.spec;

-- name: InsertSchedule :execrows
INSERT INTO schedules (name, spec, origin, next_tick, created_at, updated_at)
VALUES (@name, @spec, 'api', @next_tick, @now, @now)
ON CONFLICT (name) DO NOTHING;

-- name: UpdateScheduleSpec :execrows
UPDATE schedules SET spec = @spec, next_tick = @next_tick, version = version + 1, updated_at = @now
WHERE name = @name;

-- name: DeleteSchedule :execrows
DELETE FROM schedules WHERE name = @name;

-- name: GetSchedule :one
SELECT * FROM schedules WHERE name = @name;

-- name: ListSchedules :many
SELECT * FROM schedules ORDER BY name;

-- name: PauseSchedule :execrows
UPDATE schedules SET paused = true, version = version + 1, updated_at = @now WHERE name = @name;

-- name: ResumeSchedule :execrows
-- Resuming starts from the next tick after now: ticks of the paused time
-- are not caught up.
UPDATE schedules SET paused = false, next_tick = @next_tick, version = version + 1, updated_at = @now
WHERE name = @name AND paused = true;

-- name: AdvanceSchedule :one
-- The exactly-once rule: a fire moves the schedule from the version it was
-- planned from to the next. A second scheduler that planned the same ticks
-- matches no row, and its transaction (and its jobs) rolls back.
UPDATE schedules SET next_tick = @next_tick::timestamptz, version = version + 1, updated_at = @now::timestamptz
WHERE name = @name AND version = @version AND paused = false
RETURNING last_job_id;

-- name: LockSchedule :one
-- A manual fire (trigger) keeps the next tick but still changes the
-- version, so a scheduler's plan made before it is planned again.
UPDATE schedules SET version = version + 1, updated_at = @now::timestamptz
WHERE name = @name
RETURNING last_job_id;

-- name: GetScheduleJobState :one
SELECT state FROM jobs WHERE id = @id;

-- name: InsertScheduleFire :execrows
INSERT INTO schedule_fires (schedule, tick, job_id, outcome, manual, fired_at)
VALUES (@schedule, @tick, @job_id, @outcome, @manual, @fired_at)
ON CONFLICT (schedule, tick) DO NOTHING;

-- name: RecordScheduleFire :exec
-- last_job_id stays the job of the latest fire that made or coalesced one:
-- a skipped tick leaves it, so the next tick checks the same job.
UPDATE schedules SET last_tick = @tick::timestamptz, last_fired_at = @now::timestamptz,
    last_job_id = coalesce(sqlc.narg('job_id'), last_job_id)
WHERE name = @name;

-- name: ListScheduleFires :many
-- Newest first; before_tick continues a previous page.
SELECT * FROM schedule_fires
WHERE schedule = @schedule
  AND (sqlc.narg('before_tick')::timestamptz IS NULL OR tick < sqlc.narg('before_tick')::timestamptz)
ORDER BY tick DESC
LIMIT @page_size;
