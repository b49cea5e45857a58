package apikey_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// TestFailedAuthenticationsAreLimitedPerAddress: after FailureBurst wrong
// keys from one client address (as the gateway forwards it), that address
// is refused with rate_limited until its bucket refills, while another
// address is not affected.
func TestFailedAuthenticationsAreLimitedPerAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, _ := createKey(t, b.store, "ci", "")
	unknown, _ := apikey.Generate()
	conn := serveGRPC(t, b.auth)
	call := func(addr, k string) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+k, "x-forwarded-for", "198.51.100.1, "+addr)
		return conn.Invoke(ctx, whoamiGet, &emptypb.Empty{}, new(wrapperspb.StringValue))
	}
	const guesser, neighbour = "203.0.113.7", "203.0.113.8"
	for i := range apikey.FailureBurst {
		if got := rpcerr.FromStatus(call(guesser, unknown)); got.Code != job.CodeUnauthenticated {
			t.Fatalf("wrong key %d: %+v, want unauthenticated", i, got)
		}
	}
	for _, k := range []string{unknown, key} {
		got := rpcerr.FromStatus(call(guesser, k))
		if got.GRPCCode != codes.ResourceExhausted || got.Code != job.CodeRateLimited {
			t.Errorf("call over the limit: %+v, want resource_exhausted / rate_limited", got)
		}
	}
	if err := call(neighbour, key); err != nil {
		t.Errorf("another address with a good key: %v", err)
	}
	b.clock.Set(t0.Add(2 * time.Second / apikey.FailureRate))
	if err := call(guesser, key); err != nil {
		t.Errorf("good key once the bucket refilled: %v", err)
	}
}
