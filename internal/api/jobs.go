package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/retry"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// Limits of the jobs API.
const (
	MaxBatchJobs      = 500
	MaxScheduleAhead  = 365 * 24 * time.Hour
	DefaultPageSize   = 50
	MaxPageSize       = 500
	maxKeyLength      = 256
	dispatchedMaxSize = 10 * 1024 // the Dispatched service's payload limit
)

// pageSize is the page size of every list call: 0 asks for the default,
// anything outside 1 to MaxPageSize is refused.
func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, rpcerr.Status(invalid("page_size", "%d: want 1 to %d", n, MaxPageSize))
	}
	return n, nil
}

// JobServer implements dispatchdv1.JobServiceServer.
type JobServer struct {
	dispatchdv1.UnimplementedJobServiceServer

	store JobStore
	// defaultEndpoint receives Dispatched-compatible jobs whose API key
	// names none.
	defaultEndpoint string
	now             func() time.Time
	log             *slog.Logger
}

// NewJobServer returns a JobServer.
func NewJobServer(store JobStore, defaultEndpoint string, now func() time.Time, log *slog.Logger) *JobServer {
	return &JobServer{store: store, defaultEndpoint: defaultEndpoint, now: now, log: log}
}

// fail logs what a person must look into (the store failing, a bug) and
// turns err into a status.
func fail(ctx context.Context, log *slog.Logger, method string, err error) error {
	switch job.ErrorCode(err) {
	case job.CodeInternal, job.CodeUnavailable:
		log.ErrorContext(ctx, "api call failed", "method", method, "error", err)
	}
	return rpcerr.Status(err)
}

func invalid(field, format string, args ...any) error {
	return job.Errorf(job.CodeInvalid, "%s: %s", field, fmt.Sprintf(format, args...))
}

// encodePayload returns v as compact JSON, as it will be delivered.
func encodePayload(v *structpb.Value) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.AsInterface()); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// newJob validates one dispatch request and returns the job to store.
// field prefixes the names in errors ("" or "jobs[3].").
func (s *JobServer) newJob(ctx context.Context, req *dispatchdv1.DispatchJobRequest, field string, now time.Time) (job.Job, error) {
	if req.GetEndpoint() == "" {
		return job.Job{}, invalid(field+"endpoint", "required")
	}
	ep, err := s.store.GetEndpoint(ctx, req.GetEndpoint())
	if err != nil {
		if job.ErrorCode(err) == job.CodeNotFound {
			return job.Job{}, job.Errorf(job.CodeNotFound, "%sendpoint: no endpoint %q", field, req.GetEndpoint())
		}
		return job.Job{}, err
	}
	if req.GetPayload() == nil {
		return job.Job{}, invalid(field+"payload", "required (any JSON value)")
	}
	payload, err := encodePayload(req.GetPayload())
	if err != nil {
		return job.Job{}, invalid(field+"payload", "not encodable as JSON: %v", err)
	}
	limit := ep.MaxPayloadBytes
	if limit <= 0 {
		limit = job.DefaultMaxPayloadBytes
	}
	if len(payload) > limit {
		return job.Job{}, invalid(field+"payload", "%d bytes as JSON; endpoint %q accepts at most %d (store large data elsewhere and send a reference)", len(payload), ep.Name, limit)
	}
	runAt := now
	switch {
	case req.GetRunAt() != nil && req.GetDelay() != nil:
		return job.Job{}, invalid(field+"run_at", "set run_at or delay, not both")
	case req.GetRunAt() != nil:
		if err := req.GetRunAt().CheckValid(); err != nil {
			return job.Job{}, invalid(field+"run_at", "%v", err)
		}
		if t := req.GetRunAt().AsTime(); t.After(now) {
			runAt = t
		}
	case req.GetDelay() != nil:
		if err := req.GetDelay().CheckValid(); err != nil || req.GetDelay().AsDuration() < 0 {
			return job.Job{}, invalid(field+"delay", "must be a positive duration")
		}
		runAt = now.Add(req.GetDelay().AsDuration())
	}
	if runAt.Sub(now) > MaxScheduleAhead {
		return job.Job{}, invalid(field+"run_at", "at most a year ahead (%s)", now.Add(MaxScheduleAhead).Format(time.RFC3339))
	}
	for name, v := range map[string]string{"idempotency_key": req.GetIdempotencyKey(), "coalesce_key": req.GetCoalesceKey(), "ordering_key": req.GetOrderingKey()} {
		if len(v) > maxKeyLength {
			return job.Job{}, invalid(field+name, "%d characters; at most %d", len(v), maxKeyLength)
		}
	}
	j := job.Job{
		ID:             job.NewID("job", now),
		Endpoint:       ep.Name,
		Payload:        payload,
		State:          job.StateAvailable,
		RunAt:          runAt,
		CreatedAt:      now,
		UpdatedAt:      now,
		IdempotencyKey: req.GetIdempotencyKey(),
		CoalesceKey:    req.GetCoalesceKey(),
		OrderingKey:    req.GetOrderingKey(),
	}
	if runAt.After(now) {
		j.State = job.StateScheduled
	}
	if r := req.GetRetry(); r != nil {
		spec := job.RetrySpec{Preset: r.GetPreset(), MaxRetries: int(r.GetMaxRetries())}
		for i, d := range r.GetSchedule() {
			if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
				return job.Job{}, invalid(fmt.Sprintf("%sretry.schedule[%d]", field, i), "must be a positive duration")
			}
			spec.Schedule = append(spec.Schedule, d.AsDuration())
		}
		if _, err := retry.FromSpec(spec); err != nil {
			return job.Job{}, invalid(field+"retry", "%v", err)
		}
		j.Retry = &spec
	}
	return j, nil
}

