package job

import "time"

// The request log's bounds: rows of requests that stored no event
// (refused or duplicate) are kept at most RefusedPerSource per source and
// RefusedRetention long, so that a flood of forged requests cannot grow
// the store. All unknown source names share one bound (UnknownBucket).
const (
	RefusedPerSource = 1000
	RefusedRetention = 24 * time.Hour
	// ExcerptBytes is how much of a refused body is kept.
	ExcerptBytes = 2048
	// UnknownBucket is the bound that requests to unknown sources share.
	UnknownBucket = "*"
)

// Outcomes of an inbound request (as in dispatchd_webhooks_received_total).
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
)

// InboundRequest is one request to a source's webhook URL, as the request
// log keeps it.
type InboundRequest struct {
	ID          string
	Source      string
	ReceivedAt  time.Time
	Outcome     string
	Reason      string
	StatusCode  int
	Size        int64
	RemoteAddr  string
	EventID     string
	Headers     map[string]string // credentials removed
	BodyExcerpt []byte            // refused requests only
	// KnownSource is false for a source name that is not configured: such
	// requests share one bound.
	KnownSource bool
}

// Accepted reports whether the request stored an event.
func (r InboundRequest) Accepted() bool { return r.Outcome == OutcomeAccepted }

// Bucket is the bound the request counts against.
func (r InboundRequest) Bucket() string {
	if !r.KnownSource {
		return UnknownBucket
	}
	return r.Source
}

// RequestFilter selects requests of the log, newest first.
type RequestFilter struct {
	Source  string
	Outcome string
	// AfterID: only requests newer than it; BeforeID continues a listing.
	AfterID  string
	BeforeID string
	Limit    int
}

// AuditEntry is one action someone took, by API key.
type AuditEntry struct {
	ID      string
	At      time.Time
	KeyID   string
	KeyName string
	Action  string
	Target  string
	Detail  string
}

// BulkAction is what a bulk request does to each job it matches.
type BulkAction string

// The bulk actions.
const (
	BulkRetry  BulkAction = "retry"
	BulkCancel BulkAction = "cancel"
	BulkReplay BulkAction = "replay"
)

// States are the states of the jobs the action applies to.
func (a BulkAction) States() []State {
	switch a {
	case BulkRetry:
		return []State{StateDead, StateCancelled}
	case BulkCancel:
		return []State{StateScheduled, StateAvailable, StateRetrying}
	case BulkReplay:
		return []State{StateDead}
	}
	return nil
}

// BulkResult is how many jobs a bulk action matched (in a state it
// applies to) and changed.
type BulkResult struct {
	Matched  int64
	Affected int64
}

// StatsQuery chooses the series of GetStats.
type StatsQuery struct {
	Source   string
	Endpoint string
	Since    time.Time
	Bucket   time.Duration
	Now      time.Time
}

// StatsPoint is one bucket of the series.
type StatsPoint struct {
	At         time.Time
	Received   map[string]int64
	Deliveries map[string]int64
}

// Stats is what GetStats returns.
type Stats struct {
	Points          []StatsPoint
	LatencyP50      time.Duration
	LatencyP95      time.Duration
	QueueDepth      int64
	OldestReadyWait time.Duration
}

// KeyUsage is the requests one key made on one UTC day.
type KeyUsage struct {
	KeyID    string
	Day      string // YYYY-MM-DD
	Requests int64
}

// SearchScanLimit bounds how many jobs one page of a payload search reads:
// payloads may be encrypted at rest, so each is opened and searched in the
// server rather than by SQL.
const SearchScanLimit = 5000

// JobSearch is one page of a payload search.
type JobSearch struct {
	// Jobs match the filter and contain the text, newest first.
	Jobs []Job
	// Searched is how many jobs of the filter the page read.
	Searched int
	// ResumeID continues the search (as JobFilter.BeforeID); "" when the
	// filter's jobs are all searched.
	ResumeID string
}
