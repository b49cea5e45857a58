-- What an API key may do: admin (everything), dispatch (dispatch jobs and
-- read their state) or read (view only). Keys made before scopes existed
-- could do everything, and keep that.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
