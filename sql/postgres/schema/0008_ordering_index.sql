-- A job with an ordering key waits while an older job with that key is
-- unfinished; the claim checks that for every waiting candidate. Indexing
-- only the unfinished jobs makes each check one probe of a small index:
-- over all jobs, a key's history (and, until vacuum, every old row
-- version) was walked for each candidate, and claims on an endpoint with
-- an ordered backlog took seconds.
DROP INDEX jobs_ordering_key;
CREATE INDEX jobs_ordering_unfinished ON jobs (endpoint, ordering_key, id)
    WHERE ordering_key IS NOT NULL AND state IN ('scheduled', 'available', 'retrying', 'running');
