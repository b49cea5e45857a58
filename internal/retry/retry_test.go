package retry

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// half is a random source that makes the jitter factor exactly 1.
func half() float64 { return 0.5 }

// constant returns a random source that always returns r.
func constant(r float64) func() float64 { return func() float64 { return r } }

// justBelowOne is the largest value math/rand/v2's Float64 can return.
var justBelowOne = math.Nextafter(1, 0)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustPreset(t *testing.T, name string) Policy {
	t.Helper()
	p, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// simulate fails every attempt the instant it is made, and returns the wait
// before each retry until Next gives up.
func simulate(t *testing.T, p Policy, rnd func() float64) []time.Duration {
	t.Helper()
	var waits []time.Duration
	now := t0
	for attempt := 1; ; attempt++ {
		at, ok := p.Next(attempt, t0, now, 0, rnd)
		if !ok {
			return waits
		}
		if attempt > 10000 {
			t.Fatalf("%v: still retrying after %d attempts", p, attempt)
		}
		waits = append(waits, at.Sub(now))
		now = at
	}
}

func TestPresets(t *testing.T) {
	const m, h = time.Minute, time.Hour
	tests := []struct {
		name       string
		wantDelays []time.Duration
		wantWindow time.Duration
		wantString string
	}{
		{
			name: "bevy",
			// 10m doubling: retry 8 is at 42h30m; retry 9 would be at
			// 85h10m and is cut to the window's end, 5h30m later.
			wantDelays: []time.Duration{10 * m, 20 * m, 40 * m, 80 * m, 160 * m, 320 * m, 640 * m, 1280 * m, 5*h + 30*m},
			wantWindow: 48 * h,
			wantString: "bevy (10m doubling, 48h window)",
		},
		{
			name:       "dispatched",
			wantDelays: []time.Duration{30 * time.Second, 2 * m, 5 * m},
			wantWindow: 9 * m, // the delays plus 20 % for jitter
			wantString: "dispatched (30s, 2m, 5m)",
		},
		{
			name:       "standard-webhooks",
			wantDelays: []time.Duration{5 * time.Second, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h},
			wantWindow: (27*h + 35*m + 5*time.Second) * 6 / 5,
			wantString: "standard-webhooks (5s, 5m, 30m, 2h, 5h, 10h, 10h)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPreset(t, tt.name)
			if diff := cmp.Diff(tt.wantDelays, p.Delays()); diff != "" {
				t.Errorf("Delays() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDelays, simulate(t, p, half)); diff != "" {
				t.Errorf("waits given by Next with rnd 0.5 (-want +got):\n%s", diff)
			}
			if got := p.Window(); got != tt.wantWindow {
				t.Errorf("Window() = %v, want %v", got, tt.wantWindow)
			}
			if got := p.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
		})
	}
}

// TestPresetsMatchConfig keeps the presets config.ParseFile accepts and
// the ones this package knows in step.
func TestPresetsMatchConfig(t *testing.T) {
	for _, name := range Presets {
		if _, err := Preset(name); err != nil {
			t.Errorf("Preset(%q): %v", name, err)
		}
	}
	_, err := Preset("Bevy")
	if err == nil || !strings.Contains(err.Error(), "one of bevy, dispatched, standard-webhooks") {
		t.Errorf(`Preset("Bevy") error = %v, want one listing the presets`, err)
	}
}

func TestListEnds(t *testing.T) {
	p := mustPreset(t, "dispatched")
	// Attempt 4 is the third retry; it failed, and the list is done, even
	// though the window's end may still be ahead and Retry-After asks for
	// one more.
	for _, retryAfter := range []time.Duration{0, time.Second} {
		if at, ok := p.Next(4, t0, t0.Add(time.Minute), retryAfter, half); ok {
			t.Errorf("Next(4, retryAfter %v) = %v, true; want false", retryAfter, at)
		}
	}
	if at, ok := p.Next(3, t0, t0.Add(time.Minute), 0, half); !ok || !at.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("Next(3) = %v, %v; want %v, true", at, ok, t0.Add(6*time.Minute))
	}
}

func TestAttemptBelowOne(t *testing.T) {
	p := mustPreset(t, "dispatched")
	for _, attempt := range []int{0, -1, math.MinInt} {
		at, ok := p.Next(attempt, t0, t0, 0, half)
		if want := t0.Add(30 * time.Second); !ok || !at.Equal(want) {
			t.Errorf("Next(%d) = %v, %v; want %v, true (as attempt 1)", attempt, at, ok, want)
		}
	}
}

