package postgres

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// RecordEventTypesSeen runs one statement per type: a commit carries few
// types, and rows locked in name order cannot deadlock.
func (e *executor) RecordEventTypesSeen(ctx context.Context, seen []store.EventTypeSeen) error {
	for _, s := range seen {
		err := e.q.RecordEventTypeCount(ctx, e.db, pgdb.RecordEventTypeCountParams{
			Name: s.Name, Shard: int32(s.Shard), Seen: s.Count, FirstSeenAt: s.FirstSeenAt, LastSeenAt: s.LastSeenAt,
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
	return store.Rows(rows, err, func(r pgdb.ListEventTypeCountsRow) store.EventTypeSeen {
		return store.EventTypeSeen{
			Name: r.Name, Count: r.SeenCount, FirstSeenAt: r.FirstSeenAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(),
			Example: r.Example,
		}
	})
}

func (e *executor) DeclareEventTypes(ctx context.Context, specs []job.EventTypeSpec, now time.Time) error {
	names := []string{}
	for _, s := range specs {
		err := e.q.DeclareEventType(ctx, e.db, pgdb.DeclareEventTypeParams{
			Name: s.Name, Description: s.Description, Schema: s.Schema, Now: now,
		})
		if err != nil {
			return err
		}
		names = append(names, s.Name)
	}
	return e.q.UndeclareEventTypes(ctx, e.db, pgdb.UndeclareEventTypesParams{Now: now, Names: names})
}

func (e *executor) ListEventTypes(ctx context.Context) ([]job.EventType, error) {
	rows, err := e.q.ListEventTypes(ctx, e.db)
	if err != nil {
		return nil, err
	}
	out := make([]job.EventType, len(rows))
	for i, r := range rows {
		out[i] = job.EventType{
			EventTypeSpec: job.EventTypeSpec{Name: r.Name, Description: r.Description, Schema: r.Schema},
			Declared:      r.Declared,
			Count:         r.SeenCount,
			FirstSeenAt:   derefTime(r.FirstSeenAt),
			LastSeenAt:    derefTime(r.LastSeenAt),
			Example:       r.Example,
		}
	}
	return out, nil
}
