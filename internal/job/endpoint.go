package job

import "time"

// EndpointSpec is what delivering to an endpoint needs. It is stored as
// JSON, so it can grow without a migration.
type EndpointSpec struct {
	Name string `json:"-"`
	URL  string `json:"url"`
	// Secrets sign deliveries: Secrets[0] is the current one (it goes in
	// Authorization: Bearer), a second one is the previous one during a
	// rotation (both sign webhook-signature).
	Secrets []string      `json:"secrets"`
	Timeout time.Duration `json:"timeout"`
	Retry   RetrySpec     `json:"retry"`
	// Bulk, when set, batches ready jobs into one POST.
	Bulk *BulkSpec `json:"bulk,omitempty"`
	// MaxConcurrency bounds the deliveries in flight in one process; 0
	// means the default.
	MaxConcurrency int            `json:"max_concurrency,omitempty"`
	RateLimit      *RateLimitSpec `json:"rate_limit,omitempty"`
	// RetryClientErrors retries 3xx and 4xx answers (but 410) instead of
	// failing the job for good.
	RetryClientErrors bool `json:"retry_client_errors,omitempty"`
	// RetryOnlyUnanswered makes every answer of 400 and over final: only
	// a timeout or a connection error is retried.
	RetryOnlyUnanswered bool `json:"retry_only_unanswered,omitempty"`
	// DisableAfter disables the endpoint when it has failed continuously
	// for this long; 0 means the default.
	DisableAfter time.Duration `json:"disable_after,omitempty"`
	// MaxPayloadBytes bounds the payload of a job dispatched through the
	// API; 0 means the default.
	MaxPayloadBytes int `json:"max_payload_bytes,omitempty"`
	// PreviousSecretExpiresAt ends a rotation: after it only Secrets[0]
	// signs.
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at,omitzero"`

	// Ed25519Key, "whsk_<base64>", adds a Standard Webhooks v1a signature
	// (ed25519) beside or instead of the HMAC ones.
	Ed25519Key string `json:"ed25519_key,omitempty"`
	// NoHMAC drops the HMAC v1 signatures (hmac: false); the flags are
	// negative so that specs stored before they existed keep signing.
	NoHMAC bool `json:"no_hmac,omitempty"`
	// NoBearer drops "Authorization: Bearer <secret>" (bearer: false), so
	// that a receiver checking signatures never sees the HMAC key.
	NoBearer bool `json:"no_bearer,omitempty"`
	// Egress is how deliveries leave: proxy, TLS, OAuth2, headers.
	Egress EgressSpec `json:"egress,omitzero"`

	// EventTypes are the endpoint's subscriptions: patterns of the event
	// types it gets a job for when an event is published, or a source
	// routes to its subscribers. None: it gets no published events.
	EventTypes []string `json:"event_types,omitempty"`
	// Filter and Transform are CEL expressions that apply to the
	// subscription: a job is made only where Filter is true, with the
	// payload Transform yields.
	Filter    string `json:"filter,omitempty"`
	Transform string `json:"transform,omitempty"`
	// PayloadFormat is PayloadEnvelope (the payload as it is) or
	// PayloadStandardWebhooks ({"type", "timestamp", "data"}).
	PayloadFormat string `json:"payload_format,omitempty"`
}

// EgressSpec is how deliveries to an endpoint leave dispatchd. The zero
// value connects directly, with the system's roots, and adds nothing.
type EgressSpec struct {
	// Proxy is an http:// or https:// forward proxy URL, with optional
	// user:password (CONNECT for https:// endpoints).
	Proxy string `json:"proxy,omitempty"`
	// ClientCertFile and ClientKeyFile are a PEM client certificate and
	// key for mTLS; CAFile is a PEM bundle that replaces the system roots.
	ClientCertFile string `json:"client_cert_file,omitempty"`
	ClientKeyFile  string `json:"client_key_file,omitempty"`
	CAFile         string `json:"ca_file,omitempty"`
	// OAuth2, when set, puts a client-credentials access token in
	// Authorization instead of the Bearer secret.
	OAuth2 *OAuth2Spec `json:"oauth2,omitempty"`
	// Headers are sent with every delivery; they never replace the
	// signature, Authorization or Content-Type headers.
	Headers map[string]string `json:"headers,omitempty"`
	// HTTPSOnly refuses http:// URLs except to networks explicitly
	// allowed as private.
	HTTPSOnly bool `json:"https_only,omitempty"`
}

