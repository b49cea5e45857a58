package job

import (
	"crypto/rand"
	"encoding/base32"
	"sort"
	"strings"
	"sync"
	"time"
)

// State is where a job is in its life.
type State string

// Job states. A job starts available (or scheduled when it runs later), is
// running while a worker holds its lease, and ends completed, dead (retries
// exhausted; replayable) or cancelled.
const (
	StateScheduled State = "scheduled"
	StateAvailable State = "available"
	StateRunning   State = "running"
	StateRetrying  State = "retrying"
	StateCompleted State = "completed"
	StateDead      State = "dead"
	StateCancelled State = "cancelled"
)

// Event is one webhook accepted from a provider.
type Event struct {
	ID     string
	Source string
	// DeliveryID is the provider's id for this delivery (webhook-id,
	// X-GitHub-Delivery, a Stripe event id…); empty when the source has none.
	// It is unique per source.
	DeliveryID  string
	ContentType string
	// Type is the event's type (order.created…); empty when the source
	// does not say.
	Type string
	// Headers are the request headers (lower-case names) without credentials.
	Headers    map[string]string
	Body       []byte
	ReceivedAt time.Time
}

// Job is one delivery of a payload to one endpoint.
type Job struct {
	ID       string
	Endpoint string
	// EventID is the event the job was routed from, and Source its
	// source; both empty for jobs dispatched through the API.
	EventID string
	Source  string
	Payload []byte
	State   State
	// Attempts counts the attempts started, including one under way.
	Attempts  int
	RunAt     time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// CoalesceKey: a newer job with the same key and endpoint replaces the
	// payload of this one while it is pending.
	CoalesceKey string
	// OrderingKey: jobs of one endpoint with the same key are delivered
	// one at a time, in creation order.
	OrderingKey string
	// IdempotencyKey: a dispatch repeating a key of the endpoint returns
	// the job first made with it.
	IdempotencyKey string
	// Retry overrides the endpoint's retry schedule; nil for none.
	Retry *RetrySpec
	// TraceParent is the W3C traceparent of the span that created the
	// job; its deliveries join that trace.
	TraceParent string
	// LeaseID and LeaseExpiresAt are set while a worker holds the job.
	LeaseID        string
	LeaseExpiresAt time.Time
	// FirstAttemptAt starts the retry window.
	FirstAttemptAt time.Time
	FinishedAt     time.Time
	LastError      string
}

// Pending reports whether the job still waits for a delivery.
func (s State) Pending() bool {
	return s == StateScheduled || s == StateAvailable || s == StateRetrying
}

// NewEvent is what ingestion asks the store to commit: the event and the jobs
// routed from it, with their ids already assigned.
type NewEvent struct {
	Event Event
	Jobs  []Job
	// Request, when set, is written to the inbound request log in the
	// same commit: accepted, or duplicate when the delivery id was stored.
	Request *InboundRequest
}

// Stored is the outcome of storing a NewEvent.
type Stored struct {
	EventID string
	JobIDs  []string
	// BatchSize is how many events shared the commit (for telemetry).
	BatchSize int
	// Duplicate is true when the source already had an event with this
	// delivery id: nothing was written, EventID and JobIDs are the original.
	Duplicate bool
}

// idEncoding is Crockford's base32 alphabet: ids stay short, case-insensitive
// readable and sort in creation order.
var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 26 characters: 48 bits of milliseconds since
// the epoch followed by 80 random bits. Ids made by one process sort in the
// order they were made: within one millisecond the random part is
// incremented instead of drawn again, so jobs listed by id come back in
// creation order.
func NewID(prefix string, now time.Time) string {
	ids.mu.Lock()
	b := ids.next(uint64(now.UnixMilli()))
	ids.mu.Unlock()
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

var ids idState

type idState struct {
	mu   sync.Mutex
	last [16]byte
	ms   uint64
}

func (s *idState) next(ms uint64) [16]byte {
	if ms <= s.ms && s.ms != 0 {
		// Same (or an earlier: the clock stepped back) millisecond:
		// increment the 80-bit random part, carrying leftwards.
		for i := 15; i >= 6; i-- {
			s.last[i]++
			if s.last[i] != 0 {
				return s.last
			}
		}
		// The random part wrapped (2^80 ids in one millisecond): move on
		// to the next millisecond.
		ms = s.ms + 1
	}
	s.ms = ms
	for i := 5; i >= 0; i-- {
		s.last[i] = byte(ms)
		ms >>= 8
	}
	// crypto/rand.Read never returns an error (Go 1.24+). The top bit of
	// the random part stays clear so increments have room before wrapping.
	_, _ = rand.Read(s.last[6:])
	s.last[6] &= 0x7f
	return s.last
}

// SortByRunAt orders jobs by run time, then id (creation order).
func SortByRunAt(jobs []Job) {
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].RunAt.Equal(jobs[b].RunAt) {
			return jobs[a].RunAt.Before(jobs[b].RunAt)
		}
		return jobs[a].ID < jobs[b].ID
	})
}

// IDAt returns the smallest id NewID can make with prefix in t's
// millisecond: ids made from t on sort after it, ids made before t's
// millisecond sort before it. List queries turn time ranges into id
// ranges with it.
func IDAt(prefix string, t time.Time) string {
	ms := max(t.UnixMilli(), 0)
	var b [16]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// IDCeiling sorts after every id NewID makes with prefix: the open end of
// an id range.
func IDCeiling(prefix string) string {
	return prefix + "_" + strings.Repeat("Z", idEncoding.EncodedLen(16))
}
