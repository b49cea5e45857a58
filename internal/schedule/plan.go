package schedule

import (
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// MaxFiresPerPlan bounds the ticks one firing commits; a longer catch-up
// continues on the next pass.
const MaxFiresPerPlan = 1000

// DefaultGrace is how late a tick may be seen and still count as on time.
const DefaultGrace = 10 * time.Second

// Plan is what a scheduler fires at a moment.
type Plan struct {
	// Ticks to fire, oldest first; empty when none is due or every due
	// tick is past its catch-up window.
	Ticks []time.Time
	// Next is the schedule's next tick once Ticks are fired: the first
	// after now, or, when a catch-up was cut at MaxFiresPerPlan, the
	// first tick not fired yet.
	Next time.Time
}

// Plan decides which ticks to fire at now, given the schedule's stored
// next tick. Ticks are due when at or before now. A tick seen within
// grace of its time is on time; older ones are missed ticks, fired per
// the catch-up policy:
//   - latest (default): only the latest due tick fires;
//   - none: missed ticks are dropped (ticks within grace still fire);
//   - a duration d: due ticks not older than d (nor grace) fire, oldest first.
func (c *Spec) Plan(next, now time.Time, grace time.Duration) Plan {
	if next.After(now) {
		return Plan{Next: next}
	}
	if c.CatchUp == "" || c.CatchUp == job.CatchUpLatest {
		return Plan{Ticks: []time.Time{c.lastDue(next, now)}, Next: c.next(now)}
	}
	window := max(grace, c.catchUp)
	t := c.firstFrom(next, now.Add(-window))
	var ticks []time.Time
	for !t.IsZero() && !t.After(now) {
		if len(ticks) == MaxFiresPerPlan {
			return Plan{Ticks: ticks, Next: t}
		}
		ticks = append(ticks, t)
		t = c.next(t)
	}
	return Plan{Ticks: ticks, Next: t}
}

// firstFrom returns the first tick at or after both next and from.
func (c *Spec) firstFrom(next, from time.Time) time.Time {
	if !next.Before(from) {
		return next
	}
	return c.next(from.Add(-time.Nanosecond))
}

// lastDue returns the latest tick at or before now, at or after next
// (which is due). It looks back over growing windows so that a long
// downtime of a frequent schedule does not walk every missed tick.
func (c *Spec) lastDue(next, now time.Time) time.Time {
	for _, back := range []time.Duration{time.Minute, time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
		t := c.firstFrom(next, now.Add(-back))
		if t.After(now) {
			continue
		}
		for {
			n := c.next(t)
			if n.After(now) {
				return t
			}
			t = n
		}
	}
	// A tick more than a year old, and none since: fire that one.
	return next
}

// never stands for "no next tick" (a cron that has run out of dates), so
// that the row always has a time and never comes due.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// next is Next with never for none.
func (c *Spec) next(t time.Time) time.Time {
	if n := c.Next(t); !n.IsZero() {
		return n
	}
	return never
}

// First returns the tick to start a new (or edited, or resumed) schedule
// from at now: the first tick after now.
func (c *Spec) First(now time.Time) time.Time { return c.next(now) }
