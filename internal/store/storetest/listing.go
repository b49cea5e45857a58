package storetest

import (
	"context"
	"fmt"
	"slices"
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
		window := [2]time.Time{t0.Add(5 * time.Minute), t0.Add(17 * time.Minute)}
		for _, state := range []job.State{"", job.StateAvailable, job.StateCancelled, job.StateDead} {
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
