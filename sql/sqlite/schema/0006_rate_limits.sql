-- The token bucket of an endpoint's rate limit lives in the database, so
-- that every worker process draws from the same bucket. NULL tokens: full.
ALTER TABLE endpoints ADD COLUMN rate_tokens REAL;
ALTER TABLE endpoints ADD COLUMN rate_updated_at INTEGER;
