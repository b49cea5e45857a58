-- API keys. Only the SHA-256 of a key is stored, never the key: a key is
-- 190 random bits, so a fast hash is enough and a lookup costs one query.
-- prefix (disp_k1_ and the first 8 random characters) finds the row; it is
-- shown in listings so a person can tell keys apart.
CREATE TABLE api_keys (
    id               TEXT    NOT NULL PRIMARY KEY,
    prefix           TEXT    NOT NULL UNIQUE,
    hash             BLOB    NOT NULL,
    name             TEXT    NOT NULL,
    default_endpoint TEXT    NOT NULL DEFAULT '', -- where Dispatched-compatible dispatches made with the key go
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    revoked_at       INTEGER
);
