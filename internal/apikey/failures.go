package apikey

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Failed authentications per client address: a burst of FailureBurst, then
// FailureRate a second. Over it, the address's calls are refused without
// looking at their key until the bucket refills, so that guessing keys (or
// making the store look up garbage) costs the guesser time. Good keys
// from the same address are refused too while it lasts: the price of not
// telling a guess from a good key before checking it.
const (
	FailureBurst = 20
	FailureRate  = 1.0
	// maxTracked bounds the addresses remembered; past it the table starts
	// over (a flood from many addresses forgets the old ones rather than
	// growing memory without end).
	maxTracked = 10000
)

// failureLimiter keeps one token bucket per client address.
type failureLimiter struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newFailureLimiter() *failureLimiter {
	return &failureLimiter{buckets: map[string]*rate.Limiter{}}
}

// blocked reports whether addr has used up its failures at now, and how
// long until it may try again.
func (f *failureLimiter) blocked(addr string, now time.Time) (bool, time.Duration) {
	if addr == "" {
		return false, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[addr]
	if !ok || b.TokensAt(now) >= 1 {
		return false, 0
	}
	need := 1 - b.TokensAt(now)
	return true, time.Duration(need / FailureRate * float64(time.Second))
}

// fail records a failed authentication from addr at now.
func (f *failureLimiter) fail(addr string, now time.Time) {
	if addr == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[addr]
	if !ok {
		if len(f.buckets) >= maxTracked {
			f.buckets = map[string]*rate.Limiter{}
		}
		b = rate.NewLimiter(FailureRate, FailureBurst)
		f.buckets[addr] = b
	}
	b.AllowN(now, 1)
}

// clientAddress is the address a call comes from: the TCP peer of a
// direct gRPC call, or, for a call the in-process gateway forwards over
// its in-memory connection, the last X-Forwarded-For entry, which
// grpc-gateway appends from the HTTP request's remote address (earlier
// entries are whatever the client sent). Behind a split gateway, every
// REST client shares the gateway's address.
func clientAddress(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if ok && p.Addr != nil {
		if tcp, ok := p.Addr.(*net.TCPAddr); ok {
			return tcp.IP.String()
		}
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-forwarded-for"); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			return strings.TrimSpace(last)
		}
	}
	if ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// authenticateFrom is Authenticate for a call from addr, with failed
// authentications rate-limited per address.
func (a *Authenticator) authenticateFrom(ctx context.Context, addr, authorization string) (Principal, error) {
	if blocked, wait := a.failures.blocked(addr, a.now()); blocked {
		secs := max(time.Second, wait.Round(time.Second))
		return Principal{}, &job.Error{
			Code:       job.CodeRateLimited,
			Message:    "too many failed authentications from this address; retry later",
			RetryAfter: secs,
		}
	}
	p, err := a.Authenticate(ctx, authorization)
	if job.ErrorCode(err) == job.CodeUnauthenticated {
		a.failures.fail(addr, a.now())
	}
	return p, err
}
