package api

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// BulkJobs implements dispatchdv1.JobServiceServer.
func (s *JobServer) BulkJobs(ctx context.Context, req *dispatchdv1.BulkJobsRequest) (*dispatchdv1.BulkJobsResponse, error) {
	bs, ok := s.store.(BulkStore)
	if !ok {
		return nil, rpcerr.Status(job.Errorf(job.CodeUnavailable, "bulk actions are not available on this store"))
	}
	var a job.BulkAction
	switch req.GetAction() {
	case dispatchdv1.BulkAction_BULK_ACTION_RETRY:
		a = job.BulkRetry
	case dispatchdv1.BulkAction_BULK_ACTION_CANCEL:
		a = job.BulkCancel
	case dispatchdv1.BulkAction_BULK_ACTION_REPLAY:
		a = job.BulkReplay
	default:
		return nil, rpcerr.Status(invalid("action", "required: retry, cancel or replay"))
	}
	f, err := filterFromProto(req.GetFilter())
	if err != nil {
		return nil, rpcerr.Status(err)
	}
	res, err := bs.BulkJobs(ctx, f, a, req.GetDryRun(), s.now())
	if err != nil {
		return nil, fail(ctx, s.log, "BulkJobs", err)
	}
	return &dispatchdv1.BulkJobsResponse{Matched: res.Matched, Affected: res.Affected}, nil
}

func filterFromProto(p *dispatchdv1.JobFilter) (job.JobFilter, error) {
	state, ok := stateFromProto(p.GetState())
	if !ok {
		return job.JobFilter{}, invalid("filter.state", "unknown state %v", p.GetState())
	}
	f := job.JobFilter{State: state, Endpoint: p.GetEndpoint(), Source: p.GetSource()}
	if t := p.GetCreatedAfter(); t != nil {
		f.CreatedAfter = t.AsTime()
	}
	if t := p.GetCreatedBefore(); t != nil {
		f.CreatedBefore = t.AsTime()
	}
	return f, nil
}

// RequestServer implements dispatchdv1.RequestServiceServer.
type RequestServer struct {
	dispatchdv1.UnimplementedRequestServiceServer

	store ConsoleStore
	log   *slog.Logger
}

// NewRequestServer returns a RequestServer.
func NewRequestServer(store ConsoleStore, log *slog.Logger) *RequestServer {
	return &RequestServer{store: store, log: log}
}

func requestToProto(r job.InboundRequest) *dispatchdv1.InboundRequest {
	return &dispatchdv1.InboundRequest{
		RequestId: r.ID, Source: r.Source, ReceivedAt: ts(r.ReceivedAt), Outcome: r.Outcome, Reason: r.Reason,
		StatusCode: int32(r.StatusCode), Size: r.Size, RemoteAddr: r.RemoteAddr, EventId: r.EventID,
		Headers: r.Headers, BodyExcerpt: r.BodyExcerpt,
	}
}

// ListRequests implements dispatchdv1.RequestServiceServer. The page
// token is the id of the page's last request: ids sort by time.
func (s *RequestServer) ListRequests(ctx context.Context, req *dispatchdv1.ListRequestsRequest) (*dispatchdv1.ListRequestsResponse, error) {
	f := job.RequestFilter{Source: req.GetSource(), Outcome: req.GetOutcome(), AfterID: req.GetAfterRequestId(), BeforeID: req.GetPageToken(), Limit: int(req.GetPageSize())}
	var err error
	if f.Limit, err = pageSize(f.Limit); err != nil {
		return nil, err
	}
	if f.BeforeID != "" && !strings.HasPrefix(f.BeforeID, "req_") {
		return nil, rpcerr.Status(invalid("page_token", "not a token from a previous ListRequests response"))
	}
	rs, err := s.store.ListRequests(ctx, f)
	if err != nil {
		return nil, fail(ctx, s.log, "ListRequests", err)
	}
	resp := &dispatchdv1.ListRequestsResponse{}
	for _, r := range rs {
		resp.Requests = append(resp.Requests, requestToProto(r))
	}
	if len(rs) == f.Limit {
		resp.NextPageToken = rs[len(rs)-1].ID
	}
	return resp, nil
}

// GetRequest implements dispatchdv1.RequestServiceServer.
func (s *RequestServer) GetRequest(ctx context.Context, req *dispatchdv1.GetRequestRequest) (*dispatchdv1.GetRequestResponse, error) {
	if req.GetRequestId() == "" {
		return nil, rpcerr.Status(invalid("request_id", "required"))
	}
	r, err := s.store.GetRequest(ctx, req.GetRequestId())
	if err != nil {
		return nil, fail(ctx, s.log, "GetRequest", err)
	}
	return &dispatchdv1.GetRequestResponse{Request: requestToProto(r)}, nil
}

