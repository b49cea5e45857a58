package api

import (
	"context"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"log/slog"
	"time"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// KeyServer implements dispatchdv1.KeyServiceServer.
type KeyServer struct {
	dispatchdv1.UnimplementedKeyServiceServer

	keys  apikey.Store
	store EndpointGetter // to check a default endpoint exists
	now   func() time.Time
	log   *slog.Logger
}

// NewKeyServer returns a KeyServer.
func NewKeyServer(keys apikey.Store, store EndpointGetter, now func() time.Time, log *slog.Logger) *KeyServer {
	return &KeyServer{keys: keys, store: store, now: now, log: log}
}

func keyToProto(k apikey.Key) *dispatchdv1.ApiKey {
	return &dispatchdv1.ApiKey{
		KeyId:           k.ID,
		Name:            k.Name,
		Prefix:          k.Prefix,
		DefaultEndpoint: k.DefaultEndpoint,
		Scope:           string(k.Scope),
		CreatedAt:       ts(k.CreatedAt),
		LastUsedAt:      ts(k.LastUsedAt),
		RevokedAt:       ts(k.RevokedAt),
	}
}

// CreateKey implements dispatchdv1.KeyServiceServer.
func (s *KeyServer) CreateKey(ctx context.Context, req *dispatchdv1.CreateKeyRequest) (*dispatchdv1.CreateKeyResponse, error) {
	if err := apikey.ValidateName(req.GetName()); err != nil {
		return nil, rpcerr.Status(invalid("name", "%v", err))
	}
	scope, err := apikey.ParseScope(req.GetScope())
	if err != nil {
		return nil, rpcerr.Status(invalid("scope", "%v", err))
	}
	if ep := req.GetDefaultEndpoint(); ep != "" {
		if _, err := s.store.GetEndpoint(ctx, ep); err != nil {
			if job.ErrorCode(err) == job.CodeNotFound {
				return nil, rpcerr.Status(invalid("default_endpoint", "no endpoint %q", ep))
			}
			return nil, fail(ctx, s.log, "CreateKey", err)
		}
	}
	plaintext, k := apikey.Generate()
	k.Name, k.DefaultEndpoint, k.Scope, k.CreatedAt = req.GetName(), req.GetDefaultEndpoint(), scope, s.now()
	if err := s.keys.CreateKey(ctx, k); err != nil {
		return nil, fail(ctx, s.log, "CreateKey", err)
	}
	return &dispatchdv1.CreateKeyResponse{Key: plaintext, ApiKey: keyToProto(k)}, nil
}

// ListKeys implements dispatchdv1.KeyServiceServer.
func (s *KeyServer) ListKeys(ctx context.Context, _ *dispatchdv1.ListKeysRequest) (*dispatchdv1.ListKeysResponse, error) {
	keys, err := s.keys.ListKeys(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "ListKeys", err)
	}
	usage, err := s.usage(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "ListKeys", err)
	}
	resp := &dispatchdv1.ListKeysResponse{}
	for i := len(keys) - 1; i >= 0; i-- { // newest first
		p := keyToProto(keys[i])
		p.Usage = usage[keys[i].ID]
		resp.Keys = append(resp.Keys, p)
	}
	return resp, nil
}

// RevokeKey implements dispatchdv1.KeyServiceServer.
func (s *KeyServer) RevokeKey(ctx context.Context, req *dispatchdv1.RevokeKeyRequest) (*dispatchdv1.RevokeKeyResponse, error) {
	if req.GetKeyId() == "" {
		return nil, rpcerr.Status(invalid("key_id", "required"))
	}
	if err := s.keys.RevokeKey(ctx, req.GetKeyId(), s.now()); err != nil {
		return nil, fail(ctx, s.log, "RevokeKey", err)
	}
	keys, err := s.keys.ListKeys(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "RevokeKey", err)
	}
	for _, k := range keys {
		if k.ID == req.GetKeyId() {
			return &dispatchdv1.RevokeKeyResponse{ApiKey: keyToProto(k)}, nil
		}
	}
	return nil, rpcerr.Status(job.Errorf(job.CodeNotFound, "no key %q", req.GetKeyId()))
}

// WhoAmI implements dispatchdv1.KeyServiceServer: the key the
// authentication interceptor found for this call.
func (s *KeyServer) WhoAmI(ctx context.Context, _ *dispatchdv1.WhoAmIRequest) (*dispatchdv1.WhoAmIResponse, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no API key")
	}
	return &dispatchdv1.WhoAmIResponse{KeyId: p.KeyID, Name: p.Name, Scope: string(p.Scope)}, nil
}

// CreateSession implements dispatchdv1.KeyServiceServer: a session for
// the calling key, its token answered once.
func (s *KeyServer) CreateSession(ctx context.Context, req *dispatchdv1.CreateSessionRequest) (*dispatchdv1.CreateSessionResponse, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no API key")
	}
	token, sess, err := apikey.NewSession(p, s.now(), time.Duration(req.GetTtlSeconds())*time.Second)
	if job.ErrorCode(err) == job.CodeInvalid {
		return nil, rpcerr.Status(invalid("ttl_seconds", "%v", err))
	}
	if err != nil {
		return nil, rpcerr.Status(err)
	}
	if err := s.keys.CreateSession(ctx, sess); err != nil {
		return nil, fail(ctx, s.log, "CreateSession", err)
	}
	return &dispatchdv1.CreateSessionResponse{SessionToken: token, ExpiresAt: ts(sess.ExpiresAt)}, nil
}

// DeleteSession implements dispatchdv1.KeyServiceServer: logout of the
// session that made the call.
func (s *KeyServer) DeleteSession(ctx context.Context, _ *dispatchdv1.DeleteSessionRequest) (*dispatchdv1.DeleteSessionResponse, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no API key")
	}
	if p.SessionHash == nil {
		return nil, rpcerr.Status(job.Errorf(job.CodeFailedPrecondition, "DeleteSession ends the session that calls it: call it with a session token (disp_s_…), not an API key"))
	}
	if err := s.keys.DeleteSession(ctx, p.SessionHash); err != nil {
		return nil, fail(ctx, s.log, "DeleteSession", err)
	}
	return &dispatchdv1.DeleteSessionResponse{}, nil
}
