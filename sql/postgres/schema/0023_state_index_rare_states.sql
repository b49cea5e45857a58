-- jobs_state_id holds the states few jobs are in (scheduled, retrying,
-- cancelled, dead), which a list by state reads on it. The states every
-- delivery passes through (available, running) or ends in (completed) are
-- left out: each claim and each finish changed a job's entry in it, two
-- deletes and two inserts per delivered job for lists that the primary
-- key (available, completed: most rows) or jobs_leased (running: as many
-- as the endpoints' concurrency) read as well. store.indexedState names
-- the same states.
DROP INDEX IF EXISTS jobs_state_id;
CREATE INDEX jobs_state_id ON jobs (state, id)
    WHERE state IN ('scheduled', 'retrying', 'cancelled', 'dead');
