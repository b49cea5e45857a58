package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/jsonpointer"
	"github.com/dispatchd/dispatchd/internal/metrics"
	"github.com/dispatchd/dispatchd/internal/route"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
	"github.com/dispatchd/dispatchd/internal/telemetry"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// pausedRetryAfter is what a paused source tells providers.
const pausedRetryAfter = time.Minute

// maxKeyBytes bounds a delivery id, coalesce or ordering key; real ones
// are short.
const maxKeyBytes = 256

// Server implements dispatchdv1.IngestServiceServer.
type Server struct {
	dispatchdv1.UnimplementedIngestServiceServer

	store   EventStore
	sources *Registry
	now     func() time.Time
	log     *slog.Logger
	tracer  trace.Tracer
	db      attribute.KeyValue // db.system.name of the store, for spans
	metrics *metrics.Metrics
	// routes are the subscriptions and schemas; nil: sources route to
	// their named endpoints only.
	routes *route.Registry
	// requests keeps refused requests in the request log (nil: no log).
	requests RequestRecorder
}

// SetRoutes gives the server the subscriptions of the endpoints and the
// schemas of the declared event types. Call it before serving.
func (s *Server) SetRoutes(r *route.Registry) { s.routes = r }

// NewServer returns an IngestService that stores events in store. now is
// the clock (time.Now outside tests).
// tp traces verification and the commit (nil: no spans).
func NewServer(store EventStore, sources *Registry, now func() time.Time, log *slog.Logger, tp trace.TracerProvider, m *metrics.Metrics) *Server {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	db := "unknown"
	if e, ok := store.(interface{ Engine() string }); ok {
		db = e.Engine()
	}
	requests, _ := store.(RequestRecorder)
	return &Server{store: store, sources: sources, now: now, log: log, tracer: tp.Tracer("github.com/dispatchd/dispatchd/internal/ingest"),
		db: attribute.String("db.system.name", db), metrics: m, requests: requests}
}

// ReceiveWebhook implements dispatchdv1.IngestServiceServer.
func (s *Server) ReceiveWebhook(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest) (*dispatchdv1.ReceiveWebhookResponse, error) {
	start := time.Now()
	st, err := s.receive(ctx, req)
	s.metrics.Webhook(req.GetSource(), metrics.WebhookOutcome(err, st.Duplicate), time.Since(start))
	if err != nil {
		switch job.ErrorCode(err) {
		case job.CodeUnavailable, job.CodeInternal:
			s.log.ErrorContext(ctx, "webhook not stored", "source", req.GetSource(), "error", err)
		default:
			s.log.DebugContext(ctx, "webhook refused", "source", req.GetSource(), "error", err)
		}
		return nil, rpcerr.Status(err)
	}
	return &dispatchdv1.ReceiveWebhookResponse{EventId: st.EventID, Duplicate: st.Duplicate, JobIds: st.JobIDs}, nil
}

func (s *Server) receive(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest) (job.Stored, error) {
	trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrSource.String(req.GetSource()))
	now := s.now()
	r := s.inbound(ctx, req, now)
	e, err := s.prepare(ctx, req, now, true)
	if err != nil {
		s.recordRefused(ctx, r, req.GetBody(), err)
		return job.Stored{}, err
	}
	if s.requests != nil {
		e.Request = &r
	}
	st, err := s.commit(ctx, e)
	if err != nil && job.ErrorCode(err) != job.CodeUnavailable {
		s.recordRefused(ctx, r, req.GetBody(), err)
	}
	return st, err
}

