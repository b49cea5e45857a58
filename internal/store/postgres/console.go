package postgres

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// InsertRequests inserts the requests in one pipelined batch (one: one
// plain statement).
func (e *executor) InsertRequests(ctx context.Context, rs []store.RequestRow) error {
	var p pgdb.InsertRequestsParams
	for _, r := range rs {
		q := r.Req
		p.Ids = append(p.Ids, q.ID)
		p.Sources = append(p.Sources, q.Source)
		p.Buckets = append(p.Buckets, q.Bucket())
		p.Accepted = append(p.Accepted, q.Accepted())
		p.ReceivedAts = append(p.ReceivedAts, q.ReceivedAt)
		p.Outcomes = append(p.Outcomes, q.Outcome)
		p.Reasons = append(p.Reasons, q.Reason)
		p.StatusCodes = append(p.StatusCodes, int32(q.StatusCode))
		p.Sizes = append(p.Sizes, q.Size)
		p.RemoteAddrs = append(p.RemoteAddrs, q.RemoteAddr)
		p.EventIds = append(p.EventIds, q.EventID)
		p.Headers = append(p.Headers, string(r.Headers))
		p.BodyExcerpts = append(p.BodyExcerpts, nonNilBytes(q.BodyExcerpt))
	}
	return e.q.InsertRequests(ctx, e.db, p)
}

func (e *executor) CountRequest(ctx context.Context, source string, minute time.Time, outcome string, shard int, n int64) error {
	return e.q.CountRequest(ctx, e.db, pgdb.CountRequestParams{Source: source, Minute: minute, Outcome: outcome, Shard: int32(shard), N: n})
}

func (e *executor) TrimRequests(ctx context.Context, bucket string, keep int) (int64, error) {
	return e.q.TrimRequests(ctx, e.db, pgdb.TrimRequestsParams{TrimBucket: bucket, Skip: int32(keep - 1)})
}

func (e *executor) GetRequest(ctx context.Context, id string) (store.RequestRow, error) {
	r, err := e.q.GetRequest(ctx, e.db, id)
	return requestRow(r), noRows(err)
}

func requestRow(r pgdb.Request) store.RequestRow {
	return store.RequestRow{Headers: []byte(r.Headers), Req: job.InboundRequest{
		ID: r.ID, Source: r.Source, ReceivedAt: r.ReceivedAt.UTC(), Outcome: r.Outcome, Reason: r.Reason,
		StatusCode: int(r.StatusCode), Size: r.Size, RemoteAddr: r.RemoteAddr, EventID: r.EventID, BodyExcerpt: r.BodyExcerpt,
		KnownSource: r.Bucket != job.UnknownBucket,
	}}
}

func (e *executor) PruneRequests(ctx context.Context, acceptedBefore, refusedBefore time.Time, max int) (int64, error) {
	return e.q.PruneRequests(ctx, e.db, pgdb.PruneRequestsParams{AcceptedBefore: acceptedBefore, RefusedBefore: refusedBefore, MaxRows: int32(max)})
}

func (e *executor) PruneRequestCounts(ctx context.Context, before time.Time) (int64, error) {
	return e.q.PruneRequestCounts(ctx, e.db, before)
}

func (e *executor) PruneLegacyRequestCounts(ctx context.Context, before time.Time) (int64, error) {
	return e.q.PruneLegacyRequestCounts(ctx, e.db, before)
}

func (e *executor) RequestSeries(ctx context.Context, source string, since time.Time) ([]store.SeriesRow, error) {
	rows, err := e.q.RequestSeries(ctx, e.db, pgdb.RequestSeriesParams{Since: since, Source: nullable(source)})
	out := make([]store.SeriesRow, len(rows))
	for i, r := range rows {
		out[i] = store.SeriesRow{At: r.Minute.UTC(), Outcome: r.Outcome, N: r.N}
	}
	return out, err
}

