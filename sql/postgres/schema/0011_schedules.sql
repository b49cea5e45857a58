-- Schedules: recurring jobs. next_tick is the next tick to fire (computed
-- in Go from the cron and the zone); version changes with every write, and
-- a fire commits only if the version it was planned from is current: the
-- UPDATE … WHERE version = $v of a second process waits for the first's
-- row lock, then matches nothing, so two schedulers never fire one tick.
CREATE TABLE schedules (
    name          TEXT        NOT NULL PRIMARY KEY,
    spec          JSONB       NOT NULL, -- job.ScheduleSpec
    origin        TEXT        NOT NULL,
    paused        BOOLEAN     NOT NULL DEFAULT false,
    next_tick     TIMESTAMPTZ NOT NULL,
    last_tick     TIMESTAMPTZ,
    last_job_id   TEXT,
    last_fired_at TIMESTAMPTZ,
    version       BIGINT      NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- One row per fired tick. The primary key is the fire's identity: a tick
-- of a schedule fires at most once, whatever happens to the processes.
CREATE TABLE schedule_fires (
    schedule TEXT        NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    tick     TIMESTAMPTZ NOT NULL,
    job_id   TEXT,
    outcome  TEXT        NOT NULL,
    manual   BOOLEAN     NOT NULL DEFAULT false,
    fired_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (schedule, tick)
);