// commit stores the event in a span of its own: the wait for the shared
// transaction and the commit itself, with how many events shared it.
func (s *Server) commit(ctx context.Context, e job.NewEvent) (job.Stored, error) {
	ctx, span := s.tracer.Start(ctx, "store.commit", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.db, attribute.String("db.operation.name", "INSERT"), telemetry.AttrSource.String(e.Event.Source)))
	defer span.End()
	st, err := s.store.StoreEvent(ctx, e)
	if err != nil {
		span.SetStatus(codes.Error, string(job.ErrorCode(err)))
		span.SetAttributes(attribute.String("error.type", string(job.ErrorCode(err))))
		return st, err
	}
	span.SetAttributes(telemetry.AttrBatchSize.Int(st.BatchSize), attribute.Bool("dispatchd.duplicate", st.Duplicate))
	s.metrics.CommitBatch(st.BatchSize)
	return st, nil
}

// Check runs a webhook through its source's checks without storing it or
// spending its rate limit, and returns the delivery id it found: the
// dry run behind SourceService.TestSource.
func (s *Server) Check(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest) (deliveryID string, err error) {
	e, err := s.prepare(ctx, req, s.now(), false)
	return e.Event.DeliveryID, err
}

// prepare checks a webhook and builds the event and jobs to store.
func (s *Server) prepare(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest, now time.Time, limit bool) (job.NewEvent, error) {
	src, ok := s.sources.Get(req.GetSource())
	if !ok {
		return job.NewEvent{}, job.Errorf(job.CodeNotFound, "no source named %q is configured", req.GetSource())
	}
	if src.Paused {
		return job.NewEvent{}, &job.Error{
			Code:       job.CodeUnavailable,
			Message:    fmt.Sprintf("source %q is paused; retry later", src.Name),
			RetryAfter: pausedRetryAfter,
		}
	}
	body := req.GetBody()
	if int64(len(body)) > src.MaxBodyBytes {
		return job.NewEvent{}, job.Errorf(job.CodePayloadTooLarge, "the body is %d bytes; source %q accepts at most %d", len(body), src.Name, src.MaxBodyBytes)
	}
	if err := checkHeaders(req.GetHeaders()); err != nil {
		return job.NewEvent{}, err
	}
	header := toHeader(req.GetHeaders())
	if err := s.verify(ctx, src, header, body, now); err != nil {
		return job.NewEvent{}, &job.Error{Code: job.CodeUnauthenticated, Message: err.Error()}
	}
	// The source's budget is spent only by requests that prove they come
	// from its sender: charged before verification, anyone who knows the
	// source's name could keep it at 429 for the real provider.
	if limit {
		if ok, wait := src.allow(now); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			return job.NewEvent{}, &job.Error{
				Code:       job.CodeRateLimited,
				Message:    fmt.Sprintf("source %q is over its rate limit; retry in %d s", src.Name, secs),
				RetryAfter: time.Duration(secs) * time.Second,
			}
		}
	}

	mt, err := mediaType(header.Get("Content-Type"))
	if err != nil {
		return job.NewEvent{}, job.Errorf(job.CodeInvalid, "Content-Type %q cannot be parsed: %v", header.Get("Content-Type"), err)
	}
	if !src.accepts(mt) {
		return job.NewEvent{}, job.Errorf(job.CodeInvalid, "Content-Type %s is not accepted by source %q; it accepts %s", mt, src.Name, src.acceptList())
	}
	var doc any
	if isJSON(mt) {
		if doc, err = decodeJSON(body, src.readsFields()); err != nil {
			return job.NewEvent{}, job.Errorf(job.CodeInvalid, "the body is not valid JSON: %v", err)
		}
		if err := src.checkRequired(doc); err != nil {
			return job.NewEvent{}, err
		}
	}
	deliveryID, err := src.deliveryID.find(header, doc, mt)
	if err != nil {
		return job.NewEvent{}, err
	}
	coalesceKey, err := src.coalesceKey.find(header, doc, mt)
	if err != nil {
		return job.NewEvent{}, err
	}
	orderingKey, err := src.orderingKey.find(header, doc, mt)
	if err != nil {
		return job.NewEvent{}, err
	}

	eventType, err := src.eventType.find(header, doc, mt)
	if err != nil && !src.eventTypeOptional {
		return job.NewEvent{}, err
	}
	if eventType != "" {
		if err := route.CheckType(eventType); err != nil {
			if !src.eventTypeOptional {
				return job.NewEvent{}, job.Errorf(job.CodeInvalid, "event type: %v", err)
			}
			// The scheme's default place holds something that is no
			// type: the webhook is accepted as before, without one.
			eventType = ""
		}
	}

	e := job.NewEvent{Event: job.Event{
		ID:          job.NewID("evt", now),
		Source:      src.Name,
		DeliveryID:  deliveryID,
		ContentType: mt,
		Type:        eventType,
		Headers:     storedHeaders(req.GetHeaders()),
		Body:        body,
		ReceivedAt:  now,
	}}
	keys := job.Job{CoalesceKey: coalesceKey, OrderingKey: orderingKey, TraceParent: telemetry.TraceParent(ctx)}
	if s.routes == nil {
		for _, endpoint := range src.Routes {
			e.Jobs = append(e.Jobs, route.Target{Endpoint: endpoint}.Job(e.Event, keys, now, now))
		}
		return e, nil
	}
	table := s.routes.Table()
	if eventType != "" && isJSON(mt) {
		if err := table.Validate(eventType, body); err != nil {
			return job.NewEvent{}, job.Errorf(job.CodeInvalid, "%v", err)
		}
	}
	rev := &route.Event{Type: eventType, Source: src.Name, Headers: e.Event.Headers, Body: body, JSON: isJSON(mt), ReceivedAt: now}
	for _, t := range table.Route(rev, src.Routes, src.rules) {
		e.Jobs = append(e.Jobs, t.Job(e.Event, keys, now, now))
	}
	return e, nil
}

