package retry

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// DefaultPreset is the schedule of an endpoint that declares none.
const DefaultPreset = "standard-webhooks"

// maxListed bounds Delays: exponential backoff from 1ms with factor 1 over
// 48 hours is a valid policy with 172.8 million retries, and Delays is for
// documentation, not for materialising every one of them.
const maxListed = 1000

// Policy is an endpoint's retry schedule. Build one with [Preset] or
// [FromSpec]; the zero Policy schedules no retry at all.
type Policy struct {
	name string

	// A list of delays (initial == 0), or exponential backoff
	// (initial > 0): initial*factor^(i-1), capped at max when max > 0.
	delays  []time.Duration
	initial time.Duration
	factor  float64
	max     time.Duration

	// window is the time after the first attempt past which no retry is
	// scheduled; for a list, the sum of its delays.
	window time.Duration

	// maxRetries, when positive, ends the schedule after that many
	// retries (a job's max_retries override).
	maxRetries int
}

// Presets are the named schedules.
var Presets = []string{"bevy", "dispatched", "standard-webhooks"}

// Preset returns the named schedule, one of [Presets]:
//
//   - "bevy": 10m after the first attempt, then each delay doubles (20m,
//     40m, 80m, …) until 48h after the first attempt.
//   - "dispatched": 30s, 2m, 5m.
//   - "standard-webhooks": 5s, 5m, 30m, 2h, 5h, 10h, 10h.
func Preset(name string) (Policy, error) {
	switch name {
	case "bevy":
		return Policy{name: name, initial: 10 * time.Minute, factor: 2, window: 48 * time.Hour}, nil
	case "dispatched":
		return list(name, 30*time.Second, 2*time.Minute, 5*time.Minute), nil
	case "standard-webhooks":
		return list(name, 5*time.Second, 5*time.Minute, 30*time.Minute,
			2*time.Hour, 5*time.Hour, 10*time.Hour, 10*time.Hour), nil
	}
	return Policy{}, fmt.Errorf("unknown retry preset %q; one of %s", name, strings.Join(Presets, ", "))
}

// FromSpec returns the policy an endpoint declares: a preset, a schedule
// or exponential backoff. The zero job.RetrySpec is [DefaultPreset].
//
// config.ParseFile has already validated a declarative file; FromSpec
// checks again only what its own arithmetic depends on, because endpoints
// created through the API do not pass through that file.
func FromSpec(c job.RetrySpec) (Policy, error) {
	p, err := fromSpec(c)
	if err != nil {
		return Policy{}, err
	}
	if c.MaxRetries < 0 {
		return Policy{}, fmt.Errorf("max_retries: %d: must not be negative", c.MaxRetries)
	}
	p.maxRetries = c.MaxRetries
	return p, nil
}

func fromSpec(c job.RetrySpec) (Policy, error) {
	forms := 0
	for _, set := range []bool{c.Preset != "", len(c.Schedule) > 0, c.Exponential != nil} {
		if set {
			forms++
		}
	}
	switch {
	case forms > 1:
		return Policy{}, errors.New("set one of preset, schedule or exponential")
	case len(c.Schedule) > 0:
		ds := make([]time.Duration, len(c.Schedule))
		for i, d := range c.Schedule {
			if d <= 0 {
				return Policy{}, fmt.Errorf("schedule[%d]: %s: must be positive", i, time.Duration(d))
			}
			ds[i] = time.Duration(d)
		}
		return list("schedule", ds...), nil
	case c.Exponential != nil:
		return exponential(*c.Exponential)
	case c.Preset == "":
		return Preset(DefaultPreset)
	}
	return Preset(c.Preset)
}

func exponential(x job.ExponentialSpec) (Policy, error) {
	factor := x.Factor
	if factor == 0 {
		factor = 2
	}
	switch {
	case x.Initial <= 0:
		return Policy{}, fmt.Errorf("exponential.initial: %s: must be positive", time.Duration(x.Initial))
	case !(factor >= 1): // NaN too
		// Below 1 the delays shrink towards zero and the endpoint is
		// hammered until the window ends.
		return Policy{}, fmt.Errorf("exponential.factor: %g: must be at least 1", x.Factor)
	case x.Window <= 0:
		return Policy{}, fmt.Errorf("exponential.window: %s: must be positive", time.Duration(x.Window))
	case x.Max < 0:
		return Policy{}, fmt.Errorf("exponential.max: %s: must not be negative", time.Duration(x.Max))
	}
	return Policy{
		name:    "exponential",
		initial: time.Duration(x.Initial),
		factor:  factor,
		max:     time.Duration(x.Max),
		window:  time.Duration(x.Window),
	}, nil
}

