package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// The console's rules: the inbound request log and its bounds, the stats'
// series, bulk actions in batches, the audit log and key usage.

// bulkBatch is how many jobs one transaction of a bulk action changes: a
// few hundred rows keep each transaction short, so claims and ingestion
// are not held up behind a bulk retry of a million jobs.
const bulkBatch = 500

// statsWindowKeep is how long the per-minute counts are kept: the longest
// window of GetStats.
const statsWindowKeep = 7 * 24 * time.Hour

// latencySample bounds the attempts read for p50/p95.
const latencySample = 10000

// RecordRequest writes a request that stored no event (refused) to the
// log, counts it, and trims its bucket to job.RefusedPerSource rows, in
// one short transaction. Accepted and duplicate requests are written with
// their event's commit (job.NewEvent.Request) instead.
func (s *Store) RecordRequest(ctx context.Context, r job.InboundRequest) error {
	// It counts in a shard of the store's, held until it commits, like a
	// group commit: refused requests never wait on one row either.
	shard := <-s.shards
	defer func() { s.shards <- shard }()
	err := s.inTx(ctx, func(tx Tx) error { return s.writeRequests(ctx, tx, shard, []job.InboundRequest{r}) })
	if err != nil {
		return s.wrap("record request", err)
	}
	return nil
}

// writeRequests writes requests to the log in one batch, trims the
// buckets of the refused and duplicate ones (once each), and adds them
// to the per-minute counts in shard, one write per source, minute and
// outcome.
func (s *Store) writeRequests(ctx context.Context, ex Executor, shard int, reqs []job.InboundRequest) error {
	rows := make([]RequestRow, len(reqs))
	type countKey struct {
		source, outcome string
		minute          time.Time
	}
	counts := map[countKey]int64{}
	var keys []countKey
	var trim []string
	for i, r := range reqs {
		headers, err := json.Marshal(nonNilMap(r.Headers))
		if err != nil {
			return err
		}
		if len(r.BodyExcerpt) > job.ExcerptBytes {
			r.BodyExcerpt = r.BodyExcerpt[:job.ExcerptBytes]
		}
		if r.Accepted() {
			r.BodyExcerpt = nil
		} else if b := r.Bucket(); !slices.Contains(trim, b) {
			trim = append(trim, b)
		}
		// A refused request's excerpt is the start of a webhook body.
		r.BodyExcerpt = s.sealPayload(requestAAD(r.ID), r.BodyExcerpt)
		rows[i] = RequestRow{Req: r, Headers: headers}
		k := countKey{r.Source, r.Outcome, r.ReceivedAt.Truncate(time.Minute)}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	if err := ex.InsertRequests(ctx, rows); err != nil {
		return err
	}
	for _, b := range trim {
		if _, err := ex.TrimRequests(ctx, b, job.RefusedPerSource); err != nil {
			return err
		}
	}
	// One order for every batch, so that two commits racing on the same
	// rows (PostgreSQL, several processes) cannot deadlock.
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.source != b.source {
			return a.source < b.source
		}
		if a.outcome != b.outcome {
			return a.outcome < b.outcome
		}
		return a.minute.Before(b.minute)
	})
	for _, k := range keys {
		if err := ex.CountRequest(ctx, k.source, k.minute, k.outcome, shard, counts[k]); err != nil {
			return err
		}
	}
	return nil
}

// logRequests writes the request of each event of a group commit:
// accepted, or duplicate of the event stored first.
func (s *Store) logRequests(ctx context.Context, tx Tx, shard int, events []job.NewEvent, out []job.Stored) error {
	var reqs []job.InboundRequest
	for i, e := range events {
		if e.Request == nil {
			continue
		}
		r := *e.Request
		r.EventID, r.KnownSource = out[i].EventID, true
		r.Outcome, r.StatusCode = job.OutcomeAccepted, 200
		if out[i].Duplicate {
			r.Outcome, r.Reason = job.OutcomeDuplicate, "duplicate of event "+out[i].EventID
		}
		reqs = append(reqs, r)
	}
	if len(reqs) == 0 {
		return nil
	}
	return s.writeRequests(ctx, tx, shard, reqs)
}