// DispatchJob implements dispatchdv1.JobServiceServer.
func (s *JobServer) DispatchJob(ctx context.Context, req *dispatchdv1.DispatchJobRequest) (*dispatchdv1.DispatchJobResponse, error) {
	out, err := s.dispatch(ctx, []*dispatchdv1.DispatchJobRequest{req}, "")
	if err != nil {
		return nil, fail(ctx, s.log, "DispatchJob", err)
	}
	return out[0], nil
}

// BatchDispatchJobs implements dispatchdv1.JobServiceServer.
func (s *JobServer) BatchDispatchJobs(ctx context.Context, req *dispatchdv1.BatchDispatchJobsRequest) (*dispatchdv1.BatchDispatchJobsResponse, error) {
	if n := len(req.GetJobs()); n == 0 || n > MaxBatchJobs {
		return nil, rpcerr.Status(invalid("jobs", "%d jobs; send 1 to %d", n, MaxBatchJobs))
	}
	out, err := s.dispatch(ctx, req.GetJobs(), "jobs[%d].")
	if err != nil {
		return nil, fail(ctx, s.log, "BatchDispatchJobs", err)
	}
	return &dispatchdv1.BatchDispatchJobsResponse{Jobs: out}, nil
}

// dispatch validates every request, then stores all of them in one
// transaction. fieldFormat names a request in errors ("jobs[%d]." or "").
func (s *JobServer) dispatch(ctx context.Context, reqs []*dispatchdv1.DispatchJobRequest, fieldFormat string) ([]*dispatchdv1.DispatchJobResponse, error) {
	now := s.now()
	jobs := make([]job.Job, len(reqs))
	for i, r := range reqs {
		field := fieldFormat
		if strings.Contains(field, "%d") {
			field = fmt.Sprintf(fieldFormat, i)
		}
		j, err := s.newJob(ctx, r, field, now)
		if err != nil {
			return nil, err
		}
		jobs[i] = j
	}
	stored, err := s.store.DispatchJobs(ctx, jobs)
	if err != nil {
		return nil, err
	}
	out := make([]*dispatchdv1.DispatchJobResponse, len(stored))
	for i, st := range stored {
		j, err := s.store.GetJob(ctx, st.JobID)
		if err != nil {
			return nil, err
		}
		out[i] = &dispatchdv1.DispatchJobResponse{Job: jobToProto(j), Duplicate: st.Duplicate}
	}
	return out, nil
}

// GetJob implements dispatchdv1.JobServiceServer.
func (s *JobServer) GetJob(ctx context.Context, req *dispatchdv1.GetJobRequest) (*dispatchdv1.GetJobResponse, error) {
	if req.GetJobId() == "" {
		return nil, rpcerr.Status(invalid("job_id", "required"))
	}
	j, err := s.store.GetJob(ctx, req.GetJobId())
	if err != nil {
		return nil, fail(ctx, s.log, "GetJob", err)
	}
	return &dispatchdv1.GetJobResponse{Job: jobToProto(j)}, nil
}

// pageToken carries where a listing stopped and a digest of its filters,
// so that a token is not reused with other filters by mistake.
type pageToken struct {
	BeforeID string `json:"b"`
	Filters  string `json:"f"`
}

func filterDigest(f job.JobFilter, text string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%d|%d|%d|%q", f.State, f.Endpoint, f.Source, f.CreatedAfter.UnixNano(), f.CreatedBefore.UnixNano(), f.Limit, text))
	return hex.EncodeToString(h[:8])
}