// OAuth2Spec is an OAuth2 client-credentials grant.
type OAuth2Spec struct {
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes,omitempty"`
}

// Payload formats of an endpoint.
const (
	PayloadEnvelope         = "envelope"
	PayloadStandardWebhooks = "standard-webhooks"
)

// SigningSecrets are the secrets that sign a delivery at now: the current
// one, and the previous one while its rotation's grace period lasts.
func (s EndpointSpec) SigningSecrets(now time.Time) []string {
	if len(s.Secrets) > 1 && !s.PreviousSecretExpiresAt.IsZero() && !now.Before(s.PreviousSecretExpiresAt) {
		return s.Secrets[:1]
	}
	return s.Secrets
}

// RetrySpec is a retry schedule: a preset, an explicit list of delays or
// exponential backoff. The zero value is the default preset.
type RetrySpec struct {
	Preset      string           `json:"preset,omitempty"`
	Schedule    []time.Duration  `json:"schedule,omitempty"`
	Exponential *ExponentialSpec `json:"exponential,omitempty"`
	// MaxRetries caps the retries after the first attempt; 0 means the
	// schedule's own end.
	MaxRetries int `json:"max_retries,omitempty"`
}

// ExponentialSpec is backoff from Initial, multiplied by Factor, each delay
// capped at Max, until Window after the first attempt.
type ExponentialSpec struct {
	Initial time.Duration `json:"initial"`
	Factor  float64       `json:"factor"`
	Max     time.Duration `json:"max,omitempty"`
	Window  time.Duration `json:"window"`
}

// BulkSpec batches up to MaxRecords jobs per POST, waiting at most MaxWait
// for a batch to fill.
type BulkSpec struct {
	MaxRecords int           `json:"max_records"`
	MaxWait    time.Duration `json:"max_wait"`
}

// RateLimitSpec is a token bucket: RPS deliveries a second, Burst at once.
type RateLimitSpec struct {
	RPS   float64 `json:"rps"`
	Burst int     `json:"burst"`
}

// Endpoint origins.
const (
	OriginConfig = "config" // declared in the configuration file
	OriginAPI    = "api"    // created through the API
)

