package store

import (
	"context"
	"sort"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

var _ job.EventStore = (*Store)(nil)

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

// ListEventTypes implements job.EventStore.
func (s *Store) ListEventTypes(ctx context.Context) ([]job.EventType, error) {
	types, err := s.d.Reader().ListEventTypes(ctx)
	if err != nil {
		return nil, s.wrap("list event types", err)
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
