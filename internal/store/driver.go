package store

import (
	"context"
	"errors"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// ErrNoRows is what an Executor returns when a query that must find one
// row found none. Drivers translate their engine's own (sql.ErrNoRows,
// pgx.ErrNoRows) into it, so that the rules above tell "not found" from a
// failure in one way.
var ErrNoRows = errors.New("store: no rows")

// Driver is what an engine provides: connections, transactions, and what
// only it can do (wake-ups across processes, exclusive upkeep). Everything
// else — what a duplicate answers, fencing, error codes, specs as JSON,
// batching — is written once, in Store.
type Driver interface {
	// Engine names the database for telemetry (db.system.name).
	Engine() string
	// Reader runs queries that only read (SQLite: the reader pool beside
	// the single writer).
	Reader() Executor
	// Writer runs single statements that write, outside a transaction.
	Writer() Executor
	// Begin starts a transaction that writes.
	Begin(ctx context.Context) (Tx, error)
	// BeginUnsynced starts a transaction that writes and whose commit
	// returns before it is flushed to disk (SQLite: synchronous=NORMAL
	// for it; PostgreSQL: synchronous_commit off). A crash of the machine
	// may lose it, and the unsynced commits after it, but never a commit
	// of Begin's made after it, whose flush covers it (the log is written
	// in order). The store uses it only where a lost commit repeats work
	// that at-least-once delivery allows to repeat: a claim. Its Commit
	// returns only once every group commit it could read is flushed
	// (BeginGroup), so nothing is delivered from a commit that may be lost.
	BeginUnsynced(ctx context.Context) (Tx, error)
	// BeginGroup starts the transaction of a group commit. Its Commit may
	// return before the transaction is flushed to disk; durable, called
	// after a successful Commit, returns once it is (SQLite: the log's
	// fsync runs while the writer commits the next batch; nil durable:
	// Commit already waited for the flush, as on PostgreSQL). Nobody is
	// answered before durable returns; until then others may read the
	// commit, and a crash of the machine may lose it, as it may lose any
	// commit not yet answered.
	BeginGroup(ctx context.Context) (tx Tx, durable func(context.Context) error, err error)
	// CommitWorkers is how many group commits may run at once.
	CommitWorkers() int
	// Subscribe is job.Store's Subscribe: wake-ups of this process and,
	// where the engine can, of every process.
	Subscribe(endpoint string) (<-chan struct{}, func())
	// Exclusive runs fn on one connection when no other process is running
	// it (pruning), after the engine's upkeep; ran is false when another
	// process holds it, vacuumed true when the upkeep vacuumed.
	Exclusive(ctx context.Context, fn func(Executor) error) (ran, vacuumed bool, err error)
	// IdempotencyRace reports whether err is the loss of a race between two
	// processes dispatching jobs with the same idempotency key, which a
	// second try resolves.
	IdempotencyRace(err error) bool
	// Close releases the database.
	Close() error
}

// Tx is a transaction. Rollback after Commit does nothing.
type Tx interface {
	Executor
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Executor runs the queries: one method per query, rows in and rows out,
// plus the batch methods whose best form differs by engine (one pipelined
// round trip on PostgreSQL, a loop on SQLite's in-process writer).
type Executor interface {
	// Notify wakes the workers of the endpoints; in a transaction, at
	// commit. Failing to wake is not fatal: workers also poll.
	Notify(ctx context.Context, endpoints []string) error
	Ping(ctx context.Context) error

	// InsertEvents inserts the events in order; inserted[i] is false when
	// events[i]'s delivery id is already stored.
	InsertEvents(ctx context.Context, events []EventRow) (inserted []bool, err error)
	// InsertJobs inserts jobs in order, each coalescing into a pending job
	// with its key, and returns the id of the job that will deliver each.
	InsertJobs(ctx context.Context, jobs []JobRow) ([]string, error)
	GetEventIDByDeliveryID(ctx context.Context, source, deliveryID string) (string, error)
	GetEvent(ctx context.Context, id string) (EventRow, error)
	CountEventsBySource(ctx context.Context, source string) (int64, error)
	ListJobsByEvent(ctx context.Context, eventID string) ([]JobRow, error)
	// GetEventBodies returns the bodies of the events, by id.
	GetEventBodies(ctx context.Context, ids []string) (map[string][]byte, error)
	// ListEvents returns events without headers and bodies, newest first.
	ListEvents(ctx context.Context, q EventQuery) ([]EventRow, error)
	// RecordEventTypesSeen adds a commit's events to the catalog's counts,
	// one row per type and shard, in name order.
	RecordEventTypesSeen(ctx context.Context, seen []EventTypeSeen) error
	// ListEventTypeCounts returns each type's shards summed, with the
	// example of the shard that saw it last (Shard is left 0).
	ListEventTypeCounts(ctx context.Context) ([]EventTypeSeen, error)
	// DeclareEventTypes upserts the declared types and undeclares the
	// others.
	DeclareEventTypes(ctx context.Context, specs []job.EventTypeSpec, now time.Time) error
	// ListEventTypes returns the catalog's rows: declared types, and what
	// was counted before the counts were sharded.
	ListEventTypes(ctx context.Context) ([]job.EventType, error)
	SealedExecutor // encryption.go

	UpsertEndpoint(ctx context.Context, r SpecRow) error
	InsertEndpoint(ctx context.Context, r SpecRow) (int64, error)
	UpdateEndpointSpec(ctx context.Context, r SpecRow) (int64, error)
	GetEndpoint(ctx context.Context, name string) (EndpointRow, error)
	ListEndpoints(ctx context.Context) ([]EndpointRow, error)
	SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) (int64, error)
	DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (int64, error)
	EnableEndpoint(ctx context.Context, name string, now time.Time) (int64, error)
	MarkEndpointHealthy(ctx context.Context, name string) error
	// MarkEndpointFailing returns since when the endpoint fails (ErrNoRows
	// when there is no such endpoint).
	MarkEndpointFailing(ctx context.Context, name string, now time.Time) (time.Time, error)
	CountUnfinishedJobs(ctx context.Context, endpoint string) (int64, error)
	// LockEndpoints returns the endpoints among names that exist and, in a
	// transaction, keeps them from being deleted until it ends (PostgreSQL:
	// FOR KEY SHARE; SQLite: the single writer).
	LockEndpoints(ctx context.Context, names []string) ([]string, error)
	DeleteEndpoint(ctx context.Context, name string) (int64, error)
	// GetRateBucket reads (and, in a transaction, locks) the endpoint's
	// token bucket; tokens is nil before the first draw.
	GetRateBucket(ctx context.Context, endpoint string) (tokens *float64, updatedAt time.Time, err error)
	SetRateBucket(ctx context.Context, endpoint string, tokens float64, updatedAt time.Time) error

	UpsertSource(ctx context.Context, r SpecRow) error
	InsertSource(ctx context.Context, r SpecRow) (int64, error)
	UpdateSourceSpec(ctx context.Context, r SpecRow) (int64, error)
	GetSource(ctx context.Context, name string) (SourceRow, error)
	ListSources(ctx context.Context) ([]SourceRow, error)
	DeleteSource(ctx context.Context, name string) (int64, error)
	SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) (int64, error)

	// NextRunAt is the earliest run time of a pending job (ErrNoRows).
	NextRunAt(ctx context.Context, endpoint string) (time.Time, error)
	// NextLeaseExpiry is the earliest lease expiry (zero when none).
	NextLeaseExpiry(ctx context.Context, endpoint string) (time.Time, error)
	ClaimExpiredLeases(ctx context.Context, c job.Claim) ([]JobRow, error)
	ClaimReadyJobs(ctx context.Context, c job.Claim) ([]JobRow, error)
	// FinishJobs applies the fenced updates, which name each job once;
	// held[i] is false when fs[i]'s lease is no longer held.
	FinishJobs(ctx context.Context, fs []FinishRow) (held []bool, err error)
	InsertAttempts(ctx context.Context, as []job.Attempt) error
	GetJob(ctx context.Context, id string) (JobRow, error)
	ListAttempts(ctx context.Context, jobID string) ([]job.Attempt, error)
	GetJobIDByIdempotencyKey(ctx context.Context, endpoint, key string) (string, error)
	// ListJobs reads one page of q.Index (listing.go).
	ListJobs(ctx context.Context, q JobQuery) ([]JobRow, error)
	CancelJob(ctx context.Context, id string, now time.Time) (JobRow, error)
	RetryJob(ctx context.Context, id string, now time.Time) (JobRow, error)
	ReplayDeadJobs(ctx context.Context, f job.JobFilter, now time.Time) (int64, error)
	CountUnfinishedJobsByState(ctx context.Context) (map[job.State]int64, error)
	// OldestReadyRunAt is the run time of the job waiting longest past it
	// (ErrNoRows when none).
	OldestReadyRunAt(ctx context.Context, now time.Time) (time.Time, error)

	PruneAttempts(ctx context.Context, finishedBefore, deadBefore time.Time, max int) (int64, error)
	PruneJobs(ctx context.Context, finishedBefore, deadBefore time.Time, max int) (int64, error)
	PruneEvents(ctx context.Context, receivedBefore time.Time, max int) (int64, error)
	// KillOrphanJobs marks up to max unfinished jobs whose endpoint does
	// not exist dead, and returns how many.
	KillOrphanJobs(ctx context.Context, now time.Time, max int) (int64, error)

	InsertKey(ctx context.Context, k job.APIKey) error
	GetKeyByPrefix(ctx context.Context, prefix string) (job.APIKey, error)
	ListKeys(ctx context.Context) ([]job.APIKey, error)
	RevokeKey(ctx context.Context, id string, now time.Time) (int64, error)
	TouchKey(ctx context.Context, id string, now time.Time) error
	GetKeyByID(ctx context.Context, id string) (job.APIKey, error)

	// Sessions (sessions.go).
	InsertSession(ctx context.Context, s job.Session) error
	GetSession(ctx context.Context, hash []byte) (job.Session, error)
	DeleteSession(ctx context.Context, hash []byte) (int64, error)
	TouchSession(ctx context.Context, hash []byte, now time.Time) error
	// PruneSessions deletes the sessions that expired before now.
	PruneSessions(ctx context.Context, now time.Time) (int64, error)

	ScheduleExecutor // schedules.go
	// The console's queries (console.go).
	// InsertRequests writes requests to the log in order.
	InsertRequests(ctx context.Context, rs []RequestRow) error
	// CountRequest adds n to the source's count of outcome in minute, in
	// the count's shard (the commit's catalog shard: concurrent commits
	// never wait on one row).
	CountRequest(ctx context.Context, source string, minute time.Time, outcome string, shard int, n int64) error
	// TrimRequests deletes the bucket's refused rows but the newest keep.
	TrimRequests(ctx context.Context, bucket string, keep int) (int64, error)
	ListRequests(ctx context.Context, q RequestQuery) ([]RequestRow, error)
	GetRequest(ctx context.Context, id string) (RequestRow, error)
	PruneRequests(ctx context.Context, acceptedBefore, refusedBefore time.Time, max int) (int64, error)
	PruneRequestCounts(ctx context.Context, before time.Time) (int64, error)
	// PruneLegacyRequestCounts prunes the counts kept from before the
	// shards (and written by older versions during a rolling upgrade).
	PruneLegacyRequestCounts(ctx context.Context, before time.Time) (int64, error)
	// RequestSeries returns per-minute counts by outcome since since.
	RequestSeries(ctx context.Context, source string, since time.Time) ([]SeriesRow, error)
	// DeliverySeries returns attempts by outcome per bucket since since.
	DeliverySeries(ctx context.Context, endpoint string, since time.Time, bucket time.Duration) ([]SeriesRow, error)
	// RecentLatencies returns the latencies of the newest max attempts.
	RecentLatencies(ctx context.Context, endpoint string, since time.Time, max int) ([]time.Duration, error)
	// QueueDepth counts the jobs due at now; oldest is the earliest run
	// time among them (zero when none).
	QueueDepth(ctx context.Context, endpoint string, now time.Time) (depth int64, oldest time.Time, err error)
	// ListBulkJobIDs returns up to max ids of jobs matching f in one of
	// states, in id order after afterID.
	ListBulkJobIDs(ctx context.Context, f job.JobFilter, states []job.State, afterID string, max int) ([]string, error)
	InsertAuditEntry(ctx context.Context, e job.AuditEntry) error
	ListAuditEntries(ctx context.Context, beforeID string, limit int) ([]job.AuditEntry, error)
	CountKeyUse(ctx context.Context, keyID, day string, n int64) error
	ListKeyUsage(ctx context.Context, sinceDay string) ([]job.KeyUsage, error)
}

