package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/secretbox"
	"github.com/dispatchd/dispatchd/internal/store"
)

// EncryptedOpener returns a function that opens a store on a fresh
// database of its own with the options (a keyring, payload encryption);
// calling it again opens the same database, so that a test can change keys
// between two opens.
type EncryptedOpener func(t *testing.T) func(ctx context.Context, opts ...store.Option) (*store.Store, error)

// ExerciseEncryption checks secrets at rest: specs are stored sealed, a
// spec stored in clear before encryption still reads, and Reencrypt moves
// every spec to the ring's first key so that the old key can be dropped.
func ExerciseEncryption(t *testing.T, opener EncryptedOpener) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const srcSecret, epSecret = "whsec_c291cmNlLXNlY3JldC1pbi1jbGVhcg==", "endpoint-secret-in-clear"
	oldKey, newKey := secretbox.GenerateKey(), secretbox.GenerateKey()
	ring := func(t *testing.T, keys string) *secretbox.Keyring {
		t.Helper()
		k, err := secretbox.ParseKeyring(keys)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	openWith := func(t *testing.T, open func(context.Context, ...store.Option) (*store.Store, error), k *secretbox.Keyring, more ...store.Option) *store.Store {
		t.Helper()
		s, err := open(ctx, append([]store.Option{store.WithKeyring(k)}, more...)...)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		return s
	}
	// stored is every spec as the database holds it.
	stored := func(t *testing.T, s *store.Store) [][]byte {
		t.Helper()
		srcs, err := s.Driver().Reader().ListSources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		eps, err := s.Driver().Reader().ListEndpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, r := range srcs {
			out = append(out, r.Spec)
		}
		for _, r := range eps {
			out = append(out, r.Spec)
		}
		return out
	}
	noneInClear := func(t *testing.T, s *store.Store) {
		t.Helper()
		for _, b := range stored(t, s) {
			if bytes.Contains(b, []byte(srcSecret)) || bytes.Contains(b, []byte(epSecret)) || bytes.Contains(b, []byte("example.com")) {
				t.Errorf("a spec is stored in clear: %s", b)
			}
		}
	}
	readsBack := func(t *testing.T, s *store.Store) {
		t.Helper()
		src, err := s.GetSource(ctx, "github")
		if err != nil {
			t.Fatalf("GetSource: %v", err)
		}
		if len(src.Secrets) != 1 || src.Secrets[0] != srcSecret || src.Scheme != "standard" {
			t.Errorf("source read back as %+v", src.SourceSpec)
		}
		ep, err := s.GetEndpoint(ctx, "ep")
		if err != nil {
			t.Fatalf("GetEndpoint: %v", err)
		}
		if len(ep.Secrets) != 1 || ep.Secrets[0] != epSecret || ep.URL != "https://example.com/ep" {
			t.Errorf("endpoint read back as %+v", ep.EndpointSpec)
		}
		eps, err := s.ListEndpoints(ctx)
		if err != nil || len(eps) != 1 {
			t.Errorf("ListEndpoints = %d, %v", len(eps), err)
		}
	}
	declare := func(t *testing.T, s *store.Store) {
		t.Helper()
		if err := s.UpsertSources(ctx, []job.SourceSpec{{Name: "github", Scheme: "standard", Secrets: []string{srcSecret}}}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		e := spec("ep")
		e.Secrets = []string{epSecret}
		if err := s.CreateEndpoint(ctx, e, t0); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("SpecsSealed", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		s := openWith(t, open, ring(t, oldKey))
		defer s.Close()
		declare(t, s)
		noneInClear(t, s)
		readsBack(t, s)
		e := spec("ep")
		e.Secrets = []string{epSecret}
		if err := s.UpdateEndpointSpec(ctx, e, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		noneInClear(t, s)
		readsBack(t, s)
	})

	t.Run("SealedNeedsTheKey", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		s := openWith(t, open, ring(t, oldKey))
		declare(t, s)
		s.Close()
		s = openWith(t, open, nil)
		defer s.Close()
		if _, err := s.GetSource(ctx, "github"); err == nil {
			t.Error("a sealed source read without a keyring")
		}
	})

	t.Run("PlainRowsStillRead", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		s := openWith(t, open, nil)
		declare(t, s)
		for _, b := range stored(t, s) {
			if !json.Valid(b) || bytes.Contains(b, []byte(`"$sealed"`)) {
				t.Fatalf("without a keyring a spec is stored as %s", b)
			}
		}
		s.Close()
		s = openWith(t, open, ring(t, oldKey))
		defer s.Close()
		readsBack(t, s)
		rep, err := s.Reencrypt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sealed != 2 || rep.Current != 0 {
			t.Errorf("Reencrypt = %+v, want 2 sealed", rep)
		}
		noneInClear(t, s)
		readsBack(t, s)
	})

	t.Run("PayloadsSealed", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		s := openWith(t, open, nil)
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{spec("ep")}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		// One event stored in clear before payload encryption was turned on.
		before := newEvent("src", "plain-1", t0, "ep")
		if _, err := s.StoreEvent(ctx, before); err != nil {
			t.Fatal(err)
		}
		s.Close()

		s = openWith(t, open, ring(t, oldKey), store.WithPayloadEncryption())
		defer s.Close()
		sealed := newEvent("src", "payload-in-clear-nowhere", t0, "ep")
		if _, err := s.StoreEvent(ctx, sealed); err != nil {
			t.Fatal(err)
		}
		dispatched := job.Job{ID: job.NewID("job", t0), Endpoint: "ep", Payload: []byte(`{"dispatched":"payload-in-clear-nowhere"}`),
			State: job.StateAvailable, RunAt: t0, CreatedAt: t0, UpdatedAt: t0}
		if _, err := s.DispatchJobs(ctx, []job.Job{dispatched}); err != nil {
			t.Fatal(err)
		}
		row, err := s.Driver().Reader().GetEvent(ctx, sealed.Event.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.Body, []byte("payload-in-clear-nowhere")) {
			t.Errorf("event body stored in clear: %q", row.Body)
		}
		jr, err := s.Driver().Reader().GetJob(ctx, dispatched.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(jr.Job.Payload, []byte("payload-in-clear-nowhere")) {
			t.Errorf("job payload stored in clear: %q", jr.Job.Payload)
		}
		for _, e := range []job.NewEvent{before, sealed} {
			got, err := s.GetEvent(ctx, e.Event.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, e.Event.Body) {
				t.Errorf("event %s body = %q, want %q", e.Event.DeliveryID, got.Body, e.Event.Body)
			}
			jobs, err := s.ListJobsByEvent(ctx, e.Event.ID)
			if err != nil || len(jobs) != 1 || !bytes.Equal(jobs[0].Payload, e.Event.Body) {
				t.Errorf("jobs of event %s = %+v, %v; want its body as payload", e.Event.DeliveryID, jobs, err)
			}
		}
		got, err := s.GetJob(ctx, dispatched.ID)
		if err != nil || !bytes.Equal(got.Payload, dispatched.Payload) {
			t.Errorf("dispatched job payload = %q, %v", got.Payload, err)
		}
	})

	t.Run("RotateThenDropTheOldKey", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		s := openWith(t, open, ring(t, oldKey))
		declare(t, s)
		before, err := s.GetEndpoint(ctx, "ep")
		if err != nil {
			t.Fatal(err)
		}
		s.Close()

		s = openWith(t, open, ring(t, newKey+","+oldKey))
		readsBack(t, s)
		rep, err := s.Reencrypt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sealed != 2 || rep.Current != 0 {
			t.Errorf("Reencrypt = %+v, want 2 sealed", rep)
		}
		if rep, err := s.Reencrypt(ctx); err != nil || rep.Sealed != 0 || rep.Current != 2 {
			t.Errorf("Reencrypt again = %+v, %v; want 2 already current", rep, err)
		}
		after, err := s.GetEndpoint(ctx, "ep")
		if err != nil {
			t.Fatal(err)
		}
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("re-encryption moved updated_at from %v to %v", before.UpdatedAt, after.UpdatedAt)
		}
		s.Close()

		s = openWith(t, open, ring(t, newKey))
		defer s.Close()
		noneInClear(t, s)
		readsBack(t, s)
	})
}
