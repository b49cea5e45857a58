package schedule_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/schedule"
)

func spec(cron, zone string) job.ScheduleSpec {
	return job.ScheduleSpec{Name: "billing", Cron: cron, TimeZone: zone, Endpoint: "orders", Payload: []byte(`{"run":"billing"}`)}
}

func compile(t *testing.T, s job.ScheduleSpec) *schedule.Spec {
	t.Helper()
	c, err := schedule.Compile(s)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", s, err)
	}
	return c
}

func TestCompileRefuses(t *testing.T) {
	for name, mutate := range map[string]func(*job.ScheduleSpec){
		"bad name":         func(s *job.ScheduleSpec) { s.Name = "Bad Name" },
		"no cron":          func(s *job.ScheduleSpec) { s.Cron = "" },
		"bad cron":         func(s *job.ScheduleSpec) { s.Cron = "61 * * * *" },
		"too many fields":  func(s *job.ScheduleSpec) { s.Cron = "0 0 0 * * * *" },
		"zone in cron":     func(s *job.ScheduleSpec) { s.Cron = "CRON_TZ=Europe/Paris 0 2 * * *" },
		"never fires":      func(s *job.ScheduleSpec) { s.Cron = "0 0 30 2 *" },
		"every too short":  func(s *job.ScheduleSpec) { s.Cron = "@every 500ms" },
		"unknown zone":     func(s *job.ScheduleSpec) { s.TimeZone = "Europe/Atlantis" },
		"local zone":       func(s *job.ScheduleSpec) { s.TimeZone = "Local" },
		"no endpoint":      func(s *job.ScheduleSpec) { s.Endpoint = "" },
		"payload not JSON": func(s *job.ScheduleSpec) { s.Payload = []byte("{") },
		"bad overlap":      func(s *job.ScheduleSpec) { s.Overlap = "queue" },
		"bad catch-up":     func(s *job.ScheduleSpec) { s.CatchUp = "all" },
		"negative jitter":  func(s *job.ScheduleSpec) { s.Jitter = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			s := spec("0 2 * * *", "Europe/Paris")
			mutate(&s)
			_, err := schedule.Compile(s)
			if job.ErrorCode(err) != job.CodeInvalid {
				t.Fatalf("Compile(%+v) = %v, want an invalid_argument error", s, err)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, cron := range []string{"*/5 * * * *", "30 0 2 * * *", "@hourly", "@daily", "@every 10m", "0 9 * * MON-FRI"} {
		s := spec(cron, "")
		s.Overlap, s.CatchUp, s.Jitter = job.OverlapSkip, "1h", time.Minute
		compile(t, s)
	}
}

// ticks returns the n ticks after from.
func ticks(c *schedule.Spec, from time.Time, n int) []time.Time {
	var out []time.Time
	for t := from; len(out) < n; {
		t = c.Next(t)
		out = append(out, t)
	}
	return out
}

func TestNext(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	for _, tc := range []struct {
		name string
		cron string
		zone string
		from time.Time
		want []time.Time
	}{
		{"every second", "* * * * * *", "", utc("2026-01-01T00:00:00.5Z"),
			[]time.Time{utc("2026-01-01T00:00:01Z"), utc("2026-01-01T00:00:02Z"), utc("2026-01-01T00:00:03Z")}},
		{"daily in Paris (winter, UTC+1)", "0 2 * * *", "Europe/Paris", utc("2026-01-10T12:00:00Z"),
			[]time.Time{utc("2026-01-11T01:00:00Z"), utc("2026-01-12T01:00:00Z")}},
		{"@every 10m is on the epoch's grid", "@every 10m", "Europe/Paris", utc("2026-01-01T00:03:00Z"),
			[]time.Time{utc("2026-01-01T00:10:00Z"), utc("2026-01-01T00:20:00Z")}},
		// 29 March 2026, Paris: at 01:00 UTC, 02:00 CET becomes 03:00
		// CEST. 02:30 does not exist that day: it fires once, at 03:00
		// CEST (01:00 UTC), the first instant after the gap.
		{"spring forward: daily 02:30 fires once, after the gap", "30 2 * * *", "Europe/Paris", utc("2026-03-28T12:00:00Z"),
			[]time.Time{utc("2026-03-29T01:00:00Z"), utc("2026-03-30T00:30:00Z")}},
		// 25 October 2026, Paris: at 01:00 UTC, 03:00 CEST becomes 02:00
		// CET; 02:30 happens twice and fires once, the first time (CEST).
		{"fall back: daily 02:30 fires once, the first time", "30 2 * * *", "Europe/Paris", utc("2026-10-24T12:00:00Z"),
			[]time.Time{utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")}},
		{"fall back: hourly skips the repeated hour", "0 * * * *", "Europe/Paris", utc("2026-10-24T23:30:00Z"),
			[]time.Time{utc("2026-10-25T00:00:00Z"), utc("2026-10-25T02:00:00Z"), utc("2026-10-25T03:00:00Z")}},
		{"spring forward: half past every hour", "30 * * * *", "Europe/Paris", utc("2026-03-29T00:00:00Z"),
			[]time.Time{utc("2026-03-29T00:30:00Z"), utc("2026-03-29T01:00:00Z"), utc("2026-03-29T01:30:00Z")}},
		{"fall back: half past every hour, the repeated 02:30 once", "30 * * * *", "Europe/Paris", utc("2026-10-24T23:45:00Z"),
			[]time.Time{utc("2026-10-25T00:30:00Z"), utc("2026-10-25T02:30:00Z")}},
		{"spring forward: every minute has no gap or repeat", "* * * * *", "Europe/Paris", utc("2026-03-29T00:58:30Z"),
			[]time.Time{utc("2026-03-29T00:59:00Z"), utc("2026-03-29T01:00:00Z"), utc("2026-03-29T01:01:00Z")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compile(t, spec(tc.cron, tc.zone))
			if diff := cmp.Diff(tc.want, ticks(c, tc.from, len(tc.want))); diff != "" {
				t.Errorf("ticks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanCatchUp(t *testing.T) {
	// Every minute; the last fire was at 12:00 and the scheduler comes
	// back at 12:10:30: ticks 12:01 … 12:10 are due, 12:10 is 30 s late.
	base := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	now := base.Add(10*time.Minute + 30*time.Second)
	minute := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		catchUp string
		want    []time.Time
	}{
		{"", []time.Time{minute(10)}},
		{job.CatchUpLatest, []time.Time{minute(10)}},
		{job.CatchUpNone, nil},
		{"5m", []time.Time{minute(6), minute(7), minute(8), minute(9), minute(10)}},
		{"1h", []time.Time{minute(1), minute(2), minute(3), minute(4), minute(5), minute(6), minute(7), minute(8), minute(9), minute(10)}},
	} {
		t.Run("catch_up="+tc.catchUp, func(t *testing.T) {
			s := spec("* * * * *", "")
			s.CatchUp = tc.catchUp
			p := compile(t, s).Plan(minute(1), now, schedule.DefaultGrace)
			if diff := cmp.Diff(tc.want, p.Ticks); diff != "" {
				t.Errorf("ticks (-want +got):\n%s", diff)
			}
			if !p.Next.Equal(minute(11)) {
				t.Errorf("next = %s, want %s", p.Next, minute(11))
			}
		})
	}
	t.Run("on time", func(t *testing.T) {
		s := spec("* * * * *", "")
		s.CatchUp = job.CatchUpNone
		p := compile(t, s).Plan(minute(1), minute(1).Add(2*time.Second), schedule.DefaultGrace)
		if diff := cmp.Diff([]time.Time{minute(1)}, p.Ticks); diff != "" {
			t.Errorf("a tick seen within the grace fires (-want +got):\n%s", diff)
		}
	})
	t.Run("a long catch-up is cut into passes", func(t *testing.T) {
		s := spec("* * * * * *", "")
		s.CatchUp = "1h"
		p := compile(t, s).Plan(base.Add(time.Second), base.Add(time.Hour), schedule.DefaultGrace)
		if len(p.Ticks) != schedule.MaxFiresPerPlan || !p.Next.Equal(base.Add((schedule.MaxFiresPerPlan+1)*time.Second)) {
			t.Errorf("got %d ticks and next %s, want %d and the first tick not fired", len(p.Ticks), p.Next, schedule.MaxFiresPerPlan)
		}
	})
}

func FuzzCompile(f *testing.F) {
	for _, c := range []string{"* * * * *", "0 0 2 * * *", "@every 10m", "@daily", "61 * * * *", "CRON_TZ=UTC * * * * *"} {
		f.Add(c, "Europe/Paris", int64(1767225600))
	}
	f.Fuzz(func(t *testing.T, cron, zone string, at int64) {
		c, err := schedule.Compile(spec(cron, zone))
		if err != nil {
			return
		}
		from := time.Unix(at%(1<<34), 0)
		n := c.Next(from)
		if !n.IsZero() && !n.After(from) {
			t.Fatalf("Next(%s) = %s, not after", from, n)
		}
	})
}