func TestJitter(t *testing.T) {
	p := mustPreset(t, "bevy") // first delay 10m
	tests := []struct {
		name     string
		rnd      float64
		min, max time.Duration
	}{
		{"rnd 0 is -20%", 0, 8 * time.Minute, 8 * time.Minute},
		{"rnd 0.5 is none", 0.5, 10 * time.Minute, 10 * time.Minute},
		{"rnd 0.25 is -10%", 0.25, 9 * time.Minute, 9 * time.Minute},
		{"rnd just below 1 is almost +20%", justBelowOne, 12*time.Minute - time.Microsecond, 12 * time.Minute},
		// A broken source cannot push the delay outside ±20%.
		{"rnd 7 is clamped to 1", 7, 12 * time.Minute, 12 * time.Minute},
		{"rnd -1 is clamped to 0", -1, 8 * time.Minute, 8 * time.Minute},
		{"rnd NaN counts as 0", math.NaN(), 8 * time.Minute, 8 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Second)
			at, ok := p.Next(1, t0, now, 0, constant(tt.rnd))
			if got := at.Sub(now); !ok || got < tt.min || got > tt.max {
				t.Errorf("wait = %v, %v; want %v to %v, true", got, ok, tt.min, tt.max)
			}
		})
	}
}

func TestNilRandomSource(t *testing.T) {
	p := mustPreset(t, "bevy")
	at, ok := p.Next(1, t0, t0, 0, nil)
	if got := at.Sub(t0); !ok || got < 8*time.Minute || got > 12*time.Minute {
		t.Errorf("wait = %v, %v; want 8m to 12m, true", got, ok)
	}
}

// TestBevyWindow checks how many retries fit in Bevy's 48 hours whatever
// the jitter, and that none is scheduled after them.
func TestBevyWindow(t *testing.T) {
	p := mustPreset(t, "bevy")
	tests := []struct {
		name        string
		rnd         float64
		wantRetries int
	}{
		// Delays of 8m·2^(i-1): the 8th retry at 34h, the 9th cut to 48h.
		{"shortest delays", 0, 9},
		// 10m·2^(i-1): the 8th at 42h30m, the 9th cut to 48h.
		{"nominal delays", 0.5, 9},
		// Almost 12m·2^(i-1): the 7th at 25h24m, the 8th cut to 48h.
		{"longest delays", justBelowOne, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waits := simulate(t, p, constant(tt.rnd))
			if len(waits) != tt.wantRetries {
				t.Errorf("%d retries (%v), want %d", len(waits), waits, tt.wantRetries)
			}
			var total time.Duration
			for _, w := range waits {
				total += w
			}
			if total != 48*time.Hour {
				t.Errorf("last retry %v after the first attempt, want exactly 48h", total)
			}
		})
	}
	// A retry that failed at the window's end, or later, is the last.
	for _, now := range []time.Time{t0.Add(48 * time.Hour), t0.Add(49 * time.Hour)} {
		if at, ok := p.Next(10, t0, now, 0, half); ok {
			t.Errorf("Next at %v = %v, true; want false", now.Sub(t0), at)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	bevy := mustPreset(t, "bevy")
	dispatched := mustPreset(t, "dispatched")
	tests := []struct {
		name       string
		p          Policy
		attempt    int
		now        time.Duration // after t0
		retryAfter time.Duration
		want       time.Duration // after t0; negative means ok=false
	}{
		{"shorter than the delay: the delay", bevy, 1, 0, time.Minute, 10 * time.Minute},
		{"longer than the delay: honoured", bevy, 1, 0, time.Hour, time.Hour},
		{"longer than the delay, later attempt", bevy, 3, time.Hour, 2 * time.Hour, 3 * time.Hour},
		{"negative: ignored", bevy, 1, 0, -time.Hour, 10 * time.Minute},
		{"ends at the window's end", bevy, 2, 40 * time.Hour, 8 * time.Hour, 48 * time.Hour},
		{"past the window: cut to its end", bevy, 2, 40 * time.Hour, 9 * time.Hour, 48 * time.Hour},
		{"past a list's window: cut to its end", dispatched, 1, 0, time.Hour, 9 * time.Minute}, // 7m30s of delays + 20 % jitter room
		{"at the window's end: dead", bevy, 2, 48 * time.Hour, time.Hour, -1},
		{"after the window: dead", dispatched, 2, 9 * time.Minute, time.Second, -1},
		{"huge", bevy, 1, 0, math.MaxInt64, 48 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, ok := tt.p.Next(tt.attempt, t0, t0.Add(tt.now), tt.retryAfter, half)
			if tt.want < 0 {
				if ok {
					t.Errorf("Next = %v after t0, true; want false", at.Sub(t0))
				}
				return
			}
			if !ok || at.Sub(t0) != tt.want {
				t.Errorf("Next = %v after t0, %v; want %v, true", at.Sub(t0), ok, tt.want)
			}
		})
	}
}

