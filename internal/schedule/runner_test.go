package schedule_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/schedule"
	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// store is what the tests use of an engine: schedules, and jobs to look at.
type store interface {
	schedule.Store
	job.Store
}

// engine opens stores on one database; each open is a new process's store.
type engine struct {
	name string
	open func(t *testing.T) func() store
}

func engines() []engine {
	return []engine{
		{"sqlite", func(t *testing.T) func() store {
			path := filepath.Join(t.TempDir(), "dispatchd.db")
			return func() store {
				s, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatalf("open SQLite: %v", err)
				}
				return s
			}
		}},
		{"postgres", func(t *testing.T) func() store {
			url := pgtest.NewDatabase(t)
			return func() store {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatalf("open PostgreSQL: %v", err)
				}
				return s
			}
		}},
	}
}

// clock is the test clock every runner of a test shares.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// t0 is a whole second, as ticks are.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type bundle struct {
	store  store
	clock  *clock
	runner *schedule.Runner
	open   func() store
}

// setup opens a store on a fresh database with a runner under a test clock
// at t0.
func setup(t *testing.T, e engine) *bundle {
	t.Helper()
	open := e.open(t)
	s := open()
	t.Cleanup(func() { s.Close() })
	ep := job.EndpointSpec{Name: "orders", URL: "https://orders.example/webhook", Secrets: []string{"whsec_dGVzdA=="}, Timeout: time.Second}
	if err := s.UpsertEndpoints(context.Background(), []job.EndpointSpec{ep}, job.OriginConfig, t0); err != nil {
		t.Fatalf("UpsertEndpoints: %v", err)
	}
	c := &clock{now: t0}
	return &bundle{store: s, clock: c, open: open, runner: schedule.NewRunner(s, schedule.Options{Now: c.Now})}
}

// create stores a schedule as the API does: its first tick after now.
func (b *bundle) create(t *testing.T, s job.ScheduleSpec) {
	t.Helper()
	c := compile(t, s)
	if err := b.store.CreateSchedule(context.Background(), job.NewSchedule{Spec: s, NextTick: c.First(b.clock.Now())}, b.clock.Now()); err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
}

// at sets the clock and makes one pass.
func (b *bundle) at(t *testing.T, now time.Time) {
	t.Helper()
	b.clock.Set(now)
	if _, err := b.runner.RunOnce(context.Background()); err != nil {
		t.Fatalf("RunOnce at %s: %v", now, err)
	}
}

// fires returns the schedule's fires, oldest first.
func fires(t *testing.T, s schedule.Store, name string) []job.ScheduleFire {
	t.Helper()
	fs, err := s.ListScheduleFires(context.Background(), name, time.Time{}, 100000)
	if err != nil {
		t.Fatalf("ListScheduleFires: %v", err)
	}
	for i, j := 0, len(fs)-1; i < j; i, j = i+1, j-1 {
		fs[i], fs[j] = fs[j], fs[i]
	}
	return fs
}

func tickTimes(fs []job.ScheduleFire) []time.Time {
	out := []time.Time{}
	for _, f := range fs {
		out = append(out, f.Tick)
	}
	return out
}

func seconds(from time.Time, n int) []time.Time {
	out := []time.Time{}
	for i := 1; i <= n; i++ {
		out = append(out, from.Add(time.Duration(i)*time.Second))
	}
	return out
}

func getSchedule(t *testing.T, s schedule.Store, name string) job.Schedule {
	t.Helper()
	sc, err := s.GetSchedule(context.Background(), name)
	if err != nil {
		t.Fatalf("GetSchedule: %v", err)
	}
	return sc
}

func getJob(t *testing.T, s job.Store, id string) job.Job {
	t.Helper()
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetJob(%q): %v", id, err)
	}
	return j
}

