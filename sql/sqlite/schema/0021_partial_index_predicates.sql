-- SQLite evaluates `state IN ('a', 'b', 'c')` (three constants or more)
-- through a temporary b-tree that it builds for each statement; in the
-- WHERE clause of a partial index that happens for every row written, and
-- twice for each row an UPDATE changes. The four partial indexes on jobs
-- had such lists: an insert built four temporary b-trees, a claim or a
-- finish up to eight per job (profiled: about a third of a job insert).
-- The same sets written as equalities joined by OR are plain comparisons.
-- A query uses a partial index only when its WHERE clause repeats the
-- index's condition, so the queries spell these conditions the same way.
DROP INDEX jobs_pending_coalesce_key;
CREATE UNIQUE INDEX jobs_pending_coalesce_key ON jobs (endpoint, coalesce_key)
    WHERE coalesce_key IS NOT NULL AND (state = 'scheduled' OR state = 'available' OR state = 'retrying');

DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (endpoint, run_at)
    WHERE (state = 'scheduled' OR state = 'available' OR state = 'retrying');

DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (finished_at)
    WHERE (state = 'completed' OR state = 'cancelled' OR state = 'dead');

DROP INDEX jobs_ordering_unfinished;
CREATE INDEX jobs_ordering_unfinished ON jobs (endpoint, ordering_key, id)
    WHERE ordering_key IS NOT NULL AND (state = 'scheduled' OR state = 'available' OR state = 'retrying' OR state = 'running');