func (e *executor) DeliverySeries(ctx context.Context, endpoint string, since time.Time, bucket time.Duration) ([]store.SeriesRow, error) {
	var rows []pgdb.DeliverySeriesRow
	var err error
	if endpoint == "" {
		// Every endpoint: the attempts alone, no job looked up per attempt.
		var all []pgdb.DeliverySeriesAllRow
		all, err = e.q.DeliverySeriesAll(ctx, e.db, pgdb.DeliverySeriesAllParams{BucketSecs: int64(bucket / time.Second), Since: since})
		for _, r := range all {
			rows = append(rows, pgdb.DeliverySeriesRow(r))
		}
	} else {
		// The attempts that name their endpoint, then those recorded
		// before attempts did (found through their job); the store core
		// adds up rows of the same bucket.
		rows, err = e.q.DeliverySeries(ctx, e.db, pgdb.DeliverySeriesParams{BucketSecs: int64(bucket / time.Second), Since: since, Endpoint: endpoint})
		if err == nil {
			var old []pgdb.DeliverySeriesUnattributedRow
			old, err = e.q.DeliverySeriesUnattributed(ctx, e.db, pgdb.DeliverySeriesUnattributedParams{BucketSecs: int64(bucket / time.Second), Since: since, Endpoint: endpoint})
			for _, r := range old {
				rows = append(rows, pgdb.DeliverySeriesRow(r))
			}
		}
	}
	out := make([]store.SeriesRow, len(rows))
	for i, r := range rows {
		out[i] = store.SeriesRow{At: r.At.UTC(), Outcome: r.Outcome, N: r.N}
	}
	return out, err
}

func (e *executor) RecentLatencies(ctx context.Context, endpoint string, since time.Time, max int) ([]time.Duration, error) {
	var rows []int64
	var err error
	if endpoint == "" {
		rows, err = e.q.RecentLatenciesAll(ctx, e.db, pgdb.RecentLatenciesAllParams{Since: since, MaxRows: int32(max)})
	} else {
		// Both samples together, as DeliverySeries reads both kinds.
		rows, err = e.q.RecentLatencies(ctx, e.db, pgdb.RecentLatenciesParams{Since: since, Endpoint: endpoint, MaxRows: int32(max)})
		if err == nil {
			var old []int64
			old, err = e.q.RecentLatenciesUnattributed(ctx, e.db, pgdb.RecentLatenciesUnattributedParams{Since: since, Endpoint: endpoint, MaxRows: int32(max)})
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
	r, err := e.q.QueueDepth(ctx, e.db, pgdb.QueueDepthParams{Now: now, Endpoint: nullable(endpoint)})
	if err != nil || r.Depth == 0 {
		return r.Depth, time.Time{}, err
	}
	return r.Depth, r.OldestReady.UTC(), nil
}

func (e *executor) ListBulkJobIDs(ctx context.Context, f job.JobFilter, states []job.State, afterID string, max int) ([]string, error) {
	ss := make([]string, len(states))
	for i, s := range states {
		ss[i] = string(s)
	}
	return e.q.ListBulkJobIDs(ctx, e.db, pgdb.ListBulkJobIDsParams{
		State: nullable(string(f.State)), Endpoint: nullable(f.Endpoint), Source: nullable(f.Source),
		CreatedAfter: nullTime(f.CreatedAfter), CreatedBefore: nullTime(f.CreatedBefore),
		States: ss, AfterID: afterID, MaxRows: int32(max),
	})
}

func (e *executor) InsertAuditEntry(ctx context.Context, a job.AuditEntry) error {
	return e.q.InsertAuditEntry(ctx, e.db, pgdb.InsertAuditEntryParams{
		ID: a.ID, At: a.At, KeyID: a.KeyID, KeyName: a.KeyName, Action: a.Action, Target: a.Target, Detail: a.Detail,
	})
}

func (e *executor) ListAuditEntries(ctx context.Context, beforeID string, limit int) ([]job.AuditEntry, error) {
	rows, err := e.q.ListAuditEntries(ctx, e.db, pgdb.ListAuditEntriesParams{BeforeID: nullable(beforeID), PageSize: int32(limit)})
	out := make([]job.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = job.AuditEntry{ID: r.ID, At: r.At.UTC(), KeyID: r.KeyID, KeyName: r.KeyName, Action: r.Action, Target: r.Target, Detail: r.Detail}
	}
	return out, err
}

func (e *executor) CountKeyUse(ctx context.Context, keyID, day string, n int64) error {
	return e.q.CountKeyUse(ctx, e.db, pgdb.CountKeyUseParams{KeyID: keyID, Day: day, N: n})
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
