-- Console (and API) sessions. A session token (disp_s_…) is 190 random
-- bits shown once to whoever logged in; only its SHA-256 is stored, so the
-- table holds nothing that authenticates. A session stands for one API key
-- and has that key's scope; it ends when it expires, when the key is
-- revoked (authentication checks the key on every call) or at logout.
-- Expired rows are deleted by the retention pass.
CREATE TABLE sessions (
    hash         BYTEA       NOT NULL PRIMARY KEY,
    key_id       TEXT        NOT NULL, -- an api_keys id, or "bootstrap" for the bootstrap key
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
