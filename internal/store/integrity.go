package store

import (
	"context"
	"fmt"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Referential integrity: a job names an endpoint by name, with no foreign
// key (the endpoint's row is hot: health and rate tokens). The rules are
// kept here instead. Every insert of jobs reads the endpoints it names in
// its own transaction with LockEndpoints (one query per transaction, not
// per job), which keeps them from being deleted until it commits; and
// DeleteEndpoint deletes first and counts the endpoint's jobs after, so
// whichever of the two commits second sees the other. Jobs that still end
// up without an endpoint (replayed after it was deleted, or older than
// these rules) are marked dead by the retention pass (killOrphans).

// eventResult is one caller's share of a group commit of events: its
// event stored, or the reason it alone was refused.
type eventResult struct {
	st  job.Stored
	err error
}

// missingEndpoints locks the endpoints among names and returns those that
// do not exist (nil when all do).
func missingEndpoints(ctx context.Context, ex Executor, names []string) (map[string]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	found, err := ex.LockEndpoints(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("lock endpoints: %w", err)
	}
	if len(found) == len(names) {
		return nil, nil
	}
	exists := make(map[string]bool, len(found))
	for _, n := range found {
		exists[n] = true
	}
	missing := map[string]bool{}
	for _, n := range names {
		if !exists[n] {
			missing[n] = true
		}
	}
	return missing, nil
}

// missingEndpointOf is the first endpoint of e's jobs that is missing, or
// "".
func missingEndpointOf(e job.NewEvent, missing map[string]bool) string {
	for _, j := range e.Jobs {
		if missing[j.Endpoint] {
			return j.Endpoint
		}
	}
	return ""
}

// errRoutedToMissing is ingestion's answer to a webhook routed to an
// endpoint that does not exist. It is retryable (503): the event is not
// stored at all rather than stored without that job, because a 200 means
// that every delivery the source's routes ask for is committed. The state
// is transient — a source whose route was just removed, read before the
// change, or an endpoint being recreated — and the provider's retry
// succeeds once it is over.
func errRoutedToMissing(source, endpoint string) error {
	return job.Errorf(job.CodeUnavailable,
		"source %q routes to endpoint %q, which does not exist (it was deleted); the webhook was not stored: retry later", source, endpoint)
}

// dispatchable refuses jobs of which one names an endpoint that does not
// exist, and locks the others' endpoints for the rest of tx.
func dispatchable(ctx context.Context, tx Tx, jobs []job.Job) error {
	seen := map[string]bool{}
	var names []string
	for _, j := range jobs {
		if !seen[j.Endpoint] {
			seen[j.Endpoint] = true
			names = append(names, j.Endpoint)
		}
	}
	missing, err := missingEndpoints(ctx, tx, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		if missing[n] {
			return job.Errorf(job.CodeNotFound, "no endpoint %q", n)
		}
	}
	return nil
}

// killOrphans marks dead, a batch at a time, the unfinished jobs whose
// endpoint does not exist, which no worker would ever claim.
func killOrphans(ctx context.Context, ex Executor, c job.PruneCutoffs) (int64, error) {
	if c.Now.IsZero() {
		return 0, nil
	}
	var total int64
	for {
		n, err := ex.KillOrphanJobs(ctx, c.Now, c.Batch)
		if err != nil {
			return total, fmt.Errorf("mark jobs of deleted endpoints dead: %w", err)
		}
		total += n
		if n < int64(c.Batch) {
			return total, nil
		}
	}
}