// ListRequests returns requests of the log, newest first.
func (s *Store) ListRequests(ctx context.Context, f job.RequestFilter) ([]job.InboundRequest, error) {
	rows, err := s.d.Reader().ListRequests(ctx, requestQuery(f))
	if err != nil {
		return nil, s.wrap("list requests", err)
	}
	out := make([]job.InboundRequest, len(rows))
	for i, r := range rows {
		out[i] = r.Req // the listing leaves the headers out
		if out[i].BodyExcerpt, err = s.openPayload(requestAAD(r.Req.ID), r.Req.BodyExcerpt); err != nil {
			return nil, s.wrap("open request "+r.Req.ID, err)
		}
	}
	return out, nil
}

// GetRequest returns one request with its headers.
func (s *Store) GetRequest(ctx context.Context, id string) (job.InboundRequest, error) {
	r, err := s.d.Reader().GetRequest(ctx, id)
	if err != nil {
		return job.InboundRequest{}, s.notFound(err, "get request", "no request %q in the log (refused requests are kept 24 h)", id)
	}
	if err := json.Unmarshal(r.Headers, &r.Req.Headers); err != nil {
		return job.InboundRequest{}, s.wrap("decode request headers", err)
	}
	if r.Req.BodyExcerpt, err = s.openPayload(requestAAD(r.Req.ID), r.Req.BodyExcerpt); err != nil {
		return job.InboundRequest{}, s.wrap("open request "+id, err)
	}
	return r.Req, nil
}

func pruneRequests(ctx context.Context, ex Executor, c job.PruneCutoffs) error {
	refused := c.RefusedBefore
	if refused.IsZero() {
		refused = time.Unix(0, 0)
	}
	for {
		n, err := ex.PruneRequests(ctx, c.EventsBefore, refused, c.Batch)
		if err != nil {
			return err
		}
		if n < int64(c.Batch) {
			break
		}
	}
	if c.RefusedBefore.IsZero() {
		return nil
	}
	before := c.RefusedBefore.Add(job.RefusedRetention - statsWindowKeep)
	if _, err := ex.PruneRequestCounts(ctx, before); err != nil {
		return err
	}
	_, err := ex.PruneLegacyRequestCounts(ctx, before)
	return err
}

// GetStats computes the series of q from durable data: the per-minute
// request counts (exact, whatever the log kept) and the attempts.
func (s *Store) GetStats(ctx context.Context, q job.StatsQuery) (job.Stats, error) {
	r := s.d.Reader()
	var st job.Stats
	points := map[int64]*job.StatsPoint{}
	point := func(at time.Time) *job.StatsPoint {
		at = at.Truncate(q.Bucket).UTC()
		p, ok := points[at.UnixMicro()]
		if !ok {
			p = &job.StatsPoint{At: at, Received: map[string]int64{}, Deliveries: map[string]int64{}}
			points[at.UnixMicro()] = p
		}
		return p
	}
	if q.Endpoint == "" {
		rows, err := r.RequestSeries(ctx, q.Source, q.Since)
		if err != nil {
			return st, s.wrap("stats: requests", err)
		}
		for _, row := range rows {
			point(row.At).Received[row.Outcome] += row.N
		}
	}
	if q.Source == "" {
		rows, err := r.DeliverySeries(ctx, q.Endpoint, q.Since, q.Bucket)
		if err != nil {
			return st, s.wrap("stats: deliveries", err)
		}
		for _, row := range rows {
			point(row.At).Deliveries[row.Outcome] += row.N
		}
		lat, err := r.RecentLatencies(ctx, q.Endpoint, q.Since, latencySample)
		if err != nil {
			return st, s.wrap("stats: latencies", err)
		}
		st.LatencyP50, st.LatencyP95 = percentile(lat, 50), percentile(lat, 95)
		depth, oldest, err := r.QueueDepth(ctx, q.Endpoint, q.Now)
		if err != nil {
			return st, s.wrap("stats: queue", err)
		}
		st.QueueDepth = depth
		if !oldest.IsZero() && oldest.Before(q.Now) {
			st.OldestReadyWait = q.Now.Sub(oldest)
		}
	}
	// Every bucket of the window, empty ones too, so a chart has no gaps.
	for at := q.Since.Truncate(q.Bucket); !at.After(q.Now); at = at.Add(q.Bucket) {
		point(at)
	}
	for _, p := range points {
		st.Points = append(st.Points, *p)
	}
	sort.Slice(st.Points, func(i, j int) bool { return st.Points[i].At.Before(st.Points[j].At) })
	return st, nil
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	if i > 0 {
		i--
	}
	return ds[i]
}

