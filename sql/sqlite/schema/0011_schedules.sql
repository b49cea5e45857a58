-- Schedules: recurring jobs. next_tick is the next tick to fire (computed
-- in Go from the cron and the zone); version changes with every write, and
-- a fire commits only if the version it was planned from is current, so
-- two schedulers never fire the same tick.
CREATE TABLE schedules (
    name          TEXT    NOT NULL PRIMARY KEY,
    spec          TEXT    NOT NULL, -- JSON of job.ScheduleSpec
    origin        TEXT    NOT NULL,
    paused        INTEGER NOT NULL DEFAULT 0,
    next_tick     INTEGER NOT NULL,
    last_tick     INTEGER,
    last_job_id   TEXT,
    last_fired_at INTEGER,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One row per fired tick. The primary key is the fire's identity: a tick
-- of a schedule fires at most once, whatever happens to the processes.
CREATE TABLE schedule_fires (
    schedule TEXT    NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    tick     INTEGER NOT NULL,
    job_id   TEXT,
    outcome  TEXT    NOT NULL,
    manual   INTEGER NOT NULL DEFAULT 0,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (schedule, tick)
);
