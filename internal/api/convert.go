package api

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
)

var stateToProto = map[job.State]dispatchdv1.JobState{
	job.StateScheduled: dispatchdv1.JobState_JOB_STATE_SCHEDULED,
	job.StateAvailable: dispatchdv1.JobState_JOB_STATE_AVAILABLE,
	job.StateRunning:   dispatchdv1.JobState_JOB_STATE_RUNNING,
	job.StateRetrying:  dispatchdv1.JobState_JOB_STATE_RETRYING,
	job.StateCompleted: dispatchdv1.JobState_JOB_STATE_COMPLETED,
	job.StateDead:      dispatchdv1.JobState_JOB_STATE_DEAD,
	job.StateCancelled: dispatchdv1.JobState_JOB_STATE_CANCELLED,
}

func stateFromProto(s dispatchdv1.JobState) (job.State, bool) {
	for k, v := range stateToProto {
		if v == s {
			return k, true
		}
	}
	return "", s == dispatchdv1.JobState_JOB_STATE_UNSPECIFIED
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func dur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// payloadValue shows a stored payload by the rule of deliveries: a JSON
// payload as its JSON; any other (a webhook accepted as opaque bytes, not
// necessarily UTF-8) as a base64 string, with encoding "base64" — a proto
// string must be valid UTF-8, and one such payload would otherwise fail
// every response that holds it.
func payloadValue(p []byte) (v *structpb.Value, encoding string) {
	if len(p) == 0 {
		return structpb.NewNullValue(), ""
	}
	if delivery.IsJSONPayload(p) {
		var doc any
		if json.Unmarshal(p, &doc) == nil {
			if pv, err := structpb.NewValue(doc); err == nil {
				return pv, ""
			}
		}
	}
	return structpb.NewStringValue(base64.StdEncoding.EncodeToString(p)), delivery.EncodingBase64
}

func jobToProto(j job.Job) *dispatchdv1.Job {
	payload, encoding := payloadValue(j.Payload)
	return &dispatchdv1.Job{
		JobId:           j.ID,
		Endpoint:        j.Endpoint,
		EventId:         j.EventID,
		Source:          j.Source,
		State:           stateToProto[j.State],
		Payload:         payload,
		PayloadEncoding: encoding,
		Attempts:        int32(j.Attempts),
		RunAt:           ts(j.RunAt),
		CreatedAt:       ts(j.CreatedAt),
		UpdatedAt:       ts(j.UpdatedAt),
		FinishedAt:      ts(j.FinishedAt),
		LastError:       j.LastError,
		IdempotencyKey:  j.IdempotencyKey,
		CoalesceKey:     j.CoalesceKey,
		OrderingKey:     j.OrderingKey,
		TraceId:         traceID(j.TraceParent),
	}
}

func attemptToProto(a job.Attempt) *dispatchdv1.Attempt {
	p := &dispatchdv1.Attempt{
		AttemptId:       a.ID,
		AttemptNumber:   int32(a.Number),
		BatchId:         a.BatchID,
		StartedAt:       ts(a.StartedAt),
		Latency:         durationpb.New(a.Latency),
		StatusCode:      int32(a.StatusCode),
		Outcome:         a.Outcome,
		ErrorClass:      a.ErrorClass,
		Error:           a.Error,
		ResponseExcerpt: a.ResponseExcerpt,
		Endpoint:        a.Endpoint,
	}
	if a.RequestHeaders != nil {
		p.RequestHeaders, p.RequestHeadersKnown = a.RequestHeaders, true
	}
	if a.RetryAfter > 0 {
		p.RetryAfter = durationpb.New(a.RetryAfter)
	}
	return p
}

func retryToProto(r job.RetrySpec) *dispatchdv1.RetryPolicy {
	p := &dispatchdv1.RetryPolicy{Preset: r.Preset, MaxRetries: int32(r.MaxRetries)}
	for _, d := range r.Schedule {
		p.Schedule = append(p.Schedule, durationpb.New(d))
	}
	return p
}

func endpointToProto(e job.Endpoint, now time.Time) *dispatchdv1.Endpoint {
	spec := &dispatchdv1.EndpointSpec{
		Url:                 e.URL,
		Timeout:             dur(e.Timeout),
		Retry:               retryToProto(e.Retry),
		MaxConcurrency:      int32(e.MaxConcurrency),
		RetryClientErrors:   e.RetryClientErrors,
		RetryOnlyUnanswered: e.RetryOnlyUnanswered,
		DisableAfter:        dur(e.DisableAfter),
		EventTypes:          e.EventTypes,
		Filter:              e.Filter,
		Transform:           e.Transform,
		PayloadFormat:       e.PayloadFormat,
	}
	if b := e.Bulk; b != nil {
		spec.Bulk = &dispatchdv1.BulkPolicy{MaxRecords: int32(b.MaxRecords), MaxWait: dur(b.MaxWait)}
	}
	if rl := e.RateLimit; rl != nil {
		spec.RateLimitRps, spec.RateLimitBurst = rl.RPS, int32(rl.Burst)
	}
	egressToProto(spec, e.EndpointSpec)
	return &dispatchdv1.Endpoint{
		Name:                    e.Name,
		Spec:                    spec,
		Origin:                  e.Origin,
		Paused:                  e.Paused,
		DisabledAt:              ts(e.DisabledAt),
		DisabledReason:          e.DisabledReason,
		FailingSince:            ts(e.FailingSince),
		PreviousSecretExpiresAt: rotationEnd(e.PreviousSecretExpiresAt, now),
		CreatedAt:               ts(e.CreatedAt),
		UpdatedAt:               ts(e.UpdatedAt),
	}
}

// rotationEnd is when the previous secret stops working, while it still
// works: an expired one ended a rotation that is over, and showing it
// would suggest the old secret is still accepted.
func rotationEnd(t, now time.Time) *timestamppb.Timestamp {
	if t.IsZero() || !now.Before(t) {
		return nil
	}
	return ts(t)
}

func sourceToProto(s job.Source, now time.Time) *dispatchdv1.Source {
	spec := &dispatchdv1.SourceSpec{
		Scheme:       s.Scheme,
		Header:       s.Header,
		Algorithm:    s.Algorithm,
		Encoding:     s.Encoding,
		Prefix:       s.Prefix,
		Tolerance:    dur(s.Tolerance),
		PublicKey:    s.PublicKey,
		MaxBodyBytes: s.MaxBodyBytes,
		ContentTypes: s.ContentTypes,
		Routes:       s.Routes,
	}
	if rl := s.RateLimit; rl != nil {
		spec.RateLimitRps, spec.RateLimitBurst = rl.RPS, int32(rl.Burst)
	}
	if r := s.DeliveryID; r != nil {
		spec.IdempotencyHeader, spec.IdempotencyJson = r.Header, r.JSON
	}
	if r := s.CoalesceKey; r != nil {
		spec.CoalesceKeyJson = r.JSON
	}
	if r := s.OrderingKey; r != nil {
		spec.OrderingKeyJson = r.JSON
	}
	if r := s.EventType; r != nil {
		spec.EventTypeHeader, spec.EventTypeJson = r.Header, r.JSON
	}
	for _, r := range s.RouteRules {
		spec.RouteRules = append(spec.RouteRules, &dispatchdv1.RouteRule{Endpoint: r.Endpoint, Subscribers: r.Subscribers, Filter: r.Filter, Transform: r.Transform})
	}
	for _, f := range s.Required {
		spec.Required = append(spec.Required, &dispatchdv1.RequiredField{Pointer: f.Pointer, Type: f.Type})
	}
	return &dispatchdv1.Source{
		Name:                    s.Name,
		Spec:                    spec,
		Origin:                  s.Origin,
		Paused:                  s.Paused,
		PreviousSecretExpiresAt: rotationEnd(s.PreviousSecretExpiresAt, now),
		CreatedAt:               ts(s.CreatedAt),
		UpdatedAt:               ts(s.UpdatedAt),
	}
}
