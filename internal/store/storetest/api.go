package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// exerciseAPI runs the conformance tests of what the jobs and admin API
// need from a store.
func exerciseAPI(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	apiJob := func(endpoint string, at time.Time) job.Job {
		return job.Job{ID: job.NewID("job", at), Endpoint: endpoint, Payload: []byte(`{"a":1}`), State: job.StateAvailable, RunAt: at, CreatedAt: at, UpdatedAt: at}
	}
	withEndpoints := func(t *testing.T, names ...string) job.Store {
		s, _ := setup(t)
		var specs []job.EndpointSpec
		for _, n := range names {
			specs = append(specs, job.EndpointSpec{Name: n, URL: "https://example.com/" + n, Secrets: []string{"0123456789abcdef"}})
		}
		if err := s.UpsertEndpoints(ctx, specs, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("DispatchIdempotent", func(t *testing.T) {
		t.Parallel()
		s := withEndpoints(t, "ep", "other")
		j := apiJob("ep", t0)
		j.IdempotencyKey = "order-1"
		j.Retry = &job.RetrySpec{Preset: "dispatched", MaxRetries: 1}
		first, err := s.DispatchJobs(ctx, []job.Job{j})
		if err != nil || len(first) != 1 || first[0].Duplicate || first[0].JobID != j.ID {
			t.Fatalf("DispatchJobs = %+v, %v", first, err)
		}
		again := apiJob("ep", t0.Add(time.Second))
		again.IdempotencyKey = "order-1"
		second, err := s.DispatchJobs(ctx, []job.Job{again})
		if err != nil || !second[0].Duplicate || second[0].JobID != j.ID {
			t.Errorf("repeat = %+v, %v; want the original %s as a duplicate", second, err, j.ID)
		}
		other := apiJob("other", t0)
		other.IdempotencyKey = "order-1"
		third, _ := s.DispatchJobs(ctx, []job.Job{other})
		if third[0].Duplicate {
			t.Errorf("an idempotency key of another endpoint matched")
		}
		got, err := s.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(j.Retry, got.Retry); diff != "" || got.IdempotencyKey != "order-1" {
			t.Errorf("stored job: retry (-want +got):\n%s idempotency %q", diff, got.IdempotencyKey)
		}
	})

	t.Run("BatchAllOrNothing", func(t *testing.T) {
		t.Parallel()
		s := withEndpoints(t, "ep")
		a, b := apiJob("ep", t0), apiJob("ep", t0)
		b.ID = a.ID // the second insert fails
		if _, err := s.DispatchJobs(ctx, []job.Job{a, b}); err == nil {
			t.Fatalf("a batch with a failing job succeeded")
		}
		if _, err := s.GetJob(ctx, a.ID); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("the first job of a failed batch was stored: %v", err)
		}
	})

	t.Run("ListJobsPages", func(t *testing.T) {
		t.Parallel()
		s := withEndpoints(t, "a", "b")
		var all []string
		for i := range 7 {
			ep := "a"
			if i%2 == 1 {
				ep = "b"
			}
			j := apiJob(ep, t0.Add(time.Duration(i)*time.Second))
			if _, err := s.DispatchJobs(ctx, []job.Job{j}); err != nil {
				t.Fatal(err)
			}
			all = append([]string{j.ID}, all...) // newest first
		}
		var paged []string
		f := job.JobFilter{Limit: 3}
		for {
			page, err := s.ListJobs(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page {
				paged = append(paged, j.ID)
			}
			if len(page) < f.Limit {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		onlyB, _ := s.ListJobs(ctx, job.JobFilter{Endpoint: "b", Limit: 10})
		window, _ := s.ListJobs(ctx, job.JobFilter{CreatedAfter: t0.Add(2 * time.Second), CreatedBefore: t0.Add(4 * time.Second), Limit: 10})
		none, _ := s.ListJobs(ctx, job.JobFilter{State: job.StateDead, Limit: 10})
		if len(onlyB) != 3 || len(window) != 2 || len(none) != 0 {
			t.Errorf("filters: endpoint b %d (want 3), time window %d (want 2), dead %d (want 0)", len(onlyB), len(window), len(none))
		}
	})

	t.Run("CancelRetryReplay", func(t *testing.T) {
		t.Parallel()
		s := withEndpoints(t, "ep")
		j := apiJob("ep", t0)
		s.DispatchJobs(ctx, []job.Job{j})
		if _, err := s.RetryJob(ctx, j.ID, t0); job.ErrorCode(err) != job.CodeFailedPrecondition {
			t.Errorf("retrying an available job: %v, want failed_precondition", err)
		}
		c, err := s.CancelJob(ctx, j.ID, t0.Add(time.Second))
		if err != nil || c.State != job.StateCancelled || c.FinishedAt.IsZero() {
			t.Fatalf("CancelJob = %+v, %v", c, err)
		}
		if _, err := s.CancelJob(ctx, j.ID, t0); job.ErrorCode(err) != job.CodeFailedPrecondition {
			t.Errorf("cancelling twice: %v, want failed_precondition", err)
		}
		if _, err := s.CancelJob(ctx, "job_nope", t0); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("cancelling an unknown job: %v, want not_found", err)
		}
		r, err := s.RetryJob(ctx, j.ID, t0.Add(time.Minute))
		if err != nil || r.State != job.StateAvailable || !r.RunAt.Equal(t0.Add(time.Minute)) || !r.FinishedAt.IsZero() {
			t.Fatalf("RetryJob = %+v, %v", r, err)
		}

		// Two dead jobs, one replayed by filter.
		var dead []string
		for i := range 2 {
			d := apiJob("ep", t0.Add(time.Duration(i+1)*time.Hour))
			s.DispatchJobs(ctx, []job.Job{d})
			dead = append(dead, d.ID)
		}
		claimed, _ := s.ClaimJobs(ctx, job.Claim{Endpoint: "ep", LeaseID: "l", Now: t0.Add(3 * time.Hour), LeaseUntil: t0.Add(4 * time.Hour), Max: 10})
		var fs []job.Finish
		for _, c := range claimed {
			st := job.StateDead
			if c.ID == j.ID {
				st = job.StateCompleted
			}
			fs = append(fs, job.Finish{JobID: c.ID, LeaseID: "l", State: st, Now: t0.Add(3 * time.Hour), Attempt: job.Attempt{ID: job.NewID("att", t0), Number: 1, StartedAt: t0, Outcome: "failed"}})
		}
		if _, err := s.FinishJobs(ctx, fs); err != nil {
			t.Fatal(err)
		}
		n, err := s.ReplayDeadJobs(ctx, job.JobFilter{CreatedAfter: t0.Add(90 * time.Minute)}, t0.Add(5*time.Hour))
		if err != nil || n != 1 {
			t.Errorf("ReplayDeadJobs = %d, %v; want 1", n, err)
		}
		first, _ := s.GetJob(ctx, dead[0])
		second, _ := s.GetJob(ctx, dead[1])
		if first.State != job.StateDead || second.State != job.StateAvailable {
			t.Errorf("after replay: %s and %s, want dead and available", first.State, second.State)
		}
	})

	t.Run("EndpointsCRUD", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		spec := job.EndpointSpec{Name: "api-ep", URL: "https://example.com/x", Secrets: []string{"0123456789abcdef"}}
		if err := s.CreateEndpoint(ctx, spec, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateEndpoint(ctx, spec, t0); job.ErrorCode(err) != job.CodeAlreadyExists {
			t.Errorf("creating twice: %v, want already_exists", err)
		}
		got, _ := s.GetEndpoint(ctx, "api-ep")
		if got.Origin != job.OriginAPI {
			t.Errorf("origin = %q, want api", got.Origin)
		}
		spec.URL = "https://example.com/y"
		if err := s.UpdateEndpointSpec(ctx, spec, t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetEndpoint(ctx, "api-ep"); got.URL != spec.URL {
			t.Errorf("URL after update = %q", got.URL)
		}
		j := apiJob("api-ep", t0)
		s.DispatchJobs(ctx, []job.Job{j})
		if err := s.DeleteEndpoint(ctx, "api-ep"); job.ErrorCode(err) != job.CodeFailedPrecondition {
			t.Errorf("deleting an endpoint with a waiting job: %v, want failed_precondition", err)
		}
		s.CancelJob(ctx, j.ID, t0)
		if err := s.DeleteEndpoint(ctx, "api-ep"); err != nil {
			t.Errorf("DeleteEndpoint: %v", err)
		}
		if err := s.DeleteEndpoint(ctx, "api-ep"); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("deleting twice: %v, want not_found", err)
		}
	})

	t.Run("SourcesCRUD", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		cfg := job.SourceSpec{Name: "cfg", Scheme: "bearer", Secrets: []string{"s3cret-0123456789"}, MaxBodyBytes: 10240, ContentTypes: []string{"application/json"}}
		if err := s.UpsertSources(ctx, []job.SourceSpec{cfg}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		api := job.SourceSpec{Name: "api", Scheme: "github", Secrets: []string{"a", "b"}, PreviousSecretExpiresAt: t0.Add(time.Hour),
			MaxBodyBytes: 2048, ContentTypes: []string{"application/json"}, Routes: []string{"x"},
			DeliveryID: &job.ValueRef{Header: "X-Id"}, Required: []job.RequiredField{{Pointer: "/a", Type: "string"}}}
		if err := s.CreateSource(ctx, api, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSource(ctx, api, t0); job.ErrorCode(err) != job.CodeAlreadyExists {
			t.Errorf("creating twice: %v", err)
		}
		got, err := s.GetSource(ctx, "api")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(api, got.SourceSpec); diff != "" || got.Origin != job.OriginAPI {
			t.Errorf("GetSource (-want +got):\n%s origin %s", diff, got.Origin)
		}
		if err := s.SetSourcePaused(ctx, "api", true, t0); err != nil {
			t.Fatal(err)
		}
		list, _ := s.ListSources(ctx)
		if len(list) != 2 || list[0].Name != "api" || !list[0].Paused || list[1].Origin != job.OriginConfig {
			t.Errorf("ListSources = %+v", list)
		}
		api.Routes = nil
		if err := s.UpdateSourceSpec(ctx, api, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSource(ctx, "api"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSource(ctx, "api"); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("after delete: %v", err)
		}
		if err := s.UpdateSourceSpec(ctx, api, t0); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("updating a deleted source: %v", err)
		}
	})
}
