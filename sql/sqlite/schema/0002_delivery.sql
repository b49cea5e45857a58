-- Endpoints: declared in the config file (upserted at start) or, later,
-- through the API. spec is the JSON of what a delivery needs (URL, secrets,
-- timeout, retry, bulk, limits); the other columns are the endpoint's state,
-- shared by every worker.
CREATE TABLE endpoints (
    name            TEXT    NOT NULL PRIMARY KEY,
    spec            TEXT    NOT NULL,
    origin          TEXT    NOT NULL, -- config | api
    paused          INTEGER NOT NULL DEFAULT 0,
    disabled_at     INTEGER,
    disabled_reason TEXT    NOT NULL DEFAULT '',
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- A claim gives a job a lease: lease_id is the claim's token and fences
-- every later update (only the holder of the current lease may finish the
-- job); lease_expires_at is when another worker may rescue it.
ALTER TABLE jobs ADD COLUMN lease_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE jobs ADD COLUMN first_attempt_at INTEGER;
ALTER TABLE jobs ADD COLUMN finished_at INTEGER;
ALTER TABLE jobs ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN coalesce_key TEXT;
ALTER TABLE jobs ADD COLUMN ordering_key TEXT;

-- At most one pending job per (endpoint, coalesce key): a new one replaces
-- its payload instead.
CREATE UNIQUE INDEX jobs_pending_coalesce_key ON jobs (endpoint, coalesce_key)
    WHERE coalesce_key IS NOT NULL AND state IN ('scheduled', 'available', 'retrying');
CREATE INDEX jobs_ordering_key ON jobs (endpoint, ordering_key, id)
    WHERE ordering_key IS NOT NULL;
CREATE INDEX jobs_endpoint_state_run_at ON jobs (endpoint, state, run_at);

-- One row per delivery attempt.
CREATE TABLE attempts (
    id               TEXT    NOT NULL PRIMARY KEY,
    job_id           TEXT    NOT NULL REFERENCES jobs (id),
    attempt_number   INTEGER NOT NULL,
    batch_id         TEXT    NOT NULL DEFAULT '',
    started_at       INTEGER NOT NULL,
    latency_us       INTEGER NOT NULL,
    status_code      INTEGER NOT NULL, -- 0: no response
    outcome          TEXT    NOT NULL,
    error_class      TEXT    NOT NULL DEFAULT '',
    error            TEXT    NOT NULL DEFAULT '',
    response_excerpt TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX attempts_job_id ON attempts (job_id, attempt_number);
