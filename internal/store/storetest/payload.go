package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// exercisePayloadOnce runs the conformance tests of payload storage: a
// body routed to several endpoints is stored once, in its event, and every
// endpoint's job still carries it whole — through claims, finishes,
// coalescing and retention.
func exercisePayloadOnce(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	endpoints := []string{"ep-a", "ep-b", "ep-c"}
	declare := func(t *testing.T, s job.Store) {
		t.Helper()
		specs := make([]job.EndpointSpec, len(endpoints))
		for i, n := range endpoints {
			specs[i] = spec(n)
		}
		if err := s.UpsertEndpoints(ctx, specs, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
	}
	// body is 10 KB, not valid JSON on purpose: bytes, not a document.
	body := bytes.Repeat([]byte("0123456789"), 1024)

	t.Run("RoutedBodyStoredOnceDeliveredWhole", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		declare(t, s)
		e := newEvent("bevy", "dlv-big", t0, endpoints...)
		e.Event.Body = body
		for i := range e.Jobs {
			e.Jobs[i].Payload = body
		}
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatalf("StoreEvent: %v", err)
		}
		// Stored once: the job rows hold no copy of the body, they name
		// the event (seen below the store, through its driver).
		if d, ok := s.(interface{ Driver() store.Driver }); ok {
			rows, err := d.Driver().Reader().ListJobsByEvent(ctx, e.Event.ID)
			if err != nil {
				t.Fatal(err)
			}
			var copied int
			for _, r := range rows {
				copied += len(r.Job.Payload)
				if r.PayloadEventID != e.Event.ID {
					t.Errorf("job %s: payload from event %q, want %q", r.Job.ID, r.PayloadEventID, e.Event.ID)
				}
			}
			if len(rows) != 3 || copied != 0 {
				t.Errorf("%d job rows holding %d payload bytes; want 3 holding none (the event holds the %d)", len(rows), copied, len(body))
			}
		}
		// Delivered whole to each endpoint: claimed, finished with a retry,
		// claimed again.
		for _, ep := range endpoints {
			c := job.Claim{Endpoint: ep, LeaseID: "lease-" + ep, Now: t0, LeaseUntil: t0.Add(time.Minute), Max: 10}
			jobs, err := s.ClaimJobs(ctx, c)
			if err != nil || len(jobs) != 1 {
				t.Fatalf("ClaimJobs(%s) = %d jobs, %v; want 1", ep, len(jobs), err)
			}
			if !bytes.Equal(jobs[0].Payload, body) {
				t.Errorf("%s: claimed payload of %d bytes, want the body's %d", ep, len(jobs[0].Payload), len(body))
			}
			ok, err := s.FinishJobs(ctx, []job.Finish{{JobID: jobs[0].ID, LeaseID: c.LeaseID, State: job.StateRetrying, RunAt: t0, Now: t0,
				Attempt: job.Attempt{ID: job.NewID("att", t0), Number: 1, StartedAt: t0, Outcome: "retry"}}})
			if err != nil || !ok[0] {
				t.Fatalf("FinishJobs = %v, %v", ok, err)
			}
			c.LeaseID, c.Now = "again-"+ep, t0.Add(time.Second)
			again, err := s.ClaimJobs(ctx, c)
			if err != nil || len(again) != 1 || !bytes.Equal(again[0].Payload, body) {
				t.Fatalf("second claim of %s: %d jobs, %v; want the whole body again", ep, len(again), err)
			}
			got, err := s.GetJob(ctx, jobs[0].ID)
			if err != nil || !bytes.Equal(got.Payload, body) {
				t.Errorf("GetJob(%s) payload intact = %v, %v", jobs[0].ID, err == nil && bytes.Equal(got.Payload, body), err)
			}
		}
	})

	t.Run("CoalescedJobTakesTheNewestBody", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		declare(t, s)
		first := newEvent("bevy", "dlv-1", t0, "ep-a")
		first.Jobs[0].CoalesceKey = "rec-1"
		second := newEvent("bevy", "dlv-2", t0.Add(time.Second), "ep-a")
		second.Jobs[0].CoalesceKey = "rec-1"
		for _, e := range []job.NewEvent{first, second} {
			if _, err := s.StoreEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetJob(ctx, first.Jobs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Payload, second.Event.Body) {
			t.Errorf("coalesced payload = %s, want the newest body %s", got.Payload, second.Event.Body)
		}
		// Retention keeps the newest event while the job needs its body.
		p, _, err := s.Prune(ctx, job.PruneCutoffs{FinishedBefore: t0.Add(time.Hour), DeadBefore: t0.Add(time.Hour), EventsBefore: t0.Add(time.Hour), Batch: 100})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if p.Events != 0 {
			t.Errorf("Prune deleted %d events while a pending job needs them", p.Events)
		}
		if got, err := s.GetJob(ctx, first.Jobs[0].ID); err != nil || !bytes.Equal(got.Payload, second.Event.Body) {
			t.Errorf("after Prune: payload %s, %v; want %s", got.Payload, err, second.Event.Body)
		}
	})
}
