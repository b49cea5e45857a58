package ingest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/metrics"
)

// RequestRecorder is the slice of the store that keeps the inbound request
// log's refused requests (accepted ones go with their event's commit).
type RequestRecorder interface {
	RecordRequest(ctx context.Context, r job.InboundRequest) error
}

// httpStatus is the status the gateway answers for each domain code.
var httpStatus = map[job.Code]int{
	job.CodeInvalid:         400,
	job.CodeUnauthenticated: 401,
	job.CodeNotFound:        404,
	job.CodePayloadTooLarge: 413,
	job.CodeRateLimited:     429,
	job.CodeUnavailable:     503,
	job.CodeInternal:        500,
}

// inbound describes a request for the log, before its outcome is known.
func (s *Server) inbound(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest, now time.Time) job.InboundRequest {
	_, known := s.sources.Get(req.GetSource())
	return job.InboundRequest{
		ID:          job.NewID("req", now),
		Source:      req.GetSource(),
		ReceivedAt:  now,
		Size:        int64(len(req.GetBody())),
		RemoteAddr:  remoteAddr(ctx),
		Headers:     storedHeaders(req.GetHeaders()),
		KnownSource: known,
	}
}

// recordRefused writes a refused request to the log. A failure to write
// is logged, not answered: the sender's answer does not depend on it.
func (s *Server) recordRefused(ctx context.Context, r job.InboundRequest, body []byte, err error) {
	if s.requests == nil {
		return
	}
	code := job.ErrorCode(err)
	r.Outcome = metrics.WebhookOutcome(err, false)
	r.StatusCode = httpStatus[code]
	if r.StatusCode == 0 {
		r.StatusCode = 400
	}
	r.Reason = job.ErrorMessage(err)
	if code == job.CodeUnauthenticated {
		if src, ok := s.sources.Get(r.Source); ok {
			r.Reason = fmt.Sprintf("signature (%s): %s", src.spec.Scheme, r.Reason)
		}
	}
	r.BodyExcerpt = body
	if len(r.BodyExcerpt) > job.ExcerptBytes {
		r.BodyExcerpt = r.BodyExcerpt[:job.ExcerptBytes]
	}
	// The request's context may already be done (a client that hung up).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if werr := s.requests.RecordRequest(ctx, r); werr != nil {
		s.log.WarnContext(ctx, "request log: refused request not recorded", "source", r.Source, "error", werr)
	}
}

// RecordTooLarge logs a request the gateway refused before reading all of
// its body (over the source's max_body_bytes).
func (s *Server) RecordTooLarge(ctx context.Context, source string, size int64, headers map[string]string, message string) {
	r := s.inbound(ctx, &dispatchdv1.ReceiveWebhookRequest{Source: source, Headers: headers}, s.now())
	r.Size = size
	s.recordRefused(ctx, r, nil, job.Errorf(job.CodePayloadTooLarge, "%s", message))
}

// remoteAddr is the caller's address: the one grpc-gateway forwards
// (X-Forwarded-For, from the HTTP connection), else the gRPC peer's.
func remoteAddr(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-forwarded-for"); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}
