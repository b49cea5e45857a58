package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// exerciseListing holds every filter shape of ListJobs to the same
// answer: the jobs a plain scan would keep, newest first, page by page.
// Each shape reads its own index, so each is checked on its own.
func exerciseListing(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

	t.Run("ListJobsEveryFilterShape", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		specs := []job.EndpointSpec{
			{Name: "a", URL: "https://example.com/a", Secrets: []string{"0123456789abcdef"}},
			{Name: "b", URL: "https://example.com/b", Secrets: []string{"0123456789abcdef"}},
		}
		if err := s.UpsertEndpoints(ctx, specs, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		var all []job.Job // oldest first
		for i := range 24 {
			at := t0.Add(time.Duration(i) * time.Minute)
			j := job.Job{ID: job.NewID("job", at), Endpoint: []string{"a", "b"}[i%2], Source: []string{"s1", "s2", ""}[i%3],
				Payload: []byte(`{}`), State: job.StateAvailable, RunAt: at, CreatedAt: at, UpdatedAt: at}
			if i%7 == 3 {
				j.State, j.RunAt = job.StateScheduled, t0.Add(24*time.Hour)
			}
			if _, err := s.DispatchJobs(ctx, []job.Job{j}); err != nil {
				t.Fatal(err)
			}
			if i%5 == 0 {
				if _, err := s.CancelJob(ctx, j.ID, at); err != nil {
					t.Fatal(err)
				}
				j.State = job.StateCancelled
			}
			all = append(all, j)
		}
		// Three of b's due jobs are claimed: running, on the lease index.
		plan := func(job.Endpoint) (int, int, time.Duration) { return 3, 1, time.Minute }
		claimed, err := s.ClaimDue(ctx, job.DueClaim{Endpoint: "b", LeaseID: job.NewID("lease", t0), Now: t0.Add(time.Hour), Plan: plan})
		if err != nil || len(claimed.Jobs) != 3 {
			t.Fatalf("ClaimDue: %d jobs, %v; want 3", len(claimed.Jobs), err)
		}
		for _, c := range claimed.Jobs {
			for i := range all {
				if all[i].ID == c.ID {
					all[i].State = job.StateRunning
				}
			}
		}
		// The queue's depth by state counts the same jobs (each state on
		// an index of its own: available is what the rare states leave of
		// the waiting jobs).
		wantDepth := map[job.State]int64{}
		for _, j := range all {
			if j.State != job.StateCancelled {
				wantDepth[j.State]++
			}
		}
		depth, _, err := s.QueueStats(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []job.State{job.StateScheduled, job.StateAvailable, job.StateRetrying, job.StateRunning} {
			if depth[st] != wantDepth[st] {
				t.Errorf("QueueStats: %d %s jobs, want %d (all: %v)", depth[st], st, wantDepth[st], depth)
			}
		}
		window := [2]time.Time{t0.Add(5 * time.Minute), t0.Add(17 * time.Minute)}
		for _, state := range []job.State{"", job.StateAvailable, job.StateRunning, job.StateScheduled, job.StateCancelled, job.StateCompleted, job.StateDead} {
			for _, endpoint := range []string{"", "a", "b"} {
				for _, source := range []string{"", "s1", "s2"} {
					for _, timed := range []bool{false, true} {
						f := job.JobFilter{State: state, Endpoint: endpoint, Source: source, Limit: 2}
						if timed {
							f.CreatedAfter, f.CreatedBefore = window[0], window[1]
						}
						var want []string
						for _, j := range slices.Backward(all) {
							if (state == "" || j.State == state) && (endpoint == "" || j.Endpoint == endpoint) &&
								(source == "" || j.Source == source) &&
								(!timed || !j.CreatedAt.Before(window[0]) && j.CreatedAt.Before(window[1])) {
								want = append(want, j.ID)
							}
						}
						name := fmt.Sprintf("state=%q endpoint=%q source=%q timed=%v", state, endpoint, source, timed)
						if diff := cmp.Diff(want, pages(t, s, f)); diff != "" {
							t.Errorf("%s (-want +got):\n%s", name, diff)
						}
					}
				}
			}
		}
	})

	t.Run("SearchJobsByPayloadText", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		ss, ok := s.(interface {
			SearchJobs(ctx context.Context, f job.JobFilter, text string) (job.JobSearch, error)
		})
		if !ok {
			t.Fatal("the store has no SearchJobs")
		}
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{{Name: "a", URL: "https://example.com/a", Secrets: []string{"0123456789abcdef"}}}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		var want []string // newest first
		for i := range 9 {
			at := t0.Add(time.Duration(i) * time.Second)
			payload := fmt.Sprintf(`{"order":%d,"note":"plain"}`, i)
			if i%3 == 1 {
				payload = fmt.Sprintf(`{"order":%d,"note":"Gift WRAP please"}`, i)
			}
			j := job.Job{ID: job.NewID("job", at), Endpoint: "a", Payload: []byte(payload), State: job.StateAvailable, RunAt: at, CreatedAt: at, UpdatedAt: at}
			if _, err := s.DispatchJobs(ctx, []job.Job{j}); err != nil {
				t.Fatal(err)
			}
			if i%3 == 1 {
				want = append([]string{j.ID}, want...)
			}
		}
		// Pages of 2: the first two matches, then the last one; the
		// search of the second page reads on to the oldest job and ends.
		f := job.JobFilter{Endpoint: "a", Limit: 2}
		first, err := ss.SearchJobs(ctx, f, "gift wrap")
		if err != nil {
			t.Fatal(err)
		}
		if len(first.Jobs) != 2 || first.ResumeID != first.Jobs[1].ID || first.Searched != 5 {
			t.Fatalf("first page: %d jobs, resume %q, searched %d; want 2, the second's id, 5", len(first.Jobs), first.ResumeID, first.Searched)
		}
		f.BeforeID = first.ResumeID
		second, err := ss.SearchJobs(ctx, f, "gift wrap")
		if err != nil {
			t.Fatal(err)
		}
		if second.ResumeID != "" || second.Searched != 4 {
			t.Errorf("second page: resume %q, searched %d; want the end and 4", second.ResumeID, second.Searched)
		}
		var got []string
		for _, j := range append(first.Jobs, second.Jobs...) {
			got = append(got, j.ID)
			if !strings.Contains(string(j.Payload), "Gift WRAP") {
				t.Errorf("job %s: payload %s, want it opened and matching", j.ID, j.Payload)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("matches (-want +got):\n%s", diff)
		}
		none, err := ss.SearchJobs(ctx, job.JobFilter{Limit: 10}, "no such text")
		if err != nil || len(none.Jobs) != 0 || none.ResumeID != "" || none.Searched != 9 {
			t.Errorf("no match: %+v, %v; want nothing, every job searched", none, err)
		}
	})
}

// pages lists every page of f and returns the ids in order.
func pages(t *testing.T, s job.Store, f job.JobFilter) []string {
	t.Helper()
	var ids []string
	for range 100 {
		page, err := s.ListJobs(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page {
			ids = append(ids, j.ID)
		}
		if len(page) < f.Limit {
			return ids
		}
		f.BeforeID = page[len(page)-1].ID
	}
	t.Fatalf("%+v: more than 100 pages", f)
	return nil
}