func TestHugeAttempts(t *testing.T) {
	longWindow := func(t *testing.T, max time.Duration) Policy {
		p, err := FromSpec(job.RetrySpec{Exponential: &job.ExponentialSpec{
			Initial: time.Duration(time.Second),
			Max:     time.Duration(max),
			Window:  math.MaxInt64,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("doubling saturates instead of wrapping", func(t *testing.T) {
		p := longWindow(t, 0)
		var prev time.Duration
		for _, attempt := range []int{1, 2, 30, 33, 34, 35, 62, 63, 64, 65, 1000, 1 << 40, math.MaxInt} {
			for _, rnd := range []float64{0, 0.5, justBelowOne} {
				at, ok := p.Next(attempt, t0, t0, 0, constant(rnd))
				if !ok || at.Before(t0) {
					t.Fatalf("Next(%d, rnd %v) = %v, %v; want a time after now", attempt, rnd, at, ok)
				}
			}
			at, _ := p.Next(attempt, t0, t0, 0, half)
			if wait := at.Sub(t0); wait < prev {
				t.Errorf("Next(%d): wait %v is shorter than the previous attempt's %v", attempt, wait, prev)
			} else {
				prev = wait
			}
		}
		if prev != math.MaxInt64 {
			t.Errorf("wait after attempt MaxInt = %v, want the largest Duration", prev)
		}
	})

	t.Run("capped", func(t *testing.T) {
		p := longWindow(t, time.Hour)
		at, ok := p.Next(math.MaxInt, t0, t0, 0, half)
		if !ok || at.Sub(t0) != time.Hour {
			t.Errorf("Next(MaxInt) = %v after now, %v; want 1h, true", at.Sub(t0), ok)
		}
	})

	t.Run("bevy", func(t *testing.T) {
		p := mustPreset(t, "bevy")
		at, ok := p.Next(math.MaxInt, t0, t0.Add(time.Hour), 0, constant(justBelowOne))
		if !ok || at.Sub(t0) != 48*time.Hour {
			t.Errorf("Next(MaxInt) = %v after t0, %v; want 48h, true", at.Sub(t0), ok)
		}
	})

	t.Run("list", func(t *testing.T) {
		p := mustPreset(t, "standard-webhooks")
		if at, ok := p.Next(math.MaxInt, t0, t0, 0, half); ok {
			t.Errorf("Next(MaxInt) = %v, true; want false", at)
		}
	})
}

func TestFromSpec(t *testing.T) {
	d := func(s string) time.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(v)
	}
	const s, m, h = time.Second, time.Minute, time.Hour
	tests := []struct {
		name       string
		in         job.RetrySpec
		wantString string
		wantDelays []time.Duration
		wantWindow time.Duration
	}{
		{
			name:       "zero is the default preset",
			in:         job.RetrySpec{},
			wantString: "standard-webhooks (5s, 5m, 30m, 2h, 5h, 10h, 10h)",
			wantDelays: []time.Duration{5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h},
			wantWindow: (27*h + 35*m + 5*s) * 6 / 5,
		},
		{
			name:       "preset",
			in:         job.RetrySpec{Preset: "bevy"},
			wantString: "bevy (10m doubling, 48h window)",
			wantDelays: []time.Duration{10 * m, 20 * m, 40 * m, 80 * m, 160 * m, 320 * m, 640 * m, 1280 * m, 330 * m},
			wantWindow: 48 * h,
		},
		{
			name:       "schedule",
			in:         job.RetrySpec{Schedule: []time.Duration{d("30s"), d("2m"), d("1h30m")}},
			wantString: "schedule (30s, 2m, 1h30m)",
			wantDelays: []time.Duration{30 * s, 2 * m, 90 * m},
			wantWindow: (92*m + 30*s) * 6 / 5,
		},
		{
			name:       "exponential, factor defaults to 2",
			in:         job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: d("1m"), Window: d("1h")}},
			wantString: "exponential (1m doubling, 1h window)",
			wantDelays: []time.Duration{1 * m, 2 * m, 4 * m, 8 * m, 16 * m, 29 * m},
			wantWindow: h,
		},
		{
			name:       "exponential with factor and max",
			in:         job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: d("1m"), Factor: 3, Max: d("10m"), Window: d("1h")}},
			wantString: "exponential (1m x3, at most 10m, 1h window)",
			wantDelays: []time.Duration{1 * m, 3 * m, 9 * m, 10 * m, 10 * m, 10 * m, 10 * m, 7 * m},
			wantWindow: h,
		},
		{
			name:       "exponential with a fractional factor",
			in:         job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: d("1s"), Factor: 1.5, Window: d("20s")}},
			wantString: "exponential (1s x1.5, 20s window)",
			wantDelays: []time.Duration{s, 1500 * time.Millisecond, 2250 * time.Millisecond, 3375 * time.Millisecond, 5062500 * time.Microsecond, 6812500 * time.Microsecond},
			wantWindow: 20 * s,
		},
		{
			name:       "exponential, constant",
			in:         job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: d("20m"), Factor: 1, Window: d("1h")}},
			wantString: "exponential (20m constant, 1h window)",
			wantDelays: []time.Duration{20 * m, 20 * m, 20 * m},
			wantWindow: h,
		},
		{
			name:       "exponential, initial past the window",
			in:         job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: d("2h"), Window: d("1h")}},
			wantString: "exponential (2h doubling, 1h window)",
			wantDelays: []time.Duration{h},
			wantWindow: h,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := FromSpec(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if diff := cmp.Diff(tt.wantDelays, p.Delays()); diff != "" {
				t.Errorf("Delays() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDelays, simulate(t, p, half)); diff != "" {
				t.Errorf("waits given by Next with rnd 0.5 (-want +got):\n%s", diff)
			}
			if got := p.Window(); got != tt.wantWindow {
				t.Errorf("Window() = %v, want %v", got, tt.wantWindow)
			}
		})
	}
}

