-- API keys. The CASTs make @now a required (non-NULL) parameter: without
-- them sqlc would type it after the nullable column.

-- name: InsertKey :exec
INSERT INTO api_keys (id, prefix, hash, name, default_endpoint, scope, created_at)
VALUES (@id, @prefix, @hash, @name, @default_endpoint, @scope, @created_at);

-- name: GetKeyByPrefix :one
SELECT * FROM api_keys WHERE prefix = @prefix;

-- name: ListKeys :many
SELECT * FROM api_keys ORDER BY created_at, id;

-- name: RevokeKey :execrows
-- A second revocation keeps the time of the first.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, CAST(@now AS INTEGER)) WHERE id = @id;

-- name: TouchKey :exec
-- Never moves last_used_at backwards: processes whose clocks differ a
-- little may touch the same key.
UPDATE api_keys SET last_used_at = CAST(@now AS INTEGER)
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @now);

-- name: GetKeyByID :one
SELECT * FROM api_keys WHERE id = @id;
