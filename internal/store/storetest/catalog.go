package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// exerciseCatalog runs the conformance tests of event types: listing
// events by page and filter, the catalog's counts and declarations, and
// jobs that are dead when made (a failed transformation).
func exerciseCatalog(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

	store := func(t *testing.T, s job.Store, source, deliveryID, typ string, at time.Time) job.Event {
		t.Helper()
		e := newEvent(source, deliveryID, at)
		e.Event.Type = typ
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatalf("StoreEvent: %v", err)
		}
		return e.Event
	}

	t.Run("ListEventsByPageAndFilter", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		es := s.(job.EventStore)
		var all []job.Event
		for i, typ := range []string{"order.created", "push", "order.created", "", "order.created"} {
			src := "shop"
			if i%2 == 1 {
				src = "gh"
			}
			all = append(all, store(t, s, src, "", typ, now.Add(time.Duration(i)*time.Minute)))
		}
		ids := func(events []job.Event) []string {
			var out []string
			for _, e := range events {
				out = append(out, e.ID)
			}
			return out
		}
		// Keyset pages of 2, newest first, cover every event once.
		var got []string
		f := job.EventFilter{Limit: 2}
		for {
			page, err := es.ListEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page)...)
			if len(page) < f.Limit {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		want := []string{all[4].ID, all[3].ID, all[2].ID, all[1].ID, all[0].ID}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		for _, c := range []struct {
			name string
			f    job.EventFilter
			want []string
		}{
			{"type", job.EventFilter{Type: "order.created"}, []string{all[4].ID, all[2].ID, all[0].ID}},
			{"source", job.EventFilter{Source: "gh"}, []string{all[3].ID, all[1].ID}},
			{"received", job.EventFilter{ReceivedAfter: now.Add(time.Minute), ReceivedBefore: now.Add(3 * time.Minute)}, []string{all[2].ID, all[1].ID}},
		} {
			c.f.Limit = 10
			page, err := es.ListEvents(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, ids(page)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.name, diff)
			}
		}
		page, _ := es.ListEvents(ctx, job.EventFilter{Limit: 1})
		if page[0].Type != "order.created" || page[0].Source != "shop" || !page[0].ReceivedAt.Equal(all[4].ReceivedAt) || page[0].Body != nil {
			t.Errorf("a listed event: %+v; want its type, source and time, no body", page[0])
		}
	})

	t.Run("ListEventsByDeliveryID", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		es := s.(job.EventStore)
		// The same delivery id from three sources (ids are per provider),
		// and other ids around them.
		a := store(t, s, "shop", "d-1", "order.created", now)
		store(t, s, "shop", "d-2", "order.created", now.Add(time.Minute))
		b := store(t, s, "gh", "d-1", "push", now.Add(2*time.Minute))
		store(t, s, "gh", "", "push", now.Add(3*time.Minute))
		c := store(t, s, "zz", "d-1", "order.created", now.Add(4*time.Minute))
		store(t, s, "aa", "d-3", "push", now.Add(5*time.Minute))
		list := func(f job.EventFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 10
			}
			page, err := es.ListEvents(ctx, f)
			if err != nil {
				t.Fatalf("ListEvents(%+v): %v", f, err)
			}
			var out []string
			for _, e := range page {
				if e.DeliveryID != f.DeliveryID {
					t.Errorf("ListEvents(%+v) listed %s with delivery id %q", f, e.ID, e.DeliveryID)
				}
				out = append(out, e.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    job.EventFilter
			want []string
		}{
			{"every source", job.EventFilter{DeliveryID: "d-1"}, []string{c.ID, b.ID, a.ID}},
			{"one source", job.EventFilter{DeliveryID: "d-1", Source: "gh"}, []string{b.ID}},
			{"a type", job.EventFilter{DeliveryID: "d-1", Type: "order.created"}, []string{c.ID, a.ID}},
			{"a window", job.EventFilter{DeliveryID: "d-1", ReceivedAfter: now.Add(time.Minute), ReceivedBefore: now.Add(3 * time.Minute)}, []string{b.ID}},
			{"a page", job.EventFilter{DeliveryID: "d-1", Limit: 2}, []string{c.ID, b.ID}},
			{"the next page", job.EventFilter{DeliveryID: "d-1", Limit: 2, BeforeID: b.ID}, []string{a.ID}},
			{"an unknown id", job.EventFilter{DeliveryID: "d-9"}, nil},
			{"a source without it", job.EventFilter{DeliveryID: "d-3", Source: "shop"}, nil},
		} {
			if diff := cmp.Diff(tc.want, list(tc.f)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	})

	t.Run("CatalogCountsAndDeclarations", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		es := s.(job.EventStore)
		schema := []byte(`{"type": "object"}`)
		if err := es.DeclareEventTypes(ctx, []job.EventTypeSpec{{Name: "invoice.paid", Description: "paid", Schema: schema}, {Name: "push"}}, now); err != nil {
			t.Fatal(err)
		}
		store(t, s, "shop", "1", "order.created", now.Add(2*time.Minute))
		store(t, s, "shop", "2", "order.created", now.Add(time.Minute))
		last := store(t, s, "shop", "3", "order.created", now.Add(3*time.Minute))
		store(t, s, "gh", "", "push", now)
		// A duplicate is not counted again.
		dup := newEvent("shop", "1", now.Add(4*time.Minute))
		dup.Event.Type = "order.created"
		if _, err := s.StoreEvent(ctx, dup); err != nil {
			t.Fatal(err)
		}
		// The file no longer declares invoice.paid: it leaves the catalog
		// only as a declaration; push stays declared and keeps its count.
		if err := es.DeclareEventTypes(ctx, []job.EventTypeSpec{{Name: "push", Description: "a push"}}, now); err != nil {
			t.Fatal(err)
		}
		types, err := es.ListEventTypes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []job.EventType{
			{EventTypeSpec: job.EventTypeSpec{Name: "invoice.paid"}},
			{EventTypeSpec: job.EventTypeSpec{Name: "order.created"}, Count: 3, FirstSeenAt: now.Add(time.Minute), LastSeenAt: now.Add(3 * time.Minute), Example: last.Body},
			{EventTypeSpec: job.EventTypeSpec{Name: "push", Description: "a push"}, Declared: true, Count: 1, FirstSeenAt: now, LastSeenAt: now, Example: []byte(`{"id":""}`)},
		}
		if diff := cmp.Diff(want, types); diff != "" {
			t.Errorf("catalog (-want +got):\n%s", diff)
		}
	})

	t.Run("JobDeadWhenMade", func(t *testing.T) {
		t.Parallel()
		s, _ := withEndpoints(setup, "orders")(t)
		e := newEvent("shop", "", now, "orders")
		e.Jobs[0].State, e.Jobs[0].LastError, e.Jobs[0].FinishedAt = job.StateDead, "transform: no such key: data", now
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		j, err := s.GetJob(ctx, e.Jobs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != job.StateDead || j.LastError != "transform: no such key: data" || !j.FinishedAt.Equal(now) {
			t.Errorf("job: state %s, last error %q, finished %v", j.State, j.LastError, j.FinishedAt)
		}
		claimed, err := s.ClaimJobs(ctx, job.Claim{Endpoint: "orders", LeaseID: "l", Now: now.Add(time.Hour), LeaseUntil: now.Add(2 * time.Hour), Max: 10})
		if err != nil || len(claimed) != 0 {
			t.Errorf("a dead job was claimed: %v (%v)", claimed, err)
		}
	})
}

// ExerciseSharedCatalog checks the catalog of several processes on one
// database: each counts in a shard of its own, and a listing from any of
// them sums the shards — the count of every process, the earliest first
// seen, the latest last seen and the example that came with it. The
// request counts are sharded the same way: the stats of either process
// count every process's requests.
func ExerciseSharedCatalog(t *testing.T, opener EncryptedOpener) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	open := opener(t)
	openShard := func(n int) *store.Store {
		s, err := open(ctx, store.WithCatalogShard(n))
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := openShard(0), openShard(100)
	put := func(s *store.Store, id, typ string, at time.Time) []byte {
		t.Helper()
		e := newEvent("src", id, at)
		e.Event.Type = typ
		e.Request = &job.InboundRequest{ID: job.NewID("req", at), Source: "src", KnownSource: true, ReceivedAt: at}
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e.Event.Body
	}
	put(a, "a1", "order.created", t0.Add(time.Minute))
	put(a, "a2", "order.created", t0.Add(2*time.Minute))
	put(b, "b1", "order.created", t0) // b saw the type first…
	put(a, "a3", "order.created", t0.Add(3*time.Minute))
	last := put(b, "b2", "order.created", t0.Add(4*time.Minute)) // …and last
	onlyA := put(a, "a4", "invoice.paid", t0.Add(5*time.Minute))
	// The same shards in a third process still count right (it only
	// shares a's rows).
	put(openShard(0), "c1", "invoice.paid", t0.Add(-time.Minute))

	want := []job.EventType{
		{EventTypeSpec: job.EventTypeSpec{Name: "invoice.paid"}, Count: 2, FirstSeenAt: t0.Add(-time.Minute), LastSeenAt: t0.Add(5 * time.Minute), Example: onlyA},
		{EventTypeSpec: job.EventTypeSpec{Name: "order.created"}, Count: 5, FirstSeenAt: t0, LastSeenAt: t0.Add(4 * time.Minute), Example: last},
	}
	for name, s := range map[string]*store.Store{"a": a, "b": b} {
		got, err := s.ListEventTypes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("catalog listed by %s (-want +got):\n%s", name, diff)
		}
		// One request a minute from 07:59 to 08:05, whoever counted it.
		st, err := s.GetStats(ctx, job.StatsQuery{Since: t0.Add(-time.Minute), Bucket: time.Minute, Now: t0.Add(6 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var perMinute []int64
		for _, p := range st.Points {
			perMinute = append(perMinute, p.Received[job.OutcomeAccepted])
		}
		if want := []int64{1, 1, 1, 1, 1, 1, 1, 0}; !slices.Equal(perMinute, want) {
			t.Errorf("stats read by %s: accepted per minute %v, want %v", name, perMinute, want)
		}
	}
}
