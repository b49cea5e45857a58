package api

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
	"github.com/dispatchd/dispatchd/internal/specs"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// SourceServer implements dispatchdv1.SourceServiceServer.
type SourceServer struct {
	dispatchdv1.UnimplementedSourceServiceServer

	store   SourceStore
	sources SourceRegistry
	checker WebhookChecker
	now     func() time.Time
	log     *slog.Logger
}

// NewSourceServer returns a SourceServer. Changes are loaded into sources
// at once; other processes pick them up at their next reload. checker
// dry-runs webhooks for TestSource.
func NewSourceServer(store SourceStore, sources SourceRegistry, checker WebhookChecker, now func() time.Time, log *slog.Logger) *SourceServer {
	return &SourceServer{store: store, sources: sources, checker: checker, now: now, log: log}
}

// sourceFromProto validates an API definition by the rules the file's
// sources follow too, and returns the spec (defaults applied) with the
// verifier that validation built. previousExpires is when the rotation
// the secrets are in ends (zero: none).
func (s *SourceServer) sourceFromProto(ctx context.Context, name string, p *dispatchdv1.SourceSpec, secrets []string, previousExpires time.Time) (job.SourceSpec, verify.Verifier, error) {
	if p == nil {
		return job.SourceSpec{}, nil, invalid("spec", "required")
	}
	src := job.SourceSpec{
		Name:   name,
		Scheme: p.GetScheme(), Secrets: secrets, Header: p.GetHeader(), Algorithm: p.GetAlgorithm(),
		Encoding: p.GetEncoding(), Prefix: p.GetPrefix(), Tolerance: p.GetTolerance().AsDuration(),
		PublicKey:    p.GetPublicKey(),
		MaxBodyBytes: p.GetMaxBodyBytes(),
		// Cloned: validation normalises them and rules add names, in place.
		ContentTypes: slices.Clone(p.GetContentTypes()),
		Routes:       slices.Clone(p.GetRoutes()),

		PreviousSecretExpiresAt: previousExpires,
	}
	for _, r := range p.GetRouteRules() {
		rule := job.RouteRule{Endpoint: r.GetEndpoint(), Subscribers: r.GetSubscribers(), Filter: r.GetFilter(), Transform: r.GetTransform()}
		if !rule.Subscribers && rule.Filter == "" && rule.Transform == "" {
			// A rule that is only a name is stored as one, as the file's is.
			src.Routes = append(src.Routes, rule.Endpoint)
			continue
		}
		src.RouteRules = append(src.RouteRules, rule)
	}
	if h, j := p.GetEventTypeHeader(), p.GetEventTypeJson(); h != "" || j != "" {
		src.EventType = &job.ValueRef{Header: h, JSON: j}
	}
	if p.GetRateLimitRps() != 0 || p.GetRateLimitBurst() != 0 {
		src.RateLimit = &job.RateLimitSpec{RPS: p.GetRateLimitRps(), Burst: int(p.GetRateLimitBurst())}
	}
	if h, j := p.GetIdempotencyHeader(), p.GetIdempotencyJson(); h != "" || j != "" {
		src.DeliveryID = &job.ValueRef{Header: h, JSON: j}
	}
	if j := p.GetCoalesceKeyJson(); j != "" {
		src.CoalesceKey = &job.ValueRef{JSON: j}
	}
	if j := p.GetOrderingKeyJson(); j != "" {
		src.OrderingKey = &job.ValueRef{JSON: j}
	}
	for _, r := range p.GetRequired() {
		src.Required = append(src.Required, job.RequiredField{Pointer: r.GetPointer(), Type: r.GetType()})
	}
	endpoints, err := s.store.ListEndpoints(ctx)
	if err != nil {
		return job.SourceSpec{}, nil, err
	}
	exists := map[string]bool{}
	for _, e := range endpoints {
		exists[e.Name] = true
	}
	v, err := specs.Source(&src, "spec", func(n string) error {
		if !exists[n] {
			return fmt.Errorf("endpoint %q does not exist", n)
		}
		return nil
	})
	if err != nil {
		return job.SourceSpec{}, nil, job.Errorf(job.CodeInvalid, "%v", err)
	}
	return src, v, nil
}

