package sqlite

import (
	"context"
	"fmt"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/store"
)

// The re-encryption queries (store.SealedExecutor).

func (e *executor) ReplaceSourceSpec(ctx context.Context, name string, old, spec []byte) (bool, error) {
	n, err := e.q.ReplaceSourceSpec(ctx, e.db, sqlitedb.ReplaceSourceSpecParams{Name: name, OldSpec: string(old), NewSpec: string(spec)})
	return n > 0, err
}

func (e *executor) ReplaceEndpointSpec(ctx context.Context, name string, old, spec []byte) (bool, error) {
	n, err := e.q.ReplaceEndpointSpec(ctx, e.db, sqlitedb.ReplaceEndpointSpecParams{Name: name, OldSpec: string(old), NewSpec: string(spec)})
	return n > 0, err
}

func (e *executor) ListSealedCells(ctx context.Context, col store.SealedColumn, after string, max int) ([]store.SealedCell, error) {
	page := int64(max)
	switch col {
	case store.SealedEventBody:
		rows, err := e.q.ListEventBodies(ctx, e.db, sqlitedb.ListEventBodiesParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r sqlitedb.ListEventBodiesRow) store.SealedCell {
			return store.SealedCell{Key: r.ID, Value: r.Body}
		})
	case store.SealedJobPayload:
		rows, err := e.q.ListJobPayloads(ctx, e.db, sqlitedb.ListJobPayloadsParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r sqlitedb.ListJobPayloadsRow) store.SealedCell {
			return store.SealedCell{Key: r.ID, Value: r.Payload}
		})
	case store.SealedAttemptExcerpt:
		rows, err := e.q.ListAttemptExcerpts(ctx, e.db, sqlitedb.ListAttemptExcerptsParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r sqlitedb.ListAttemptExcerptsRow) store.SealedCell {
			return store.SealedCell{Key: r.ID, Value: []byte(r.ResponseExcerpt)}
		})
	case store.SealedRequestExcerpt:
		rows, err := e.q.ListRequestExcerpts(ctx, e.db, sqlitedb.ListRequestExcerptsParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r sqlitedb.ListRequestExcerptsRow) store.SealedCell {
			return store.SealedCell{Key: r.ID, Value: r.BodyExcerpt}
		})
	case store.SealedEventTypeExample:
		rows, err := e.q.ListEventTypeExamples(ctx, e.db, sqlitedb.ListEventTypeExamplesParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r sqlitedb.ListEventTypeExamplesRow) store.SealedCell {
			return store.SealedCell{Key: r.Name, Value: r.Example}
		})
	case store.SealedEventTypeCountExample:
		rows, err := e.q.ListEventTypeCountExamples(ctx, e.db)
		return store.Rows(rows, err, func(r sqlitedb.ListEventTypeCountExamplesRow) store.SealedCell {
			return store.SealedCell{Key: r.Name, Shard: int(r.Shard), Value: r.Example}
		})
	}
	return nil, fmt.Errorf("no sealed column %q", col)
}

func (e *executor) ReplaceSealedCell(ctx context.Context, col store.SealedColumn, c store.SealedCell, value []byte) (bool, error) {
	var n int64
	var err error
	switch col {
	case store.SealedEventBody:
		n, err = e.q.ReplaceEventBody(ctx, e.db, sqlitedb.ReplaceEventBodyParams{ID: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedJobPayload:
		n, err = e.q.ReplaceJobPayload(ctx, e.db, sqlitedb.ReplaceJobPayloadParams{ID: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedAttemptExcerpt:
		n, err = e.q.ReplaceAttemptExcerpt(ctx, e.db, sqlitedb.ReplaceAttemptExcerptParams{ID: c.Key, OldValue: string(c.Value), NewValue: string(value)})
	case store.SealedRequestExcerpt:
		n, err = e.q.ReplaceRequestExcerpt(ctx, e.db, sqlitedb.ReplaceRequestExcerptParams{ID: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedEventTypeExample:
		n, err = e.q.ReplaceEventTypeExample(ctx, e.db, sqlitedb.ReplaceEventTypeExampleParams{Name: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedEventTypeCountExample:
		n, err = e.q.ReplaceEventTypeCountExample(ctx, e.db, sqlitedb.ReplaceEventTypeCountExampleParams{
			Name: c.Key, Shard: int64(c.Shard), OldValue: c.Value, NewValue: value,
		})
	default:
		return false, fmt.Errorf("no sealed column %q", col)
	}
	return n > 0, err
}
