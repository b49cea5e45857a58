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

// exerciseDelivery runs the conformance tests of the worker's side:
// endpoints, claims, leases, fencing, ordering, coalescing.
func exerciseDelivery(t *testing.T, setup func(t *testing.T) (job.Store, func(context.Context) (job.Store, error))) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	spec := func(name string) job.EndpointSpec {
		return job.EndpointSpec{Name: name, URL: "https://example.com/" + name, Secrets: []string{"0123456789abcdef"}, Timeout: 30 * time.Second}
	}
	// withEndpoint returns a store with endpoint "ep" declared.
	withEndpoint := func(t *testing.T) job.Store {
		s, _ := setup(t)
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{spec("ep")}, job.OriginConfig, t0); err != nil {
			t.Fatalf("UpsertEndpoints: %v", err)
		}
		return s
	}
	store := func(t *testing.T, s job.Store, e job.NewEvent) job.Stored {
		t.Helper()
		st, err := s.StoreEvent(ctx, e)
		if err != nil {
			t.Fatalf("StoreEvent: %v", err)
		}
		return st
	}
	claim := func(t *testing.T, s job.Store, lease string, now time.Time, max int) []job.Job {
		t.Helper()
		jobs, err := s.ClaimJobs(ctx, job.Claim{Endpoint: "ep", LeaseID: lease, Now: now, LeaseUntil: now.Add(time.Minute), Max: max})
		if err != nil {
			t.Fatalf("ClaimJobs: %v", err)
		}
		return jobs
	}
	ids := func(jobs []job.Job) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	finish := func(t *testing.T, s job.Store, j job.Job, lease string, state job.State, now time.Time) bool {
		t.Helper()
		ok, err := s.FinishJobs(ctx, []job.Finish{{
			JobID: j.ID, LeaseID: lease, State: state, RunAt: now.Add(time.Minute), LastError: "x", Now: now,
			Attempt: job.Attempt{ID: job.NewID("att", now), JobID: j.ID, Number: j.Attempts, StartedAt: now, Outcome: "completed"},
		}})
		if err != nil {
			t.Fatalf("FinishJobs: %v", err)
		}
		return ok[0]
	}

	t.Run("Endpoints", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		a, b := spec("a"), spec("b")
		b.Bulk = &job.BulkSpec{MaxRecords: 500, MaxWait: time.Second}
		b.Retry = job.RetrySpec{Schedule: []time.Duration{30 * time.Second, 2 * time.Minute}}
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{a, b}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetEndpoint(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, got.EndpointSpec); diff != "" || !got.Active() || got.Origin != job.OriginConfig {
			t.Errorf("GetEndpoint(b) spec (-want +got):\n%s\nactive %v origin %s", diff, got.Active(), got.Origin)
		}
		if _, err := s.GetEndpoint(ctx, "nope"); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("GetEndpoint(nope) = %v, want not_found", err)
		}

		// Failing since the first failure; a success clears it.
		first, err := s.RecordEndpointHealth(ctx, "a", false, t0)
		if err != nil || !first.Equal(t0) {
			t.Errorf("first failure: since %v, %v; want %v", first, err, t0)
		}
		again, _ := s.RecordEndpointHealth(ctx, "a", false, t0.Add(time.Hour))
		if !again.Equal(t0) {
			t.Errorf("second failure: since %v, want the first failure's %v", again, t0)
		}
		if since, _ := s.RecordEndpointHealth(ctx, "a", true, t0.Add(2*time.Hour)); !since.IsZero() {
			t.Errorf("after a success failing since = %v, want zero", since)
		}

		changed, err := s.DisableEndpoint(ctx, "a", "410 Gone", t0)
		if err != nil || !changed {
			t.Errorf("DisableEndpoint = %v, %v; want changed", changed, err)
		}
		if changed, _ := s.DisableEndpoint(ctx, "a", "again", t0); changed {
			t.Errorf("disabling a disabled endpoint reported a change")
		}
		ga, _ := s.GetEndpoint(ctx, "a")
		if ga.Active() || ga.DisabledReason != "410 Gone" {
			t.Errorf("disabled endpoint = active %v, reason %q", ga.Active(), ga.DisabledReason)
		}
		// Re-declaring the same spec keeps it disabled; a changed spec
		// (the operator fixed the URL) enables it.
		s.UpsertEndpoints(ctx, []job.EndpointSpec{a}, job.OriginConfig, t0)
		if ga, _ := s.GetEndpoint(ctx, "a"); ga.Active() {
			t.Errorf("an unchanged spec re-enabled a disabled endpoint")
		}
		a.URL = "https://example.com/fixed"
		s.UpsertEndpoints(ctx, []job.EndpointSpec{a}, job.OriginConfig, t0)
		if ga, _ := s.GetEndpoint(ctx, "a"); !ga.Active() {
			t.Errorf("a changed spec did not re-enable the endpoint")
		}

		if err := s.SetEndpointPaused(ctx, "b", true, t0); err != nil {
			t.Fatal(err)
		}
		if gb, _ := s.GetEndpoint(ctx, "b"); !gb.Paused || gb.Active() {
			t.Errorf("paused endpoint: paused %v active %v", gb.Paused, gb.Active())
		}
		if err := s.SetEndpointPaused(ctx, "nope", true, t0); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("pausing an unknown endpoint: %v", err)
		}
		list, err := s.ListEndpoints(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
			t.Errorf("ListEndpoints = %v, %v", list, err)
		}
	})

	t.Run("ClaimLeaseFinish", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		e1 := store(t, s, newEvent("src", "1", t0, "ep"))
		e2 := store(t, s, newEvent("src", "2", t0.Add(time.Second), "ep"))
		future := newEvent("src", "3", t0, "ep")
		future.Jobs[0].RunAt = t0.Add(time.Hour)
		future.Jobs[0].State = job.StateScheduled
		store(t, s, future)

		if at, ok, err := s.NextDue(ctx, "ep"); err != nil || !ok || !at.Equal(t0) {
			t.Errorf("NextDue = %v %v %v, want %v", at, ok, err, t0)
		}
		got := claim(t, s, "lease-1", t0.Add(time.Minute), 10)
		if diff := cmp.Diff([]string{e1.JobIDs[0], e2.JobIDs[0]}, ids(got)); diff != "" {
			t.Fatalf("claimed (-want +got):\n%s", diff)
		}
		for _, j := range got {
			if j.State != job.StateRunning || j.LeaseID != "lease-1" || j.Attempts != 1 || !j.FirstAttemptAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("claimed job = %+v", j)
			}
		}
		if again := claim(t, s, "lease-2", t0.Add(time.Minute), 10); len(again) != 0 {
			t.Errorf("leased jobs were claimed again: %v", ids(again))
		}
		// Next due: the earliest lease expiry (a minute after the claim).
		if at, _, _ := s.NextDue(ctx, "ep"); !at.Equal(t0.Add(2 * time.Minute)) {
			t.Errorf("NextDue with leases out = %v, want the lease expiry %v", at, t0.Add(2*time.Minute))
		}

		if !finish(t, s, got[0], "lease-1", job.StateCompleted, t0.Add(90*time.Second)) {
			t.Fatalf("the lease holder could not finish its job")
		}
		j, _ := s.GetJob(ctx, got[0].ID)
		if j.State != job.StateCompleted || j.LeaseID != "" || j.FinishedAt.IsZero() {
			t.Errorf("completed job = %+v", j)
		}
		if !finish(t, s, got[1], "lease-1", job.StateRetrying, t0.Add(90*time.Second)) {
			t.Fatalf("retry not recorded")
		}
		j, _ = s.GetJob(ctx, got[1].ID)
		if j.State != job.StateRetrying || !j.RunAt.Equal(t0.Add(150*time.Second)) || j.LastError != "x" || !j.FinishedAt.IsZero() {
			t.Errorf("retrying job = %+v", j)
		}
		atts, err := s.ListAttempts(ctx, got[1].ID)
		if err != nil || len(atts) != 1 || atts[0].Number != 1 || atts[0].JobID != got[1].ID {
			t.Errorf("ListAttempts = %+v, %v", atts, err)
		}
		// The retry is due at its run time, as attempt 2.
		if early := claim(t, s, "lease-3", t0.Add(149*time.Second), 10); len(early) != 0 {
			t.Errorf("a retry was claimed before its time")
		}
		later := claim(t, s, "lease-3", t0.Add(150*time.Second), 10)
		if len(later) != 1 || later[0].ID != got[1].ID || later[0].Attempts != 2 || !later[0].FirstAttemptAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("retry claim = %+v", later)
		}
	})

	t.Run("PausedOrDisabledNotClaimed", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		store(t, s, newEvent("src", "1", t0, "ep"))
		s.SetEndpointPaused(ctx, "ep", true, t0)
		if got := claim(t, s, "l", t0, 10); len(got) != 0 {
			t.Errorf("a paused endpoint's job was claimed")
		}
		s.SetEndpointPaused(ctx, "ep", false, t0)
		s.DisableEndpoint(ctx, "ep", "410", t0)
		if got := claim(t, s, "l", t0, 10); len(got) != 0 {
			t.Errorf("a disabled endpoint's job was claimed")
		}
		s.EnableEndpoint(ctx, "ep", t0)
		if got := claim(t, s, "l", t0, 10); len(got) != 1 || got[0].Attempts != 1 {
			t.Errorf("after enabling: claimed %+v, want the job at its first attempt", got)
		}
	})

	t.Run("FencingAndRescue", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		store(t, s, newEvent("src", "1", t0, "ep"))
		first := claim(t, s, "dead-worker", t0, 10)
		if len(first) != 1 {
			t.Fatalf("claimed %d", len(first))
		}
		// Before the lease expires nobody else gets it; after, it is rescued.
		if got := claim(t, s, "rescuer", t0.Add(59*time.Second), 10); len(got) != 0 {
			t.Errorf("a live lease was taken")
		}
		rescued := claim(t, s, "rescuer", t0.Add(61*time.Second), 10)
		if len(rescued) != 1 || rescued[0].LeaseID != "rescuer" || rescued[0].Attempts != 2 {
			t.Fatalf("rescue = %+v", rescued)
		}
		// The old holder wakes up: its finish is refused and records nothing.
		if finish(t, s, first[0], "dead-worker", job.StateCompleted, t0.Add(62*time.Second)) {
			t.Errorf("a stale lease holder finished the job")
		}
		if atts, _ := s.ListAttempts(ctx, first[0].ID); len(atts) != 0 {
			t.Errorf("a refused finish recorded an attempt: %+v", atts)
		}
		if !finish(t, s, rescued[0], "rescuer", job.StateDead, t0.Add(63*time.Second)) {
			t.Errorf("the current holder could not finish")
		}
		if j, _ := s.GetJob(ctx, first[0].ID); j.State != job.StateDead {
			t.Errorf("state = %s, want dead", j.State)
		}
		if _, ok, _ := s.NextDue(ctx, "ep"); ok {
			t.Errorf("NextDue reports work on an endpoint with none")
		}
	})

	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		const n = 60
		for i := range n {
			store(t, s, newEvent("src", fmt.Sprint(i), t0, "ep"))
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lease := fmt.Sprintf("w%d", w)
				for {
					jobs, err := s.ClaimJobs(ctx, job.Claim{Endpoint: "ep", LeaseID: lease, Now: t0, LeaseUntil: t0.Add(time.Minute), Max: 4})
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						if other, dup := seen[j.ID]; dup {
							t.Errorf("job %s claimed by %s and %s", j.ID, other, lease)
						}
						seen[j.ID] = lease
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d jobs claimed, want %d", len(seen), n)
		}
	})

	t.Run("OrderingKey", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		var a, b []string
		for i := range 3 {
			for key, list := range map[string]*[]string{"A": &a, "B": &b} {
				e := newEvent("src", key+fmt.Sprint(i), t0, "ep")
				e.Jobs[0].OrderingKey = key
				*list = append(*list, store(t, s, e).JobIDs[0])
			}
		}
		free := store(t, s, newEvent("src", "free", t0, "ep")).JobIDs[0]
		got := ids(claim(t, s, "l", t0, 10))
		want := map[string]bool{a[0]: true, b[0]: true, free: true}
		if len(got) != 3 || !want[got[0]] || !want[got[1]] || !want[got[2]] {
			t.Fatalf("first claim = %v, want the head of A, the head of B and the unordered job", got)
		}
		// A's next job waits while its head is retrying, B moves on.
		heads := map[string]job.Job{}
		for _, id := range got {
			j, _ := s.GetJob(ctx, id)
			heads[id] = j
		}
		finish(t, s, heads[a[0]], "l", job.StateRetrying, t0)
		finish(t, s, heads[b[0]], "l", job.StateCompleted, t0)
		finish(t, s, heads[free], "l", job.StateCompleted, t0)
		next := ids(claim(t, s, "l", t0.Add(30*time.Second), 10))
		if diff := cmp.Diff([]string{b[1]}, next); diff != "" {
			t.Errorf("second claim (-want +got):\n%s", diff)
		}
		// When A's head is due again it goes first, alone.
		next = ids(claim(t, s, "l", t0.Add(time.Minute), 10))
		if diff := cmp.Diff([]string{a[0]}, next); diff != "" {
			t.Errorf("third claim (-want +got):\n%s", diff)
		}
	})

	t.Run("CoalesceKey", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		mk := func(id, body string) job.NewEvent {
			e := newEvent("src", id, t0, "ep")
			e.Jobs[0].CoalesceKey = "record-7"
			e.Jobs[0].Payload = []byte(body)
			return e
		}
		first := store(t, s, mk("1", `{"v":1}`))
		second := store(t, s, mk("2", `{"v":2}`))
		if second.JobIDs[0] != first.JobIDs[0] {
			t.Fatalf("a pending job with the same coalesce key got a second job: %s and %s", first.JobIDs[0], second.JobIDs[0])
		}
		j, _ := s.GetJob(ctx, first.JobIDs[0])
		if string(j.Payload) != `{"v":2}` {
			t.Errorf("payload = %s, want the latest update", j.Payload)
		}
		// Once the job is running, a new update makes a new job.
		claim(t, s, "l", t0, 10)
		third := store(t, s, mk("3", `{"v":3}`))
		if third.JobIDs[0] == first.JobIDs[0] {
			t.Errorf("an update coalesced into a running job")
		}
	})

	t.Run("RateBucketShared", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		// With the clock stopped, concurrent takers share exactly the burst.
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					n, _, err := s.TakeRateTokens(ctx, "ep", 1, 10, 20, t0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if total != 20 {
			t.Errorf("40 draws of one token from a bucket of 20 granted %d", total)
		}
		n, wait, _ := s.TakeRateTokens(ctx, "ep", 1, 10, 20, t0)
		if n != 0 || wait != 100*time.Millisecond {
			t.Errorf("an empty bucket at 10/s: granted %d, wait %v; want 0 and 100ms", n, wait)
		}
		// Half a second later, 5 tokens came back.
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(500*time.Millisecond)); n != 5 {
			t.Errorf("after 0.5 s at 10/s: granted %d, want 5", n)
		}
		// A worker whose clock reading is older than the last draw (it read
		// it before waiting for the bucket) gets nothing, and does not turn
		// the bucket's time back: 0.1 s after the last draw, one token.
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(200*time.Millisecond)); n != 0 {
			t.Errorf("a draw from 0.3 s in the past: granted %d, want 0", n)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(600*time.Millisecond)); n != 1 {
			t.Errorf("0.1 s after the last draw at 10/s: granted %d, want 1 (a late draw moved the bucket's clock back?)", n)
		}
		// Tokens given back can be drawn again, up to the burst.
		if err := s.ReturnRateTokens(ctx, "ep", 3, 20); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(600*time.Millisecond)); n != 3 {
			t.Errorf("after 3 tokens were returned: granted %d, want 3", n)
		}
		if err := s.ReturnRateTokens(ctx, "ep", 50, 20); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.TakeRateTokens(ctx, "ep", 100, 10, 20, t0.Add(600*time.Millisecond)); n != 20 {
			t.Errorf("after 50 tokens were returned to a bucket of 20: granted %d, want 20", n)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		// Three webhooks a day apart, each with one job; the first two are
		// finished (completed, dead), the last still waits.
		var ids []string
		var events []string
		for i, end := range []job.State{job.StateCompleted, job.StateDead, ""} {
			at := t0.Add(time.Duration(i) * 24 * time.Hour)
			e := newEvent("src", fmt.Sprint("p", i), at, "ep")
			store(t, s, e)
			ids, events = append(ids, e.Jobs[0].ID), append(events, e.Event.ID)
			if end == "" {
				continue
			}
			got := claim(t, s, "l", at, 1)
			if len(got) != 1 {
				t.Fatalf("claim %d: %d jobs", i, len(got))
			}
			finish(t, s, got[0], "l", end, at)
		}
		// Four more completed the first day: with two rows per statement,
		// one prune must go round several times to delete all five.
		for i := range 4 {
			at := t0.Add(time.Duration(i+1) * time.Minute)
			e := newEvent("src", fmt.Sprint("q", i), at, "ep")
			store(t, s, e)
			got := claim(t, s, "l", at, 1)
			if len(got) != 1 || got[0].ID != e.Jobs[0].ID {
				t.Fatalf("claim q%d: %+v", i, got)
			}
			finish(t, s, got[0], "l", job.StateCompleted, at)
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

	t.Run("Wakeups", func(t *testing.T) {
		t.Parallel()
		s := withEndpoint(t)
		wake, stop := s.Subscribe("ep")
		defer stop()
		other, stopOther := s.Subscribe("other")
		defer stopOther()
		store(t, s, newEvent("src", "w", t0, "ep"))
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up after a job was stored")
		}
		select {
		case <-other:
			t.Errorf("an endpoint without new jobs was woken")
		default:
		}
	})
}