// install makes a source just written take effect in this process now,
// with the verifier its validation built, and returns it as stored.
func (s *SourceServer) install(ctx context.Context, name string, v verify.Verifier) (*dispatchdv1.Source, error) {
	src, err := s.store.GetSource(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.sources.Put(src, v); err != nil {
		s.log.WarnContext(ctx, "source not loaded after a change; the periodic reload will retry", "source", name, "error", err)
	}
	return sourceToProto(src, s.now()), nil
}

// reload makes a change take effect in this process now.
func (s *SourceServer) reload(ctx context.Context) {
	if err := s.sources.Load(ctx); err != nil {
		s.log.WarnContext(ctx, "sources not reloaded after a change; the periodic reload will retry", "error", err)
	}
}

func (s *SourceServer) get(ctx context.Context, name string) (*dispatchdv1.Source, error) {
	src, err := s.store.GetSource(ctx, name)
	if err != nil {
		return nil, err
	}
	return sourceToProto(src, s.now()), nil
}

// apiSource returns a source the API may change.
func (s *SourceServer) apiSource(ctx context.Context, name string) (job.Source, error) {
	src, err := s.store.GetSource(ctx, name)
	if err != nil {
		return job.Source{}, err
	}
	if src.Origin == job.OriginConfig {
		return job.Source{}, job.Errorf(job.CodeFailedPrecondition, "source %q is declared in the configuration file; change it there", name)
	}
	return src, nil
}

// CreateSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) CreateSource(ctx context.Context, req *dispatchdv1.CreateSourceRequest) (*dispatchdv1.CreateSourceResponse, error) {
	if err := job.CheckName(req.GetName()); err != nil {
		return nil, rpcerr.Status(invalid("name", "%v", err))
	}
	var secrets []string
	if req.GetSecret() != "" {
		secrets = []string{req.GetSecret()}
	}
	spec, v, err := s.sourceFromProto(ctx, req.GetName(), req.GetSpec(), secrets, time.Time{})
	if err != nil {
		return nil, fail(ctx, s.log, "CreateSource", err)
	}
	if err := s.store.CreateSource(ctx, spec, s.now()); err != nil {
		return nil, fail(ctx, s.log, "CreateSource", err)
	}
	src, err := s.install(ctx, spec.Name, v)
	if err != nil {
		return nil, fail(ctx, s.log, "CreateSource", err)
	}
	return &dispatchdv1.CreateSourceResponse{Source: src}, nil
}

// GetSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) GetSource(ctx context.Context, req *dispatchdv1.GetSourceRequest) (*dispatchdv1.GetSourceResponse, error) {
	src, err := s.get(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "GetSource", err)
	}
	return &dispatchdv1.GetSourceResponse{Source: src}, nil
}

// ListSources implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) ListSources(ctx context.Context, _ *dispatchdv1.ListSourcesRequest) (*dispatchdv1.ListSourcesResponse, error) {
	list, err := s.store.ListSources(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "ListSources", err)
	}
	resp := &dispatchdv1.ListSourcesResponse{}
	for _, src := range list {
		resp.Sources = append(resp.Sources, sourceToProto(src, s.now()))
	}
	return resp, nil
}

// UpdateSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) UpdateSource(ctx context.Context, req *dispatchdv1.UpdateSourceRequest) (*dispatchdv1.UpdateSourceResponse, error) {
	old, err := s.apiSource(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "UpdateSource", err)
	}
	// The rotation's end is part of the spec the verifier is built from.
	spec, v, err := s.sourceFromProto(ctx, old.Name, req.GetSpec(), old.Secrets, old.PreviousSecretExpiresAt)
	if err != nil {
		return nil, fail(ctx, s.log, "UpdateSource", err)
	}
	if err := s.store.UpdateSourceSpec(ctx, spec, s.now()); err != nil {
		return nil, fail(ctx, s.log, "UpdateSource", err)
	}
	src, err := s.install(ctx, spec.Name, v)
	if err != nil {
		return nil, fail(ctx, s.log, "UpdateSource", err)
	}
	return &dispatchdv1.UpdateSourceResponse{Source: src}, nil
}

// DeleteSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) DeleteSource(ctx context.Context, req *dispatchdv1.DeleteSourceRequest) (*dispatchdv1.DeleteSourceResponse, error) {
	if _, err := s.apiSource(ctx, req.GetName()); err != nil {
		return nil, fail(ctx, s.log, "DeleteSource", err)
	}
	if err := s.store.DeleteSource(ctx, req.GetName()); err != nil {
		return nil, fail(ctx, s.log, "DeleteSource", err)
	}
	s.reload(ctx)
	return &dispatchdv1.DeleteSourceResponse{}, nil
}

func (s *SourceServer) setPaused(ctx context.Context, name string, paused bool) (*dispatchdv1.Source, error) {
	if err := s.store.SetSourcePaused(ctx, name, paused, s.now()); err != nil {
		return nil, err
	}
	s.reload(ctx)
	return s.get(ctx, name)
}

// PauseSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) PauseSource(ctx context.Context, req *dispatchdv1.PauseSourceRequest) (*dispatchdv1.PauseSourceResponse, error) {
	src, err := s.setPaused(ctx, req.GetName(), true)
	if err != nil {
		return nil, fail(ctx, s.log, "PauseSource", err)
	}
	return &dispatchdv1.PauseSourceResponse{Source: src}, nil
}

// ResumeSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) ResumeSource(ctx context.Context, req *dispatchdv1.ResumeSourceRequest) (*dispatchdv1.ResumeSourceResponse, error) {
	src, err := s.setPaused(ctx, req.GetName(), false)
	if err != nil {
		return nil, fail(ctx, s.log, "ResumeSource", err)
	}
	return &dispatchdv1.ResumeSourceResponse{Source: src}, nil
}

// RotateSourceSecret implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) RotateSourceSecret(ctx context.Context, req *dispatchdv1.RotateSourceSecretRequest) (*dispatchdv1.RotateSourceSecretResponse, error) {
	old, err := s.apiSource(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "RotateSourceSecret", err)
	}
	if req.GetSecret() == "" {
		return nil, rpcerr.Status(invalid("secret", "required: the provider's new secret"))
	}
	grace, err := rotationGrace(req.GetGracePeriod(), req.GetGracePeriod() != nil)
	if err != nil {
		return nil, rpcerr.Status(err)
	}
	now := s.now()
	spec := old.SourceSpec
	spec.Secrets = []string{req.GetSecret()}
	if len(old.Secrets) > 0 {
		spec.Secrets = append(spec.Secrets, old.Secrets[0])
	}
	spec.PreviousSecretExpiresAt = now.Add(grace)
	v, err := verify.New(specs.VerifyConfig(spec))
	if err != nil {
		return nil, rpcerr.Status(invalid("secret", "source %s: %v", spec.Name, err))
	}
	if err := s.store.UpdateSourceSpec(ctx, spec, now); err != nil {
		return nil, fail(ctx, s.log, "RotateSourceSecret", err)
	}
	src, err := s.install(ctx, spec.Name, v)
	if err != nil {
		return nil, fail(ctx, s.log, "RotateSourceSecret", err)
	}
	return &dispatchdv1.RotateSourceSecretResponse{Source: src}, nil
}

// TestSource implements dispatchdv1.SourceServiceServer.
func (s *SourceServer) TestSource(ctx context.Context, req *dispatchdv1.TestSourceRequest) (*dispatchdv1.TestSourceResponse, error) {
	deliveryID, err := s.checker.Check(ctx, &dispatchdv1.ReceiveWebhookRequest{Source: req.GetName(), Body: req.GetBody(), Headers: req.GetHeaders()})
	if err != nil {
		if job.ErrorCode(err) == job.CodeInternal || job.ErrorCode(err) == job.CodeUnavailable {
			return nil, fail(ctx, s.log, "TestSource", err)
		}
		return &dispatchdv1.TestSourceResponse{Code: string(job.ErrorCode(err)), Message: job.ErrorMessage(err)}, nil
	}
	return &dispatchdv1.TestSourceResponse{Accepted: true, DeliveryId: deliveryID}, nil
}