// Endpoint is a configured endpoint and its state.
type Endpoint struct {
	EndpointSpec
	Origin string
	// Paused endpoints keep their jobs pending until resumed.
	Paused bool
	// DisabledAt is set when dispatchd disabled the endpoint (410, or
	// failing for too long); its jobs wait, they do not burn attempts.
	DisabledAt     time.Time
	DisabledReason string
	// FailingSince is the first failure since the last success.
	FailingSince time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Active reports whether deliveries to the endpoint may run.
func (e Endpoint) Active() bool { return !e.Paused && e.DisabledAt.IsZero() }

// Attempt is one delivery attempt of a job.
type Attempt struct {
	ID     string
	JobID  string
	Number int
	// BatchID is set when the job went in a bulk POST.
	BatchID    string
	StartedAt  time.Time
	Latency    time.Duration
	StatusCode int // 0: no response
	// Outcome is what the attempt decided: completed, retry, failed or
	// gone (410).
	Outcome    string
	ErrorClass string
	Error      string
	// ResponseExcerpt is the start of the response body.
	ResponseExcerpt string
	// Endpoint names the endpoint the attempt went to; attempts recorded
	// before dispatchd kept it read "".
	Endpoint string
	// RequestHeaders are the headers sent, secret values masked
	// (delivery.SentHeaders); nil when unknown: nothing was sent, or the
	// attempt was recorded before dispatchd kept them.
	RequestHeaders map[string]string
	// RetryAfter is the wait the receiver asked for in Retry-After; 0
	// when it asked for none.
	RetryAfter time.Duration
}

// Claim asks for up to Max due jobs of one endpoint, leased until
// LeaseUntil under LeaseID.
type Claim struct {
	Endpoint   string
	LeaseID    string
	Now        time.Time
	LeaseUntil time.Time
	Max        int
}

// DueClaim asks for an endpoint's due jobs together with the endpoint as
// it is now and, for a rate-limited endpoint, the tokens of the POSTs it
// will make: one store transaction instead of a read, a draw, a claim and
// a give-back.
type DueClaim struct {
	Endpoint string
	LeaseID  string
	Now      time.Time
	// Plan decides, from the endpoint as the claim's transaction reads it,
	// how many POSTs to make at most, how many jobs one POST carries and
	// how long the lease lasts. It runs inside the transaction: it must be
	// quick and do no I/O. posts <= 0 claims nothing.
	Plan func(ep Endpoint) (posts, perPost int, lease time.Duration)
}

// Claimed is what a DueClaim got.
type Claimed struct {
	// Endpoint is the endpoint as the claim read it.
	Endpoint Endpoint
	// Jobs are the leased jobs, in run-time order.
	Jobs []Job
	// RateWait is set when the rate limit allowed no POST: how long until
	// a token is there.
	RateWait time.Duration
}

// Finish ends a lease on a job.
type Finish struct {
	JobID   string
	LeaseID string
	// State is StateCompleted, StateDead or StateRetrying.
	State State
	// RunAt is when a retrying job is due again.
	RunAt     time.Time
	LastError string
	// Attempt is recorded with the outcome, if the lease was still held.
	Attempt Attempt
	// Earlier are tries of the same attempt made before Attempt (a 401
	// retried at once with another credential), recorded before it.
	Earlier []Attempt
	Now     time.Time
}

// TakeTokens computes a token bucket's draw: a bucket that held tokens at
// last (nil: full) refills at rps up to burst by now, then gives up to want
// whole tokens. It returns what was granted, the tokens left, the time the
// bucket is now at, and — when nothing was granted — how long until one
// token is there.
//
// Workers read their clocks before they wait for the bucket's row lock, so
// draws arrive with a now older than the last one. Such a draw refills
// nothing and leaves the bucket's time where it is: moving it back would
// refill the same interval twice and let the endpoint go over its rate.
func TakeTokens(tokens *float64, last, now time.Time, rps float64, burst, want int) (granted int, left float64, at time.Time, wait time.Duration) {
	avail := float64(burst)
	at = now
	if tokens != nil {
		avail = *tokens
		if elapsed := now.Sub(last).Seconds(); elapsed > 0 {
			avail += elapsed * rps
		} else {
			at = last
		}
		avail = min(avail, float64(burst))
	}
	granted = max(0, min(want, int(avail)))
	left = avail - float64(granted)
	if granted == 0 && rps > 0 {
		wait = time.Duration((1 - left) / rps * float64(time.Second))
	}
	return granted, left, at, wait
}

// PruneCutoffs says what retention pruning may delete.
type PruneCutoffs struct {
	// FinishedBefore: completed and cancelled jobs finished before it.
	FinishedBefore time.Time
	// DeadBefore: dead jobs that went dead before it.
	DeadBefore time.Time
	// EventsBefore: events received before it, once their jobs are gone.
	EventsBefore time.Time
	// RefusedBefore: request-log rows of refused and duplicate requests
	// received before it (zero: none by age). Accepted ones go with
	// EventsBefore. The stats' per-minute counts go 7 days before it.
	RefusedBefore time.Time
	// Batch is how many rows one statement deletes at most.
	Batch int
	// Now stamps the jobs that a prune marks dead because their endpoint
	// no longer exists, and sessions that expired before it are deleted;
	// zero skips those passes.
	Now time.Time
}

// Pruned counts what a prune deleted.
type Pruned struct {
	Attempts, Jobs, Events int64
	// Orphaned counts the unfinished jobs it marked dead because their
	// endpoint no longer exists.
	Orphaned int64
	// Vacuumed is set when the store reclaimed the space itself because
	// its database does not (PostgreSQL with autovacuum off).
	Vacuumed bool
}
