package api

import (
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
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

// payloadValue shows a stored payload as JSON; one that is not JSON (a
// webhook accepted as opaque bytes) shows as a string.
func payloadValue(p []byte) *structpb.Value {
	var v any
	if json.Unmarshal(p, &v) == nil {
		if pv, err := structpb.NewValue(v); err == nil {
			return pv
		}
	}
	return structpb.NewStringValue(string(p))
}

func jobToProto(j job.Job) *dispatchdv1.Job {
	return &dispatchdv1.Job{
		JobId:          j.ID,
		Endpoint:       j.Endpoint,
		EventId:        j.EventID,
		Source:         j.Source,
		State:          stateToProto[j.State],
		Payload:        payloadValue(j.Payload),
		Attempts:       int32(j.Attempts),
		RunAt:          ts(j.RunAt),
		CreatedAt:      ts(j.CreatedAt),
		UpdatedAt:      ts(j.UpdatedAt),
		FinishedAt:     ts(j.FinishedAt),
		LastError:      j.LastError,
		IdempotencyKey: j.IdempotencyKey,
		CoalesceKey:    j.CoalesceKey,
		OrderingKey:    j.OrderingKey,
		TraceId:        traceID(j.TraceParent),
	}
}

func attemptToProto(a job.Attempt) *dispatchdv1.Attempt {
	return &dispatchdv1.Attempt{
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
	}
}

func retryToProto(r job.RetrySpec) *dispatchdv1.RetryPolicy {
	p := &dispatchdv1.RetryPolicy{Preset: r.Preset, MaxRetries: int32(r.MaxRetries)}
	for _, d := range r.Schedule {
		p.Schedule = append(p.Schedule, durationpb.New(d))
	}
	return p
}

func endpointToProto(e job.Endpoint) *dispatchdv1.Endpoint {
	spec := &dispatchdv1.EndpointSpec{
		Url:               e.URL,
		Timeout:           dur(e.Timeout),
		Retry:             retryToProto(e.Retry),
		MaxConcurrency:    int32(e.MaxConcurrency),
		RetryClientErrors: e.RetryClientErrors,
		DisableAfter:      dur(e.DisableAfter),
	}
	if b := e.Bulk; b != nil {
		spec.Bulk = &dispatchdv1.BulkPolicy{MaxRecords: int32(b.MaxRecords), MaxWait: dur(b.MaxWait)}
	}
	if rl := e.RateLimit; rl != nil {
		spec.RateLimitRps, spec.RateLimitBurst = rl.RPS, int32(rl.Burst)
	}
	return &dispatchdv1.Endpoint{
		Name:                    e.Name,
		Spec:                    spec,
		Origin:                  e.Origin,
		Paused:                  e.Paused,
		DisabledAt:              ts(e.DisabledAt),
		DisabledReason:          e.DisabledReason,
		FailingSince:            ts(e.FailingSince),
		PreviousSecretExpiresAt: ts(e.PreviousSecretExpiresAt),
		CreatedAt:               ts(e.CreatedAt),
		UpdatedAt:               ts(e.UpdatedAt),
	}
}

func sourceToProto(s job.Source) *dispatchdv1.Source {
	spec := &dispatchdv1.SourceSpec{
		Scheme:       s.Scheme,
		Header:       s.Header,
		Algorithm:    s.Algorithm,
		Encoding:     s.Encoding,
		Prefix:       s.Prefix,
		Tolerance:    dur(s.Tolerance),
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
	for _, f := range s.Required {
		spec.Required = append(spec.Required, &dispatchdv1.RequiredField{Pointer: f.Pointer, Type: f.Type})
	}
	return &dispatchdv1.Source{
		Name:                    s.Name,
		Spec:                    spec,
		Origin:                  s.Origin,
		Paused:                  s.Paused,
		PreviousSecretExpiresAt: ts(s.PreviousSecretExpiresAt),
		CreatedAt:               ts(s.CreatedAt),
		UpdatedAt:               ts(s.UpdatedAt),
	}
}