// BulkJobs applies a to every job f matches in a state a applies to, in
// batches of bulkBatch jobs, each its own short transaction; a dry run
// only counts. A job that changed state between the listing and its
// batch is matched but not affected.
func (s *Store) BulkJobs(ctx context.Context, f job.JobFilter, a job.BulkAction, dryRun bool, now time.Time) (job.BulkResult, error) {
	states := a.States()
	if f.State != "" {
		if !slices.Contains(states, f.State) {
			return job.BulkResult{}, nil
		}
		states = []job.State{f.State}
	}
	var res job.BulkResult
	after := ""
	for {
		ids, err := s.d.Reader().ListBulkJobIDs(ctx, f, states, after, bulkBatch)
		if err != nil {
			return res, s.wrap("bulk: list jobs", err)
		}
		res.Matched += int64(len(ids))
		if len(ids) == 0 {
			return res, nil
		}
		after = ids[len(ids)-1]
		if !dryRun {
			n, err := s.bulkBatch(ctx, ids, a, now)
			res.Affected += n
			if err != nil {
				return res, unavailable(s.wrap("bulk: change jobs", err))
			}
		}
		if len(ids) < bulkBatch {
			return res, nil
		}
	}
}

func (s *Store) bulkBatch(ctx context.Context, ids []string, a job.BulkAction, now time.Time) (int64, error) {
	var n int64
	var endpoints []string
	err := s.inTx(ctx, func(tx Tx) error {
		n, endpoints = 0, nil
		for _, id := range ids {
			var r JobRow
			var err error
			switch a {
			case job.BulkCancel:
				r, err = tx.CancelJob(ctx, id, now)
			case job.BulkRetry:
				r, err = tx.RetryJob(ctx, id, now)
			case job.BulkReplay:
				var j JobRow
				if j, err = tx.GetJob(ctx, id); err == nil && j.Job.State != job.StateDead {
					continue
				}
				if err == nil {
					r, err = tx.RetryJob(ctx, id, now)
				}
			}
			if errors.Is(err, ErrNoRows) {
				continue // no longer in a state the action applies to
			}
			if err != nil {
				return err
			}
			n++
			if a != job.BulkCancel && !slices.Contains(endpoints, r.Job.Endpoint) {
				endpoints = append(endpoints, r.Job.Endpoint)
			}
		}
		return tx.Notify(ctx, endpoints)
	})
	return n, err
}

// RecordAudit writes an audit entry.
func (s *Store) RecordAudit(ctx context.Context, e job.AuditEntry) error {
	if err := s.d.Writer().InsertAuditEntry(ctx, e); err != nil {
		return s.wrap("record audit entry", err)
	}
	return nil
}

// ListAuditEntries returns audit entries, newest first.
func (s *Store) ListAuditEntries(ctx context.Context, beforeID string, limit int) ([]job.AuditEntry, error) {
	es, err := s.d.Reader().ListAuditEntries(ctx, beforeID, limit)
	if err != nil {
		return nil, s.wrap("list audit entries", err)
	}
	return es, nil
}

// CountKeyUse adds n requests to the key's count of the UTC day of at.
func (s *Store) CountKeyUse(ctx context.Context, keyID string, at time.Time, n int64) error {
	if err := s.d.Writer().CountKeyUse(ctx, keyID, at.UTC().Format(time.DateOnly), n); err != nil {
		return s.wrap("count key use", err)
	}
	return nil
}

// ListKeyUsage returns every key's requests per day since the UTC day of
// since, by key then day.
func (s *Store) ListKeyUsage(ctx context.Context, since time.Time) ([]job.KeyUsage, error) {
	us, err := s.d.Reader().ListKeyUsage(ctx, since.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, s.wrap("list key usage", err)
	}
	return us, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
