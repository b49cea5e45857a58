package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/jsonpointer"
	"github.com/dispatchd/dispatchd/internal/route"
	"github.com/dispatchd/dispatchd/internal/specs"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// Source is a source ready to check requests.
type Source struct {
	Name         string
	MaxBodyBytes int64
	Routes       []string
	Paused       bool

	spec job.SourceSpec
	// verifier is built once per version of the spec; it knows when a
	// rotation's previous secret stops passing.
	verifier verify.Verifier

	limiter      *rate.Limiter // nil: unlimited
	contentTypes []string
	required     []requiredField
	// Where the delivery id is; unset means the source does not
	// deduplicate.
	deliveryID valueRef
	// Where the coalesce and ordering keys of the routed jobs are, if the
	// source sets them.
	coalesceKey valueRef
	orderingKey valueRef
	// eventType is where the event's type is; a scheme's default place
	// is optional (a webhook without it has no type), a configured one is
	// required.
	eventType         valueRef
	eventTypeOptional bool
	// rules are the routes beyond bare names, compiled once per load.
	rules []route.Rule
}

type requiredField struct {
	pointer  jsonpointer.Pointer
	jsonType string
}

// valueRef locates a value in each webhook: a header (canonical name) or a
// JSON pointer into the body. The zero valueRef locates nothing.
type valueRef struct {
	what   string // for messages: "delivery id", "ordering key"…
	header string
	// alt is read when header is absent: Svix-Id for a standard-webhooks
	// source whose sender uses the svix-* header set.
	alt     string
	pointer *jsonpointer.Pointer
}

func newValueRef(what string, ref *job.ValueRef) (valueRef, error) {
	v := valueRef{what: what}
	switch {
	case ref == nil:
	case ref.Header != "":
		v.header = http.CanonicalHeaderKey(ref.Header)
	case ref.JSON != "":
		p, err := jsonpointer.Parse(ref.JSON)
		if err != nil {
			return valueRef{}, fmt.Errorf("%s pointer %q: %w", what, ref.JSON, err)
		}
		v.pointer = &p
	}
	return v, nil
}

// NewSource prepares a source with the verifier that validating its spec
// built (specs.Source), or, when v is nil, builds one. Its errors name what
// is wrong with the spec; a spec that passed validation does not fail.
func NewSource(src job.Source, v verify.Verifier) (*Source, error) {
	spec := src.SourceSpec
	if v == nil {
		var err error
		if v, err = verify.New(specs.VerifyConfig(spec)); err != nil {
			return nil, fmt.Errorf("source %s: %w", spec.Name, err)
		}
	}
	s := &Source{
		Name:         spec.Name,
		MaxBodyBytes: spec.MaxBodyBytes,
		Routes:       spec.Routes,
		Paused:       src.Paused,
		spec:         spec,
		verifier:     v,
		contentTypes: spec.ContentTypes,
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = job.DefaultMaxBodyBytes
	}
	if len(s.contentTypes) == 0 {
		s.contentTypes = []string{job.DefaultContentType}
	}
	for _, r := range spec.Required {
		p, err := jsonpointer.Parse(r.Pointer)
		if err != nil {
			return nil, fmt.Errorf("source %s: required pointer %q: %w", spec.Name, r.Pointer, err)
		}
		s.required = append(s.required, requiredField{pointer: p, jsonType: r.Type})
	}
	if rl := spec.RateLimit; rl != nil {
		s.limiter = rate.NewLimiter(rate.Limit(rl.RPS), max(rl.Burst, 1))
	}
	idRef := spec.DeliveryID
	if idRef == nil {
		idRef = schemeDeliveryID(verify.Scheme(spec.Scheme))
	}
	var err1, err2, err3 error
	s.deliveryID, err1 = newValueRef("delivery id", idRef)
	if spec.DeliveryID == nil && verify.Scheme(spec.Scheme) == verify.StandardWebhooks {
		s.deliveryID.alt = "Svix-Id"
	}
	s.coalesceKey, err2 = newValueRef("coalesce key", spec.CoalesceKey)
	s.orderingKey, err3 = newValueRef("ordering key", spec.OrderingKey)
	typeRef := spec.EventType
	if typeRef == nil {
		typeRef, s.eventTypeOptional = schemeEventType(verify.Scheme(spec.Scheme)), true
	}
	var err4, err5 error
	s.eventType, err4 = newValueRef("event type", typeRef)
	s.rules, err5 = route.CompileRules(spec.RouteRules)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, fmt.Errorf("source %s: %w", spec.Name, err)
	}
	return s, nil
}

