-- Sessions (0018_sessions.sql). The casts make @now a required parameter.

-- name: InsertSession :exec
INSERT INTO sessions (hash, key_id, created_at, expires_at, last_seen_at)
VALUES (@hash, @key_id, @created_at, @expires_at, @created_at);

-- name: GetSession :one
SELECT * FROM sessions WHERE hash = @hash;

-- name: DeleteSession :execrows
DELETE FROM sessions WHERE hash = @hash;

-- name: TouchSession :exec
-- Never moves last_seen_at backwards.
UPDATE sessions SET last_seen_at = @now::timestamptz
WHERE hash = @hash AND last_seen_at < @now;

-- name: PruneSessions :execrows
DELETE FROM sessions WHERE expires_at < @now::timestamptz;
