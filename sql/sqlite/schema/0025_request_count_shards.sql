-- The request counts, sharded like the catalog's (0020), as on PostgreSQL,
-- where every group commit waited on the one row of (source, minute,
-- outcome) until the commit before it had ended. SQLite has one writer, so
-- a process counts in one shard (picked when it starts); the table is the
-- same so that one store core serves both engines. request_counts keeps what was
-- counted before (and what a process of an older version counts there
-- during a rolling upgrade); reads add it, retention prunes both.
CREATE TABLE request_count_shards (
    source  TEXT    NOT NULL,
    minute  INTEGER NOT NULL, -- unix microseconds of the minute's start
    outcome TEXT    NOT NULL,
    shard   INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (source, minute, outcome, shard)
);