// readsFields reports whether checking a webhook needs its JSON decoded:
// required fields, or a delivery id or key read from the body.
func (s *Source) readsFields() bool {
	return len(s.required) > 0 || s.deliveryID.pointer != nil || s.coalesceKey.pointer != nil || s.orderingKey.pointer != nil ||
		s.eventType.pointer != nil
}

// schemeEventType is where each scheme's senders put the event's type.
func schemeEventType(s verify.Scheme) *job.ValueRef {
	switch s {
	case verify.GitHub:
		return &job.ValueRef{Header: "X-Github-Event"}
	case verify.Stripe, verify.StandardWebhooks:
		return &job.ValueRef{JSON: "/type"}
	}
	return nil
}

// schemeDeliveryID is where each scheme's senders put their delivery id.
func schemeDeliveryID(s verify.Scheme) *job.ValueRef {
	switch s {
	case verify.StandardWebhooks:
		return &job.ValueRef{Header: "Webhook-Id"}
	case verify.GitHub:
		return &job.ValueRef{Header: "X-Github-Delivery"}
	case verify.Stripe:
		return &job.ValueRef{JSON: "/id"} // the event id: Stripe resends an event with the same id
	}
	return nil
}

// SourceLister is what the Registry needs of the store.
type SourceLister interface {
	ListSources(ctx context.Context) ([]job.Source, error)
}

// Registry holds the sources, loaded from the store: those of the
// configuration file and those created through the API, by any process.
type Registry struct {
	store SourceLister
	log   *slog.Logger

	mu     sync.RWMutex
	byName map[string]*Source
}

// NewRegistry returns an empty Registry; Load fills it.
func NewRegistry(store SourceLister, log *slog.Logger) *Registry {
	return &Registry{store: store, log: log, byName: map[string]*Source{}}
}

// Load reads the sources from the store. A source whose definition did not
// change is kept as it is, with its rate limiter's state.
func (r *Registry) Load(ctx context.Context) error {
	list, err := r.store.ListSources(ctx)
	if err != nil {
		return err
	}
	r.mu.RLock()
	old := r.byName
	r.mu.RUnlock()
	next := make(map[string]*Source, len(list))
	var errs []error
	for _, src := range list {
		if prev, ok := old[src.Name]; ok && prev.Paused == src.Paused && reflect.DeepEqual(prev.spec, src.SourceSpec) {
			next[src.Name] = prev
			continue
		}
		s, err := NewSource(src, nil)
		if err != nil {
			errs = append(errs, err) // the others still load
			continue
		}
		next[src.Name] = s
	}
	r.mu.Lock()
	r.byName = next
	r.mu.Unlock()
	return errors.Join(errs...)
}

// Put makes one source, as the store now holds it, take effect at once,
// with the verifier its validation built; the next Load keeps it while the
// stored spec stays the same.
func (r *Registry) Put(src job.Source, v verify.Verifier) error {
	s, err := NewSource(src, v)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := maps.Clone(r.byName)
	next[s.Name] = s
	r.byName = next
	return nil
}

// Run reloads the sources every interval until ctx ends, so changes made
// through the API of any process take effect here.
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Load(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("sources not reloaded; the previous ones stay in use", "error", err)
			}
		}
	}
}

// Get returns the named source.
func (r *Registry) Get(name string) (*Source, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.byName[name]
	return s, ok
}

// Len is the number of sources.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byName)
}

// MaxBodyBytes returns the body limit of the named source, or the default
// for an unknown name (which ingestion then answers with 404). The gateway
// uses it to refuse a body before reading it.
func (r *Registry) MaxBodyBytes(name string) int64 {
	if src, ok := r.Get(name); ok {
		return src.MaxBodyBytes
	}
	return job.DefaultMaxBodyBytes
}

// allow takes a token from the source's bucket, or says how long until one
// is there.
func (s *Source) allow(now time.Time) (ok bool, retryAfter time.Duration) {
	if s.limiter == nil {
		return true, 0
	}
	r := s.limiter.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// accepts reports whether the source takes bodies of media type mt.
func (s *Source) accepts(mt string) bool {
	for _, ct := range s.contentTypes {
		if ct == mt {
			return true
		}
	}
	return false
}

func (s *Source) acceptList() string { return strings.Join(s.contentTypes, ", ") }
