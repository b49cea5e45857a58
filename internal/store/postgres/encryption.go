package postgres

import (
	"context"
	"fmt"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/store"
)

// The re-encryption queries (store.SealedExecutor).

func (e *executor) ReplaceSourceSpec(ctx context.Context, name string, old, spec []byte) (bool, error) {
	n, err := e.q.ReplaceSourceSpec(ctx, e.db, pgdb.ReplaceSourceSpecParams{Name: name, OldSpec: old, NewSpec: spec})
	return n > 0, err
}

func (e *executor) ReplaceEndpointSpec(ctx context.Context, name string, old, spec []byte) (bool, error) {
	n, err := e.q.ReplaceEndpointSpec(ctx, e.db, pgdb.ReplaceEndpointSpecParams{Name: name, OldSpec: old, NewSpec: spec})
	return n > 0, err
}

func (e *executor) ListSealedCells(ctx context.Context, col store.SealedColumn, after string, max int) ([]store.SealedCell, error) {
	page := int32(max)
	switch col {
	case store.SealedEventBody:
		rows, err := e.q.ListEventBodies(ctx, e.db, pgdb.ListEventBodiesParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r pgdb.ListEventBodiesRow) store.SealedCell { return store.SealedCell{Key: r.ID, Value: r.Body} })
	case store.SealedJobPayload:
		rows, err := e.q.ListJobPayloads(ctx, e.db, pgdb.ListJobPayloadsParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r pgdb.ListJobPayloadsRow) store.SealedCell { return store.SealedCell{Key: r.ID, Value: r.Payload} })
	case store.SealedAttemptExcerpt:
		rows, err := e.q.ListAttemptExcerpts(ctx, e.db, pgdb.ListAttemptExcerptsParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r pgdb.ListAttemptExcerptsRow) store.SealedCell {
			return store.SealedCell{Key: r.ID, Value: []byte(r.ResponseExcerpt)}
		})
	case store.SealedRequestExcerpt:
		rows, err := e.q.ListRequestExcerpts(ctx, e.db, pgdb.ListRequestExcerptsParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r pgdb.ListRequestExcerptsRow) store.SealedCell {
			return store.SealedCell{Key: r.ID, Value: r.BodyExcerpt}
		})
	case store.SealedEventTypeExample:
		rows, err := e.q.ListEventTypeExamples(ctx, e.db, pgdb.ListEventTypeExamplesParams{AfterID: after, PageSize: page})
		return store.Rows(rows, err, func(r pgdb.ListEventTypeExamplesRow) store.SealedCell {
			return store.SealedCell{Key: r.Name, Value: r.Example}
		})
	case store.SealedEventTypeCountExample:
		rows, err := e.q.ListEventTypeCountExamples(ctx, e.db)
		return store.Rows(rows, err, func(r pgdb.ListEventTypeCountExamplesRow) store.SealedCell {
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
		n, err = e.q.ReplaceEventBody(ctx, e.db, pgdb.ReplaceEventBodyParams{ID: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedJobPayload:
		n, err = e.q.ReplaceJobPayload(ctx, e.db, pgdb.ReplaceJobPayloadParams{ID: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedAttemptExcerpt:
		n, err = e.q.ReplaceAttemptExcerpt(ctx, e.db, pgdb.ReplaceAttemptExcerptParams{ID: c.Key, OldValue: string(c.Value), NewValue: string(value)})
	case store.SealedRequestExcerpt:
		n, err = e.q.ReplaceRequestExcerpt(ctx, e.db, pgdb.ReplaceRequestExcerptParams{ID: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedEventTypeExample:
		n, err = e.q.ReplaceEventTypeExample(ctx, e.db, pgdb.ReplaceEventTypeExampleParams{Name: c.Key, OldValue: c.Value, NewValue: value})
	case store.SealedEventTypeCountExample:
		n, err = e.q.ReplaceEventTypeCountExample(ctx, e.db, pgdb.ReplaceEventTypeCountExampleParams{
			Name: c.Key, Shard: int32(c.Shard), OldValue: c.Value, NewValue: value,
		})
	default:
		return false, fmt.Errorf("no sealed column %q", col)
	}
	return n > 0, err
}