// StatsServer implements dispatchdv1.StatsServiceServer.
type StatsServer struct {
	dispatchdv1.UnimplementedStatsServiceServer

	store ConsoleStore
	now   func() time.Time
	log   *slog.Logger
}

// NewStatsServer returns a StatsServer.
func NewStatsServer(store ConsoleStore, now func() time.Time, log *slog.Logger) *StatsServer {
	return &StatsServer{store: store, now: now, log: log}
}

// statsWindows are the windows of GetStats and the bucket of each: about
// 60 to 170 points, enough for a chart, few enough to send every few
// seconds.
var statsWindows = map[string]struct{ span, bucket time.Duration }{
	"1h":  {time.Hour, time.Minute},
	"24h": {24 * time.Hour, 15 * time.Minute},
	"7d":  {7 * 24 * time.Hour, time.Hour},
}

// GetStats implements dispatchdv1.StatsServiceServer.
func (s *StatsServer) GetStats(ctx context.Context, req *dispatchdv1.GetStatsRequest) (*dispatchdv1.GetStatsResponse, error) {
	window := req.GetWindow()
	if window == "" {
		window = "1h"
	}
	w, ok := statsWindows[window]
	if !ok {
		return nil, rpcerr.Status(invalid("window", "%q: want 1h, 24h or 7d", window))
	}
	now := s.now().UTC()
	st, err := s.store.GetStats(ctx, job.StatsQuery{
		Source: req.GetSource(), Endpoint: req.GetEndpoint(),
		Since: now.Add(-w.span).Truncate(w.bucket).Add(w.bucket), Bucket: w.bucket, Now: now,
	})
	if err != nil {
		return nil, fail(ctx, s.log, "GetStats", err)
	}
	resp := &dispatchdv1.GetStatsResponse{
		Window: window, BucketSeconds: int64(w.bucket / time.Second),
		LatencyP50Us: st.LatencyP50.Microseconds(), LatencyP95Us: st.LatencyP95.Microseconds(),
		QueueDepth: st.QueueDepth, OldestReadyAgeSeconds: st.OldestReadyWait.Seconds(),
	}
	for _, p := range st.Points {
		resp.Points = append(resp.Points, &dispatchdv1.StatsPoint{At: ts(p.At), Received: p.Received, Deliveries: p.Deliveries})
	}
	return resp, nil
}

// AuditServer implements dispatchdv1.AuditServiceServer.
type AuditServer struct {
	dispatchdv1.UnimplementedAuditServiceServer

	store ConsoleStore
	log   *slog.Logger
}

// NewAuditServer returns an AuditServer.
func NewAuditServer(store ConsoleStore, log *slog.Logger) *AuditServer {
	return &AuditServer{store: store, log: log}
}

// ListAuditEntries implements dispatchdv1.AuditServiceServer.
func (s *AuditServer) ListAuditEntries(ctx context.Context, req *dispatchdv1.ListAuditEntriesRequest) (*dispatchdv1.ListAuditEntriesResponse, error) {
	limit := int(req.GetPageSize())
	var err error
	if limit, err = pageSize(limit); err != nil {
		return nil, err
	}
	es, err := s.store.ListAuditEntries(ctx, req.GetPageToken(), limit)
	if err != nil {
		return nil, fail(ctx, s.log, "ListAuditEntries", err)
	}
	resp := &dispatchdv1.ListAuditEntriesResponse{}
	for _, e := range es {
		resp.Entries = append(resp.Entries, &dispatchdv1.AuditEntry{
			EntryId: e.ID, At: ts(e.At), KeyId: e.KeyID, KeyName: e.KeyName, Action: e.Action, Target: e.Target, Detail: e.Detail,
		})
	}
	if len(es) == limit {
		resp.NextPageToken = es[len(es)-1].ID
	}
	return resp, nil
}