// list returns a policy of fixed delays. Its window is their sum plus the
// most the jitter can add (20 %), so that the last retry keeps its jitter
// instead of every job's being cut to the same instant at the window's end.
func list(name string, delays ...time.Duration) Policy {
	var sum time.Duration
	for _, d := range delays {
		sum = addSat(sum, d)
	}
	return Policy{name: name, delays: delays, window: addSat(sum, sum/5)}
}

// Next says when to make the next attempt after attempt number attempt
// (1-based: attempt 1 is the first try; lower numbers count as 1) failed at
// now. firstAttempt is when attempt 1 started. retryAfter is the receiver's
// Retry-After, 0 if it sent none. rnd returns a number in [0, 1) that
// jitters the delay; nil means math/rand/v2's Float64, and a value outside
// [0, 1] is clamped into it.
//
// The wait is the larger of the jittered delay and retryAfter, but the
// retry is never later than firstAttempt+Window: a wait that would pass it
// is cut to the window's end. ok is false when the schedule is over (a
// list has no more delays, or the window's end is not after now): the job
// goes dead.
func (p Policy) Next(attempt int, firstAttempt, now time.Time, retryAfter time.Duration, rnd func() float64) (at time.Time, ok bool) {
	if p.maxRetries > 0 && attempt > p.maxRetries {
		return time.Time{}, false
	}
	d, ok := p.nominal(max(attempt, 1))
	if !ok {
		return time.Time{}, false
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	at = now.Add(max(jitter(d, rnd()), retryAfter))
	if end := firstAttempt.Add(p.window); at.After(end) {
		if !end.After(now) {
			return time.Time{}, false
		}
		at = end
	}
	return at, true
}

// nominal returns the unjittered delay before retry i (1-based), and false
// if a list has no retry i.
func (p Policy) nominal(i int) (time.Duration, bool) {
	if p.initial <= 0 {
		if i > len(p.delays) {
			return 0, false
		}
		return p.delays[i-1], true
	}
	// In floating point, so that doubling past the range of int64 becomes
	// +Inf and saturates instead of wrapping to a negative delay.
	d := fromFloat(float64(p.initial) * math.Pow(p.factor, float64(i-1)))
	if p.max > 0 {
		d = min(d, p.max)
	}
	return d, true
}

// jitter spreads d uniformly over ±20% by r in [0, 1].
func jitter(d time.Duration, r float64) time.Duration {
	if !(r >= 0) { // NaN too
		r = 0
	}
	r = min(r, 1)
	return fromFloat(float64(d) * (0.8 + 0.4*r))
}

// fromFloat rounds f nanoseconds to a Duration, saturating where int64
// ends: converting a larger float (or NaN) to an integer is
// implementation-specific in Go, and on amd64 gives a negative number.
func fromFloat(f float64) time.Duration {
	if !(f < math.MaxInt64) { // the float nearest MaxInt64 is 2^63
		return math.MaxInt64
	}
	return time.Duration(math.Round(f))
}

// addSat returns a+b for non-negative durations, saturating at the largest
// Duration.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Window is the time after the first attempt past which no retry is
// scheduled. For a list it is the sum of the nominal delays.
func (p Policy) Window() time.Duration { return p.window }

// Delays lists the nominal (unjittered) delays, for documentation and
// tests: the waits Next gives when every attempt fails at once and rnd
// returns 0.5. An exponential list ends at the window, its last delay cut
// short to end exactly there, and holds at most 1000 delays.
func (p Policy) Delays() []time.Duration {
	if p.initial <= 0 {
		return slices.Clone(p.delays)
	}
	var out []time.Duration
	var sum time.Duration
	for i := 1; sum < p.window && len(out) < maxListed; i++ {
		d, _ := p.nominal(i)
		d = min(d, p.window-sum)
		out = append(out, d)
		sum += d
	}
	return out
}

// String describes the policy for logs, such as
// "bevy (10m doubling, 48h window)" or "dispatched (30s, 2m, 5m)".
func (p Policy) String() string {
	if p.initial > 0 {
		var growth string
		switch p.factor {
		case 1:
			growth = "constant"
		case 2:
			growth = "doubling"
		default:
			growth = "x" + strconv.FormatFloat(p.factor, 'g', -1, 64)
		}
		s := p.name + " (" + short(p.initial) + " " + growth
		if p.max > 0 {
			s += ", at most " + short(p.max)
		}
		return s + ", " + short(p.window) + " window)"
	}
	if len(p.delays) == 0 {
		return "no retries"
	}
	parts := make([]string, len(p.delays))
	for i, d := range p.delays {
		parts[i] = short(d)
	}
	return p.name + " (" + strings.Join(parts, ", ") + ")"
}

// short formats d as written in config files: "10m" and "48h", not
// "10m0s" and "48h0m0s".
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