// RequestRow is an inbound request as stored: the domain request with its
// headers still JSON (Req.Headers is left nil by drivers).
type RequestRow struct {
	Req     job.InboundRequest
	Headers []byte
}

// SeriesRow is one count of a time series.
type SeriesRow struct {
	At      time.Time
	Outcome string
	N       int64
}

// EventRow is an event as stored: its headers still JSON.
type EventRow struct {
	ID          string
	Source      string
	DeliveryID  string // empty: none (NULL)
	ContentType string
	Headers     []byte // JSON object
	Body        []byte
	ReceivedAt  time.Time
	Type        string
}

// EventTypeSeen is what one commit adds to a type's catalog entry.
type EventTypeSeen struct {
	Name string
	// Shard is the counting process's row of the type (catalogShards).
	Shard       int
	Count       int64
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	Example     []byte
}

// JobRow is a job as stored: the domain job with its retry override
// still JSON (Job.Retry is left nil by drivers) and, for a job routed from
// a webhook, its payload left in the event.
type JobRow struct {
	Job   job.Job
	Retry []byte // JSON of a job.RetrySpec; nil: none
	// PayloadEventID names the event whose body is the payload; Job.Payload
	// is empty then. Empty: Job.Payload holds it.
	PayloadEventID string
}

// SpecRow is what declaring or updating an endpoint or a source writes.
type SpecRow struct {
	Name   string
	Spec   []byte // JSON of the spec
	Origin string // only for upserts
	Now    time.Time
}

// EndpointRow is an endpoint as stored.
type EndpointRow struct {
	Name           string
	Spec           []byte
	Origin         string
	Paused         bool
	DisabledAt     time.Time
	DisabledReason string
	FailingSince   time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SourceRow is a source as stored.
type SourceRow struct {
	Name      string
	Spec      []byte
	Origin    string
	Paused    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FinishRow is the fenced update that ends one lease.
type FinishRow struct {
	JobID      string
	LeaseID    string
	State      job.State
	LastError  string
	Now        time.Time
	RunAt      time.Time // zero: keep the run time
	FinishedAt time.Time // zero: not finished (a retry)
}

// Rows converts the rows a query returned, or passes its error on: the
// one loop every driver's list adapter would otherwise write again.
func Rows[R, T any](rows []R, err error, convert func(R) T) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = convert(r)
	}
	return out, nil
}
