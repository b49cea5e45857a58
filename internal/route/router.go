package route

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Rule is a source's route, compiled: to one endpoint, or to the
// subscribers of the event's type, where Filter (nil: always) is true.
type Rule struct {
	Endpoint    string
	Subscribers bool
	Filter      *Filter
	Transform   *Transform
}

// CompileRules compiles a source's route rules. Errors name the rule and
// its field: route_rules[1].filter: 1:9: undeclared reference to 'paylod'.
func CompileRules(rules []job.RouteRule) ([]Rule, error) {
	out := make([]Rule, 0, len(rules))
	for i, r := range rules {
		c := Rule{Endpoint: r.Endpoint, Subscribers: r.Subscribers}
		var err error
		if r.Filter != "" {
			if c.Filter, err = CompileFilter(r.Filter); err != nil {
				return nil, fmt.Errorf("route_rules[%d].filter: %w", i, err)
			}
		}
		if r.Transform != "" {
			if c.Transform, err = CompileTransform(r.Transform); err != nil {
				return nil, fmt.Errorf("route_rules[%d].transform: %w", i, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// subscription is an endpoint as routing needs it.
type subscription struct {
	name      string
	patterns  []string
	filter    *Filter
	transform *Transform
	// standard wraps payloads as {"type", "timestamp", "data"}.
	standard bool
}

func compileEndpoint(spec job.EndpointSpec) (*subscription, error) {
	s := &subscription{name: spec.Name, patterns: spec.EventTypes, standard: spec.PayloadFormat == job.PayloadStandardWebhooks}
	var err error
	if spec.Filter != "" {
		if s.filter, err = CompileFilter(spec.Filter); err != nil {
			return nil, fmt.Errorf("endpoint %s: filter: %w", spec.Name, err)
		}
	}
	if spec.Transform != "" {
		if s.transform, err = CompileTransform(spec.Transform); err != nil {
			return nil, fmt.Errorf("endpoint %s: transform: %w", spec.Name, err)
		}
	}
	return s, nil
}

func (s *subscription) matches(eventType string) bool {
	for _, p := range s.patterns {
		if Match(p, eventType) {
			return true
		}
	}
	return false
}

// Table is one consistent view of the endpoints' subscriptions and the
// declared types' schemas. It is immutable: a reload builds a new one.
type Table struct {
	byName  map[string]*subscription
	subs    []*subscription // with event types, by name
	schemas map[string]*Schema
}

// NewTable compiles endpoints and event types into a Table. An endpoint
// or schema that does not compile (validation refuses those, so only a
// hand-edited database has one) is left out and reported in errs; the
// rest still route.
func NewTable(endpoints []job.EndpointSpec, types []job.EventType) (t *Table, errs []error) {
	t = &Table{byName: map[string]*subscription{}, schemas: map[string]*Schema{}}
	for _, e := range endpoints {
		s, err := compileEndpoint(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.add(s)
	}
	for _, et := range types {
		if !et.Declared || et.Schema == nil {
			continue
		}
		sch, err := CompileSchema(et.Schema)
		if err != nil {
			errs = append(errs, fmt.Errorf("event type %s: schema: %w", et.Name, err))
			continue
		}
		t.schemas[et.Name] = sch
	}
	t.sort()
	return t, errs
}

func (t *Table) add(s *subscription) {
	t.byName[s.name] = s
	if len(s.patterns) > 0 {
		t.subs = append(t.subs, s)
	}
}

func (t *Table) sort() {
	sort.Slice(t.subs, func(a, b int) bool { return t.subs[a].name < t.subs[b].name })
}

// Event is what routing reads of an event. Payload is decoded from Body
// at most once, on the first expression that needs it.
type Event struct {
	Type    string
	Source  string
	Headers map[string]string
	Body    []byte
	// JSON reports whether Body is JSON; expressions see payload null
	// otherwise.
	JSON       bool
	ReceivedAt time.Time

	decoded bool
	payload any
}

func (e *Event) input() Input {
	if !e.decoded {
		e.decoded = true
		if e.JSON {
			// Numbers decode as doubles: CEL's JSON numbers are doubles.
			_ = json.Unmarshal(e.Body, &e.payload)
		}
	}
	return Input{Type: e.Type, Payload: e.payload, Headers: e.Headers, Source: e.Source}
}

// Target is one job to make for an event.
type Target struct {
	Endpoint string
	// Payload is the job's payload; nil: the event's body as it is.
	Payload []byte
	// Err is set when a filter or transformation failed on this event:
	// the job is made dead with it, so that the failure is seen.
	Err error
}

// Job is the job of the target for event ev, due at runAt, with the
// coalesce and ordering keys and trace parent of keys. A target whose
// filter or transformation failed is a dead job that says why: the event
// is stored, and the failure is where the endpoint's jobs are looked at.
func (t Target) Job(ev job.Event, keys job.Job, runAt, now time.Time) job.Job {
	j := job.Job{
		ID:          job.NewID("job", now),
		Endpoint:    t.Endpoint,
		EventID:     ev.ID,
		Payload:     ev.Body,
		State:       job.StateAvailable,
		RunAt:       runAt,
		CreatedAt:   now,
		UpdatedAt:   now,
		CoalesceKey: keys.CoalesceKey,
		OrderingKey: keys.OrderingKey,
		TraceParent: keys.TraceParent,
	}
	if t.Payload != nil {
		j.Payload = t.Payload
	}
	if runAt.After(now) {
		j.State = job.StateScheduled
	}
	if t.Err != nil {
		// Dead at birth: no key, so that it neither replaces a pending
		// job's payload nor holds up its ordering key.
		j.State, j.LastError, j.FinishedAt = job.StateDead, t.Err.Error(), now
		j.CoalesceKey, j.OrderingKey, j.Payload = "", "", ev.Body
	}
	return j
}

// Validate checks a body against the schema of its declared type, if the
// type has one. The error names the failing JSON pointer.
func (t *Table) Validate(eventType string, body []byte) error {
	sch, ok := t.schemas[eventType]
	if !ok {
		return nil
	}
	if err := sch.Validate(body); err != nil {
		return fmt.Errorf("the payload does not match the schema of event type %s: %w", eventType, err)
	}
	return nil
}

// Publish routes a published event to every endpoint subscribed to its
// type.
func (t *Table) Publish(e *Event) []Target {
	return t.Route(e, nil, []Rule{{Subscribers: true}})
}

// Route lists the jobs to make for an event that a source routes to the
// endpoints named and by rules. An endpoint gets at most one job per
// event: the first route that names it (named routes, then rules in
// order) decides its payload.
func (t *Table) Route(e *Event, named []string, rules []Rule) []Target {
	var out []Target
	seen := map[string]bool{}
	for _, name := range named {
		if !seen[name] {
			seen[name] = true
			out = append(out, t.target(e, name, nil))
		}
	}
	for _, r := range rules {
		if !r.Subscribers {
			if seen[r.Endpoint] {
				continue
			}
			seen[r.Endpoint] = true
			if tg, ok := t.filtered(e, r.Endpoint, r.Filter, r.Transform); ok {
				out = append(out, tg)
			}
			continue
		}
		if e.Type == "" {
			continue
		}
		for _, s := range t.subs {
			if seen[s.name] || !s.matches(e.Type) {
				continue
			}
			// The rule's filter first (the source's view), then the
			// subscription's own.
			if r.Filter != nil {
				ok, err := r.Filter.Match(e.input())
				if err != nil {
					seen[s.name] = true
					out = append(out, Target{Endpoint: s.name, Err: err})
					continue
				}
				if !ok {
					continue
				}
			}
			seen[s.name] = true
			if tg, ok := t.filtered(e, s.name, s.filter, s.transform); ok {
				out = append(out, tg)
			}
		}
	}
	return out
}

// filtered is the target for endpoint when filter passes.
func (t *Table) filtered(e *Event, endpoint string, filter *Filter, transform *Transform) (Target, bool) {
	if filter != nil {
		ok, err := filter.Match(e.input())
		if err != nil {
			return Target{Endpoint: endpoint, Err: err}, true
		}
		if !ok {
			return Target{}, false
		}
	}
	return t.target(e, endpoint, transform), true
}

func (t *Table) target(e *Event, endpoint string, transform *Transform) Target {
	tg := Target{Endpoint: endpoint}
	if transform != nil {
		b, err := transform.Apply(e.input())
		if err != nil {
			return Target{Endpoint: endpoint, Err: err}
		}
		tg.Payload = b
	}
	if s, ok := t.byName[endpoint]; ok && s.standard {
		tg.Payload = standardPayload(e, tg.Payload)
	}
	return tg
}

// standardPayload is the Standard Webhooks payload shape,
// {"type", "timestamp", "data"}, around data (nil: the event's body; a
// body that is not JSON becomes a JSON string).
func standardPayload(e *Event, data []byte) []byte {
	if data == nil {
		if e.JSON {
			data = e.Body
		} else {
			data, _ = json.Marshal(string(e.Body))
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	t, _ := json.Marshal(e.Type)
	b.Write(t)
	b.WriteString(`,"timestamp":`)
	ts, _ := json.Marshal(e.ReceivedAt.UTC().Format(time.RFC3339Nano))
	b.Write(ts)
	b.WriteString(`,"data":`)
	b.Write(bytes.TrimSpace(data))
	b.WriteByte('}')
	return b.Bytes()
}
