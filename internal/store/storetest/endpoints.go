package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// exerciseEndpoints runs the conformance tests of endpoints: declaring, reading, health, pause and disable.
func exerciseEndpoints(t *testing.T, setup setupFunc) {
	k := newKit(setup)
	ctx, t0 := context.Background(), k.t0

	t.Run("Endpoints", func(t *testing.T) {
		t.Parallel()
		s, _ := k.setup(t)
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

	t.Run("PausedOrDisabledNotClaimed", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		k.store(t, s, newEvent("src", "1", t0, "ep"))
		s.SetEndpointPaused(ctx, "ep", true, t0)
		if got := k.claim(t, s, "l", t0, 10); len(got) != 0 {
			t.Errorf("a paused endpoint's job was claimed")
		}
		s.SetEndpointPaused(ctx, "ep", false, t0)
		s.DisableEndpoint(ctx, "ep", "410", t0)
		if got := k.claim(t, s, "l", t0, 10); len(got) != 0 {
			t.Errorf("a disabled endpoint's job was claimed")
		}
		s.EnableEndpoint(ctx, "ep", t0)
		if got := k.claim(t, s, "l", t0, 10); len(got) != 1 || got[0].Attempts != 1 {
			t.Errorf("after enabling: claimed %+v, want the job at its first attempt", got)
		}
	})

}
