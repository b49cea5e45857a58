package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"time"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/route"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
	"github.com/dispatchd/dispatchd/internal/specs"
)

// Secret rotation grace periods.
const (
	DefaultRotationGrace = 24 * time.Hour
	MaxRotationGrace     = 30 * 24 * time.Hour
)

// EndpointServer implements dispatchdv1.EndpointServiceServer.
type EndpointServer struct {
	dispatchdv1.UnimplementedEndpointServiceServer

	store    EndpointStore
	delivery Delivery
	now      func() time.Time
	log      *slog.Logger
	routes   *route.Registry // nil: none to reload
}

// NewEndpointServer returns an EndpointServer; d checks endpoints' URLs
// and sends test deliveries (with the same SSRF guard as the worker's).
func NewEndpointServer(store EndpointStore, d Delivery, now func() time.Time, log *slog.Logger) *EndpointServer {
	return &EndpointServer{store: store, delivery: d, now: now, log: log}
}

// newSecret returns a Standard Webhooks secret of 24 random bytes.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// endpointFromProto validates an API definition by the rules the file's
// endpoints follow too, and returns the spec (defaults applied).
func endpointFromProto(name string, p *dispatchdv1.EndpointSpec, secrets []string) (job.EndpointSpec, error) {
	if p == nil {
		return job.EndpointSpec{}, invalid("spec", "required")
	}
	e := job.EndpointSpec{
		Name:                name,
		URL:                 p.GetUrl(),
		Secrets:             secrets,
		Timeout:             p.GetTimeout().AsDuration(),
		MaxConcurrency:      int(p.GetMaxConcurrency()),
		RetryClientErrors:   p.GetRetryClientErrors(),
		RetryOnlyUnanswered: p.GetRetryOnlyUnanswered(),
		DisableAfter:        p.GetDisableAfter().AsDuration(),
		EventTypes:          p.GetEventTypes(),
		Filter:              p.GetFilter(),
		Transform:           p.GetTransform(),
		PayloadFormat:       p.GetPayloadFormat(),
	}
	if r := p.GetRetry(); r != nil {
		e.Retry.Preset = r.GetPreset()
		for _, d := range r.GetSchedule() {
			e.Retry.Schedule = append(e.Retry.Schedule, d.AsDuration())
		}
		e.Retry.MaxRetries = int(r.GetMaxRetries())
	}
	if b := p.GetBulk(); b != nil {
		e.Bulk = &job.BulkSpec{MaxRecords: int(b.GetMaxRecords()), MaxWait: b.GetMaxWait().AsDuration()}
	}
	if p.GetRateLimitRps() != 0 || p.GetRateLimitBurst() != 0 {
		e.RateLimit = &job.RateLimitSpec{RPS: p.GetRateLimitRps(), Burst: int(p.GetRateLimitBurst())}
	}
	egressFromProto(&e, p)
	if err := specs.Endpoint(&e, "spec"); err != nil {
		return job.EndpointSpec{}, job.Errorf(job.CodeInvalid, "%v", err)
	}
	return e, nil
}

// CreateEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) CreateEndpoint(ctx context.Context, req *dispatchdv1.CreateEndpointRequest) (*dispatchdv1.CreateEndpointResponse, error) {
	if err := job.CheckName(req.GetName()); err != nil {
		return nil, rpcerr.Status(invalid("name", "%v", err))
	}
	secret := req.GetSecret()
	if secret == "" {
		secret = newSecret()
	}
	spec, err := endpointFromProto(req.GetName(), req.GetSpec(), []string{secret})
	if err != nil {
		return nil, rpcerr.Status(err)
	}
	if err := s.delivery.CheckURL(ctx, spec.URL, spec.Egress); err != nil {
		return nil, rpcerr.Status(invalid("spec.url", "%v", err))
	}
	if err := s.store.CreateEndpoint(ctx, spec, s.now()); err != nil {
		return nil, fail(ctx, s.log, "CreateEndpoint", err)
	}
	s.reloadRoutes(ctx)
	ep, err := s.store.GetEndpoint(ctx, spec.Name)
	if err != nil {
		return nil, fail(ctx, s.log, "CreateEndpoint", err)
	}
	return &dispatchdv1.CreateEndpointResponse{Endpoint: endpointToProto(ep, s.now()), Secret: secret}, nil
}

// GetEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) GetEndpoint(ctx context.Context, req *dispatchdv1.GetEndpointRequest) (*dispatchdv1.GetEndpointResponse, error) {
	ep, err := s.store.GetEndpoint(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "GetEndpoint", err)
	}
	return &dispatchdv1.GetEndpointResponse{Endpoint: endpointToProto(ep, s.now())}, nil
}

// ListEndpoints implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) ListEndpoints(ctx context.Context, _ *dispatchdv1.ListEndpointsRequest) (*dispatchdv1.ListEndpointsResponse, error) {
	eps, err := s.store.ListEndpoints(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "ListEndpoints", err)
	}
	resp := &dispatchdv1.ListEndpointsResponse{}
	for _, e := range eps {
		resp.Endpoints = append(resp.Endpoints, endpointToProto(e, s.now()))
	}
	return resp, nil
}

// apiEndpoint returns an endpoint that the API may change.
func (s *EndpointServer) apiEndpoint(ctx context.Context, name string) (job.Endpoint, error) {
	ep, err := s.store.GetEndpoint(ctx, name)
	if err != nil {
		return job.Endpoint{}, err
	}
	if ep.Origin == job.OriginConfig {
		return job.Endpoint{}, job.Errorf(job.CodeFailedPrecondition, "endpoint %q is declared in the configuration file; change it there", name)
	}
	return ep, nil
}

// UpdateEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) UpdateEndpoint(ctx context.Context, req *dispatchdv1.UpdateEndpointRequest) (*dispatchdv1.UpdateEndpointResponse, error) {
	ep, err := s.apiEndpoint(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "UpdateEndpoint", err)
	}
	s.reloadRoutes(ctx)
	spec, err := endpointFromProto(ep.Name, keepWriteOnly(req.GetSpec(), ep.EndpointSpec), ep.Secrets)
	if err != nil {
		return nil, rpcerr.Status(err)
	}
	if err := s.delivery.CheckURL(ctx, spec.URL, spec.Egress); err != nil {
		return nil, rpcerr.Status(invalid("spec.url", "%v", err))
	}
	spec.PreviousSecretExpiresAt = ep.PreviousSecretExpiresAt
	if err := s.store.UpdateEndpointSpec(ctx, spec, s.now()); err != nil {
		return nil, fail(ctx, s.log, "UpdateEndpoint", err)
	}
	return respondEndpoint(s, ctx, ep.Name, func(e *dispatchdv1.Endpoint) *dispatchdv1.UpdateEndpointResponse {
		return &dispatchdv1.UpdateEndpointResponse{Endpoint: e}
	})
}

// respondEndpoint reads the endpoint back for a response.
func respondEndpoint[R any](s *EndpointServer, ctx context.Context, name string, wrap func(*dispatchdv1.Endpoint) R) (R, error) {
	var zero R
	ep, err := s.store.GetEndpoint(ctx, name)
	if err != nil {
		return zero, fail(ctx, s.log, "GetEndpoint", err)
	}
	return wrap(endpointToProto(ep, s.now())), nil
}

// DeleteEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) DeleteEndpoint(ctx context.Context, req *dispatchdv1.DeleteEndpointRequest) (*dispatchdv1.DeleteEndpointResponse, error) {
	if _, err := s.apiEndpoint(ctx, req.GetName()); err != nil {
		return nil, fail(ctx, s.log, "DeleteEndpoint", err)
	}
	s.reloadRoutes(ctx)
	if err := s.store.DeleteEndpoint(ctx, req.GetName()); err != nil {
		return nil, fail(ctx, s.log, "DeleteEndpoint", err)
	}
	return &dispatchdv1.DeleteEndpointResponse{}, nil
}

// PauseEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) PauseEndpoint(ctx context.Context, req *dispatchdv1.PauseEndpointRequest) (*dispatchdv1.PauseEndpointResponse, error) {
	if err := s.store.SetEndpointPaused(ctx, req.GetName(), true, s.now()); err != nil {
		return nil, fail(ctx, s.log, "PauseEndpoint", err)
	}
	return respondEndpoint(s, ctx, req.GetName(), func(e *dispatchdv1.Endpoint) *dispatchdv1.PauseEndpointResponse {
		return &dispatchdv1.PauseEndpointResponse{Endpoint: e}
	})
}

// ResumeEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) ResumeEndpoint(ctx context.Context, req *dispatchdv1.ResumeEndpointRequest) (*dispatchdv1.ResumeEndpointResponse, error) {
	ep, err := s.store.GetEndpoint(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "ResumeEndpoint", err)
	}
	now := s.now()
	if !ep.DisabledAt.IsZero() {
		if err := s.store.EnableEndpoint(ctx, ep.Name, now); err != nil {
			return nil, fail(ctx, s.log, "ResumeEndpoint", err)
		}
	}
	if err := s.store.SetEndpointPaused(ctx, ep.Name, false, now); err != nil {
		return nil, fail(ctx, s.log, "ResumeEndpoint", err)
	}
	return respondEndpoint(s, ctx, ep.Name, func(e *dispatchdv1.Endpoint) *dispatchdv1.ResumeEndpointResponse {
		return &dispatchdv1.ResumeEndpointResponse{Endpoint: e}
	})
}

// rotationGrace checks a requested grace period.
func rotationGrace(d interface{ AsDuration() time.Duration }, set bool) (time.Duration, error) {
	if !set {
		return DefaultRotationGrace, nil
	}
	g := d.AsDuration()
	if g < 0 || g > MaxRotationGrace {
		return 0, invalid("grace_period", "%s: want 0 to %s", g, MaxRotationGrace)
	}
	return g, nil
}

// RotateEndpointSecret implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) RotateEndpointSecret(ctx context.Context, req *dispatchdv1.RotateEndpointSecretRequest) (*dispatchdv1.RotateEndpointSecretResponse, error) {
	ep, err := s.apiEndpoint(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "RotateEndpointSecret", err)
	}
	grace, err := rotationGrace(req.GetGracePeriod(), req.GetGracePeriod() != nil)
	if err != nil {
		return nil, rpcerr.Status(err)
	}
	secret := req.GetSecret()
	if secret == "" {
		secret = newSecret()
	}
	now := s.now()
	spec := ep.EndpointSpec
	spec.Secrets = []string{secret, ep.Secrets[0]}
	spec.PreviousSecretExpiresAt = now.Add(grace)
	// The new secret is checked by the rules of every endpoint's secrets.
	check := job.EndpointSpec{Name: spec.Name, URL: spec.URL, Secrets: spec.Secrets, Ed25519Key: spec.Ed25519Key}
	if err := specs.Endpoint(&check, "spec"); err != nil {
		return nil, rpcerr.Status(invalid("secret", "%v", err))
	}
	if err := s.store.UpdateEndpointSpec(ctx, spec, now); err != nil {
		return nil, fail(ctx, s.log, "RotateEndpointSecret", err)
	}
	return respondEndpoint(s, ctx, ep.Name, func(e *dispatchdv1.Endpoint) *dispatchdv1.RotateEndpointSecretResponse {
		return &dispatchdv1.RotateEndpointSecretResponse{Endpoint: e, Secret: secret}
	})
}

// TestEndpoint implements dispatchdv1.EndpointServiceServer.
func (s *EndpointServer) TestEndpoint(ctx context.Context, req *dispatchdv1.TestEndpointRequest) (*dispatchdv1.TestEndpointResponse, error) {
	ep, err := s.store.GetEndpoint(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "TestEndpoint", err)
	}
	now := s.now()
	payload, _ := json.Marshal(map[string]string{"type": "dispatchd.test", "endpoint": ep.Name, "sentAt": now.UTC().Format(time.RFC3339)})
	a := job.Attempt{ID: job.NewID("att", now), JobID: job.NewID("job", now), Number: 1, StartedAt: now}
	a = s.delivery.SendTest(ctx, ep.EndpointSpec, a, payload)
	return &dispatchdv1.TestEndpointResponse{Attempt: attemptToProto(a)}, nil
}
