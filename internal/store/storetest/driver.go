package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// DriverOpener opens a driver on a fresh, empty, migrated database; the
// suite closes it.
type DriverOpener func(t *testing.T) store.Driver

// ExerciseDriver runs the driver conformance suite: the contract of
// store.Driver and store.Executor that the rules in package store rely
// on, below the behaviour that Exercise checks through the store.
func ExerciseDriver(t *testing.T, open DriverOpener) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	setup := func(t *testing.T) store.Driver {
		t.Helper()
		d := open(t)
		t.Cleanup(func() { d.Close() })
		return d
	}
	event := func(id, delivery string) store.EventRow {
		return store.EventRow{ID: id, Source: "src", DeliveryID: delivery, ContentType: "application/json", Headers: []byte(`{}`), Body: []byte(`{"a":1}`), ReceivedAt: t0}
	}
	jobRow := func(id, eventID string) store.JobRow {
		return store.JobRow{Job: job.Job{ID: id, Endpoint: "ep", EventID: eventID, Source: "src", Payload: []byte(`{"a":1}`), State: job.StateAvailable, RunAt: t0, CreatedAt: t0, UpdatedAt: t0}}
	}

	t.Run("NoRowsIsErrNoRows", func(t *testing.T) {
		t.Parallel()
		r := setup(t).Reader()
		if _, err := r.GetEvent(ctx, "evt_nope"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("GetEvent(unknown) = %v, want store.ErrNoRows", err)
		}
		if _, err := r.GetJob(ctx, "job_nope"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("GetJob(unknown) = %v, want store.ErrNoRows", err)
		}
		if _, err := r.GetEndpoint(ctx, "nope"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("GetEndpoint(unknown) = %v, want store.ErrNoRows", err)
		}
		if _, err := r.NextRunAt(ctx, "nope"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("NextRunAt(no jobs) = %v, want store.ErrNoRows", err)
		}
	})

	t.Run("InsertEventsReportsDuplicates", func(t *testing.T) {
		t.Parallel()
		d := setup(t)
		tx, err := d.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		got, err := tx.InsertEvents(ctx, []store.EventRow{event("evt_1", "d1"), event("evt_2", "d1"), event("evt_3", ""), event("evt_4", "")})
		if err != nil {
			t.Fatalf("InsertEvents: %v", err)
		}
		if diff := cmp.Diff([]bool{true, false, true, true}, got); diff != "" {
			t.Errorf("inserted (-want +got):\n%s", diff)
		}
		id, err := tx.GetEventIDByDeliveryID(ctx, "src", "d1")
		if err != nil || id != "evt_1" {
			t.Errorf("GetEventIDByDeliveryID = %q, %v; want evt_1", id, err)
		}
	})

	t.Run("RollbackDiscards", func(t *testing.T) {
		t.Parallel()
		d := setup(t)
		tx, err := d.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.InsertEvents(ctx, []store.EventRow{event("evt_1", "d1")}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if n, err := d.Reader().CountEventsBySource(ctx, "src"); err != nil || n != 0 {
			t.Errorf("after Rollback: %d events, %v; want 0", n, err)
		}
	})

	t.Run("GroupCommitIsReadableThenDurable", func(t *testing.T) {
		t.Parallel()
		d := setup(t)
		for i, id := range []string{"evt_1", "evt_2", "evt_3"} {
			tx, durable, err := d.BeginGroup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.InsertEvents(ctx, []store.EventRow{event(id, id)}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			// Committed: readable at once, before the flush is waited for.
			if n, err := d.Reader().CountEventsBySource(ctx, "src"); err != nil || n != int64(i+1) {
				t.Errorf("after commit %d: %d events, %v; want %d", i+1, n, err, i+1)
			}
			if durable != nil {
				if err := durable(ctx); err != nil {
					t.Errorf("durable after commit %d: %v", i+1, err)
				}
			}
		}
	})

	t.Run("FinishIsFenced", func(t *testing.T) {
		t.Parallel()
		d := setup(t)
		w := d.Writer()
		if err := w.UpsertEndpoint(ctx, store.SpecRow{Name: "ep", Spec: []byte(`{"name":"ep"}`), Origin: job.OriginConfig, Now: t0}); err != nil {
			t.Fatal(err)
		}
		tx, err := d.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.InsertJobs(ctx, []store.JobRow{jobRow("job_1", ""), jobRow("job_2", ""), jobRow("job_3", "")}); err != nil {
			t.Fatalf("InsertJobs: %v", err)
		}
		claimed, err := tx.ClaimReadyJobs(ctx, job.Claim{Endpoint: "ep", LeaseID: "lease-a", Now: t0, LeaseUntil: t0.Add(time.Minute), Max: 3})
		if err != nil || len(claimed) != 3 {
			t.Fatalf("ClaimReadyJobs = %d jobs, %v; want 3", len(claimed), err)
		}
		later := t0.Add(time.Hour)
		held, err := tx.FinishJobs(ctx, []store.FinishRow{
			{JobID: "job_1", LeaseID: "lease-a", State: job.StateCompleted, Now: t0, FinishedAt: t0},
			{JobID: "job_2", LeaseID: "lease-other", State: job.StateCompleted, Now: t0, FinishedAt: t0},
			{JobID: "job_3", LeaseID: "lease-a", State: job.StateRetrying, LastError: "503", Now: t0, RunAt: later},
		})
		if err != nil {
			t.Fatalf("FinishJobs: %v", err)
		}
		if diff := cmp.Diff([]bool{true, false, true}, held); diff != "" {
			t.Errorf("held (-want +got):\n%s", diff)
		}
		for _, want := range []struct {
			id    string
			state job.State
			runAt time.Time
			done  bool
		}{{"job_1", job.StateCompleted, t0, true}, {"job_2", job.StateRunning, t0, false}, {"job_3", job.StateRetrying, later, false}} {
			r, err := tx.GetJob(ctx, want.id)
			if err != nil {
				t.Fatalf("GetJob %s: %v", want.id, err)
			}
			if r.Job.State != want.state || !r.Job.RunAt.Equal(want.runAt) || r.Job.FinishedAt.IsZero() == want.done {
				t.Errorf("%s: state %s, run at %v, finished at %v; want %s, %v, finished %v",
					want.id, r.Job.State, r.Job.RunAt, r.Job.FinishedAt, want.state, want.runAt, want.done)
			}
		}
	})

	t.Run("NotifyInTxAtCommit", func(t *testing.T) {
		t.Parallel()
		d := setup(t)
		wake, stop := d.Subscribe("ep-commit")
		defer stop()
		// A listener (PostgreSQL) may still be connecting: commit until a
		// wake-up arrives.
		deadline := time.After(10 * time.Second)
		for i := 0; ; i++ {
			tx, err := d.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Notify(ctx, []string{"ep-commit"}); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if i == 0 {
				select {
				case <-wake:
					t.Fatalf("woken before the commit")
				default:
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-wake:
				return
			case <-deadline:
				t.Fatalf("no wake-up after %d commits", i+1)
			case <-time.After(200 * time.Millisecond):
			}
		}
	})

	t.Run("ExclusiveRuns", func(t *testing.T) {
		t.Parallel()
		d := setup(t)
		called := false
		ran, _, err := d.Exclusive(ctx, func(ex store.Executor) error {
			called = true
			_, err := ex.PruneEvents(ctx, t0, 10)
			return err
		})
		if err != nil || !ran || !called {
			t.Errorf("Exclusive = ran %v, called %v, %v; want it to run", ran, called, err)
		}
	})
}
