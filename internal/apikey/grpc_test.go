package apikey_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// whoami is a protected test service: both methods answer with the
// Principal the handler sees, as JSON.
const (
	whoamiGet   = "/dispatchd.test.v1.Whoami/Get"
	whoamiWatch = "/dispatchd.test.v1.Whoami/Watch"
)

func principalReply(ctx context.Context) (*wrapperspb.StringValue, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return wrapperspb.String("no principal"), nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return wrapperspb.String(string(b)), nil
}

var whoamiDesc = grpc.ServiceDesc{
	ServiceName: "dispatchd.test.v1.Whoami",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Get",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			handler := func(ctx context.Context, _ any) (any, error) { return principalReply(ctx) }
			if interceptor == nil {
				return handler(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: whoamiGet}, handler)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			reply, err := principalReply(stream.Context())
			if err != nil {
				return err
			}
			return stream.SendMsg(reply)
		},
	}},
}

// serveGRPC runs a gRPC server with the interceptors, the health service
// (exempt) and whoami (protected) over an in-memory listener, and returns
// a client connection to it.
func serveGRPC(t *testing.T, auth *apikey.Authenticator) *grpc.ClientConn {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(apikey.UnaryServerInterceptor(auth, apikey.Exempt)),
		grpc.StreamInterceptor(apikey.StreamServerInterceptor(auth, apikey.Exempt)),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	srv.RegisterService(&whoamiDesc, struct{}{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-done
	})
	return conn
}

func TestInterceptors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, k := createKey(t, b.store, "ci", "orders")
	revokedKey, revoked := createKey(t, b.store, "old", "")
	if err := b.store.RevokeKey(context.Background(), revoked.ID, t0); err != nil {
		t.Fatal(err)
	}
	conn := serveGRPC(t, b.auth)

	withAuth := func(header string) context.Context {
		if header == "" {
			return context.Background()
		}
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", header)
	}
	unary := func(ctx context.Context) (string, error) {
		var out wrapperspb.StringValue
		err := conn.Invoke(ctx, whoamiGet, &emptypb.Empty{}, &out)
		return out.GetValue(), err
	}
	stream := func(ctx context.Context) (string, error) {
		cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, whoamiWatch)
		if err != nil {
			return "", err
		}
		if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
			return "", err
		}
		if err := cs.CloseSend(); err != nil {
			return "", err
		}
		var out wrapperspb.StringValue
		err = cs.RecvMsg(&out)
		return out.GetValue(), err
	}
	call := map[string]func(context.Context) (string, error){"unary": unary, "stream": stream}

	tests := []struct {
		name    string
		header  string
		want    apikey.Principal
		wantErr string // ErrorInfo message; "" for success
	}{
		{"stored key", "Bearer " + key, apikey.Principal{KeyID: k.ID, Name: "ci", DefaultEndpoint: "orders", Scope: apikey.ScopeAdmin}, ""},
		{"bootstrap key", "Bearer " + bootstrapKey, apikey.Principal{KeyID: apikey.BootstrapKeyID, Scope: apikey.ScopeAdmin, BootstrapFingerprint: fingerprint(bootstrapKey)}, ""},
		{"no key", "", apikey.Principal{}, "missing Authorization: Bearer disp_k1_… header"},
		{"revoked key", "Bearer " + revokedKey, apikey.Principal{}, "the API key is revoked; ask for a new one"},
		{"malformed key", "Bearer " + key[:45], apikey.Principal{}, "the API key is malformed (it must be 46 characters long, not 45)"},
	}
	for _, tt := range tests {
		for _, kind := range []string{"unary", "stream"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				got, err := call[kind](withAuth(tt.header))
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("call = %v, want success", err)
					}
					var p apikey.Principal
					if err := json.Unmarshal([]byte(got), &p); err != nil {
						t.Fatalf("the handler saw %q, want a principal", got)
					}
					if diff := cmp.Diff(tt.want, p); diff != "" {
						t.Errorf("principal the handler saw (-want +got):\n%s", diff)
					}
					return
				}
				want := rpcerr.Info{GRPCCode: codes.Unauthenticated, Code: job.CodeUnauthenticated, Message: tt.wantErr}
				if diff := cmp.Diff(want, rpcerr.FromStatus(err)); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestInterceptorsLetExemptMethodsThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := serveGRPC(t, b.auth)
	client := healthpb.NewHealthClient(conn)
	// No key, and a wrong one: neither matters to an exempt method.
	for _, ctx := range []context.Context{
		context.Background(),
		metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nonsense"),
	} {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("Health.Check: %v", err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Health.Check = %v, want SERVING", resp.GetStatus())
		}
		w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("Health.Watch: %v", err)
		}
		if _, err := w.Recv(); err != nil {
			t.Errorf("Health.Watch (a stream) without a key: %v", err)
		}
	}
}

func TestExempt(t *testing.T) {
	tests := []struct {
		method string
		want   bool
	}{
		{"/dispatchd.v1.IngestService/ReceiveWebhook", true},
		{"/grpc.health.v1.Health/Check", true},
		{"/grpc.health.v1.Health/Watch", true},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", true},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", true},
		{"/dispatchd.v1.JobService/DispatchJob", false},
		{"/dispatchd.v1.KeyService/CreateKey", false},
		{"/dispatchd.v1.IngestServiceAdmin/Delete", false}, // a prefix of the name is not the service
		{"/grpc.health.v2.Health/Check", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := apikey.Exempt(tt.method); got != tt.want {
			t.Errorf("Exempt(%q) = %v, want %v", tt.method, got, tt.want)
		}
	}
}
