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

// exerciseClaims runs the conformance tests of claims: leases, finishes, fencing, rescue, ordering and coalescing.
func exerciseClaims(t *testing.T, setup setupFunc) {
	k := newKit(setup)
	ctx, t0 := context.Background(), k.t0

	t.Run("ClaimLeaseFinish", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		e1 := k.store(t, s, newEvent("src", "1", t0, "ep"))
		e2 := k.store(t, s, newEvent("src", "2", t0.Add(time.Second), "ep"))
		future := newEvent("src", "3", t0, "ep")
		future.Jobs[0].RunAt = t0.Add(time.Hour)
		future.Jobs[0].State = job.StateScheduled
		k.store(t, s, future)

		if at, ok, err := s.NextDue(ctx, "ep"); err != nil || !ok || !at.Equal(t0) {
			t.Errorf("NextDue = %v %v %v, want %v", at, ok, err, t0)
		}
		got := k.claim(t, s, "lease-1", t0.Add(time.Minute), 10)
		if diff := cmp.Diff([]string{e1.JobIDs[0], e2.JobIDs[0]}, ids(got)); diff != "" {
			t.Fatalf("claimed (-want +got):\n%s", diff)
		}
		for _, j := range got {
			if j.State != job.StateRunning || j.LeaseID != "lease-1" || j.Attempts != 1 || !j.FirstAttemptAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("claimed job = %+v", j)
			}
		}
		if again := k.claim(t, s, "lease-2", t0.Add(time.Minute), 10); len(again) != 0 {
			t.Errorf("leased jobs were claimed again: %v", ids(again))
		}
		// Next due: the earliest lease expiry (a minute after the claim).
		if at, _, _ := s.NextDue(ctx, "ep"); !at.Equal(t0.Add(2 * time.Minute)) {
			t.Errorf("NextDue with leases out = %v, want the lease expiry %v", at, t0.Add(2*time.Minute))
		}

		if !k.finish(t, s, got[0], "lease-1", job.StateCompleted, t0.Add(90*time.Second)) {
			t.Fatalf("the lease holder could not finish its job")
		}
		j, _ := s.GetJob(ctx, got[0].ID)
		if j.State != job.StateCompleted || j.LeaseID != "" || j.FinishedAt.IsZero() {
			t.Errorf("completed job = %+v", j)
		}
		if !k.finish(t, s, got[1], "lease-1", job.StateRetrying, t0.Add(90*time.Second)) {
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
		if early := k.claim(t, s, "lease-3", t0.Add(149*time.Second), 10); len(early) != 0 {
			t.Errorf("a retry was claimed before its time")
		}
		later := k.claim(t, s, "lease-3", t0.Add(150*time.Second), 10)
		if len(later) != 1 || later[0].ID != got[1].ID || later[0].Attempts != 2 || !later[0].FirstAttemptAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("retry claim = %+v", later)
		}
	})

	t.Run("FencingAndRescue", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		k.store(t, s, newEvent("src", "1", t0, "ep"))
		first := k.claim(t, s, "dead-worker", t0, 10)
		if len(first) != 1 {
			t.Fatalf("claimed %d", len(first))
		}
		// Before the lease expires nobody else gets it; after, it is rescued.
		if got := k.claim(t, s, "rescuer", t0.Add(59*time.Second), 10); len(got) != 0 {
			t.Errorf("a live lease was taken")
		}
		rescued := k.claim(t, s, "rescuer", t0.Add(61*time.Second), 10)
		if len(rescued) != 1 || rescued[0].LeaseID != "rescuer" || rescued[0].Attempts != 2 {
			t.Fatalf("rescue = %+v", rescued)
		}
		// The old holder wakes up: its finish is refused and records nothing.
		if k.finish(t, s, first[0], "dead-worker", job.StateCompleted, t0.Add(62*time.Second)) {
			t.Errorf("a stale lease holder finished the job")
		}
		if atts, _ := s.ListAttempts(ctx, first[0].ID); len(atts) != 0 {
			t.Errorf("a refused finish recorded an attempt: %+v", atts)
		}
		if !k.finish(t, s, rescued[0], "rescuer", job.StateDead, t0.Add(63*time.Second)) {
			t.Errorf("the current holder could not finish")
		}
		if j, _ := s.GetJob(ctx, first[0].ID); j.State != job.StateDead {
			t.Errorf("state = %s, want dead", j.State)
		}
		if _, ok, _ := s.NextDue(ctx, "ep"); ok {
			t.Errorf("NextDue reports work on an endpoint with none")
		}
	})

	t.Run("JobNamedTwiceInOneFinish", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		k.store(t, s, newEvent("src", "1", t0, "ep"))
		got := k.claim(t, s, "lease-1", t0, 10)
		if len(got) != 1 {
			t.Fatalf("claimed %d", len(got))
		}
		// As if each finish were its own statement: a stale lease is
		// refused, the holder's first finish ends the lease, and a second
		// one finds it gone.
		finish := func(lease string, state job.State, n int) job.Finish {
			return job.Finish{JobID: got[0].ID, LeaseID: lease, State: state, Now: t0,
				Attempt: job.Attempt{ID: job.NewID("att", t0), StartedAt: t0, Number: n, Outcome: string(state)}}
		}
		held, err := s.FinishJobs(ctx, []job.Finish{
			finish("lease-0", job.StateDead, 1), finish("lease-1", job.StateCompleted, 1), finish("lease-1", job.StateDead, 1),
		})
		if err != nil {
			t.Fatalf("FinishJobs: %v", err)
		}
		if diff := cmp.Diff([]bool{false, true, false}, held); diff != "" {
			t.Errorf("held (-want +got):\n%s", diff)
		}
		if j, _ := s.GetJob(ctx, got[0].ID); j.State != job.StateCompleted {
			t.Errorf("state = %s, want completed (the first finish that held the lease)", j.State)
		}
		if atts, _ := s.ListAttempts(ctx, got[0].ID); len(atts) != 1 || atts[0].Outcome != string(job.StateCompleted) {
			t.Errorf("attempts = %+v, want the completed one only", atts)
		}
	})

	t.Run("BulkFinish", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		for i := range 4 {
			k.store(t, s, newEvent("src", fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second), "ep"))
		}
		got := k.claim(t, s, "lease-1", t0.Add(time.Minute), 10)
		if len(got) != 4 {
			t.Fatalf("claimed %d, want 4", len(got))
		}
		// The first job's lease already ended: a bulk POST's outcome for
		// all four holds for the other three only.
		if !k.finish(t, s, got[0], "lease-1", job.StateCompleted, t0.Add(70*time.Second)) {
			t.Fatalf("the lease holder could not finish its job")
		}
		at := t0.Add(80 * time.Second)
		var fs []job.Finish
		for _, j := range got {
			fs = append(fs, job.Finish{
				JobID: j.ID, LeaseID: "lease-1", State: job.StateRetrying, RunAt: at.Add(time.Minute), LastError: "HTTP 503", Now: at,
				Attempt: job.Attempt{
					ID: job.NewID("att", at), Number: j.Attempts, BatchID: "batch-1", StartedAt: at, Latency: 3 * time.Millisecond,
					StatusCode: 503, Outcome: "retrying", ErrorClass: "http_5xx", Error: "HTTP 503", ResponseExcerpt: "busy",
					Endpoint: "ep", RequestHeaders: map[string]string{"Content-Type": "application/json"}, RetryAfter: 30 * time.Second,
				},
			})
		}
		held, err := s.FinishJobs(ctx, fs)
		if err != nil {
			t.Fatalf("FinishJobs: %v", err)
		}
		if diff := cmp.Diff([]bool{false, true, true, true}, held); diff != "" {
			t.Errorf("held (-want +got):\n%s", diff)
		}
		if j, _ := s.GetJob(ctx, got[0].ID); j.State != job.StateCompleted {
			t.Errorf("the job finished before the bulk outcome: state %s, want completed", j.State)
		}
		if atts, _ := s.ListAttempts(ctx, got[0].ID); len(atts) != 1 || atts[0].BatchID != "" {
			t.Errorf("attempts of the job finished before = %+v, want its own one only", atts)
		}
		for _, j := range got[1:] {
			r, _ := s.GetJob(ctx, j.ID)
			if r.State != job.StateRetrying || !r.RunAt.Equal(at.Add(time.Minute)) || r.LastError != "HTTP 503" || r.LeaseID != "" {
				t.Errorf("job after the bulk outcome = %+v", r)
			}
			atts, err := s.ListAttempts(ctx, j.ID)
			if err != nil || len(atts) != 1 {
				t.Fatalf("ListAttempts(%s) = %+v, %v, want one", j.ID, atts, err)
			}
			want := fs[0].Attempt
			want.ID, want.JobID, want.Number = atts[0].ID, j.ID, j.Attempts
			if diff := cmp.Diff(want, atts[0], cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("attempt of %s (-want +got):\n%s", j.ID, diff)
			}
		}
	})

	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		const n = 60
		for i := range n {
			k.store(t, s, newEvent("src", fmt.Sprint(i), t0, "ep"))
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
		s := k.withEndpoint(t)
		var a, b []string
		for i := range 3 {
			for key, list := range map[string]*[]string{"A": &a, "B": &b} {
				e := newEvent("src", key+fmt.Sprint(i), t0, "ep")
				e.Jobs[0].OrderingKey = key
				*list = append(*list, k.store(t, s, e).JobIDs[0])
			}
		}
		free := k.store(t, s, newEvent("src", "free", t0, "ep")).JobIDs[0]
		got := ids(k.claim(t, s, "l", t0, 10))
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
		k.finish(t, s, heads[a[0]], "l", job.StateRetrying, t0)
		k.finish(t, s, heads[b[0]], "l", job.StateCompleted, t0)
		k.finish(t, s, heads[free], "l", job.StateCompleted, t0)
		next := ids(k.claim(t, s, "l", t0.Add(30*time.Second), 10))
		if diff := cmp.Diff([]string{b[1]}, next); diff != "" {
			t.Errorf("second claim (-want +got):\n%s", diff)
		}
		// When A's head is due again it goes first, alone.
		next = ids(k.claim(t, s, "l", t0.Add(time.Minute), 10))
		if diff := cmp.Diff([]string{a[0]}, next); diff != "" {
			t.Errorf("third claim (-want +got):\n%s", diff)
		}
	})

	t.Run("CoalesceKey", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		mk := func(id, body string) job.NewEvent {
			e := newEvent("src", id, t0, "ep")
			e.Jobs[0].CoalesceKey = "record-7"
			e.Jobs[0].Payload = []byte(body)
			return e
		}
		first := k.store(t, s, mk("1", `{"v":1}`))
		second := k.store(t, s, mk("2", `{"v":2}`))
		if second.JobIDs[0] != first.JobIDs[0] {
			t.Fatalf("a pending job with the same coalesce key got a second job: %s and %s", first.JobIDs[0], second.JobIDs[0])
		}
		j, _ := s.GetJob(ctx, first.JobIDs[0])
		if string(j.Payload) != `{"v":2}` {
			t.Errorf("payload = %s, want the latest update", j.Payload)
		}
		// Once the job is running, a new update makes a new job.
		k.claim(t, s, "l", t0, 10)
		third := k.store(t, s, mk("3", `{"v":3}`))
		if third.JobIDs[0] == first.JobIDs[0] {
			t.Errorf("an update coalesced into a running job")
		}
	})

}
