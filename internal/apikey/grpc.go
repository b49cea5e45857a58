package apikey

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// exemptPrefixes are the methods that do not take an API key: webhook
// ingestion authenticates each source with its own scheme, and health
// checks and reflection are for load balancers and grpcurl.
var exemptPrefixes = []string{
	"/dispatchd.v1.IngestService/",
	"/grpc.health.v1.Health/",
	"/grpc.reflection.",
}

// Exempt reports whether a gRPC method (its full name,
// "/package.Service/Method") is served without an API key.
func Exempt(fullMethod string) bool {
	for _, p := range exemptPrefixes {
		if strings.HasPrefix(fullMethod, p) {
			return true
		}
	}
	return false
}

// UnaryServerInterceptor authenticates every unary call but those exempt
// reports (nil: none) with the "authorization" metadata, checks that the
// key's scope may call the method (Authorize), and gives the handler a
// context that carries the Principal. A refused call ends with the status
// rpcerr.Status makes of the error (Unauthenticated, PermissionDenied, or
// ResourceExhausted after too many failures from the client's address,
// with an ErrorInfo reason).
func UnaryServerInterceptor(a *Authenticator, exempt func(fullMethod string) bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if exempt != nil && exempt(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := a.authenticateIncoming(ctx, info.FullMethod)
		if err != nil {
			return nil, rpcerr.Status(err)
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func StreamServerInterceptor(a *Authenticator, exempt func(fullMethod string) bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if exempt != nil && exempt(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := a.authenticateIncoming(ss.Context(), info.FullMethod)
		if err != nil {
			return rpcerr.Status(err)
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

// authenticateIncoming authenticates the first "authorization" value of
// the call's metadata and authorizes the call of fullMethod. The first one
// is the request's own header when the call comes through grpc-gateway,
// which puts it ahead of any forwarded Grpc-Metadata-Authorization.
func (a *Authenticator) authenticateIncoming(ctx context.Context, fullMethod string) (context.Context, error) {
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	p, err := a.authenticateFrom(ctx, clientAddress(ctx), header)
	if err != nil {
		return nil, err
	}
	if err := Authorize(p.Scope, fullMethod); err != nil {
		return nil, err
	}
	return NewContext(ctx, p), nil
}

// principalStream is a ServerStream whose context carries the Principal.
type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }
