package storetest

import (
	"context"
	"sync"
	"testing"
	"time"
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
		// Tokens given back can be drawn again, up to the burst.
		if err := s.ReturnRateTokens(ctx, "ep", 3, 20); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(600*time.Millisecond)); n != 3 {
			t.Errorf("after 3 tokens were returned: granted %d, want 3", n)
		}
		if err := s.ReturnRateTokens(ctx, "ep", 50, 20); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(600*time.Millisecond)); n != 20 {
			t.Errorf("after 50 tokens were returned to a bucket of 20: granted %d, want 20", n)
		}
	})

}
