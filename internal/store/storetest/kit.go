package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// setupFunc opens a store on a fresh database, closed at the end of the
// test, and returns it with the way to open it again.
type setupFunc func(t *testing.T) (job.Store, func(context.Context) (job.Store, error))

// kit holds what the worker-side tests share: an endpoint "ep" and the
// calls they make over and over.
type kit struct {
	setup setupFunc
	t0    time.Time
}

func newKit(setup setupFunc) *kit {
	return &kit{setup: setup, t0: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)}
}

func spec(name string) job.EndpointSpec {
	return job.EndpointSpec{Name: name, URL: "https://example.com/" + name, Secrets: []string{"0123456789abcdef"}, Timeout: 30 * time.Second}
}

// withEndpoint returns a store with endpoint "ep" declared.
func (k *kit) withEndpoint(t *testing.T) job.Store {
	s, _ := k.setup(t)
	if err := s.UpsertEndpoints(context.Background(), []job.EndpointSpec{spec("ep")}, job.OriginConfig, k.t0); err != nil {
		t.Fatalf("UpsertEndpoints: %v", err)
	}
	return s
}

func (k *kit) store(t *testing.T, s job.Store, e job.NewEvent) job.Stored {
	t.Helper()
	st, err := s.StoreEvent(context.Background(), e)
	if err != nil {
		t.Fatalf("StoreEvent: %v", err)
	}
	return st
}

func (k *kit) claim(t *testing.T, s job.Store, lease string, now time.Time, max int) []job.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), job.Claim{Endpoint: "ep", LeaseID: lease, Now: now, LeaseUntil: now.Add(time.Minute), Max: max})
	if err != nil {
		t.Fatalf("ClaimJobs: %v", err)
	}
	return jobs
}

func ids(jobs []job.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func (k *kit) finish(t *testing.T, s job.Store, j job.Job, lease string, state job.State, now time.Time) bool {
	t.Helper()
	ok, err := s.FinishJobs(context.Background(), []job.Finish{{
		JobID: j.ID, LeaseID: lease, State: state, RunAt: now.Add(time.Minute), LastError: "x", Now: now,
		Attempt: job.Attempt{ID: job.NewID("att", now), JobID: j.ID, Number: j.Attempts, StartedAt: now, Outcome: "completed"},
	}})
	if err != nil {
		t.Fatalf("FinishJobs: %v", err)
	}
	return ok[0]
}