func TestEverySecondFiresOnEachTick(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			b.create(t, spec("* * * * * *", ""))
			// Half a second before the first tick: nothing is due.
			b.at(t, t0.Add(500*time.Millisecond))
			if fs := fires(t, b.store, "billing"); len(fs) != 0 {
				t.Fatalf("fired before the first tick: %+v", fs)
			}
			for i := 1; i <= 10; i++ {
				b.at(t, t0.Add(time.Duration(i)*time.Second))
				// A second pass at the same moment fires nothing more.
				b.at(t, t0.Add(time.Duration(i)*time.Second))
			}
			fs := fires(t, b.store, "billing")
			if diff := cmp.Diff(seconds(t0, 10), tickTimes(fs)); diff != "" {
				t.Fatalf("fired ticks (-want +got):\n%s", diff)
			}
			for _, f := range fs {
				j := getJob(t, b.store, f.JobID)
				if f.Outcome != job.FireCreated || !j.RunAt.Equal(f.Tick) || string(j.Payload) != `{"run":"billing"}` || j.Endpoint != "orders" ||
					j.IdempotencyKey != schedule.IdempotencyKey("billing", f.Tick) {
					t.Errorf("fire %+v made job %+v; want a job for orders at the tick with the payload", f, j)
				}
			}
			sc := getSchedule(t, b.store, "billing")
			last := fs[len(fs)-1]
			if !sc.LastTick.Equal(last.Tick) || sc.LastJobID != last.JobID || !sc.NextTick.Equal(t0.Add(11*time.Second)) {
				t.Errorf("schedule shows last %s (job %s), next %s; want last %s (job %s), next %s",
					sc.LastTick, sc.LastJobID, sc.NextTick, last.Tick, last.JobID, t0.Add(11*time.Second))
			}
		})
	}
}

