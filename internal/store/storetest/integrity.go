package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// withEndpoints is setup with the endpoints declared.
func withEndpoints(setup setupFunc, names ...string) setupFunc {
	return func(t *testing.T) (job.Store, func(context.Context) (job.Store, error)) {
		t.Helper()
		s, open := setup(t)
		specs := make([]job.EndpointSpec, len(names))
		for i, n := range names {
			specs[i] = spec(n)
		}
		if err := s.UpsertEndpoints(context.Background(), specs, job.OriginConfig, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("UpsertEndpoints: %v", err)
		}
		return s, open
	}
}

// unfinished lists the jobs of endpoint that are waiting or running.
func unfinished(t *testing.T, s job.Store, endpoint string) []job.Job {
	t.Helper()
	var out []job.Job
	for _, st := range []job.State{job.StateScheduled, job.StateAvailable, job.StateRetrying, job.StateRunning} {
		jobs, err := s.ListJobs(context.Background(), job.JobFilter{Endpoint: endpoint, State: st, Limit: 1000})
		if err != nil {
			t.Fatalf("ListJobs: %v", err)
		}
		out = append(out, jobs...)
	}
	return out
}

// exerciseIntegrity runs the conformance tests of referential integrity:
// no job is ever stored for an endpoint that does not exist, even racing
// its deletion, and a job left without one is dead, not waiting forever.
func exerciseIntegrity(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	setup = withEndpoints(setup, "ep")

	t.Run("IngestRoutedToMissingEndpoint", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		// Events committed concurrently share group commits with the one
		// routed to a missing endpoint; only that one is refused.
		var wg sync.WaitGroup
		goodErrs := make([]error, 20)
		for i := range goodErrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, goodErrs[i] = s.StoreEvent(ctx, newEvent("bevy", fmt.Sprintf("good-%d", i), now, "ep"))
			}()
		}
		bad := newEvent("bevy", "bad", now, "ep", "gone")
		_, err := s.StoreEvent(ctx, bad)
		wg.Wait()
		if job.ErrorCode(err) != job.CodeUnavailable || !strings.Contains(err.Error(), `"gone"`) {
			t.Errorf("StoreEvent(routed to a missing endpoint) error = %v, want code %s naming the endpoint", err, job.CodeUnavailable)
		}
		for i, err := range goodErrs {
			if err != nil {
				t.Errorf("good event %d: %v", i, err)
			}
		}
		if _, err := s.GetEvent(ctx, bad.Event.ID); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("the refused event was stored: GetEvent error = %v", err)
		}
		if got := unfinished(t, s, "gone"); len(got) != 0 {
			t.Errorf("%d jobs stored for the missing endpoint", len(got))
		}
		if got := unfinished(t, s, "ep"); len(got) != len(goodErrs) {
			t.Errorf("%d jobs for ep, want %d: the refused event's other job must not be stored either", len(got), len(goodErrs))
		}
	})

	t.Run("RedeliveryAfterEndpointDeleted", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		if err := s.CreateEndpoint(ctx, spec("old"), now); err != nil {
			t.Fatal(err)
		}
		orig, err := s.StoreEvent(ctx, newEvent("bevy", "d-1", now, "old"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CancelJob(ctx, orig.JobIDs[0], now); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteEndpoint(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		// The provider's redelivery of a stored event stores nothing: it
		// is still a duplicate.
		got, err := s.StoreEvent(ctx, newEvent("bevy", "d-1", now.Add(time.Minute), "old"))
		if err != nil {
			t.Fatalf("redelivery: %v", err)
		}
		want := job.Stored{EventID: orig.EventID, JobIDs: orig.JobIDs, Duplicate: true}
		if diff := cmp.Diff(want, got, ignoreBatch); diff != "" {
			t.Errorf("redelivery (-want +got):\n%s", diff)
		}
	})

	t.Run("DispatchToMissingEndpoint", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		mk := func(endpoint string) job.Job {
			return job.Job{ID: job.NewID("job", now), Endpoint: endpoint, Payload: []byte(`{}`), State: job.StateAvailable, RunAt: now, CreatedAt: now, UpdatedAt: now}
		}
		_, err := s.DispatchJobs(ctx, []job.Job{mk("ep"), mk("gone")})
		if job.ErrorCode(err) != job.CodeNotFound || !strings.Contains(err.Error(), `"gone"`) {
			t.Errorf("DispatchJobs(one to a missing endpoint) error = %v, want code %s naming it", err, job.CodeNotFound)
		}
		if got := len(unfinished(t, s, "ep")) + len(unfinished(t, s, "gone")); got != 0 {
			t.Errorf("%d jobs stored by the refused batch, want none", got)
		}
		if _, err := s.DispatchJobs(ctx, []job.Job{mk("ep"), mk("ep")}); err != nil {
			t.Errorf("DispatchJobs to ep: %v", err)
		}
	})

	t.Run("InsertRacingDelete", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		// Whichever wins, no job may be left waiting for an endpoint that
		// is gone: either the insert fails, or the delete does.
		for round := range 30 {
			name := fmt.Sprintf("racy-%d", round)
			if err := s.CreateEndpoint(ctx, spec(name), now); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var ingestErr, dispatchErr, deleteErr error
			wg.Add(3)
			go func() {
				defer wg.Done()
				_, ingestErr = s.StoreEvent(ctx, newEvent("bevy", name, now, name))
			}()
			go func() {
				defer wg.Done()
				j := job.Job{ID: job.NewID("job", now), Endpoint: name, Payload: []byte(`{}`), State: job.StateAvailable, RunAt: now, CreatedAt: now, UpdatedAt: now}
				_, dispatchErr = s.DispatchJobs(ctx, []job.Job{j})
			}()
			go func() {
				defer wg.Done()
				deleteErr = s.DeleteEndpoint(ctx, name)
			}()
			wg.Wait()
			_, getErr := s.GetEndpoint(ctx, name)
			waiting := unfinished(t, s, name)
			switch {
			case deleteErr == nil && getErr == nil:
				t.Fatalf("round %d: DeleteEndpoint succeeded and the endpoint is still there", round)
			case deleteErr == nil && len(waiting) > 0:
				t.Fatalf("round %d: endpoint deleted with %d jobs waiting for it (ingest: %v, dispatch: %v)", round, len(waiting), ingestErr, dispatchErr)
			case deleteErr == nil && (ingestErr == nil || dispatchErr == nil):
				t.Fatalf("round %d: endpoint deleted, yet a job insert reported success (ingest: %v, dispatch: %v)", round, ingestErr, dispatchErr)
			case deleteErr != nil && job.ErrorCode(deleteErr) != job.CodeFailedPrecondition:
				t.Fatalf("round %d: DeleteEndpoint: %v, want success or %s", round, deleteErr, job.CodeFailedPrecondition)
			}
			for _, err := range []error{ingestErr, dispatchErr} {
				if err != nil && job.ErrorCode(err) != job.CodeUnavailable && job.ErrorCode(err) != job.CodeNotFound {
					t.Fatalf("round %d: insert failed with %v, want unavailable or not_found", round, err)
				}
			}
		}
	})

	t.Run("OrphanedJobsAreDead", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		if err := s.CreateEndpoint(ctx, spec("old"), now); err != nil {
			t.Fatal(err)
		}
		st, err := s.StoreEvent(ctx, newEvent("bevy", "d-1", now, "old"))
		if err != nil {
			t.Fatal(err)
		}
		id := st.JobIDs[0]
		if _, err := s.CancelJob(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteEndpoint(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		// A retry after the endpoint was deleted leaves the job waiting
		// for an endpoint that no worker serves.
		if _, err := s.RetryJob(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Hour)
		p, _, err := s.Prune(ctx, job.PruneCutoffs{FinishedBefore: now.Add(-time.Hour), DeadBefore: now.Add(-time.Hour), EventsBefore: now.Add(-time.Hour), Batch: 100, Now: later})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if p.Orphaned != 1 {
			t.Errorf("Prune marked %d orphaned jobs dead, want 1", p.Orphaned)
		}
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != job.StateDead || !strings.Contains(j.LastError, `endpoint "old" was deleted`) || !j.FinishedAt.Equal(later) {
			t.Errorf("orphaned job = state %s, last error %q, finished %v; want dead, naming the deleted endpoint, at %v", j.State, j.LastError, j.FinishedAt, later)
		}
		// Recreated, the endpoint gets its dead jobs back by a replay.
		if err := s.CreateEndpoint(ctx, spec("old"), later); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ReplayDeadJobs(ctx, job.JobFilter{Endpoint: "old"}, later); err != nil || n != 1 {
			t.Fatalf("ReplayDeadJobs = %d, %v; want 1", n, err)
		}
		claimed, err := s.ClaimJobs(ctx, job.Claim{Endpoint: "old", LeaseID: "l1", Now: later, LeaseUntil: later.Add(time.Minute), Max: 10})
		if err != nil || len(claimed) != 1 || claimed[0].ID != id {
			t.Errorf("claim after replay = %v, %v; want job %s", ids(claimed), err, id)
		}
		// Jobs of endpoints that exist are left alone.
		if p, _, err := s.Prune(ctx, job.PruneCutoffs{FinishedBefore: now, DeadBefore: now, EventsBefore: now, Batch: 100, Now: later}); err != nil || p.Orphaned != 0 {
			t.Errorf("second Prune = %+v, %v; want nothing orphaned", p, err)
		}
	})
}
