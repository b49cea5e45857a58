package sqlite

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// InsertRequests inserts one row at a time: the writer is in-process.
func (e *executor) InsertRequests(ctx context.Context, rs []store.RequestRow) error {
	for _, r := range rs {
		q := r.Req
		err := e.q.InsertRequest(ctx, e.db, sqlitedb.InsertRequestParams{
			ID: q.ID, Source: q.Source, Bucket: q.Bucket(), Accepted: boolInt(q.Accepted()), ReceivedAt: micros(q.ReceivedAt),
			Outcome: q.Outcome, Reason: q.Reason, StatusCode: int64(q.StatusCode), Size: q.Size, RemoteAddr: q.RemoteAddr,
			EventID: q.EventID, Headers: string(r.Headers), BodyExcerpt: nonNilBytes(q.BodyExcerpt),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *executor) CountRequest(ctx context.Context, source string, minute time.Time, outcome string, shard int, n int64) error {
	return e.q.CountRequest(ctx, e.db, sqlitedb.CountRequestParams{Source: source, Minute: micros(minute), Outcome: outcome, Shard: int64(shard), N: n})
}

func (e *executor) TrimRequests(ctx context.Context, bucket string, keep int) (int64, error) {
	return e.q.TrimRequests(ctx, e.db, sqlitedb.TrimRequestsParams{TrimBucket: bucket, Skip: int64(keep - 1)})
}

func (e *executor) GetRequest(ctx context.Context, id string) (store.RequestRow, error) {
	r, err := e.q.GetRequest(ctx, e.db, id)
	return requestRow(r), noRows(err)
}

func requestRow(r sqlitedb.Request) store.RequestRow {
	return store.RequestRow{Headers: []byte(r.Headers), Req: job.InboundRequest{
		ID: r.ID, Source: r.Source, ReceivedAt: fromMicros(r.ReceivedAt), Outcome: r.Outcome, Reason: r.Reason,
		StatusCode: int(r.StatusCode), Size: r.Size, RemoteAddr: r.RemoteAddr, EventID: r.EventID, BodyExcerpt: r.BodyExcerpt,
		KnownSource: r.Bucket != job.UnknownBucket,
	}}
}

func (e *executor) PruneRequests(ctx context.Context, acceptedBefore, refusedBefore time.Time, max int) (int64, error) {
	return e.q.PruneRequests(ctx, e.db, sqlitedb.PruneRequestsParams{AcceptedBefore: micros(acceptedBefore), RefusedBefore: micros(refusedBefore), MaxRows: int64(max)})
}

func (e *executor) PruneRequestCounts(ctx context.Context, before time.Time) (int64, error) {
	return e.q.PruneRequestCounts(ctx, e.db, micros(before))
}

func (e *executor) PruneLegacyRequestCounts(ctx context.Context, before time.Time) (int64, error) {
	return e.q.PruneLegacyRequestCounts(ctx, e.db, micros(before))
}

func (e *executor) RequestSeries(ctx context.Context, source string, since time.Time) ([]store.SeriesRow, error) {
	rows, err := e.q.RequestSeries(ctx, e.db, sqlitedb.RequestSeriesParams{Since: micros(since), Source: orNil(source)})
	out := make([]store.SeriesRow, len(rows))
	for i, r := range rows {
		out[i] = store.SeriesRow{At: fromMicros(r.Minute), Outcome: r.Outcome, N: r.N}
	}
	return out, err
}

func (e *executor) DeliverySeries(ctx context.Context, endpoint string, since time.Time, bucket time.Duration) ([]store.SeriesRow, error) {
	var rows []sqlitedb.DeliverySeriesRow
	var err error
	if endpoint == "" {
		// Every endpoint: the attempts alone, no job looked up per attempt.
		var all []sqlitedb.DeliverySeriesAllRow
		all, err = e.q.DeliverySeriesAll(ctx, e.db, sqlitedb.DeliverySeriesAllParams{BucketUs: bucket.Microseconds(), Since: micros(since)})
		for _, r := range all {
			rows = append(rows, sqlitedb.DeliverySeriesRow(r))
		}
	} else {
		// The attempts that name their endpoint, then those recorded
		// before attempts did (found through their job); the store core
		// adds up rows of the same bucket.
		rows, err = e.q.DeliverySeries(ctx, e.db, sqlitedb.DeliverySeriesParams{BucketUs: bucket.Microseconds(), Since: micros(since), Endpoint: &endpoint})
		if err == nil {
			var old []sqlitedb.DeliverySeriesUnattributedRow
			old, err = e.q.DeliverySeriesUnattributed(ctx, e.db, sqlitedb.DeliverySeriesUnattributedParams{BucketUs: bucket.Microseconds(), Since: micros(since), Endpoint: endpoint})
			for _, r := range old {
				rows = append(rows, sqlitedb.DeliverySeriesRow(r))
			}
		}
	}
	out := make([]store.SeriesRow, len(rows))
	for i, r := range rows {
		out[i] = store.SeriesRow{At: fromMicros(r.At), Outcome: r.Outcome, N: r.N}
	}
	return out, err
}

func (e *executor) RecentLatencies(ctx context.Context, endpoint string, since time.Time, max int) ([]time.Duration, error) {
	var rows []int64
	var err error
	if endpoint == "" {
		rows, err = e.q.RecentLatenciesAll(ctx, e.db, sqlitedb.RecentLatenciesAllParams{Since: micros(since), MaxRows: int64(max)})
	} else {
		// Both samples together, as DeliverySeries reads both kinds.
		rows, err = e.q.RecentLatencies(ctx, e.db, sqlitedb.RecentLatenciesParams{Since: micros(since), Endpoint: &endpoint, MaxRows: int64(max)})
		if err == nil {
			var old []int64
			old, err = e.q.RecentLatenciesUnattributed(ctx, e.db, sqlitedb.RecentLatenciesUnattributedParams{Since: micros(since), Endpoint: endpoint, MaxRows: int64(max)})
			rows = append(rows, old...)
		}
	}
	out := make([]time.Duration, len(rows))
	for i, us := range rows {
		out[i] = time.Duration(us) * time.Microsecond
	}
	return out, err
}

func (e *executor) QueueDepth(ctx context.Context, endpoint string, now time.Time) (int64, time.Time, error) {
	r, err := e.q.QueueDepth(ctx, e.db, sqlitedb.QueueDepthParams{Now: micros(now), Endpoint: orNil(endpoint)})
	if err != nil || r.Depth == 0 {
		return r.Depth, time.Time{}, err
	}
	return r.Depth, fromMicros(r.OldestReady), nil
}

func (e *executor) ListBulkJobIDs(ctx context.Context, f job.JobFilter, states []job.State, afterID string, max int) ([]string, error) {
	// The states travel as one string, ",dead,cancelled,": sqlc's slices
	// do not mix with SQLite's numbered parameters.
	ss := ","
	for _, s := range states {
		ss += string(s) + ","
	}
	return e.q.ListBulkJobIDs(ctx, e.db, sqlitedb.ListBulkJobIDsParams{
		State: orNil(string(f.State)), Endpoint: orNil(f.Endpoint), Source: orNil(f.Source),
		CreatedAfter: microsOrNil(f.CreatedAfter), CreatedBefore: microsOrNil(f.CreatedBefore),
		States: ss, AfterID: afterID, MaxRows: int64(max),
	})
}

func (e *executor) InsertAuditEntry(ctx context.Context, a job.AuditEntry) error {
	return e.q.InsertAuditEntry(ctx, e.db, sqlitedb.InsertAuditEntryParams{
		ID: a.ID, At: micros(a.At), KeyID: a.KeyID, KeyName: a.KeyName, Action: a.Action, Target: a.Target, Detail: a.Detail,
	})
}

func (e *executor) ListAuditEntries(ctx context.Context, beforeID string, limit int) ([]job.AuditEntry, error) {
	rows, err := e.q.ListAuditEntries(ctx, e.db, sqlitedb.ListAuditEntriesParams{BeforeID: orNil(beforeID), PageSize: int64(limit)})
	out := make([]job.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = job.AuditEntry{ID: r.ID, At: fromMicros(r.At), KeyID: r.KeyID, KeyName: r.KeyName, Action: r.Action, Target: r.Target, Detail: r.Detail}
	}
	return out, err
}

func (e *executor) CountKeyUse(ctx context.Context, keyID, day string, n int64) error {
	return e.q.CountKeyUse(ctx, e.db, sqlitedb.CountKeyUseParams{KeyID: keyID, Day: day, N: n})
}

func (e *executor) ListKeyUsage(ctx context.Context, sinceDay string) ([]job.KeyUsage, error) {
	rows, err := e.q.ListKeyUsage(ctx, e.db, sinceDay)
	out := make([]job.KeyUsage, len(rows))
	for i, r := range rows {
		out[i] = job.KeyUsage{KeyID: r.KeyID, Day: r.Day, Requests: r.N}
	}
	return out, err
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
