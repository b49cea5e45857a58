-- The catalog's counts, sharded: each store process adds a commit's
-- events to its own row of a type (shard), so commits of several
-- processes never wait on one row of a hot type; a read sums the shards.
-- event_types keeps what was counted before (and what a process of an
-- older version still counts there during a rolling upgrade); reads add
-- it as one more shard.
CREATE TABLE event_type_counts (
    name          TEXT    NOT NULL,
    shard         INTEGER NOT NULL,
    seen_count    BIGINT  NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    example       BYTEA   NOT NULL, -- the newest body this shard counted
    PRIMARY KEY (name, shard)
);
