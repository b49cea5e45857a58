-- Attempts record what was sent, for the job timeline, and their endpoint,
-- so the stats of one endpoint read its attempts by time on one index
-- instead of looking each attempt's job up. Rows written before this
-- migration keep NULLs: unknown headers and Retry-After, and the stats
-- find their endpoint through the job (store.GetStats).
ALTER TABLE attempts ADD COLUMN endpoint TEXT;
-- A JSON object of header name to value, secrets masked (delivery.SentHeaders).
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
-- Microseconds; NULL when the receiver sent no usable Retry-After.
ALTER TABLE attempts ADD COLUMN retry_after_us INTEGER;
CREATE INDEX attempts_endpoint_started_at ON attempts (endpoint, started_at, latency_us, outcome)
    WHERE endpoint IS NOT NULL;
-- The attempts written before this migration, for the stats' fallback to
-- their job; no row written after it joins this index.
CREATE INDEX attempts_unattributed_started_at ON attempts (started_at) WHERE endpoint IS NULL;
