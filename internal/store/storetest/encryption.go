package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
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
// spec stored in clear before encryption still reads, payload encryption
// seals bodies, payloads, excerpts and the catalog's example, and
// Reencrypt moves every spec and payload to the ring's first key, without
// undoing an edit made meanwhile, so that the old key can be dropped.
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

	// activity stores an event of type order.created whose body holds
	// marker, delivers its job with marker in the response excerpt and
	// logs a refused request with marker in its body excerpt: every
	// payload that payload encryption seals.
	activity := func(t *testing.T, s *store.Store, deliveryID, marker string, at time.Time) (jobID, reqID string) {
		t.Helper()
		e := newEvent("src", deliveryID, at, "ep")
		e.Event.Type = "order.created"
		e.Event.Body = []byte(`{"marker":"` + marker + `"}`)
		e.Jobs[0].Payload = e.Event.Body
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.ClaimJobs(ctx, job.Claim{Endpoint: "ep", LeaseID: "l-" + deliveryID, Now: at, LeaseUntil: at.Add(time.Minute), Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range claimed {
			if j.EventID == e.Event.ID {
				jobID = j.ID
			}
		}
		if jobID == "" {
			t.Fatalf("ClaimJobs = %+v, without the job of event %s", claimed, e.Event.ID)
		}
		ok, err := s.FinishJobs(ctx, []job.Finish{{JobID: jobID, LeaseID: "l-" + deliveryID, State: job.StateCompleted, Now: at,
			Attempt: job.Attempt{ID: job.NewID("att", at), Number: 1, StartedAt: at, StatusCode: 200, Outcome: "completed",
				ResponseExcerpt: `{"received":"` + marker + `"}`}}})
		if err != nil || !ok[0] {
			t.Fatalf("FinishJobs = %v, %v", ok, err)
		}
		reqID = job.NewID("req", at)
		err = s.RecordRequest(ctx, job.InboundRequest{ID: reqID, Source: "src", KnownSource: true, ReceivedAt: at,
			Outcome: "unauthorized", StatusCode: 401, Size: 20, BodyExcerpt: []byte(`{"forged":"` + marker + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return jobID, reqID
	}
	// payloadsRead checks that the store reads marker back from each
	// payload activity wrote.
	payloadsRead := func(t *testing.T, s *store.Store, jobID, reqID, marker string) {
		t.Helper()
		as, err := s.ListAttempts(ctx, jobID)
		if err != nil || len(as) != 1 || as[0].ResponseExcerpt != `{"received":"`+marker+`"}` {
			t.Errorf("attempts of %s = %+v, %v; want the excerpt with %s", jobID, as, err, marker)
		}
		r, err := s.GetRequest(ctx, reqID)
		if err != nil || string(r.BodyExcerpt) != `{"forged":"`+marker+`"}` {
			t.Errorf("request %s excerpt = %q, %v", reqID, r.BodyExcerpt, err)
		}
		listed, err := s.ListRequests(ctx, job.RequestFilter{Limit: 100})
		found := false
		for _, l := range listed {
			found = found || (l.ID == reqID && string(l.BodyExcerpt) == `{"forged":"`+marker+`"}`)
		}
		if err != nil || !found {
			t.Errorf("ListRequests = %+v, %v; want %s with its excerpt", listed, err, reqID)
		}
	}
	// example is the catalog's example payload of order.created.
	example := func(t *testing.T, s *store.Store) string {
		t.Helper()
		types, err := s.ListEventTypes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, et := range types {
			if et.Name == "order.created" {
				return string(et.Example)
			}
		}
		t.Fatalf("order.created is not in the catalog: %+v", types)
		return ""
	}
	// rawPayloads is every payload activity wrote, as the database holds
	// it.
	rawPayloads := func(t *testing.T, s *store.Store, jobID string) [][]byte {
		t.Helper()
		r := s.Driver().Reader()
		var out [][]byte
		as, err := r.ListAttempts(ctx, jobID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			out = append(out, []byte(a.ResponseExcerpt))
		}
		reqs, err := r.ListRequests(ctx, store.RequestQuery{Filter: job.RequestFilter{Limit: 100}, IDRange: store.IDRange{BeforeID: job.IDCeiling("req")}})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range reqs {
			out = append(out, q.Req.BodyExcerpt)
		}
		counts, err := r.ListEventTypeCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			out = append(out, c.Example)
		}
		return out
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
		plainJob, plainReq := activity(t, s, "plain-2", "plain-marker", t0.Add(time.Second))
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

		// Excerpts and the catalog's example: sealed when written, and
		// the ones written in clear before still read.
		payloadsRead(t, s, plainJob, plainReq, "plain-marker")
		jobID, reqID := activity(t, s, "sealed-2", "excerpt-in-clear-nowhere", t0.Add(2*time.Second))
		for _, b := range rawPayloads(t, s, jobID) {
			if bytes.Contains(b, []byte("excerpt-in-clear-nowhere")) {
				t.Errorf("a payload is stored in clear: %q", b)
			}
		}
		payloadsRead(t, s, jobID, reqID, "excerpt-in-clear-nowhere")
		if got := example(t, s); got != `{"marker":"excerpt-in-clear-nowhere"}` {
			t.Errorf("catalog example = %s, want the newest body", got)
		}
	})

	t.Run("RotateThenDropTheOldKey", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		s := openWith(t, open, ring(t, oldKey), store.WithPayloadEncryption())
		declare(t, s)
		before, err := s.GetEndpoint(ctx, "ep")
		if err != nil {
			t.Fatal(err)
		}
		jobID, reqID := activity(t, s, "rotated", "rotated-marker", t0)
		s.Close()

		s = openWith(t, open, ring(t, newKey+","+oldKey), store.WithPayloadEncryption())
		readsBack(t, s)
		rep, err := s.Reencrypt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The payloads: the event's body (its job's payload is the body,
		// stored once), the attempt's excerpt, the request's excerpt and
		// the catalog's example.
		if want := (store.ReencryptReport{Sealed: 2, Payloads: 4}); rep != want {
			t.Errorf("Reencrypt = %+v, want %+v", rep, want)
		}
		if rep, err := s.Reencrypt(ctx); err != nil || rep != (store.ReencryptReport{Current: 2, PayloadsCurrent: 4}) {
			t.Errorf("Reencrypt again = %+v, %v; want all already current", rep, err)
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
		payloadsRead(t, s, jobID, reqID, "rotated-marker")
		if got := example(t, s); got != `{"marker":"rotated-marker"}` {
			t.Errorf("catalog example after rotation = %s", got)
		}
	})

	t.Run("RotateRacingEditsLosesNone", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		// Two processes on one database during a key rollout: one still
		// seals under the old key and edits specs; the other, with the new
		// key first, re-encrypts them again and again meanwhile. A
		// re-encryption that wrote back the spec it read before an edit
		// would undo that edit.
		editor := openWith(t, open, ring(t, oldKey))
		defer editor.Close()
		const endpoints, edits = 8, 40
		for i := range endpoints {
			if err := editor.CreateEndpoint(ctx, spec(fmt.Sprintf("ep%d", i)), t0); err != nil {
				t.Fatal(err)
			}
		}
		rotator := openWith(t, open, ring(t, newKey+","+oldKey))
		defer rotator.Close()
		url := func(i, n int) string { return fmt.Sprintf("https://example.com/ep%d/edit%d", i, n) }
		var wg sync.WaitGroup
		errs := make(chan error, endpoints+1)
		done := make(chan struct{})
		for i := range endpoints {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range edits {
					e := spec(fmt.Sprintf("ep%d", i))
					e.URL = url(i, n)
					if err := editor.UpdateEndpointSpec(ctx, e, t0.Add(time.Duration(n+1)*time.Second)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		rotated := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-done:
					rotated <- n
					return
				default:
				}
				rep, err := rotator.Reencrypt(ctx)
				if err != nil {
					errs <- err
					rotated <- n
					return
				}
				n += rep.Sealed
			}
		}()
		wg.Wait()
		close(done)
		n := <-rotated
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		t.Logf("%d specs re-sealed during %d edits", n, endpoints*edits)
		for i := range endpoints {
			ep, err := rotator.GetEndpoint(ctx, fmt.Sprintf("ep%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if ep.URL != url(i, edits-1) {
				t.Errorf("ep%d URL = %s after the race, want the last edit %s", i, ep.URL, url(i, edits-1))
			}
		}
		if _, err := rotator.Reencrypt(ctx); err != nil {
			t.Fatal(err)
		}
		if rep, err := rotator.Reencrypt(ctx); err != nil || rep.Sealed != 0 || rep.Current != endpoints {
			t.Errorf("Reencrypt after the race = %+v, %v; want every spec current", rep, err)
		}
	})
}
