package job

import (
	"context"
	"time"
)

// Store persists events and jobs. Two engines implement it (SQLite and
// PostgreSQL); the conformance suite in store/storetest holds both to the
// same behaviour.
type Store interface {
	// StoreEvent commits the event, its jobs and its delivery id in one
	// transaction and returns only after the commit is durable. When the
	// source already stored an event with the same delivery id, nothing is
	// written and the original event and job ids come back with Duplicate
	// set. Concurrent calls may share one commit.
	//
	// Returns an Error with code CodeUnavailable when the store cannot
	// commit; the caller must not acknowledge the webhook then.
	StoreEvent(ctx context.Context, e NewEvent) (Stored, error)

	// GetEvent returns the event with the given id, or an Error with code
	// CodeNotFound.
	GetEvent(ctx context.Context, id string) (Event, error)

	// CountEvents returns how many events the source has stored.
	CountEvents(ctx context.Context, source string) (int64, error)

	// ListJobsByEvent returns the jobs routed from the event, ordered by id.
	ListJobsByEvent(ctx context.Context, eventID string) ([]Job, error)

	// UpsertEndpoints declares endpoints (from the configuration file at
	// start). The state of an existing endpoint is kept, except that a
	// disabled endpoint whose spec changed is enabled again.
	UpsertEndpoints(ctx context.Context, specs []EndpointSpec, origin string, now time.Time) error

	// GetEndpoint returns an endpoint, or an Error with CodeNotFound.
	GetEndpoint(ctx context.Context, name string) (Endpoint, error)

	// ListEndpoints returns every endpoint, by name.
	ListEndpoints(ctx context.Context) ([]Endpoint, error)

	// SetEndpointPaused pauses or resumes an endpoint (CodeNotFound if
	// there is none).
	SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) error

	// DisableEndpoint disables an endpoint for the reason given; changed is
	// false when it was already disabled.
	DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (changed bool, err error)

	// EnableEndpoint enables a disabled endpoint and forgets its failures.
	EnableEndpoint(ctx context.Context, name string, now time.Time) error

	// RecordEndpointHealth notes a delivery's success or failure and returns
	// since when the endpoint has been failing (zero after a success).
	RecordEndpointHealth(ctx context.Context, name string, ok bool, now time.Time) (failingSince time.Time, err error)

	// NextDue returns when the endpoint next has a job to claim: its
	// earliest pending run time or running lease expiry. ok is false when
	// it has neither.
	NextDue(ctx context.Context, endpoint string) (at time.Time, ok bool, err error)

	// ClaimJobs leases up to c.Max due jobs of c.Endpoint — pending jobs
	// whose run time has come, and running jobs whose lease expired — in
	// run-time order, respecting ordering keys. Each claimed job's Attempts
	// is incremented.
	ClaimJobs(ctx context.Context, c Claim) ([]Job, error)

	// ClaimDue reads the endpoint, and — unless it is paused or disabled,
	// or c.Plan says no POST — leases its due jobs as ClaimJobs does, up
	// to the POSTs its rate-limit bucket allows, debiting the bucket only
	// for the POSTs the claimed jobs make, all in one transaction.
	// CodeNotFound when there is no such endpoint.
	ClaimDue(ctx context.Context, c DueClaim) (Claimed, error)

	// FinishJobs ends leases in one transaction. ok[i] is false when
	// fs[i]'s lease is no longer held (the job was rescued by another
	// worker): nothing is written for it then.
	FinishJobs(ctx context.Context, fs []Finish) (ok []bool, err error)

	// GetJob returns a job, or an Error with CodeNotFound.
	GetJob(ctx context.Context, id string) (Job, error)

	// ListAttempts returns a job's attempts in order.
	ListAttempts(ctx context.Context, jobID string) ([]Attempt, error)

	// Subscribe returns a channel that receives a value when the endpoint
	// gets new jobs (from this process, and for PostgreSQL from any), and
	// a function that ends the subscription.
	Subscribe(endpoint string) (<-chan struct{}, func())

	// DispatchJobs stores jobs dispatched through the API, all in one
	// transaction. A job whose IdempotencyKey the endpoint already has is
	// not stored: its Dispatched names the original with Duplicate set.
	DispatchJobs(ctx context.Context, jobs []Job) ([]Dispatched, error)

	// ListJobs returns jobs matching f, newest first, at most f.Limit.
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)

	// CancelJob cancels a pending job. CodeNotFound, or
	// CodeFailedPrecondition when the job is running or finished.
	CancelJob(ctx context.Context, id string, now time.Time) (Job, error)

	// RetryJob makes a dead or cancelled job available now with a new
	// retry window. CodeNotFound, or CodeFailedPrecondition otherwise.
	RetryJob(ctx context.Context, id string, now time.Time) (Job, error)

	// ReplayDeadJobs retries every dead job matching f's Endpoint and
	// creation times, and returns how many.
	ReplayDeadJobs(ctx context.Context, f JobFilter, now time.Time) (int64, error)

	// CreateEndpoint creates an API endpoint (CodeAlreadyExists).
	CreateEndpoint(ctx context.Context, spec EndpointSpec, now time.Time) error

	// UpdateEndpointSpec replaces an endpoint's spec (CodeNotFound).
	UpdateEndpointSpec(ctx context.Context, spec EndpointSpec, now time.Time) error

	// DeleteEndpoint deletes an endpoint without unfinished jobs
	// (CodeNotFound, CodeFailedPrecondition).
	DeleteEndpoint(ctx context.Context, name string) error

	// UpsertSources declares sources (from the configuration file).
	UpsertSources(ctx context.Context, specs []SourceSpec, origin string, now time.Time) error

	// CreateSource creates an API source (CodeAlreadyExists).
	CreateSource(ctx context.Context, spec SourceSpec, now time.Time) error

	// UpdateSourceSpec replaces a source's spec (CodeNotFound).
	UpdateSourceSpec(ctx context.Context, spec SourceSpec, now time.Time) error

	// GetSource returns a source (CodeNotFound).
	GetSource(ctx context.Context, name string) (Source, error)

	// ListSources returns every source by name.
	ListSources(ctx context.Context) ([]Source, error)

	// DeleteSource deletes a source (CodeNotFound); its events stay.
	DeleteSource(ctx context.Context, name string) error

	// SetSourcePaused pauses or resumes a source (CodeNotFound).
	SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) error

	// TakeRateTokens draws up to want tokens from the endpoint's rate-limit
	// bucket (rps, burst), shared by every process, and returns how many it
	// got and, if none, how long until one is there.
	TakeRateTokens(ctx context.Context, endpoint string, want int, rps float64, burst int, now time.Time) (granted int, wait time.Duration, err error)

	// Prune deletes, a batch at a time, finished jobs (and their attempts)
	// older than their cutoff and events older than eventsBefore whose jobs
	// are all gone. ran is false when another process is pruning.
	Prune(ctx context.Context, c PruneCutoffs) (p Pruned, ran bool, err error)

	// QueueStats counts the unfinished jobs by state and returns the run
	// time of the job waiting longest past it (zero when none is ready).
	QueueStats(ctx context.Context, now time.Time) (byState map[State]int64, oldestReady time.Time, err error)

	// Ping reports whether the store can answer a query now.
	Ping(ctx context.Context) error

	// Close waits for commits under way and releases the database.
	Close() error
}