// ListJobs implements dispatchdv1.JobServiceServer.
func (s *JobServer) ListJobs(ctx context.Context, req *dispatchdv1.ListJobsRequest) (*dispatchdv1.ListJobsResponse, error) {
	state, ok := stateFromProto(req.GetState())
	if !ok {
		return nil, rpcerr.Status(invalid("state", "unknown state %v", req.GetState()))
	}
	f := job.JobFilter{State: state, Endpoint: req.GetEndpoint(), Source: req.GetSource(), Limit: int(req.GetPageSize())}
	var err error
	if f.Limit, err = pageSize(f.Limit); err != nil {
		return nil, err
	}
	if t := req.GetCreatedAfter(); t != nil {
		f.CreatedAfter = t.AsTime()
	}
	if t := req.GetCreatedBefore(); t != nil {
		f.CreatedBefore = t.AsTime()
	}
	text := req.GetText()
	digest := filterDigest(f, text)
	if tok := req.GetPageToken(); tok != "" {
		var pt pageToken
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || json.Unmarshal(b, &pt) != nil || pt.BeforeID == "" {
			return nil, rpcerr.Status(invalid("page_token", "not a token from a previous ListJobs response"))
		}
		if pt.Filters != digest {
			return nil, rpcerr.Status(invalid("page_token", "was made for other filters or page size; send the same ones as the first request"))
		}
		f.BeforeID = pt.BeforeID
	}
	token := func(beforeID string) string {
		b, _ := json.Marshal(pageToken{BeforeID: beforeID, Filters: digest})
		return base64.RawURLEncoding.EncodeToString(b)
	}
	resp := &dispatchdv1.ListJobsResponse{}
	if text != "" {
		found, err := s.store.SearchJobs(ctx, f, text)
		if err != nil {
			return nil, fail(ctx, s.log, "ListJobs", err)
		}
		for _, j := range found.Jobs {
			resp.Jobs = append(resp.Jobs, jobToProto(j))
		}
		resp.Searched = int32(found.Searched)
		if found.ResumeID != "" {
			resp.NextPageToken = token(found.ResumeID)
		}
		return resp, nil
	}
	jobs, err := s.store.ListJobs(ctx, f)
	if err != nil {
		return nil, fail(ctx, s.log, "ListJobs", err)
	}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobToProto(j))
	}
	if len(jobs) == f.Limit {
		resp.NextPageToken = token(jobs[len(jobs)-1].ID)
	}
	return resp, nil
}

// ListAttempts implements dispatchdv1.JobServiceServer.
func (s *JobServer) ListAttempts(ctx context.Context, req *dispatchdv1.ListAttemptsRequest) (*dispatchdv1.ListAttemptsResponse, error) {
	if req.GetJobId() == "" {
		return nil, rpcerr.Status(invalid("job_id", "required"))
	}
	if _, err := s.store.GetJob(ctx, req.GetJobId()); err != nil {
		return nil, fail(ctx, s.log, "ListAttempts", err)
	}
	atts, err := s.store.ListAttempts(ctx, req.GetJobId())
	if err != nil {
		return nil, fail(ctx, s.log, "ListAttempts", err)
	}
	resp := &dispatchdv1.ListAttemptsResponse{}
	for _, a := range atts {
		resp.Attempts = append(resp.Attempts, attemptToProto(a))
	}
	return resp, nil
}

// CancelJob implements dispatchdv1.JobServiceServer.
func (s *JobServer) CancelJob(ctx context.Context, req *dispatchdv1.CancelJobRequest) (*dispatchdv1.CancelJobResponse, error) {
	if req.GetJobId() == "" {
		return nil, rpcerr.Status(invalid("job_id", "required"))
	}
	j, err := s.store.CancelJob(ctx, req.GetJobId(), s.now())
	if err != nil {
		return nil, fail(ctx, s.log, "CancelJob", err)
	}
	return &dispatchdv1.CancelJobResponse{Job: jobToProto(j)}, nil
}

// RetryJob implements dispatchdv1.JobServiceServer.
func (s *JobServer) RetryJob(ctx context.Context, req *dispatchdv1.RetryJobRequest) (*dispatchdv1.RetryJobResponse, error) {
	if req.GetJobId() == "" {
		return nil, rpcerr.Status(invalid("job_id", "required"))
	}
	j, err := s.store.RetryJob(ctx, req.GetJobId(), s.now())
	if err != nil {
		return nil, fail(ctx, s.log, "RetryJob", err)
	}
	return &dispatchdv1.RetryJobResponse{Job: jobToProto(j)}, nil
}

