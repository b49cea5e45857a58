package job

import "time"

// SourceSpec is what a source is: how its webhooks are authenticated and
// checked, and where they are routed. It is stored as JSON.
type SourceSpec struct {
	Name string `json:"-"`
	// Scheme and its settings (see package verify). Secrets: the current
	// one first; a second one is the previous, accepted until
	// PreviousSecretExpiresAt (forever if that is zero).
	Scheme                  string        `json:"scheme"`
	Secrets                 []string      `json:"secrets,omitempty"`
	PreviousSecretExpiresAt time.Time     `json:"previous_secret_expires_at,omitzero"`
	Header                  string        `json:"header,omitempty"`
	Algorithm               string        `json:"algorithm,omitempty"`
	Encoding                string        `json:"encoding,omitempty"`
	Prefix                  string        `json:"prefix,omitempty"`
	Tolerance               time.Duration `json:"tolerance,omitempty"`
	// PublicKey, "whpk_<base64>", verifies standard-webhooks v1a
	// signatures.
	PublicKey string `json:"public_key,omitempty"`

	MaxBodyBytes int64          `json:"max_body_bytes"`
	RateLimit    *RateLimitSpec `json:"rate_limit,omitempty"`
	// Where the delivery id, coalesce key and ordering key are; nil: the
	// scheme's default delivery id, and no keys.
	DeliveryID   *ValueRef       `json:"delivery_id,omitempty"`
	CoalesceKey  *ValueRef       `json:"coalesce_key,omitempty"`
	OrderingKey  *ValueRef       `json:"ordering_key,omitempty"`
	ContentTypes []string        `json:"content_types"`
	Required     []RequiredField `json:"required,omitempty"`
	Routes       []string        `json:"routes,omitempty"`
	// EventType is where each webhook's event type is; nil: the scheme's
	// default place (github, stripe, standard-webhooks), else none.
	EventType *ValueRef `json:"event_type,omitempty"`
	// RouteRules are routes with a filter or a transformation, and the
	// route to the subscribers of the event's type.
	RouteRules []RouteRule `json:"route_rules,omitempty"`
}

// VerifySecrets are the secrets that authenticate a request at now.
func (s SourceSpec) VerifySecrets(now time.Time) []string {
	if len(s.Secrets) > 1 && !s.PreviousSecretExpiresAt.IsZero() && !now.Before(s.PreviousSecretExpiresAt) {
		return s.Secrets[:1]
	}
	return s.Secrets
}

// ValueRef locates a value in each webhook: a header or a JSON pointer.
type ValueRef struct {
	Header string `json:"header,omitempty"`
	JSON   string `json:"json,omitempty"`
}

// RequiredField is a JSON pointer a body must have, with an optional type.
type RequiredField struct {
	Pointer string `json:"pointer"`
	Type    string `json:"type,omitempty"`
}

// Source is a configured source and its state.
type Source struct {
	SourceSpec
	Origin    string
	Paused    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JobFilter selects jobs; zero fields do not filter.
type JobFilter struct {
	State         State
	Endpoint      string
	Source        string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// BeforeID continues a listing (ids sort by creation, newest first).
	BeforeID string
	Limit    int
}

// Dispatched is the outcome of dispatching one job.
type Dispatched struct {
	JobID string
	// Duplicate is true when the idempotency key matched an existing job.
	Duplicate bool
}
