package server

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	// The proto codec registers itself; it is wrapped below.
	_ "google.golang.org/grpc/encoding/proto"
)

// Limits of the gRPC server and of both listeners. With them the memory a
// hostile client can make the process hold is bounded: at most
// MaxConns connections per listener, MaxConcurrentStreams calls per
// connection, each call's message at most its service's cap, and a
// connection that does nothing is closed after GRPCIdleTimeout.
const (
	// MaxConns caps the connections open at once on each listener (HTTP
	// and gRPC); more wait in the kernel's accept queue.
	MaxConns = 1024
	// MaxConcurrentStreams caps the calls in flight on one HTTP/2
	// connection (gRPC, and HTTP/2 on the HTTP listener).
	MaxConcurrentStreams = 100
	// GRPCIdleTimeout closes a gRPC connection with no call in flight for
	// this long, one that only ever sent its preface included.
	GRPCIdleTimeout = 2 * time.Minute
	// GRPCHandshakeTimeout bounds the TLS handshake and HTTP/2 preface of
	// a new gRPC connection.
	GRPCHandshakeTimeout = 10 * time.Second
	// KeepaliveMinTime is the most often a client may ping; one pinging
	// more often (a ping flood) is disconnected.
	KeepaliveMinTime = 10 * time.Second
)

// LimitListener caps the connections ln has open at once at n.
func LimitListener(ln net.Listener, n int) net.Listener {
	return netutil.LimitListener(ln, n)
}

// GRPCLimits are the per-server settings of GRPCOptions.
type GRPCLimits struct {
	// MaxRecvMsgSize is the largest message the transport reads at all:
	// the largest of the per-service caps.
	MaxRecvMsgSize int
	// MessageLimit returns the cap of a request message by its type
	// (0: MaxRecvMsgSize). It is checked before the message is decoded.
	MessageLimit func(msg any) int
	// NeedsCredentials reports whether a method (its full name) needs
	// an API key: such calls without a Bearer credential are refused
	// before their message is read.
	NeedsCredentials func(fullMethod string) bool
	// MissingCredentials is the status error such a call gets (nil: a
	// plain Unauthenticated status).
	MissingCredentials error
	// IdleTimeout overrides GRPCIdleTimeout (0: the default); tests
	// shorten it.
	IdleTimeout time.Duration
}

// GRPCOptions returns the server options that bound what one client can
// hold: message sizes per service, streams per connection, keepalive
// enforcement, an idle timeout and a handshake timeout.
func GRPCOptions(l GRPCLimits) []grpc.ServerOption {
	idle := l.IdleTimeout
	if idle <= 0 {
		idle = GRPCIdleTimeout
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(GRPCHandshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idle, Time: time.Minute, Timeout: 20 * time.Second}),
	}
	if l.MessageLimit != nil {
		opts = append(opts, grpc.ForceServerCodecV2(limitCodec{CodecV2: encoding.GetCodecV2("proto"), limit: l.MessageLimit}))
	}
	if l.NeedsCredentials != nil {
		refusal := l.MissingCredentials
		if refusal == nil {
			refusal = status.Error(codes.Unauthenticated, "missing Authorization: Bearer <API key> metadata")
		}
		opts = append(opts, grpc.InTapHandle(credentialsTap(l.NeedsCredentials, refusal)))
	}
	return opts
}

// limitCodec is the proto codec with a cap per request type, checked on
// the encoded size before anything is decoded.
type limitCodec struct {
	encoding.CodecV2
	limit func(msg any) int
}

func (c limitCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if max := c.limit(v); max > 0 && data.Len() > max {
		return status.Errorf(codes.ResourceExhausted, "the %T message is %d bytes; at most %d are accepted", v, data.Len(), max)
	}
	return c.CodecV2.Unmarshal(data, v)
}

// credentialsTap refuses a call that needs an API key but carries no
// Bearer credential at all, before its message is read. It runs on the
// connection's reader, so it looks only at the header: the key itself is
// checked (against the store) by the authentication interceptor.
func credentialsTap(needs func(string) bool, refusal error) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if !needs(info.FullMethodName) {
			return ctx, nil
		}
		for _, v := range metadata.MD(info.Header).Get("authorization") {
			if scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok && strings.EqualFold(scheme, "bearer") && strings.TrimSpace(cred) != "" {
				return ctx, nil
			}
		}
		return ctx, refusal
	}
}

// aeadSuites are the TLS 1.2 cipher suites offered: forward-secret AEAD
// only (no CBC, no RSA key exchange). TLS 1.3's suites are all AEAD and
// not configurable.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}