func TestDailyFiresOnTheTickInItsZone(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			b.clock.Set(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
			b.create(t, spec("0 2 * * *", "Europe/Paris"))
			tick := time.Date(2026, 1, 11, 1, 0, 0, 0, time.UTC) // 02:00 CET
			if next := getSchedule(t, b.store, "billing").NextTick; !next.Equal(tick) {
				t.Fatalf("next tick %s, want %s", next, tick)
			}
			b.at(t, tick.Add(-time.Second))
			b.at(t, tick)
			b.at(t, tick.Add(time.Hour))
			if diff := cmp.Diff([]time.Time{tick}, tickTimes(fires(t, b.store, "billing"))); diff != "" {
				t.Errorf("fired ticks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestThreeProcessesFireEachTickOnce runs three scheduler instances, each
// with its own PostgreSQL pool (as three processes would have), in one test
// process under a shared test clock. At each of 60 ticks all three make
// their pass at once.
func TestThreeProcessesFireEachTickOnce(t *testing.T) {
	t.Parallel()
	pg := engines()[1]
	open := pg.open(t)
	c := &clock{now: t0}
	var runners []*schedule.Runner
	var first store
	for i := range 3 {
		s := open()
		t.Cleanup(func() { s.Close() })
		if i == 0 {
			first = s
		}
		runners = append(runners, schedule.NewRunner(s, schedule.Options{Now: c.Now}))
	}
	b := &bundle{store: first, clock: c}
	b.create(t, spec("* * * * * *", ""))
	for i := 1; i <= 60; i++ {
		c.Set(t0.Add(time.Duration(i) * time.Second))
		var wg sync.WaitGroup
		errs := make([]error, len(runners))
		for k, r := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[k] = r.RunOnce(context.Background())
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("tick %d: %v", i, err)
			}
		}
	}
	fs := fires(t, first, "billing")
	if diff := cmp.Diff(seconds(t0, 60), tickTimes(fs)); diff != "" {
		t.Fatalf("fired ticks (-want +got):\n%s", diff)
	}
	jobs, err := first.ListJobs(context.Background(), job.JobFilter{Endpoint: "orders", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 60 {
		t.Errorf("%d jobs for 60 ticks, want 60", len(jobs))
	}
}

// TestRestartDoesNotFireAgain: a tick fired before a restart is not fired
// by the new process, whose pass happens at the same moment.
func TestRestartDoesNotFireAgain(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			b.create(t, spec("* * * * * *", ""))
			b.at(t, t0.Add(time.Second))
			again := b.open()
			t.Cleanup(func() { again.Close() })
			if _, err := schedule.NewRunner(again, schedule.Options{Now: b.clock.Now}).RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(seconds(t0, 1), tickTimes(fires(t, again, "billing"))); diff != "" {
				t.Errorf("fired ticks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDowntimeCatchUp: an every-minute schedule fires at 12:00, then no
// scheduler runs until 12:10:30 — ten ticks (12:01 … 12:10) missed.
func TestDowntimeCatchUp(t *testing.T) {
	minute := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		catchUp string
		want    []time.Time // fired when the scheduler comes back
	}{
		{job.CatchUpLatest, []time.Time{minute(10)}},
		{job.CatchUpNone, []time.Time{}},
		{"5m", []time.Time{minute(6), minute(7), minute(8), minute(9), minute(10)}},
		{"1h", []time.Time{minute(1), minute(2), minute(3), minute(4), minute(5), minute(6), minute(7), minute(8), minute(9), minute(10)}},
	} {
		for _, e := range engines() {
			t.Run(tc.catchUp+"/"+e.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, e)
				b.clock.Set(t0.Add(-30 * time.Second))
				s := spec("* * * * *", "")
				s.CatchUp = tc.catchUp
				b.create(t, s)
				b.at(t, t0)
				b.at(t, minute(10).Add(30*time.Second))
				b.at(t, minute(11))
				want := append(append([]time.Time{t0}, tc.want...), minute(11))
				if diff := cmp.Diff(want, tickTimes(fires(t, b.store, "billing"))); diff != "" {
					t.Errorf("fired ticks (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestOverlapSkip: while the job of the previous fire is being delivered
// to a slow receiver (a worker holds its lease), ticks are skipped; once
// it completes, the next tick fires again.
func TestOverlapSkip(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			s := spec("* * * * * *", "")
			s.Overlap = job.OverlapSkip
			b.create(t, s)
			ctx := context.Background()
			b.at(t, t0.Add(time.Second))
			claimed, err := b.store.ClaimJobs(ctx, job.Claim{Endpoint: "orders", LeaseID: "slow", Now: t0.Add(time.Second), LeaseUntil: t0.Add(time.Minute), Max: 10})
			if err != nil || len(claimed) != 1 {
				t.Fatalf("ClaimJobs = %d jobs, %v; want the first fire's job", len(claimed), err)
			}
			b.at(t, t0.Add(2*time.Second))
			b.at(t, t0.Add(3*time.Second))
			ok, err := b.store.FinishJobs(ctx, []job.Finish{{JobID: claimed[0].ID, LeaseID: "slow", State: job.StateCompleted, Now: t0.Add(3500 * time.Millisecond),
				Attempt: job.Attempt{ID: job.NewID("att", t0), JobID: claimed[0].ID, Number: 1, StartedAt: t0.Add(time.Second), Latency: 2500 * time.Millisecond, StatusCode: 200, Outcome: "completed"}}})
			if err != nil || !ok[0] {
				t.Fatalf("FinishJobs = %v, %v", ok, err)
			}
			b.at(t, t0.Add(4*time.Second))
			var got []string
			for _, f := range fires(t, b.store, "billing") {
				got = append(got, f.Outcome)
			}
			want := []string{job.FireCreated, job.FireSkipped, job.FireSkipped, job.FireCreated}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOverlapReplace: ticks while the previous fire's job still waits
// coalesce into it; once it runs, a tick makes a new job.
func TestOverlapReplace(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			s := spec("* * * * * *", "")
			s.Overlap = job.OverlapReplace
			b.create(t, s)
			b.at(t, t0.Add(time.Second))
			b.at(t, t0.Add(2*time.Second))
			if _, err := b.store.ClaimJobs(context.Background(), job.Claim{Endpoint: "orders", LeaseID: "w", Now: t0.Add(2 * time.Second), LeaseUntil: t0.Add(time.Minute), Max: 10}); err != nil {
				t.Fatal(err)
			}
			b.at(t, t0.Add(3*time.Second))
			fs := fires(t, b.store, "billing")
			if len(fs) != 3 || fs[0].Outcome != job.FireCreated || fs[1].Outcome != job.FireCoalesced || fs[1].JobID != fs[0].JobID ||
				fs[2].Outcome != job.FireCreated || fs[2].JobID == fs[0].JobID {
				t.Errorf("fires %+v: want created, coalesced into it, then a new job", fs)
			}
		})
	}
}

func TestPauseResume(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			ctx := context.Background()
			b.create(t, spec("* * * * * *", ""))
			b.at(t, t0.Add(time.Second))
			if err := b.store.PauseSchedule(ctx, "billing", t0.Add(1500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			for i := 2; i <= 5; i++ {
				b.at(t, t0.Add(time.Duration(i)*time.Second))
			}
			if !getSchedule(t, b.store, "billing").Paused {
				t.Error("GetSchedule does not show the pause")
			}
			// Resumed at 5.5 s: the next tick is 6 s; the paused ticks are
			// not caught up.
			resumeAt := t0.Add(5500 * time.Millisecond)
			if err := b.store.ResumeSchedule(ctx, "billing", compile(t, spec("* * * * * *", "")).First(resumeAt), resumeAt); err != nil {
				t.Fatal(err)
			}
			b.at(t, t0.Add(6*time.Second))
			b.at(t, t0.Add(7*time.Second))
			want := []time.Time{t0.Add(time.Second), t0.Add(6 * time.Second), t0.Add(7 * time.Second)}
			if diff := cmp.Diff(want, tickTimes(fires(t, b.store, "billing"))); diff != "" {
				t.Errorf("fired ticks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDaylightSavingEuropeParis steps the clock every 15 minutes across
// both changes of 2026: a daily 02:30 schedule fires once each day — on
// 29 March at 03:00 CEST (02:30 does not exist), on 25 October at 02:30
// CEST (the first of the two 02:30s).
func TestDaylightSavingEuropeParis(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []time.Time
	}{
		{"spring forward", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 30, 0, 0, time.UTC)}},
		{"fall back", time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC)}},
	} {
		for _, e := range engines() {
			t.Run(tc.name+"/"+e.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, e)
				b.clock.Set(tc.from)
				b.create(t, spec("30 2 * * *", "Europe/Paris"))
				for now := tc.from; !now.After(tc.to); now = now.Add(15 * time.Minute) {
					b.at(t, now)
				}
				if diff := cmp.Diff(tc.want, tickTimes(fires(t, b.store, "billing"))); diff != "" {
					t.Errorf("fired ticks (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestTriggerFiresNowAndKeepsTheNextTick(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			b.clock.Set(t0.Add(-time.Hour))
			b.create(t, spec("0 2 * * *", "Europe/Paris"))
			next := getSchedule(t, b.store, "billing").NextTick
			at := t0.Add(-time.Hour + 1234*time.Millisecond)
			f, err := schedule.Trigger(context.Background(), b.store, "billing", at, nil)
			if err != nil {
				t.Fatalf("Trigger: %v", err)
			}
			if !f.Manual || f.Outcome != job.FireCreated || !f.Tick.Equal(at) || getJob(t, b.store, f.JobID).Endpoint != "orders" {
				t.Errorf("Trigger = %+v; want a manual fire at %s with a job", f, at)
			}
			if sc := getSchedule(t, b.store, "billing"); !sc.NextTick.Equal(next) || sc.LastJobID != f.JobID {
				t.Errorf("after Trigger: next %s (want %s unchanged), last job %q (want %q)", sc.NextTick, next, sc.LastJobID, f.JobID)
			}
			if _, err := schedule.Trigger(context.Background(), b.store, "nope", at, nil); job.ErrorCode(err) != job.CodeNotFound {
				t.Errorf("Trigger of an unknown schedule: %v, want not_found", err)
			}
		})
	}
}

func TestJitterMovesTheRunTimeNotTheTick(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, e)
			b.runner = schedule.NewRunner(b.store, schedule.Options{Now: b.clock.Now, Rand: func() float64 { return 0.5 }})
			s := spec("* * * * *", "")
			s.Jitter = 20 * time.Second
			b.create(t, s)
			b.at(t, t0.Add(time.Minute))
			fs := fires(t, b.store, "billing")
			if len(fs) != 1 || !fs[0].Tick.Equal(t0.Add(time.Minute)) {
				t.Fatalf("fires %+v, want one at the tick", fs)
			}
			j := getJob(t, b.store, fs[0].JobID)
			if want := t0.Add(time.Minute + 10*time.Second); !j.RunAt.Equal(want) || j.State != job.StateScheduled {
				t.Errorf("job runs at %s (%s), want %s (scheduled)", j.RunAt, j.State, want)
			}
		})
	}
}
