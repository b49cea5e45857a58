package api

import (
	"context"
	"time"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// Each server declares the slice of the store it uses (the store
// implements them all), so that a server's needs read from its type and a
// test double, were one ever wanted, stays small.

// EndpointGetter reads an endpoint (to check one that a request names).
type EndpointGetter interface {
	GetEndpoint(ctx context.Context, name string) (job.Endpoint, error)
}

// JobStore is what JobServer uses.
type JobStore interface {
	EndpointGetter
	DispatchJobs(ctx context.Context, jobs []job.Job) ([]job.Dispatched, error)
	GetJob(ctx context.Context, id string) (job.Job, error)
	ListJobs(ctx context.Context, f job.JobFilter) ([]job.Job, error)
	// SearchJobs pages through f's jobs whose payload contains text,
	// reading at most job.SearchScanLimit jobs per page.
	SearchJobs(ctx context.Context, f job.JobFilter, text string) (job.JobSearch, error)
	ListAttempts(ctx context.Context, jobID string) ([]job.Attempt, error)
	CancelJob(ctx context.Context, id string, now time.Time) (job.Job, error)
	RetryJob(ctx context.Context, id string, now time.Time) (job.Job, error)
	ReplayDeadJobs(ctx context.Context, f job.JobFilter, now time.Time) (int64, error)
}

// EndpointStore is what EndpointServer uses.
type EndpointStore interface {
	EndpointGetter
	ListEndpoints(ctx context.Context) ([]job.Endpoint, error)
	CreateEndpoint(ctx context.Context, spec job.EndpointSpec, now time.Time) error
	UpdateEndpointSpec(ctx context.Context, spec job.EndpointSpec, now time.Time) error
	DeleteEndpoint(ctx context.Context, name string) error
	SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) error
	EnableEndpoint(ctx context.Context, name string, now time.Time) error
}

// SourceStore is what SourceServer uses.
type SourceStore interface {
	ListEndpoints(ctx context.Context) ([]job.Endpoint, error)
	CreateSource(ctx context.Context, spec job.SourceSpec, now time.Time) error
	UpdateSourceSpec(ctx context.Context, spec job.SourceSpec, now time.Time) error
	GetSource(ctx context.Context, name string) (job.Source, error)
	ListSources(ctx context.Context) ([]job.Source, error)
	DeleteSource(ctx context.Context, name string) error
	SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) error
}

// BulkStore is what JobServer.BulkJobs uses.
type BulkStore interface {
	BulkJobs(ctx context.Context, f job.JobFilter, a job.BulkAction, dryRun bool, now time.Time) (job.BulkResult, error)
}

// ConsoleStore is what the request log, stats and audit servers use.
type ConsoleStore interface {
	ListRequests(ctx context.Context, f job.RequestFilter) ([]job.InboundRequest, error)
	GetRequest(ctx context.Context, id string) (job.InboundRequest, error)
	GetStats(ctx context.Context, q job.StatsQuery) (job.Stats, error)
	RecordAudit(ctx context.Context, e job.AuditEntry) error
	ListAuditEntries(ctx context.Context, beforeID string, limit int) ([]job.AuditEntry, error)
}

// KeyUsageStore reads the keys' requests per day.
type KeyUsageStore interface {
	ListKeyUsage(ctx context.Context, since time.Time) ([]job.KeyUsage, error)
}

// The API reaches ingestion and delivery only through these: main wires
// in the real ones (ingest.Registry, ingest.Server, delivery.Client).

// SourceRegistry is ingestion's set of sources, which SourceServer keeps
// current in this process after each change.
type SourceRegistry interface {
	// Load reads every source from the store again.
	Load(ctx context.Context) error
	// Put makes one source, as stored, take effect now, with the verifier
	// its validation built.
	Put(src job.Source, v verify.Verifier) error
}

// WebhookChecker dry-runs a webhook through ingestion's checks without
// storing it (TestSource); it returns the delivery id it would have used.
type WebhookChecker interface {
	Check(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest) (string, error)
}

// Delivery is what EndpointServer needs of delivery: the SSRF and egress
// check of an endpoint's URL, and test deliveries.
type Delivery interface {
	CheckURL(ctx context.Context, rawURL string, egress job.EgressSpec) error
	// SendTest delivers payload once as attempt a of an unstored job and
	// returns a with its outcome.
	SendTest(ctx context.Context, ep job.EndpointSpec, a job.Attempt, payload []byte) job.Attempt
}
