-- The request counts, sharded like the catalog's (0020). Every group commit
-- added its requests to the one row of (source, minute, outcome), so each
-- commit waited on that row's lock until the commit before it had ended,
-- fsync included: the concurrent group commits of a process ran one after
-- another. Each commit now counts in its own shard (the catalog's shard
-- it already holds); a read sums the shards. request_counts keeps what
-- was counted before (and what a process of an older version counts there
-- during a rolling upgrade); reads add it, retention prunes both.
CREATE TABLE request_count_shards (
    source  TEXT        NOT NULL,
    minute  TIMESTAMPTZ NOT NULL,
    outcome TEXT        NOT NULL,
    shard   INTEGER     NOT NULL,
    n       BIGINT      NOT NULL,
    PRIMARY KEY (source, minute, outcome, shard)
);
