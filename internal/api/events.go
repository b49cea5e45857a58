package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/route"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
	"github.com/dispatchd/dispatchd/internal/telemetry"
)

// MaxPublishBytes bounds the payload of a published event, as JSON.
const MaxPublishBytes = 1 << 20

// EventStore is what EventServer uses.
type EventStore interface {
	StoreEvent(ctx context.Context, e job.NewEvent) (job.Stored, error)
	GetEvent(ctx context.Context, id string) (job.Event, error)
	ListJobsByEvent(ctx context.Context, eventID string) ([]job.Job, error)
	ListEvents(ctx context.Context, f job.EventFilter) ([]job.Event, error)
	ListEventTypes(ctx context.Context) ([]job.EventType, error)
}

// EventServer implements dispatchdv1.EventServiceServer.
type EventServer struct {
	dispatchdv1.UnimplementedEventServiceServer

	store  EventStore
	routes *route.Registry
	now    func() time.Time
	log    *slog.Logger
}

// NewEventServer returns an EventServer that routes published events by
// the subscriptions in routes.
func NewEventServer(store EventStore, routes *route.Registry, now func() time.Time, log *slog.Logger) *EventServer {
	return &EventServer{store: store, routes: routes, now: now, log: log}
}

// PublishEvent implements dispatchdv1.EventServiceServer.
func (s *EventServer) PublishEvent(ctx context.Context, req *dispatchdv1.PublishEventRequest) (*dispatchdv1.PublishEventResponse, error) {
	e, err := s.newEvent(ctx, req, s.now())
	if err != nil {
		return nil, fail(ctx, s.log, "PublishEvent", err)
	}
	st, err := s.store.StoreEvent(ctx, e)
	if err != nil {
		return nil, fail(ctx, s.log, "PublishEvent", err)
	}
	return &dispatchdv1.PublishEventResponse{EventId: st.EventID, Duplicate: st.Duplicate, JobIds: st.JobIDs}, nil
}

// newEvent validates a publish request and routes it to the subscribers
// of its type.
func (s *EventServer) newEvent(ctx context.Context, req *dispatchdv1.PublishEventRequest, now time.Time) (job.NewEvent, error) {
	if err := route.CheckType(req.GetType()); err != nil {
		return job.NewEvent{}, invalid("type", "%v", err)
	}
	if req.GetPayload() == nil {
		return job.NewEvent{}, invalid("payload", "required (any JSON value)")
	}
	body, err := encodePayload(req.GetPayload())
	if err != nil {
		return job.NewEvent{}, invalid("payload", "not encodable as JSON: %v", err)
	}
	if len(body) > MaxPublishBytes {
		return job.NewEvent{}, invalid("payload", "%d bytes as JSON; at most %d", len(body), MaxPublishBytes)
	}
	runAt := now
	if t := req.GetRunAt(); t != nil {
		if err := t.CheckValid(); err != nil {
			return job.NewEvent{}, invalid("run_at", "%v", err)
		}
		if t.AsTime().After(now) {
			runAt = t.AsTime()
		}
		if runAt.Sub(now) > MaxScheduleAhead {
			return job.NewEvent{}, invalid("run_at", "at most a year ahead (%s)", now.Add(MaxScheduleAhead).Format(time.RFC3339))
		}
	}
	for name, v := range map[string]string{"idempotency_key": req.GetIdempotencyKey(), "coalesce_key": req.GetCoalesceKey(), "ordering_key": req.GetOrderingKey()} {
		if len(v) > maxKeyLength {
			return job.NewEvent{}, invalid(name, "%d characters; at most %d", len(v), maxKeyLength)
		}
	}
	table := s.routes.Table()
	if err := table.Validate(req.GetType(), body); err != nil {
		return job.NewEvent{}, invalid("payload", "%v", err)
	}
	// A published event has no source: its idempotency key is its
	// delivery id among published events.
	e := job.NewEvent{Event: job.Event{
		ID:          job.NewID("evt", now),
		DeliveryID:  req.GetIdempotencyKey(),
		ContentType: "application/json",
		Type:        req.GetType(),
		Headers:     map[string]string{},
		Body:        body,
		ReceivedAt:  now,
	}}
	rev := &route.Event{Type: e.Event.Type, Headers: e.Event.Headers, Body: body, JSON: true, ReceivedAt: now}
	keys := job.Job{CoalesceKey: req.GetCoalesceKey(), OrderingKey: req.GetOrderingKey(), TraceParent: telemetry.TraceParent(ctx)}
	for _, t := range table.Publish(rev) {
		e.Jobs = append(e.Jobs, t.Job(e.Event, keys, runAt, now))
	}
	return e, nil
}

