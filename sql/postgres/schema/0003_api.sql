-- Jobs dispatched through the API: the source of routed jobs (for
-- filtering), an idempotency key unique per endpoint, and a per-job retry
-- override (JSON of job.RetrySpec).
ALTER TABLE jobs
    ADD COLUMN source TEXT,
    ADD COLUMN idempotency_key TEXT,
    ADD COLUMN retry JSONB;

CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (endpoint, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_source_id ON jobs (source, id) WHERE source IS NOT NULL;

-- Sources: declared in the configuration file (upserted at start) or
-- created through the API. spec is the JSON of job.SourceSpec, secrets
-- included (the verifiers need them in the clear).
CREATE TABLE sources (
    name       TEXT        NOT NULL PRIMARY KEY,
    spec       JSONB       NOT NULL,
    origin     TEXT        NOT NULL, -- config | api
    paused     BOOLEAN     NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
