package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// exerciseSchedules holds the store to schedule.Store's contract (the
// assertion that it implements it is in internal/schedule's tests, so that
// the store does not import the schedule package).
func exerciseSchedules(t *testing.T, setupStore setupFunc) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

	setup := func(t *testing.T) *store.Store {
		t.Helper()
		s, _ := setupStore(t)
		ss, ok := s.(*store.Store)
		if !ok {
			t.Fatalf("%T is not a *store.Store", s)
		}
		return ss
	}
	newSchedule := func(name string) job.NewSchedule {
		return job.NewSchedule{
			Spec: job.ScheduleSpec{Name: name, Cron: "*/5 * * * *", TimeZone: "Europe/Paris", Endpoint: "ep",
				Payload: []byte(`{"a":1}`), Overlap: job.OverlapSkip, CatchUp: "1h", Jitter: 3 * time.Second},
			NextTick: t0.Add(5 * time.Minute),
		}
	}
	get := func(t *testing.T, s *store.Store, name string) job.Schedule {
		t.Helper()
		sc, err := s.GetSchedule(ctx, name)
		if err != nil {
			t.Fatalf("GetSchedule(%q): %v", name, err)
		}
		return sc
	}
	tick := func(at time.Time) job.ScheduleTick {
		return job.ScheduleTick{Tick: at, Job: job.Job{ID: job.NewID("job", at), Endpoint: "ep", Payload: []byte(`{}`),
			State: job.StateAvailable, RunAt: at, CreatedAt: at, UpdatedAt: at}}
	}

	t.Run("CreateGetList", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		a, b := newSchedule("a"), newSchedule("b")
		for _, n := range []job.NewSchedule{b, a} {
			if err := s.CreateSchedule(ctx, n, t0); err != nil {
				t.Fatalf("CreateSchedule: %v", err)
			}
		}
		if err := s.CreateSchedule(ctx, a, t0); job.ErrorCode(err) != job.CodeAlreadyExists {
			t.Errorf("second CreateSchedule: %v, want already_exists", err)
		}
		want := job.Schedule{Spec: a.Spec, Origin: job.OriginAPI, NextTick: a.NextTick, Version: 1, CreatedAt: t0, UpdatedAt: t0}
		if diff := cmp.Diff(want, get(t, s, "a")); diff != "" {
			t.Errorf("GetSchedule (-want +got):\n%s", diff)
		}
		list, err := s.ListSchedules(ctx)
		if err != nil || len(list) != 2 || list[0].Spec.Name != "a" || list[1].Spec.Name != "b" {
			t.Errorf("ListSchedules = %+v, %v; want a, b", list, err)
		}
		if _, err := s.GetSchedule(ctx, "nope"); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("GetSchedule of none: %v, want not_found", err)
		}
	})

	t.Run("UpsertKeepsStateUnlessTheSpecChanged", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		n := newSchedule("a")
		if err := s.UpsertSchedules(ctx, []job.NewSchedule{n}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.PauseSchedule(ctx, "a", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// A restart declares the same spec with a later first tick.
		again := n
		again.NextTick = t0.Add(time.Hour)
		if err := s.UpsertSchedules(ctx, []job.NewSchedule{again}, job.OriginConfig, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if sc := get(t, s, "a"); !sc.Paused || !sc.NextTick.Equal(n.NextTick) || sc.Origin != job.OriginConfig {
			t.Errorf("unchanged spec: %+v; want paused, next tick kept", sc)
		}
		changed := again
		changed.Spec.Cron = "0 * * * *"
		if err := s.UpsertSchedules(ctx, []job.NewSchedule{changed}, job.OriginConfig, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if sc := get(t, s, "a"); sc.Spec.Cron != "0 * * * *" || !sc.NextTick.Equal(again.NextTick) {
			t.Errorf("changed spec: %+v; want the new cron from its next tick", sc)
		}
	})

	t.Run("UpdatePauseResumeDeleteNotFound", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		for name, err := range map[string]error{
			"UpdateSchedule": s.UpdateSchedule(ctx, newSchedule("nope"), t0),
			"PauseSchedule":  s.PauseSchedule(ctx, "nope", t0),
			"ResumeSchedule": s.ResumeSchedule(ctx, "nope", t0, t0),
			"DeleteSchedule": s.DeleteSchedule(ctx, "nope"),
		} {
			if job.ErrorCode(err) != job.CodeNotFound {
				t.Errorf("%s of none: %v, want not_found", name, err)
			}
		}
	})

	t.Run("FireCommitsOnceFromAVersion", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		n := newSchedule("a")
		n.Spec.Overlap = job.OverlapAllow
		if err := s.CreateSchedule(ctx, n, t0); err != nil {
			t.Fatal(err)
		}
		sc := get(t, s, "a")
		f := job.ScheduleFiring{Name: "a", Version: sc.Version, NextTick: n.NextTick.Add(5 * time.Minute),
			Overlap: job.OverlapAllow, Now: n.NextTick, Ticks: []job.ScheduleTick{tick(n.NextTick)}}
		fires, ok, err := s.FireSchedule(ctx, f)
		if err != nil || !ok || len(fires) != 1 || fires[0].JobID != f.Ticks[0].Job.ID || fires[0].Outcome != job.FireCreated {
			t.Fatalf("FireSchedule = %+v, %v, %v; want one created fire", fires, ok, err)
		}
		// The same plan again (another process, same version): refused,
		// and its job is not stored.
		f.Ticks = []job.ScheduleTick{tick(n.NextTick)}
		if fires, ok, err := s.FireSchedule(ctx, f); err != nil || ok || fires != nil {
			t.Fatalf("stale FireSchedule = %+v, %v, %v; want refused", fires, ok, err)
		}
		if _, err := s.GetJob(ctx, f.Ticks[0].Job.ID); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("the refused firing's job: %v, want not_found", err)
		}
		sc = get(t, s, "a")
		if !sc.NextTick.Equal(f.NextTick) || !sc.LastTick.Equal(n.NextTick) || sc.LastJobID != fires[0].JobID {
			t.Errorf("after the fire: %+v", sc)
		}
		// A paused schedule refuses a planned firing, a manual one fires.
		if err := s.PauseSchedule(ctx, "a", t0); err != nil {
			t.Fatal(err)
		}
		sc = get(t, s, "a")
		later := f.NextTick
		if _, ok, err := s.FireSchedule(ctx, job.ScheduleFiring{Name: "a", Version: sc.Version, NextTick: later.Add(5 * time.Minute), Now: later, Ticks: []job.ScheduleTick{tick(later)}}); err != nil || ok {
			t.Errorf("firing a paused schedule: %v, %v; want refused", ok, err)
		}
		manual := later.Add(123 * time.Millisecond)
		if _, ok, err := s.FireSchedule(ctx, job.ScheduleFiring{Name: "a", Manual: true, Now: manual, Ticks: []job.ScheduleTick{tick(manual)}}); err != nil || !ok {
			t.Errorf("manual firing of a paused schedule: %v, %v; want fired", ok, err)
		}
		if sc := get(t, s, "a"); !sc.NextTick.Equal(later) {
			t.Errorf("a manual fire moved the next tick to %s", sc.NextTick)
		}
		// Fires list newest first and page by tick.
		fs, err := s.ListScheduleFires(ctx, "a", time.Time{}, 10)
		if err != nil || len(fs) != 2 || !fs[0].Tick.Equal(manual) || !fs[0].Manual || !fs[1].Tick.Equal(n.NextTick) {
			t.Fatalf("ListScheduleFires = %+v, %v", fs, err)
		}
		if fs, err := s.ListScheduleFires(ctx, "a", manual, 10); err != nil || len(fs) != 1 || !fs[0].Tick.Equal(n.NextTick) {
			t.Errorf("ListScheduleFires before %s = %+v, %v", manual, fs, err)
		}
		// Resume starts from the tick given; delete takes the fires along.
		if err := s.ResumeSchedule(ctx, "a", later.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		if sc := get(t, s, "a"); sc.Paused || !sc.NextTick.Equal(later.Add(time.Hour)) {
			t.Errorf("after resume: %+v", sc)
		}
		if err := s.DeleteSchedule(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if fs, err := s.ListScheduleFires(ctx, "a", time.Time{}, 10); err != nil || len(fs) != 0 {
			t.Errorf("fires of a deleted schedule: %+v, %v", fs, err)
		}
	})
}
