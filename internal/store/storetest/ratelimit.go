package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// exerciseRateLimit runs the conformance tests of the rate-limit bucket shared by every process.
func exerciseRateLimit(t *testing.T, setup setupFunc) {
	k := newKit(setup)
	ctx, t0 := context.Background(), k.t0

	t.Run("RateBucketShared", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		// With the clock stopped, concurrent takers share exactly the burst.
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					n, _, err := s.TakeRateTokens(ctx, "ep", 1, 10, 20, t0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if total != 20 {
			t.Errorf("40 draws of one token from a bucket of 20 granted %d", total)
		}
		n, wait, _ := s.TakeRateTokens(ctx, "ep", 1, 10, 20, t0)
		if n != 0 || wait != 100*time.Millisecond {
			t.Errorf("an empty bucket at 10/s: granted %d, wait %v; want 0 and 100ms", n, wait)
		}
		// Half a second later, 5 tokens came back.
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(500*time.Millisecond)); n != 5 {
			t.Errorf("after 0.5 s at 10/s: granted %d, want 5", n)
		}
		// A worker whose clock reading is older than the last draw (it read
		// it before waiting for the bucket) gets nothing, and does not turn
		// the bucket's time back: 0.1 s after the last draw, one token.
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(200*time.Millisecond)); n != 0 {
			t.Errorf("a draw from 0.3 s in the past: granted %d, want 0", n)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(600*time.Millisecond)); n != 1 {
			t.Errorf("0.1 s after the last draw at 10/s: granted %d, want 1 (a late draw moved the bucket's clock back?)", n)
		}
	})

	t.Run("ClaimPaysForThePostsItMakes", func(t *testing.T) {
		t.Parallel()
		s, _ := k.setup(t)
		ep := spec("ep")
		ep.RateLimit = &job.RateLimitSpec{RPS: 10, Burst: 5}
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{ep}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		k.store(t, s, newEvent("src", "d1", t0, "ep", "ep"))
		plan := func(posts int) func(job.Endpoint) (int, int, time.Duration) {
			return func(job.Endpoint) (int, int, time.Duration) { return posts, 1, time.Minute }
		}
		// Five POSTs allowed, two jobs due: two tokens are spent, three
		// stay in the bucket for the next claim (of any process).
		got, err := s.ClaimDue(ctx, job.DueClaim{Endpoint: "ep", LeaseID: "a", Now: t0, Plan: plan(5)})
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		if len(got.Jobs) != 2 || got.Endpoint.Name != "ep" || got.Endpoint.RateLimit == nil {
			t.Fatalf("ClaimDue = %d jobs, endpoint %+v; want 2 jobs and the rate-limited endpoint", len(got.Jobs), got.Endpoint)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 5, t0); n != 3 {
			t.Errorf("after a claim of 2 jobs from a bucket of 5: %d tokens left, want 3", n)
		}
		// An empty bucket: nothing claimed, and how long until a token.
		k.store(t, s, newEvent("src", "d2", t0, "ep"))
		got, err = s.ClaimDue(ctx, job.DueClaim{Endpoint: "ep", LeaseID: "b", Now: t0, Plan: plan(5)})
		if err != nil || len(got.Jobs) != 0 || got.RateWait != 100*time.Millisecond {
			t.Errorf("ClaimDue on an empty bucket = %d jobs, wait %v, %v; want none and 100ms", len(got.Jobs), got.RateWait, err)
		}
		// A paused endpoint: nothing claimed, and the bucket untouched.
		if err := s.SetEndpointPaused(ctx, "ep", true, t0); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Second)
		got, err = s.ClaimDue(ctx, job.DueClaim{Endpoint: "ep", LeaseID: "c", Now: later, Plan: plan(5)})
		if err != nil || len(got.Jobs) != 0 || !got.Endpoint.Paused {
			t.Errorf("ClaimDue on a paused endpoint = %d jobs, paused %v, %v; want none and paused", len(got.Jobs), got.Endpoint.Paused, err)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 5, later); n != 5 {
			t.Errorf("a second later: %d tokens, want the full 5", n)
		}
		if _, err := s.ClaimDue(ctx, job.DueClaim{Endpoint: "nope", LeaseID: "d", Now: t0, Plan: plan(5)}); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("ClaimDue(unknown endpoint) = %v, want %s", err, job.CodeNotFound)
		}
	})
}
