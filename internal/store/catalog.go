package store

import (
	"context"
	"sort"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

var _ job.EventStore = (*Store)(nil)

// catalogShards is how many rows of one type the commits of the processes
// sharing a database count in; the request counts (a source's minute and
// outcome) are sharded the same way. Each of a store's concurrent group commits
// holds a shard of its own until it ends, from a run of consecutive
// shards picked at random when the store starts; two commits share a row
// (and one waits for the other) only when two processes' runs overlap.
// A listing sums at most this many rows a type.
const catalogShards = 256

// WithCatalogShard makes the store count events in the catalog's shards
// n, n+1, … (one per concurrent group commit: 4 on PostgreSQL, 1 on
// SQLite) instead of a run picked at random: for deployments that number
// their processes, so that no two ever share a row.
func WithCatalogShard(n int) Option {
	return func(s *Store) { s.shardBase = n }
}

// newShards returns the store's shards, one per commit worker.
func newShards(base, workers int) chan int {
	ch := make(chan int, workers)
	for i := range workers {
		ch <- ((base+i)%catalogShards + catalogShards) % catalogShards
	}
	return ch
}

// countTypes adds a commit's inserted events to the catalog's counts, in
// the commit's shard, each example sealed like the body it copies.
func (s *Store) countTypes(ctx context.Context, tx Tx, shard int, events []job.NewEvent, inserted []bool) error {
	seen := typesSeen(events, inserted)
	if len(seen) == 0 {
		return nil
	}
	for i := range seen {
		seen[i].Shard = shard
		seen[i].Example = s.sealPayload(eventTypeAAD(seen[i].Name), seen[i].Example)
	}
	return tx.RecordEventTypesSeen(ctx, seen)
}

// typesSeen sums the inserted events of a commit by type, in name order
// (the order rows are locked in).
func typesSeen(events []job.NewEvent, inserted []bool) []EventTypeSeen {
	byName := map[string]*EventTypeSeen{}
	var names []string
	for i, e := range events {
		t := e.Event.Type
		if !inserted[i] || t == "" {
			continue
		}
		s, ok := byName[t]
		if !ok {
			s = &EventTypeSeen{Name: t, FirstSeenAt: e.Event.ReceivedAt}
			byName[t] = s
			names = append(names, t)
		}
		s.Count++
		if e.Event.ReceivedAt.Before(s.FirstSeenAt) {
			s.FirstSeenAt = e.Event.ReceivedAt
		}
		if !e.Event.ReceivedAt.Before(s.LastSeenAt) {
			s.LastSeenAt, s.Example = e.Event.ReceivedAt, nonNil(e.Event.Body)
		}
	}
	sort.Strings(names)
	out := make([]EventTypeSeen, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out
}

// ListEvents implements job.EventStore.
func (s *Store) ListEvents(ctx context.Context, f job.EventFilter) ([]job.Event, error) {
	rows, err := s.d.Reader().ListEvents(ctx, eventQuery(f))
	if err != nil {
		return nil, s.wrap("list events", err)
	}
	out := make([]job.Event, len(rows))
	for i, r := range rows {
		out[i] = job.Event{
			ID: r.ID, Source: r.Source, DeliveryID: r.DeliveryID, ContentType: r.ContentType,
			Type: r.Type, ReceivedAt: r.ReceivedAt,
		}
	}
	return out, nil
}

// ListEventTypes implements job.EventStore: the declared types and the
// counted ones, each count the sum of its shards and of what was counted
// before sharding, first and last seen the earliest and latest of them,
// the example the latest's.
func (s *Store) ListEventTypes(ctx context.Context) ([]job.EventType, error) {
	r := s.d.Reader()
	types, err := r.ListEventTypes(ctx)
	if err != nil {
		return nil, s.wrap("list event types", err)
	}
	counts, err := r.ListEventTypeCounts(ctx)
	if err != nil {
		return nil, s.wrap("list event type counts", err)
	}
	byName := make(map[string]int, len(types))
	for i, t := range types {
		byName[t.Name] = i
	}
	for _, c := range counts {
		i, ok := byName[c.Name]
		if !ok {
			i = len(types)
			byName[c.Name] = i
			types = append(types, job.EventType{EventTypeSpec: job.EventTypeSpec{Name: c.Name}})
		}
		t := &types[i]
		t.Count += c.Count
		if t.FirstSeenAt.IsZero() || c.FirstSeenAt.Before(t.FirstSeenAt) {
			t.FirstSeenAt = c.FirstSeenAt
		}
		if !c.LastSeenAt.Before(t.LastSeenAt) {
			t.LastSeenAt, t.Example = c.LastSeenAt, c.Example
		}
	}
	sort.Slice(types, func(i, j int) bool { return types[i].Name < types[j].Name })
	for i := range types {
		if types[i].Example, err = s.openPayload(eventTypeAAD(types[i].Name), types[i].Example); err != nil {
			return nil, s.wrap("open the example of event type "+types[i].Name, err)
		}
	}
	return types, nil
}

// DeclareEventTypes implements job.EventStore.
func (s *Store) DeclareEventTypes(ctx context.Context, specs []job.EventTypeSpec, now time.Time) error {
	err := s.inTx(ctx, func(tx Tx) error { return tx.DeclareEventTypes(ctx, specs, now) })
	if err != nil {
		return unavailable(s.wrap("declare event types", err))
	}
	return nil
}