func TestFromSpecErrors(t *testing.T) {
	min := time.Duration(time.Minute)
	tests := []struct {
		name    string
		in      job.RetrySpec
		wantErr string
	}{
		{"unknown preset", job.RetrySpec{Preset: "fast"}, `unknown retry preset "fast"; one of bevy, dispatched, standard-webhooks`},
		{"two forms", job.RetrySpec{Preset: "bevy", Schedule: []time.Duration{min}}, "set one of preset, schedule or exponential"},
		{"zero delay", job.RetrySpec{Schedule: []time.Duration{min, 0}}, "schedule[1]: 0s: must be positive"},
		{"negative delay", job.RetrySpec{Schedule: []time.Duration{-min}}, "schedule[0]: -1m0s: must be positive"},
		{"no initial", job.RetrySpec{Exponential: &job.ExponentialSpec{Window: min}}, "exponential.initial: 0s: must be positive"},
		{"shrinking", job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: min, Factor: 0.5, Window: min}}, "exponential.factor: 0.5: must be at least 1"},
		{"NaN factor", job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: min, Factor: math.NaN(), Window: min}}, "exponential.factor: NaN: must be at least 1"},
		{"no window", job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: min}}, "exponential.window: 0s: must be positive"},
		{"negative max", job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: min, Max: -min, Window: min}}, "exponential.max: -1m0s: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromSpec(tt.in)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("FromSpec error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestZeroPolicy(t *testing.T) {
	var p Policy
	if at, ok := p.Next(1, t0, t0, time.Minute, half); ok {
		t.Errorf("Next = %v, true; want false", at)
	}
	if got := p.String(); got != "no retries" {
		t.Errorf("String() = %q", got)
	}
	if got := p.Delays(); len(got) != 0 {
		t.Errorf("Delays() = %v, want none", got)
	}
}

func TestDelaysBounded(t *testing.T) {
	p, err := FromSpec(job.RetrySpec{Exponential: &job.ExponentialSpec{
		Initial: time.Duration(time.Millisecond), Factor: 1, Window: time.Duration(48 * time.Hour),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Delays()); got != maxListed {
		t.Errorf("len(Delays()) = %d, want %d", got, maxListed)
	}
}

func TestDelaysIsACopy(t *testing.T) {
	p := mustPreset(t, "dispatched")
	p.Delays()[0] = time.Hour
	if got := p.Delays()[0]; got != 30*time.Second {
		t.Errorf("Delays()[0] = %v after changing a returned slice, want 30s", got)
	}
}

func TestMaxRetries(t *testing.T) {
	p, err := FromSpec(job.RetrySpec{Preset: "standard-webhooks", MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for attempt := 1; attempt <= 2; attempt++ {
		if _, ok := p.Next(attempt, t0, now, 0, half); !ok {
			t.Errorf("retry after attempt %d refused with max_retries 2", attempt)
		}
	}
	if at, ok := p.Next(3, t0, now, 0, half); ok {
		t.Errorf("a third retry was scheduled at %v with max_retries 2", at)
	}
	if _, err := FromSpec(job.RetrySpec{MaxRetries: -1}); err == nil {
		t.Errorf("negative max_retries accepted")
	}
}