// auditedMethods are the calls that change what others rely on, and the
// action each is recorded as.
var auditedMethods = map[string]string{
	"/dispatchd.v1.JobService/BulkJobs":                  "jobs.bulk",
	"/dispatchd.v1.JobService/ReplayDeadJobs":            "jobs.replay",
	"/dispatchd.v1.JobService/RetryJob":                  "job.retry",
	"/dispatchd.v1.JobService/CancelJob":                 "job.cancel",
	"/dispatchd.v1.EndpointService/CreateEndpoint":       "endpoint.create",
	"/dispatchd.v1.EndpointService/UpdateEndpoint":       "endpoint.update",
	"/dispatchd.v1.EndpointService/DeleteEndpoint":       "endpoint.delete",
	"/dispatchd.v1.EndpointService/PauseEndpoint":        "endpoint.pause",
	"/dispatchd.v1.EndpointService/ResumeEndpoint":       "endpoint.resume",
	"/dispatchd.v1.EndpointService/RotateEndpointSecret": "endpoint.rotate_secret",
	"/dispatchd.v1.SourceService/CreateSource":           "source.create",
	"/dispatchd.v1.SourceService/UpdateSource":           "source.update",
	"/dispatchd.v1.SourceService/DeleteSource":           "source.delete",
	"/dispatchd.v1.SourceService/PauseSource":            "source.pause",
	"/dispatchd.v1.SourceService/ResumeSource":           "source.resume",
	"/dispatchd.v1.SourceService/RotateSourceSecret":     "source.rotate_secret",
	"/dispatchd.v1.KeyService/CreateKey":                 "key.create",
	"/dispatchd.v1.KeyService/RevokeKey":                 "key.revoke",
}

// AuditInterceptor records every successful audited call (a dry run
// changes nothing and is not recorded) with the key that made it. It
// runs after authentication. A failure to record is logged: the action
// already happened.
func AuditInterceptor(store ConsoleStore, now func() time.Time, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		action, audited := auditedMethods[info.FullMethod]
		if err != nil || !audited {
			return resp, err
		}
		e := job.AuditEntry{At: now(), Action: action}
		e.ID = job.NewID("aud", e.At)
		if p, ok := apikey.FromContext(ctx); ok {
			e.KeyID, e.KeyName = p.KeyID, p.Name
		}
		switch r := req.(type) {
		case *dispatchdv1.BulkJobsRequest:
			if r.GetDryRun() {
				return resp, err
			}
			e.Action = "jobs.bulk_" + strings.ToLower(strings.TrimPrefix(r.GetAction().String(), "BULK_ACTION_"))
			e.Target = filterText(r.GetFilter())
			if b, ok := resp.(*dispatchdv1.BulkJobsResponse); ok {
				e.Detail = fmt.Sprintf("matched %d, affected %d", b.GetMatched(), b.GetAffected())
			}
		case *dispatchdv1.ReplayDeadJobsRequest:
			e.Target = filterText(&dispatchdv1.JobFilter{Endpoint: r.GetEndpoint(), CreatedAfter: r.GetCreatedAfter(), CreatedBefore: r.GetCreatedBefore()})
			if b, ok := resp.(*dispatchdv1.ReplayDeadJobsResponse); ok {
				e.Detail = fmt.Sprintf("replayed %d", b.GetReplayed())
			}
		case *dispatchdv1.CreateKeyRequest:
			if k, ok := resp.(*dispatchdv1.CreateKeyResponse); ok {
				e.Target, e.Detail = k.GetApiKey().GetKeyId(), "name "+k.GetApiKey().GetName()
			}
		case interface{ GetJobId() string }:
			e.Target = r.GetJobId()
		case interface{ GetKeyId() string }:
			e.Target = r.GetKeyId()
		case interface{ GetName() string }:
			e.Target = r.GetName()
		}
		if e.Target == "" {
			if n, ok := req.(interface {
				GetEndpoint() *dispatchdv1.Endpoint
			}); ok {
				e.Target = n.GetEndpoint().GetName()
			}
		}
		if rerr := store.RecordAudit(context.WithoutCancel(ctx), e); rerr != nil {
			log.ErrorContext(ctx, "audit entry not recorded", "action", e.Action, "error", rerr)
		}
		return resp, err
	}
}

// filterText describes a filter for the audit log.
func filterText(f *dispatchdv1.JobFilter) string {
	var parts []string
	if f.GetState() != dispatchdv1.JobState_JOB_STATE_UNSPECIFIED {
		parts = append(parts, "state="+strings.ToLower(strings.TrimPrefix(f.GetState().String(), "JOB_STATE_")))
	}
	if f.GetEndpoint() != "" {
		parts = append(parts, "endpoint="+f.GetEndpoint())
	}
	if f.GetSource() != "" {
		parts = append(parts, "source="+f.GetSource())
	}
	if f.GetCreatedAfter() != nil {
		parts = append(parts, "createdAfter="+f.GetCreatedAfter().AsTime().Format(time.RFC3339))
	}
	if f.GetCreatedBefore() != nil {
		parts = append(parts, "createdBefore="+f.GetCreatedBefore().AsTime().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "all jobs"
	}
	return strings.Join(parts, " ")
}

// traceID is the trace id of a W3C traceparent ("00-<trace id>-<span
// id>-<flags>"), empty if it is not one.
func traceID(traceParent string) string {
	parts := strings.Split(traceParent, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}
