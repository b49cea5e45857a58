package schedule

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zones work on hosts without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Limits of a spec.
const (
	// MaxCatchUp bounds a catch-up window.
	MaxCatchUp = 366 * 24 * time.Hour
	// MaxJitter bounds the delay added to a fire's job.
	MaxJitter = 24 * time.Hour
)

// parser accepts 5 fields or 6 with leading seconds, and the @ macros.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Spec is a validated schedule spec with its cron compiled.
type Spec struct {
	job.ScheduleSpec
	loc *time.Location
	// every is set for "@every <d>"; cron otherwise.
	every time.Duration
	cron  cron.Schedule
	// catchUp is the window of a duration catch-up (0 for latest and none).
	catchUp time.Duration
}

// Compile validates s and compiles its cron. Errors are job.Error with
// CodeInvalid whose message names the field.
func Compile(s job.ScheduleSpec) (*Spec, error) {
	c := &Spec{ScheduleSpec: s}
	if err := job.CheckName(s.Name); err != nil {
		return nil, invalid("name", "%v", err)
	}
	expr := strings.TrimSpace(s.Cron)
	switch {
	case expr == "":
		return nil, invalid("cron", "required")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, invalid("cron", "%q: set the zone with time_zone, not in the expression", s.Cron)
	case strings.HasPrefix(expr, "@every "):
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(expr, "@every ")))
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, invalid("cron", "%q: @every takes a whole number of seconds, at least 1s", s.Cron)
		}
		c.every = d
	default:
		sched, err := parser.Parse(expr)
		if err != nil {
			return nil, invalid("cron", "%q: %v", s.Cron, err)
		}
		c.cron = sched
		// Refuse an expression that never fires (30 February): a fixed
		// reference keeps validation free of the clock.
		if sched.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			return nil, invalid("cron", "%q never fires", s.Cron)
		}
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || (s.TimeZone == "" && loc != time.UTC) || strings.EqualFold(s.TimeZone, "local") {
		return nil, invalid("time_zone", "%q: not an IANA time zone name", s.TimeZone)
	}
	c.loc = loc
	if s.Endpoint == "" {
		return nil, invalid("endpoint", "required")
	}
	if len(s.Payload) > 0 && !json.Valid(s.Payload) {
		return nil, invalid("payload", "not valid JSON")
	}
	switch s.Overlap {
	case "", job.OverlapAllow, job.OverlapSkip, job.OverlapReplace:
	default:
		return nil, invalid("overlap", "%q: allow, skip or replace", s.Overlap)
	}
	switch s.CatchUp {
	case "", job.CatchUpLatest, job.CatchUpNone:
	default:
		d, err := time.ParseDuration(s.CatchUp)
		if err != nil || d <= 0 || d > MaxCatchUp {
			return nil, invalid("catch_up", "%q: latest, none or a duration up to %s", s.CatchUp, MaxCatchUp)
		}
		c.catchUp = d
	}
	if s.Jitter < 0 || s.Jitter > MaxJitter {
		return nil, invalid("jitter", "%s: between 0 and %s", s.Jitter, MaxJitter)
	}
	return c, nil
}

func invalid(field, format string, args ...any) error {
	return job.Errorf(job.CodeInvalid, "schedule %s: %s", field, fmt.Sprintf(format, args...))
}

// Location is the zone the ticks are computed in.
func (c *Spec) Location() *time.Location { return c.loc }

// Next returns the first tick strictly after t (in UTC), or the zero time
// if the cron has none within five years (e.g. 30 February).
func (c *Spec) Next(t time.Time) time.Time {
	if c.every > 0 {
		d := int64(c.every / time.Second)
		n := floorDiv(t.Unix(), d)*d + d
		return time.Unix(n, 0).UTC()
	}
	// The cron runs on wall-clock times, written as UTC times so that it
	// sees no daylight-saving change; each wall time is then placed in
	// the zone. Starting from t's own wall time misses nothing: every
	// earlier wall time was read (or, in a gap, passed) before t. In a
	// fall-back hour the first wall times resolve to instants before t,
	// and are passed over.
	w := wallOf(t.In(c.loc))
	for range 100000 {
		w = c.cron.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := resolve(w, c.loc); at.After(t) {
			return at.UTC()
		}
	}
	return time.Time{}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// wallOf returns t's wall-clock reading as a UTC time.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve places the wall time w (a UTC time) in loc: the first instant
// that reads w, or, when no instant does (a spring-forward gap), the
// first instant after the gap.
func resolve(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	tw := wallOf(t)
	if tw.Equal(w) {
		// The zone before t's may read w too (fall-back): take that
		// earlier instant.
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			_, off := start.Add(-time.Nanosecond).Zone()
			e := w.Add(-time.Duration(off) * time.Second)
			if e.Before(t) && wallOf(e.In(loc)).Equal(w) {
				return e.In(loc)
			}
		}
		return t
	}
	// w is in a gap; Go placed it on one side of the change.
	start, end := t.ZoneBounds()
	if tw.After(w) {
		return start
	}
	return end
}
