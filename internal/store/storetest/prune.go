package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// exercisePrune runs the conformance tests of retention: what pruning deletes and keeps.
func exercisePrune(t *testing.T, setup setupFunc) {
	k := newKit(setup)
	ctx, t0 := context.Background(), k.t0

	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		// Three webhooks a day apart, each with one job; the first two are
		// finished (completed, dead), the last still waits.
		var ids []string
		var events []string
		for i, end := range []job.State{job.StateCompleted, job.StateDead, ""} {
			at := t0.Add(time.Duration(i) * 24 * time.Hour)
			e := newEvent("src", fmt.Sprint("p", i), at, "ep")
			k.store(t, s, e)
			ids, events = append(ids, e.Jobs[0].ID), append(events, e.Event.ID)
			if end == "" {
				continue
			}
			got := k.claim(t, s, "l", at, 1)
			if len(got) != 1 {
				t.Fatalf("claim %d: %d jobs", i, len(got))
			}
			k.finish(t, s, got[0], "l", end, at)
		}
		// Four more completed the first day: with two rows per statement,
		// one prune must go round several times to delete all five.
		for i := range 4 {
			at := t0.Add(time.Duration(i+1) * time.Minute)
			e := newEvent("src", fmt.Sprint("q", i), at, "ep")
			k.store(t, s, e)
			got := k.claim(t, s, "l", at, 1)
			if len(got) != 1 || got[0].ID != e.Jobs[0].ID {
				t.Fatalf("claim q%d: %+v", i, got)
			}
			k.finish(t, s, got[0], "l", job.StateCompleted, at)
			ids, events = append(ids, e.Jobs[0].ID), append(events, e.Event.ID)
		}
		// Finished jobs go after 1.5 days, dead ones after 5.
		now := t0.Add(3 * 24 * time.Hour)
		cut := job.PruneCutoffs{
			FinishedBefore: now.Add(-36 * time.Hour), DeadBefore: now.Add(-5 * 24 * time.Hour),
			EventsBefore: now.Add(-36 * time.Hour), Batch: 2,
		}
		// Another process (a parallel test sharing the server) may hold
		// the pruning lock for a moment: then this one skips, and retries.
		var p job.Pruned
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got, ran, err := s.Prune(ctx, cut)
			if err != nil {
				t.Fatal(err)
			}
			if ran {
				p = got
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the pruning lock was never free")
			}
		}
		p.Vacuumed = false // whether the store vacuumed depends on the server
		if p != (job.Pruned{Attempts: 5, Jobs: 5, Events: 5}) {
			t.Errorf("pruned %+v, want the five completed jobs, their attempts and their events", p)
		}
		for _, i := range []int{0, 3, 4, 5, 6} {
			if _, err := s.GetJob(ctx, ids[i]); job.ErrorCode(err) != job.CodeNotFound {
				t.Errorf("old completed job %d is still there: %v", i, err)
			}
			if _, err := s.GetEvent(ctx, events[i]); job.ErrorCode(err) != job.CodeNotFound {
				t.Errorf("its event is still there: %v", err)
			}
		}
		for i := 1; i < 3; i++ {
			if _, err := s.GetJob(ctx, ids[i]); err != nil {
				t.Errorf("job %d was pruned: %v", i, err)
			}
			if _, err := s.GetEvent(ctx, events[i]); err != nil {
				t.Errorf("event %d was pruned: %v", i, err)
			}
		}
	})

}
