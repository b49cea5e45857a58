package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// exerciseEvents runs the conformance tests of ingestion: events stored
// with their jobs, duplicates, atomicity and durability.
func exerciseEvents(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 6, 0, 0, 123456000, time.UTC)
	// A job is stored only for an endpoint that exists.
	setup = withEndpoints(setup, "orders", "audit", "ci", "other", "a", "b")

	t.Run("StoreAndRead", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		in := newEvent("bevy", "dlv-1", now, "orders", "audit")
		in.Event.Body = []byte("{\"a\": 1}\n") // byte-exact, trailing newline included
		in.Event.Headers = map[string]string{"content-type": "application/json", "webhook-id": "dlv-1"}
		got, err := s.StoreEvent(ctx, in)
		if err != nil {
			t.Fatalf("StoreEvent: %v", err)
		}
		want := job.Stored{EventID: in.Event.ID, JobIDs: []string{in.Jobs[0].ID, in.Jobs[1].ID}}
		if diff := cmp.Diff(want, got, ignoreBatch); diff != "" {
			t.Errorf("StoreEvent (-want +got):\n%s", diff)
		}
		ev, err := s.GetEvent(ctx, in.Event.ID)
		if err != nil {
			t.Fatalf("GetEvent: %v", err)
		}
		if diff := cmp.Diff(in.Event, ev); diff != "" {
			t.Errorf("GetEvent (-want +got):\n%s", diff)
		}
		jobs, err := s.ListJobsByEvent(ctx, in.Event.ID)
		if err != nil {
			t.Fatalf("ListJobsByEvent: %v", err)
		}
		if diff := cmp.Diff(in.Jobs, jobs); diff != "" {
			t.Errorf("ListJobsByEvent (-want +got):\n%s", diff)
		}
	})

	t.Run("EventWithoutJobsOrDeliveryID", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		// A source without a delivery id never deduplicates: two identical
		// webhooks are two events.
		a, b := newEvent("plain", "", now), newEvent("plain", "", now)
		for _, e := range []job.NewEvent{a, b} {
			st, err := s.StoreEvent(ctx, e)
			if err != nil {
				t.Fatalf("StoreEvent: %v", err)
			}
			if st.Duplicate || st.EventID != e.Event.ID || len(st.JobIDs) != 0 {
				t.Errorf("StoreEvent = %+v, want a new event %s with no jobs", st, e.Event.ID)
			}
		}
		if n := count(t, s, "plain"); n != 2 {
			t.Errorf("CountEvents = %d, want 2", n)
		}
	})

	t.Run("DuplicateDeliveryID", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		first := newEvent("github", "d-42", now, "ci")
		orig, err := s.StoreEvent(ctx, first)
		if err != nil {
			t.Fatalf("StoreEvent: %v", err)
		}
		again := newEvent("github", "d-42", now.Add(time.Minute), "ci", "other")
		got, err := s.StoreEvent(ctx, again)
		if err != nil {
			t.Fatalf("StoreEvent repeat: %v", err)
		}
		want := job.Stored{EventID: orig.EventID, JobIDs: orig.JobIDs, Duplicate: true}
		if diff := cmp.Diff(want, got, ignoreBatch); diff != "" {
			t.Errorf("repeat (-want +got):\n%s", diff)
		}
		if _, err := s.GetEvent(ctx, again.Event.ID); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("GetEvent(repeat id) error = %v, want not_found: a duplicate must store nothing", err)
		}
		jobs, err := s.ListJobsByEvent(ctx, orig.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 {
			t.Errorf("original has %d jobs after the repeat, want 1", len(jobs))
		}
		// The same delivery id from another source is another event.
		other := newEvent("stripe", "d-42", now)
		st, err := s.StoreEvent(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		if st.Duplicate {
			t.Errorf("delivery id of source github made a stripe event a duplicate")
		}
	})

	t.Run("ConcurrentDuplicates", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		const n = 100
		results := make([]job.Stored, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = s.StoreEvent(ctx, newEvent("bevy", "same", now, "orders"))
			}()
		}
		close(start)
		wg.Wait()
		fresh := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			if !results[i].Duplicate {
				fresh++
			}
			if results[i].EventID != results[0].EventID {
				t.Errorf("request %d got event %s, request 0 got %s", i, results[i].EventID, results[0].EventID)
			}
			if diff := cmp.Diff(results[0].JobIDs, results[i].JobIDs); diff != "" {
				t.Errorf("request %d job ids (-request0 +got):\n%s", i, diff)
			}
		}
		if fresh != 1 {
			t.Errorf("%d requests reported a new event, want exactly 1", fresh)
		}
		if c := count(t, s, "bevy"); c != 1 {
			t.Errorf("CountEvents = %d, want 1", c)
		}
	})

	t.Run("ConcurrentDistinct", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		const n = 300
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := newEvent("bevy", fmt.Sprintf("d-%d", i), now, "orders")
				st, err := s.StoreEvent(ctx, e)
				if err == nil && (st.Duplicate || st.EventID != e.Event.ID) {
					err = fmt.Errorf("delivery d-%d: got %+v, want new event %s", i, st, e.Event.ID)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if c := count(t, s, "bevy"); c != n {
			t.Errorf("CountEvents = %d, want %d", c, n)
		}
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		bad := newEvent("bevy", "bad", now, "a", "b")
		bad.Jobs[1].ID = bad.Jobs[0].ID // the second job insert violates the primary key
		// Good events committed concurrently must not be dragged down by
		// the bad one, even if they share its transaction.
		var wg sync.WaitGroup
		goodErrs := make([]error, 20)
		for i := range goodErrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, goodErrs[i] = s.StoreEvent(ctx, newEvent("bevy", fmt.Sprintf("good-%d", i), now, "a"))
			}()
		}
		_, err := s.StoreEvent(ctx, bad)
		wg.Wait()
		if job.ErrorCode(err) != job.CodeUnavailable {
			t.Errorf("StoreEvent(bad) error = %v, want code %s", err, job.CodeUnavailable)
		}
		for i, err := range goodErrs {
			if err != nil {
				t.Errorf("good event %d: %v", i, err)
			}
		}
		if _, err := s.GetEvent(ctx, bad.Event.ID); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("the failed event was partly stored: GetEvent error = %v", err)
		}
		if c := count(t, s, "bevy"); c != int64(len(goodErrs)) {
			t.Errorf("CountEvents = %d, want %d", c, len(goodErrs))
		}
		// The delivery id of the failed event is free: a retry succeeds.
		retry := newEvent("bevy", "bad", now, "a")
		st, err := s.StoreEvent(ctx, retry)
		if err != nil || st.Duplicate {
			t.Errorf("retry after failure = %+v, %v; want a new event", st, err)
		}
	})

	t.Run("DurableAcrossReopen", func(t *testing.T) {
		t.Parallel()
		s, open := setup(t)
		e := newEvent("bevy", "keep", now, "orders")
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s2, err := open(ctx)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s2.Close()
		if _, err := s2.GetEvent(ctx, e.Event.ID); err != nil {
			t.Errorf("event lost across reopen: %v", err)
		}
		st, err := s2.StoreEvent(ctx, newEvent("bevy", "keep", now, "orders"))
		if err != nil || !st.Duplicate || st.EventID != e.Event.ID {
			t.Errorf("repeat after reopen = %+v, %v; want duplicate of %s", st, err, e.Event.ID)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		if _, err := s.GetEvent(ctx, "evt_nope"); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("GetEvent(unknown) error = %v, want code %s", err, job.CodeNotFound)
		}
		jobs, err := s.ListJobsByEvent(ctx, "evt_nope")
		if err != nil || len(jobs) != 0 {
			t.Errorf("ListJobsByEvent(unknown) = %v, %v; want none", jobs, err)
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.StoreEvent(cctx, newEvent("bevy", "x", now)); err == nil {
			t.Errorf("StoreEvent with a cancelled context succeeded")
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}
