package retry

import (
	"math"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// FuzzNext checks the two promises every caller relies on, for any policy
// and input: a retry is never scheduled in the past, and never after the
// window's end.
func FuzzNext(f *testing.F) {
	f.Add(uint8(0), 1, int64(0), int64(0), int64(0), 0.5, int64(time.Minute), 2.0, int64(0), int64(time.Hour))
	f.Add(uint8(1), 9, int64(1772366400), int64(42*time.Hour), int64(time.Hour), 0.99, int64(1), 1.0, int64(0), int64(1))
	f.Add(uint8(3), math.MaxInt, int64(-1), int64(math.MaxInt64), int64(math.MaxInt64), 1.5, int64(math.MaxInt64), 10.0, int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add(uint8(4), 3, int64(5), int64(-time.Hour), int64(-1), math.NaN(), int64(time.Second), 1.5, int64(time.Minute), int64(48*time.Hour))
	f.Fuzz(func(t *testing.T, which uint8, attempt int, firstSec, sinceFirst, retryAfter int64, rnd float64,
		initial int64, factor float64, maxDelay, window int64) {
		var p Policy
		var err error
		switch which % 5 {
		case 0, 1, 2:
			p, err = Preset(Presets[which%5])
		case 3:
			p, err = FromSpec(job.RetrySpec{Exponential: &job.ExponentialSpec{
				Initial: time.Duration(initial), Factor: factor,
				Max: time.Duration(maxDelay), Window: time.Duration(window),
			}})
		case 4:
			p, err = FromSpec(job.RetrySpec{Schedule: []time.Duration{
				time.Duration(initial), time.Duration(maxDelay), time.Duration(window),
			}})
		}
		if err != nil {
			return // rejected configurations are FromSpec's tests' business
		}
		// Times within ±8700 years of 1970: far beyond any real clock, but
		// inside the range where time.Time's own arithmetic is exact.
		first := time.Unix(firstSec%(1<<38), 0)
		now := first.Add(time.Duration(sinceFirst))

		at, ok := p.Next(attempt, first, now, time.Duration(retryAfter), constant(rnd))
		if !ok {
			return
		}
		if at.Before(now) {
			t.Errorf("%v: Next = %v, before now %v", p, at, now)
		}
		if end := first.Add(p.Window()); at.After(end) {
			t.Errorf("%v: Next = %v, after the window's end %v", p, at, end)
		}
	})
}