// verify checks the signature in a span that records which check failed
// (missing, malformed, expired, mismatch) — never a secret.
func (s *Server) verify(ctx context.Context, src *Source, h http.Header, body []byte, now time.Time) error {
	_, span := s.tracer.Start(ctx, "verify", trace.WithAttributes(
		telemetry.AttrSource.String(src.Name), attribute.String("dispatchd.verify.scheme", src.spec.Scheme)))
	defer span.End()
	err := src.verifier.Verify(h, body, now)
	if err != nil {
		class := "invalid"
		for _, c := range []struct {
			err  error
			name string
		}{{verify.ErrMissing, "missing"}, {verify.ErrMalformed, "malformed"}, {verify.ErrExpired, "expired"}, {verify.ErrMismatch, "mismatch"}} {
			if errors.Is(err, c.err) {
				class = c.name
			}
		}
		span.SetAttributes(attribute.String("error.type", class))
		span.SetStatus(codes.Error, "signature "+class)
	}
	return err
}

// mediaType returns the lower-case media type of a Content-Type header.
// A request without one is taken as JSON, the format of nearly every
// webhook, and must then parse as JSON.
func mediaType(contentType string) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return "application/json", nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return mt, err
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// decodeJSON checks that body is one well-formed UTF-8 JSON value, with no
// key twice in an object and no deeper than maxJSONDepth, with an error
// that says where the body goes wrong; and returns it decoded (numbers as
// json.Number) when needDoc — a source that reads fields needs it, the
// others save the allocation.
func decodeJSON(body []byte, needDoc bool) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("the body is empty")
	}
	if !utf8.Valid(body) {
		return nil, errors.New("it is not valid UTF-8")
	}
	if !json.Valid(body) || !structureOK(body) {
		if err := checkStructure(body); err != nil {
			return nil, err
		}
	}
	if !needDoc {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err // the structure check accepted it: cannot happen
	}
	return v, nil
}

// maxJSONDepth bounds the nesting of a webhook body. Real payloads nest a
// handful of levels; thousands are an attack on whoever parses next.
const maxJSONDepth = 64

