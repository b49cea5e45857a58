// Package worker is the processing role: it turns stored jobs into
// deliveries.
//
// One runner per endpoint claims the endpoint's due jobs with a lease,
// within the endpoint's concurrency and rate limits, delivers them (one per
// POST, or in bulk batches), and finishes each job according to the
// answer: completed, retrying at a time from the endpoint's retry policy,
// or dead. Finishing is fenced by the lease, so a worker whose lease ran
// out (and whose job another worker rescued) cannot overwrite the newer
// outcome. A runner sleeps until its endpoint's next job is due or a new
// job wakes it; an idle process does no work.
package worker
