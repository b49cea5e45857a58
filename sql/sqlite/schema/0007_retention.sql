-- The hot indexes cover only the jobs that are waiting or running: finished
-- jobs (the bulk of the table) never enter them, so claims stay fast and
-- the indexes stay small however long the history.
DROP INDEX jobs_state_run_at;
DROP INDEX jobs_endpoint_state_run_at;
CREATE INDEX jobs_ready ON jobs (endpoint, run_at)
    WHERE state IN ('scheduled', 'available', 'retrying');
CREATE INDEX jobs_leased ON jobs (endpoint, lease_expires_at)
    WHERE state = 'running';
-- Retention pruning finds old finished jobs by this one.
CREATE INDEX jobs_finished ON jobs (finished_at)
    WHERE state IN ('completed', 'cancelled', 'dead');
