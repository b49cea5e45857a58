package sqlite

import (
	"context"
	"fmt"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/store"
)

// The list queries: one per index the store core chooses (store.ListIndex),
// each naming its index (INDEXED BY). The filter an index leads with is a
// plain equality (never empty: the core chose the index because it was
// given); the others stay optional.

func (e *executor) ListJobs(ctx context.Context, q store.JobQuery) ([]store.JobRow, error) {
	f := q.Filter
	state, endpoint, source := string(f.State), f.Endpoint, f.Source
	after, before := microsOrNil(f.CreatedAfter), microsOrNil(f.CreatedBefore)
	lo, hi, n := q.AfterID, q.BeforeID, int64(f.Limit)
	switch q.Index {
	case store.ByID:
		return jobRows(e.q.ListJobs(ctx, e.db, sqlitedb.ListJobsParams{
			State: orNil(state), Endpoint: orNil(endpoint), Source: orNil(source),
			CreatedAfter: after, CreatedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n}))
	case store.ByTime: // chosen only without endpoint and source
		return jobRows(e.q.ListJobsByCreated(ctx, e.db, sqlitedb.ListJobsByCreatedParams{
			CreatedAfter: f.CreatedAfter.UnixMicro(), CreatedBefore: f.CreatedBefore.UnixMicro(), State: orNil(state), AfterID: lo, BeforeID: hi, PageSize: n}))
	case store.ByState:
		return jobRows(e.q.ListJobsByState(ctx, e.db, sqlitedb.ListJobsByStateParams{
			State: &state, Endpoint: orNil(endpoint), Source: orNil(source),
			CreatedAfter: after, CreatedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n}))
	case store.ByRunning:
		return jobRows(e.q.ListJobsRunning(ctx, e.db, sqlitedb.ListJobsRunningParams{
			Endpoint: orNil(endpoint), Source: orNil(source),
			CreatedAfter: after, CreatedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n}))
	case store.ByEndpoint:
		return jobRows(e.q.ListJobsByEndpoint(ctx, e.db, sqlitedb.ListJobsByEndpointParams{
			State: orNil(state), Endpoint: &endpoint, Source: orNil(source),
			CreatedAfter: after, CreatedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n}))
	case store.BySource:
		return jobRows(e.q.ListJobsBySource(ctx, e.db, sqlitedb.ListJobsBySourceParams{
			State: orNil(state), Endpoint: orNil(endpoint), Source: &source,
			CreatedAfter: after, CreatedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n}))
	}
	return nil, fmt.Errorf("list jobs: no query for index %d", q.Index)
}

func (e *executor) ListEvents(ctx context.Context, q store.EventQuery) ([]store.EventRow, error) {
	f := q.Filter
	source, typ, delivery := f.Source, f.Type, f.DeliveryID
	after, before := microsOrNil(f.ReceivedAfter), microsOrNil(f.ReceivedBefore)
	lo, hi, n := q.AfterID, q.BeforeID, int64(f.Limit)
	switch q.Index {
	case store.ByID:
		rows, err := e.q.ListEvents(ctx, e.db, sqlitedb.ListEventsParams{
			Source: orNil(source), Type: orNil(typ), DeliveryID: orNil(delivery),
			ReceivedAfter: after, ReceivedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n})
		return store.Rows(rows, err, eventListRow)
	case store.ByTime: // chosen only without source, type and delivery id
		rows, err := e.q.ListEventsByReceived(ctx, e.db, sqlitedb.ListEventsByReceivedParams{
			ReceivedAfter: f.ReceivedAfter.UnixMicro(), ReceivedBefore: f.ReceivedBefore.UnixMicro(), AfterID: lo, BeforeID: hi, PageSize: n})
		return store.Rows(rows, err, func(r sqlitedb.ListEventsByReceivedRow) store.EventRow {
			return eventListRow(sqlitedb.ListEventsRow(r))
		})
	case store.BySource:
		rows, err := e.q.ListEventsBySource(ctx, e.db, sqlitedb.ListEventsBySourceParams{
			Source: &source, Type: orNil(typ), DeliveryID: orNil(delivery),
			ReceivedAfter: after, ReceivedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n})
		return store.Rows(rows, err, func(r sqlitedb.ListEventsBySourceRow) store.EventRow { return eventListRow(sqlitedb.ListEventsRow(r)) })
	case store.ByType:
		rows, err := e.q.ListEventsByType(ctx, e.db, sqlitedb.ListEventsByTypeParams{
			Source: orNil(source), Type: &typ, DeliveryID: orNil(delivery),
			ReceivedAfter: after, ReceivedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n})
		return store.Rows(rows, err, func(r sqlitedb.ListEventsByTypeRow) store.EventRow { return eventListRow(sqlitedb.ListEventsRow(r)) })
	case store.ByDeliveryID:
		rows, err := e.q.ListEventsByDeliveryID(ctx, e.db, sqlitedb.ListEventsByDeliveryIDParams{
			Source: orNil(source), Type: orNil(typ), DeliveryID: &delivery,
			ReceivedAfter: after, ReceivedBefore: before, AfterID: lo, BeforeID: hi, PageSize: n})
		return store.Rows(rows, err, func(r sqlitedb.ListEventsByDeliveryIDRow) store.EventRow {
			return eventListRow(sqlitedb.ListEventsRow(r))
		})
	}
	return nil, fmt.Errorf("list events: no query for index %d", q.Index)
}

func eventListRow(r sqlitedb.ListEventsRow) store.EventRow {
	return store.EventRow{
		ID: r.ID, Source: r.Source, DeliveryID: deref(r.DeliveryID), ContentType: r.ContentType,
		Type: r.Type, ReceivedAt: fromMicros(r.ReceivedAt),
	}
}

func (e *executor) ListRequests(ctx context.Context, q store.RequestQuery) ([]store.RequestRow, error) {
	source, outcome := q.Filter.Source, q.Filter.Outcome
	lo, hi, n := q.AfterID, q.BeforeID, int64(q.Filter.Limit)
	var rows []sqlitedb.Request
	var err error
	switch q.Index {
	case store.ByID:
		rows, err = e.q.ListRequests(ctx, e.db, sqlitedb.ListRequestsParams{
			Source: orNil(source), Outcome: orNil(outcome), AfterID: lo, BeforeID: hi, PageSize: n})
	case store.BySource:
		rows, err = e.q.ListRequestsBySource(ctx, e.db, sqlitedb.ListRequestsBySourceParams{
			Source: &source, Outcome: orNil(outcome), AfterID: lo, BeforeID: hi, PageSize: n})
	case store.ByOutcome:
		rows, err = e.q.ListRequestsByOutcome(ctx, e.db, sqlitedb.ListRequestsByOutcomeParams{
			Source: orNil(source), Outcome: &outcome, AfterID: lo, BeforeID: hi, PageSize: n})
	default:
		return nil, fmt.Errorf("list requests: no query for index %d", q.Index)
	}
	return store.Rows(rows, err, requestRow)
}