// ReplayDeadJobs implements dispatchdv1.JobServiceServer.
func (s *JobServer) ReplayDeadJobs(ctx context.Context, req *dispatchdv1.ReplayDeadJobsRequest) (*dispatchdv1.ReplayDeadJobsResponse, error) {
	f := job.JobFilter{Endpoint: req.GetEndpoint()}
	if t := req.GetCreatedAfter(); t != nil {
		f.CreatedAfter = t.AsTime()
	}
	if t := req.GetCreatedBefore(); t != nil {
		f.CreatedBefore = t.AsTime()
	}
	n, err := s.store.ReplayDeadJobs(ctx, f, s.now())
	if err != nil {
		return nil, fail(ctx, s.log, "ReplayDeadJobs", err)
	}
	return &dispatchdv1.ReplayDeadJobsResponse{Replayed: n}, nil
}

// DispatchedDispatchJob implements dispatchdv1.JobServiceServer.
func (s *JobServer) DispatchedDispatchJob(ctx context.Context, req *dispatchdv1.DispatchedDispatchJobRequest) (*dispatchdv1.DispatchedDispatchJobResponse, error) {
	endpoint := s.defaultEndpoint
	if p, ok := apikey.FromContext(ctx); ok && p.DefaultEndpoint != "" {
		endpoint = p.DefaultEndpoint
	}
	if endpoint == "" {
		return nil, rpcerr.Status(job.Errorf(job.CodeFailedPrecondition,
			"no endpoint to dispatch to: create the API key with a default endpoint (dispatchd keys create --default-endpoint NAME) or set default_endpoint in the configuration file"))
	}
	if req.GetPayload() == nil {
		return nil, rpcerr.Status(invalid("payload", "required (a JSON object)"))
	}
	payload, err := encodePayload(structpb.NewStructValue(req.GetPayload()))
	if err != nil {
		return nil, rpcerr.Status(invalid("payload", "%v", err))
	}
	if len(payload) > dispatchedMaxSize {
		return nil, rpcerr.Status(invalid("payload", "%d bytes; at most %d (10 KB)", len(payload), dispatchedMaxSize))
	}
	if req.GetMaxRetries() < 0 {
		return nil, rpcerr.Status(invalid("maxRetries", "must not be negative"))
	}
	d := &dispatchdv1.DispatchJobRequest{
		Endpoint: endpoint,
		Payload:  structpb.NewStructValue(req.GetPayload()),
		RunAt:    req.GetScheduleFor(),
	}
	if n := req.GetMaxRetries(); n > 0 {
		d.Retry = &dispatchdv1.RetryPolicy{MaxRetries: n}
	}
	out, err := s.dispatch(ctx, []*dispatchdv1.DispatchJobRequest{d}, "")
	if err != nil {
		return nil, fail(ctx, s.log, "DispatchedDispatchJob", err)
	}
	return &dispatchdv1.DispatchedDispatchJobResponse{Job: &dispatchdv1.DispatchedJob{
		JobId:        out[0].GetJob().GetJobId(),
		Status:       "QUEUED",
		ScheduledFor: out[0].GetJob().GetRunAt(),
	}}, nil
}

// dispatchedStatus is a state in the Dispatched service's words.
func dispatchedStatus(s job.State) string {
	switch s {
	case job.StateScheduled, job.StateAvailable:
		return "QUEUED"
	case job.StateRunning, job.StateRetrying:
		return "DISPATCHED"
	case job.StateCompleted:
		return "COMPLETED"
	case job.StateDead:
		return "FAILED"
	case job.StateCancelled:
		return "CANCELLED"
	}
	return strings.ToUpper(string(s))
}

// DispatchedGetJob implements dispatchdv1.JobServiceServer.
func (s *JobServer) DispatchedGetJob(ctx context.Context, req *dispatchdv1.DispatchedGetJobRequest) (*dispatchdv1.DispatchedGetJobResponse, error) {
	if req.GetJobId() == "" {
		return nil, rpcerr.Status(invalid("jobId", "required"))
	}
	j, err := s.store.GetJob(ctx, req.GetJobId())
	if err != nil {
		return nil, fail(ctx, s.log, "DispatchedGetJob", err)
	}
	return &dispatchdv1.DispatchedGetJobResponse{Job: &dispatchdv1.DispatchedJob{
		JobId: j.ID, Status: dispatchedStatus(j.State), ScheduledFor: ts(j.RunAt),
	}}, nil
}