func eventFilterDigest(f job.EventFilter) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%d|%d|%d", f.Source, f.Type, f.DeliveryID, f.ReceivedAfter.UnixNano(), f.ReceivedBefore.UnixNano(), f.Limit))
	return hex.EncodeToString(h[:8])
}

// ListEvents implements dispatchdv1.EventServiceServer.
func (s *EventServer) ListEvents(ctx context.Context, req *dispatchdv1.ListEventsRequest) (*dispatchdv1.ListEventsResponse, error) {
	f := job.EventFilter{Source: req.GetSource(), Type: req.GetType(), DeliveryID: req.GetDeliveryId(), Limit: int(req.GetPageSize())}
	var err error
	if f.Limit, err = pageSize(f.Limit); err != nil {
		return nil, err
	}
	if t := req.GetReceivedAfter(); t != nil {
		f.ReceivedAfter = t.AsTime()
	}
	if t := req.GetReceivedBefore(); t != nil {
		f.ReceivedBefore = t.AsTime()
	}
	digest := eventFilterDigest(f)
	if tok := req.GetPageToken(); tok != "" {
		var pt pageToken
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || json.Unmarshal(b, &pt) != nil || pt.BeforeID == "" {
			return nil, rpcerr.Status(invalid("page_token", "not a token from a previous ListEvents response"))
		}
		if pt.Filters != digest {
			return nil, rpcerr.Status(invalid("page_token", "was made for other filters or page size; send the same ones as the first request"))
		}
		f.BeforeID = pt.BeforeID
	}
	events, err := s.store.ListEvents(ctx, f)
	if err != nil {
		return nil, fail(ctx, s.log, "ListEvents", err)
	}
	resp := &dispatchdv1.ListEventsResponse{}
	for _, e := range events {
		resp.Events = append(resp.Events, eventToProto(e))
	}
	if len(events) == f.Limit {
		b, _ := json.Marshal(pageToken{BeforeID: events[len(events)-1].ID, Filters: digest})
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
	}
	return resp, nil
}

// GetEvent implements dispatchdv1.EventServiceServer.
func (s *EventServer) GetEvent(ctx context.Context, req *dispatchdv1.GetEventRequest) (*dispatchdv1.GetEventResponse, error) {
	if req.GetEventId() == "" {
		return nil, rpcerr.Status(invalid("event_id", "required"))
	}
	e, err := s.store.GetEvent(ctx, req.GetEventId())
	if err != nil {
		return nil, fail(ctx, s.log, "GetEvent", err)
	}
	jobs, err := s.store.ListJobsByEvent(ctx, e.ID)
	if err != nil {
		return nil, fail(ctx, s.log, "GetEvent", err)
	}
	p := eventToProto(e)
	p.Headers, p.Body = e.Headers, e.Body
	resp := &dispatchdv1.GetEventResponse{Event: p}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobToProto(j))
	}
	return resp, nil
}

// ListEventTypes implements dispatchdv1.EventServiceServer.
func (s *EventServer) ListEventTypes(ctx context.Context, _ *dispatchdv1.ListEventTypesRequest) (*dispatchdv1.ListEventTypesResponse, error) {
	types, err := s.store.ListEventTypes(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "ListEventTypes", err)
	}
	resp := &dispatchdv1.ListEventTypesResponse{}
	for _, t := range types {
		p := &dispatchdv1.EventType{
			Name: t.Name, Description: t.Description, Declared: t.Declared, Count: t.Count,
			FirstSeenAt: ts(t.FirstSeenAt), LastSeenAt: ts(t.LastSeenAt),
		}
		if t.Schema != nil {
			var m map[string]any
			if json.Unmarshal(t.Schema, &m) == nil {
				p.Schema, _ = structpb.NewStruct(m)
			}
		}
		if t.Example != nil {
			p.Example, _ = payloadValue(t.Example)
		}
		resp.EventTypes = append(resp.EventTypes, p)
	}
	return resp, nil
}

func eventToProto(e job.Event) *dispatchdv1.Event {
	return &dispatchdv1.Event{
		Id: e.ID, Source: e.Source, Type: e.Type, DeliveryId: e.DeliveryID, ContentType: e.ContentType,
		ReceivedAt: ts(e.ReceivedAt),
	}
}

// SetRoutes makes the EndpointServer reload the subscriptions of this
// process after a change, so that a publish right after it sees the
// change; other processes pick it up at their next reload.
func (s *EndpointServer) SetRoutes(r *route.Registry) { s.routes = r }

func (s *EndpointServer) reloadRoutes(ctx context.Context) {
	if s.routes == nil {
		return
	}
	if err := s.routes.Load(ctx); err != nil {
		s.log.WarnContext(ctx, "subscriptions not reloaded after a change; the periodic reload will retry", "error", err)
	}
}
