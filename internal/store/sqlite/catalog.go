package sqlite

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

func (e *executor) RecordEventTypesSeen(ctx context.Context, seen []store.EventTypeSeen) error {
	for _, s := range seen {
		err := e.q.RecordEventTypeCount(ctx, e.db, sqlitedb.RecordEventTypeCountParams{
			Name: s.Name, Shard: int64(s.Shard), Seen: s.Count, FirstSeenAt: micros(s.FirstSeenAt), LastSeenAt: micros(s.LastSeenAt),
			Example: s.Example,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *executor) ListEventTypeCounts(ctx context.Context) ([]store.EventTypeSeen, error) {
	rows, err := e.q.ListEventTypeCounts(ctx, e.db)
	return store.Rows(rows, err, func(r sqlitedb.ListEventTypeCountsRow) store.EventTypeSeen {
		return store.EventTypeSeen{
			Name: r.Name, Count: r.SeenCount, FirstSeenAt: fromMicros(r.FirstSeenAt), LastSeenAt: fromMicros(r.LastSeenAt),
			Example: r.Example,
		}
	})
}

func (e *executor) DeclareEventTypes(ctx context.Context, specs []job.EventTypeSpec, now time.Time) error {
	names := []string{""} // NOT IN () of nothing: keep the list non-empty
	for _, s := range specs {
		var schema *string
		if s.Schema != nil {
			v := string(s.Schema)
			schema = &v
		}
		err := e.q.DeclareEventType(ctx, e.db, sqlitedb.DeclareEventTypeParams{
			Name: s.Name, Description: s.Description, Schema: schema, Now: micros(now),
		})
		if err != nil {
			return err
		}
		names = append(names, s.Name)
	}
	return e.q.UndeclareEventTypes(ctx, e.db, sqlitedb.UndeclareEventTypesParams{Now: micros(now), Names: names})
}

func (e *executor) ListEventTypes(ctx context.Context) ([]job.EventType, error) {
	rows, err := e.q.ListEventTypes(ctx, e.db)
	if err != nil {
		return nil, err
	}
	out := make([]job.EventType, len(rows))
	for i, r := range rows {
		out[i] = job.EventType{
			EventTypeSpec: job.EventTypeSpec{Name: r.Name, Description: r.Description},
			Declared:      r.Declared != 0,
			Count:         r.SeenCount,
			FirstSeenAt:   fromNullMicros(r.FirstSeenAt),
			LastSeenAt:    fromNullMicros(r.LastSeenAt),
			Example:       r.Example,
		}
		if r.Schema != nil {
			out[i].Schema = []byte(*r.Schema)
		}
	}
	return out, nil
}