// checkStructure reads body token by token: it is valid JSON, one value,
// and it refuses what encoding/json accepts but a receiver may read
// differently — a key twice in one object (parsers disagree on which value
// wins, which lets a signed body say two things) — and nesting deeper than
// maxJSONDepth.
func checkStructure(body []byte) error {
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]bool
	}
	var stack []*frame
	done := false // the top-level value is complete
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		switch {
		case err == io.EOF && done:
			return nil
		case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("it ends before the JSON value does")
		case err != nil && done:
			return fmt.Errorf("unexpected data after the JSON value (at byte %d)", dec.InputOffset())
		case err != nil:
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return fmt.Errorf("%v (at byte %d)", syn, syn.Offset)
			}
			return err
		case done:
			return fmt.Errorf("unexpected data after the JSON value (at byte %d)", dec.InputOffset())
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return fmt.Errorf("key %q appears twice in one object (at byte %d)", key, dec.InputOffset())
				}
				top.keys[key] = true
				top.expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return fmt.Errorf("it nests deeper than %d levels (at byte %d)", maxJSONDepth, dec.InputOffset())
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), expectKey: true, keys: map[string]bool{}})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object the next token is a key; at the top
		// level the body is complete.
		if len(stack) > 0 {
			if stack[len(stack)-1].object {
				stack[len(stack)-1].expectKey = true
			}
		} else {
			done = true
		}
	}
}

func (s *Source) checkRequired(doc any) error {
	for _, r := range s.required {
		v, ok := r.pointer.Lookup(doc)
		if !ok {
			return job.Errorf(job.CodeInvalid, "required field %s is missing", r.pointer)
		}
		if !jsonpointer.HasType(v, r.jsonType) {
			return job.Errorf(job.CodeInvalid, "required field %s must be of type %s, got %s", r.pointer, r.jsonType, jsonpointer.Type(v))
		}
	}
	return nil
}

// find returns the value v locates in the webhook. A source that names
// where a value is refuses a webhook without it: storing a delivery without
// its delivery id would break the promise of one event per delivery, and
// one without its ordering key would escape the order.
func (v valueRef) find(h http.Header, doc any, mt string) (string, error) {
	var val string
	switch {
	case v.header != "":
		val = strings.TrimSpace(h.Get(v.header))
		if val == "" && v.alt != "" {
			val = strings.TrimSpace(h.Get(v.alt))
		}
		if val == "" && v.alt != "" {
			return "", job.Errorf(job.CodeInvalid, "the %s header %s (or %s) is missing", v.what, v.header, v.alt)
		}
		if val == "" {
			return "", job.Errorf(job.CodeInvalid, "the %s header %s is missing", v.what, v.header)
		}
	case v.pointer != nil:
		if !isJSON(mt) {
			return "", job.Errorf(job.CodeInvalid, "the %s is read from JSON field %s, but the body is %s", v.what, v.pointer, mt)
		}
		found, ok := v.pointer.Lookup(doc)
		switch found := found.(type) {
		case string:
			val = found
		case json.Number:
			val = found.String()
		}
		if !ok || val == "" {
			return "", job.Errorf(job.CodeInvalid, "the %s field %s is missing or not a string or number", v.what, v.pointer)
		}
	default:
		return "", nil
	}
	if len(val) > maxKeyBytes {
		return "", job.Errorf(job.CodeInvalid, "the %s is %d bytes; at most %d are accepted", v.what, len(val), maxKeyBytes)
	}
	return val, nil
}

// toHeader turns the request's header map into an http.Header, so the
// verifiers look names up case-insensitively whatever the caller sent.
func toHeader(m map[string]string) http.Header {
	h := make(http.Header, len(m))
	for k, v := range m {
		h.Add(k, v)
	}
	return h
}

// credentialHeaders are never written to the database: they hold secrets.
var credentialHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true}

func storedHeaders(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		k = strings.ToLower(k)
		if !credentialHeaders[k] {
			out[k] = v
		}
	}
	return out
}
