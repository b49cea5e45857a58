package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// executor adapts the generated queries to store.Executor: SQLite keeps
// times as Unix microseconds, booleans as integers and JSON as text.
type executor struct {
	q      *sqlitedb.Queries
	db     sqlitedb.DBTX
	notify func(endpoints ...string)
}

// noRows translates database/sql's "no rows" into the store's.
func noRows(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNoRows
	}
	return err
}

func (e *executor) Notify(_ context.Context, endpoints []string) error {
	if len(endpoints) > 0 {
		e.notify(endpoints...)
	}
	return nil
}

func (e *executor) Ping(ctx context.Context) error {
	_, err := e.q.Ping(ctx, e.db)
	return err
}

// InsertEvents inserts one event at a time: the writer is in-process, so a
// round trip costs nothing worth batching.
func (e *executor) InsertEvents(ctx context.Context, events []store.EventRow) ([]bool, error) {
	inserted := make([]bool, len(events))
	for i, ev := range events {
		n, err := e.q.InsertEvent(ctx, e.db, sqlitedb.InsertEventParams{
			ID:          ev.ID,
			Source:      ev.Source,
			DeliveryID:  nullable(ev.DeliveryID),
			ContentType: ev.ContentType,
			Headers:     string(ev.Headers),
			Body:        ev.Body,
			ReceivedAt:  micros(ev.ReceivedAt),
			Type:        ev.Type,
		})
		if err != nil {
			return nil, err
		}
		inserted[i] = n > 0
	}
	return inserted, nil
}

func (e *executor) InsertJobs(ctx context.Context, jobs []store.JobRow) ([]string, error) {
	ids := make([]string, len(jobs))
	for i, r := range jobs {
		j := r.Job
		p := sqlitedb.InsertJobParams{
			ID:             j.ID,
			Endpoint:       j.Endpoint,
			EventID:        nullable(j.EventID),
			Payload:        j.Payload,
			State:          string(j.State),
			RunAt:          micros(j.RunAt),
			CreatedAt:      micros(j.CreatedAt),
			UpdatedAt:      micros(j.UpdatedAt),
			CoalesceKey:    nullable(j.CoalesceKey),
			OrderingKey:    nullable(j.OrderingKey),
			Source:         nullable(j.Source),
			IdempotencyKey: nullable(j.IdempotencyKey),
			Retry:          nullable(string(r.Retry)),
			TraceParent:    j.TraceParent,
			PayloadEventID: nullable(r.PayloadEventID),
			LastError:      j.LastError,
			FinishedAt:     nullMicros(j.FinishedAt),
		}
		if j.CoalesceKey == "" {
			// Nothing to coalesce into: the plain insert, at half the cost.
			if err := e.q.InsertUncoalescedJob(ctx, e.db, sqlitedb.InsertUncoalescedJobParams(p)); err != nil {
				return nil, err
			}
			ids[i] = j.ID
			continue
		}
		id, err := e.q.InsertJob(ctx, e.db, p)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func (e *executor) GetEventIDByDeliveryID(ctx context.Context, source, deliveryID string) (string, error) {
	id, err := e.q.GetEventIDByDeliveryID(ctx, e.db, sqlitedb.GetEventIDByDeliveryIDParams{Source: source, DeliveryID: nullable(deliveryID)})
	return id, noRows(err)
}

func (e *executor) GetEvent(ctx context.Context, id string) (store.EventRow, error) {
	r, err := e.q.GetEvent(ctx, e.db, id)
	if err != nil {
		return store.EventRow{}, noRows(err)
	}
	return store.EventRow{
		ID: r.ID, Source: r.Source, DeliveryID: deref(r.DeliveryID), ContentType: r.ContentType,
		Headers: []byte(r.Headers), Body: r.Body, ReceivedAt: fromMicros(r.ReceivedAt), Type: r.Type,
	}, nil
}

func (e *executor) CountEventsBySource(ctx context.Context, source string) (int64, error) {
	return e.q.CountEventsBySource(ctx, e.db, source)
}

func (e *executor) ListJobsByEvent(ctx context.Context, eventID string) ([]store.JobRow, error) {
	return jobRows(e.q.ListJobsByEvent(ctx, e.db, &eventID))
}

func (e *executor) GetEventBodies(ctx context.Context, ids []string) (map[string][]byte, error) {
	rows, err := e.q.GetEventBodies(ctx, e.db, ids)
	bodies := make(map[string][]byte, len(rows))
	for _, r := range rows {
		bodies[r.ID] = r.Body
	}
	return bodies, err
}

func (e *executor) UpsertEndpoint(ctx context.Context, r store.SpecRow) error {
	return e.q.UpsertEndpoint(ctx, e.db, sqlitedb.UpsertEndpointParams{Name: r.Name, Spec: string(r.Spec), Origin: r.Origin, Now: micros(r.Now)})
}

func (e *executor) InsertEndpoint(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.InsertEndpoint(ctx, e.db, sqlitedb.InsertEndpointParams{Name: r.Name, Spec: string(r.Spec), Now: micros(r.Now)})
}

func (e *executor) UpdateEndpointSpec(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.UpdateEndpointSpec(ctx, e.db, sqlitedb.UpdateEndpointSpecParams{Name: r.Name, Spec: string(r.Spec), Now: micros(r.Now)})
}

func (e *executor) GetEndpoint(ctx context.Context, name string) (store.EndpointRow, error) {
	r, err := e.q.GetEndpoint(ctx, e.db, name)
	return endpointRow(r), noRows(err)
}

func (e *executor) ListEndpoints(ctx context.Context) ([]store.EndpointRow, error) {
	rows, err := e.q.ListEndpoints(ctx, e.db)
	out := make([]store.EndpointRow, len(rows))
	for i, r := range rows {
		out[i] = endpointRow(r)
	}
	return out, err
}

func endpointRow(r sqlitedb.Endpoint) store.EndpointRow {
	return store.EndpointRow{
		Name: r.Name, Spec: []byte(r.Spec), Origin: r.Origin, Paused: r.Paused != 0,
		DisabledAt: fromNullMicros(r.DisabledAt), DisabledReason: r.DisabledReason, FailingSince: fromNullMicros(r.FailingSince),
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
	}
}

func (e *executor) SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) (int64, error) {
	return e.q.SetEndpointPaused(ctx, e.db, sqlitedb.SetEndpointPausedParams{Paused: boolInt(paused), Now: micros(now), Name: name})
}

func (e *executor) DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (int64, error) {
	return e.q.DisableEndpoint(ctx, e.db, sqlitedb.DisableEndpointParams{Now: nullMicros(now), Reason: reason, Name: name})
}

func (e *executor) EnableEndpoint(ctx context.Context, name string, now time.Time) (int64, error) {
	return e.q.EnableEndpoint(ctx, e.db, sqlitedb.EnableEndpointParams{Now: micros(now), Name: name})
}

func (e *executor) MarkEndpointHealthy(ctx context.Context, name string) error {
	return e.q.MarkEndpointHealthy(ctx, e.db, name)
}

func (e *executor) MarkEndpointFailing(ctx context.Context, name string, now time.Time) (time.Time, error) {
	since, err := e.q.MarkEndpointFailing(ctx, e.db, sqlitedb.MarkEndpointFailingParams{Now: nullMicros(now), Name: name})
	return fromNullMicros(since), noRows(err)
}

func (e *executor) CountUnfinishedJobs(ctx context.Context, endpoint string) (int64, error) {
	return e.q.CountUnfinishedJobs(ctx, e.db, endpoint)
}

func (e *executor) DeleteEndpoint(ctx context.Context, name string) (int64, error) {
	return e.q.DeleteEndpoint(ctx, e.db, name)
}

func (e *executor) GetRateBucket(ctx context.Context, endpoint string) (*float64, time.Time, error) {
	b, err := e.q.GetRateBucket(ctx, e.db, endpoint)
	return b.RateTokens, fromNullMicros(b.RateUpdatedAt), noRows(err)
}

func (e *executor) SetRateBucket(ctx context.Context, endpoint string, tokens float64, at time.Time) error {
	return e.q.SetRateBucket(ctx, e.db, sqlitedb.SetRateBucketParams{RateTokens: &tokens, RateUpdatedAt: nullMicros(at), Name: endpoint})
}

func (e *executor) UpsertSource(ctx context.Context, r store.SpecRow) error {
	return e.q.UpsertSource(ctx, e.db, sqlitedb.UpsertSourceParams{Name: r.Name, Spec: string(r.Spec), Origin: r.Origin, Now: micros(r.Now)})
}

func (e *executor) InsertSource(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.InsertSource(ctx, e.db, sqlitedb.InsertSourceParams{Name: r.Name, Spec: string(r.Spec), Now: micros(r.Now)})
}

func (e *executor) UpdateSourceSpec(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.UpdateSourceSpec(ctx, e.db, sqlitedb.UpdateSourceSpecParams{Name: r.Name, Spec: string(r.Spec), Now: micros(r.Now)})
}

func (e *executor) GetSource(ctx context.Context, name string) (store.SourceRow, error) {
	r, err := e.q.GetSource(ctx, e.db, name)
	return sourceRow(r), noRows(err)
}

func (e *executor) ListSources(ctx context.Context) ([]store.SourceRow, error) {
	rows, err := e.q.ListSources(ctx, e.db)
	out := make([]store.SourceRow, len(rows))
	for i, r := range rows {
		out[i] = sourceRow(r)
	}
	return out, err
}

func sourceRow(r sqlitedb.Source) store.SourceRow {
	return store.SourceRow{Name: r.Name, Spec: []byte(r.Spec), Origin: r.Origin, Paused: r.Paused != 0, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
}

func (e *executor) DeleteSource(ctx context.Context, name string) (int64, error) {
	return e.q.DeleteSource(ctx, e.db, name)
}

func (e *executor) SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) (int64, error) {
	return e.q.SetSourcePaused(ctx, e.db, sqlitedb.SetSourcePausedParams{Paused: boolInt(paused), Now: micros(now), Name: name})
}

func (e *executor) NextRunAt(ctx context.Context, endpoint string) (time.Time, error) {
	run, err := e.q.NextRunAt(ctx, e.db, endpoint)
	if err != nil {
		return time.Time{}, noRows(err)
	}
	return fromMicros(run), nil
}

func (e *executor) NextLeaseExpiry(ctx context.Context, endpoint string) (time.Time, error) {
	lease, err := e.q.NextLeaseExpiry(ctx, e.db, endpoint)
	return fromNullMicros(lease), noRows(err)
}

func (e *executor) ClaimExpiredLeases(ctx context.Context, c job.Claim) ([]store.JobRow, error) {
	return jobRows(e.q.ClaimExpiredLeases(ctx, e.db, sqlitedb.ClaimExpiredLeasesParams{
		LeaseID: &c.LeaseID, LeaseUntil: nullMicros(c.LeaseUntil), Now: micros(c.Now), Endpoint: c.Endpoint, MaxJobs: int64(c.Max),
	}))
}

func (e *executor) ClaimReadyJobs(ctx context.Context, c job.Claim) ([]store.JobRow, error) {
	return jobRows(e.q.ClaimReadyJobs(ctx, e.db, sqlitedb.ClaimReadyJobsParams{
		LeaseID: &c.LeaseID, LeaseUntil: nullMicros(c.LeaseUntil), Now: micros(c.Now), Endpoint: c.Endpoint, MaxJobs: int64(c.Max),
	}))
}

// FinishJobs runs the fenced updates: one statement for each group of
// jobs that end alike (finishKey), one per job otherwise.
func (e *executor) FinishJobs(ctx context.Context, fs []store.FinishRow) ([]bool, error) {
	held := make([]bool, len(fs))
	for _, g := range groupBy(len(fs), func(i int) finishKey { return finishKeyOf(fs[i]) }) {
		f := fs[g[0]]
		if len(g) == 1 {
			n, err := e.q.FinishJob(ctx, e.db, sqlitedb.FinishJobParams{
				State: string(f.State), RunAt: nullMicros(f.RunAt), LastError: f.LastError, FinishedAt: nullMicros(f.FinishedAt),
				Now: micros(f.Now), ID: f.JobID, LeaseID: &f.LeaseID,
			})
			if err != nil {
				return nil, err
			}
			held[g[0]] = n > 0
			continue
		}
		ids := make([]string, len(g))
		at := make(map[string]int, len(g))
		for k, i := range g {
			ids[k] = fs[i].JobID
			at[fs[i].JobID] = i
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return nil, err
		}
		done, err := e.q.FinishJobGroup(ctx, e.db, sqlitedb.FinishJobGroupParams{
			State: string(f.State), RunAt: nullMicros(f.RunAt), LastError: f.LastError, FinishedAt: nullMicros(f.FinishedAt),
			Now: micros(f.Now), Ids: string(list), LeaseID: &f.LeaseID,
		})
		if err != nil {
			return nil, err
		}
		for _, id := range done {
			held[at[id]] = true
		}
	}
	return held, nil
}

// finishKey is what the finishes of one group share: the records of a
// bulk POST end in one statement (FinishJobGroup).
type finishKey struct {
	lease, state, lastError string
	runAt, finishedAt, now  int64
	keepRunAt, notFinished  bool // the NULLs of run_at and finished_at
}

func finishKeyOf(f store.FinishRow) finishKey {
	k := finishKey{lease: f.LeaseID, state: string(f.State), lastError: f.LastError, now: micros(f.Now)}
	if p := nullMicros(f.RunAt); p != nil {
		k.runAt = *p
	} else {
		k.keepRunAt = true
	}
	if p := nullMicros(f.FinishedAt); p != nil {
		k.finishedAt = *p
	} else {
		k.notFinished = true
	}
	return k
}

// attemptKey is what the attempts of one bulk POST share
// (InsertAttemptGroup).
type attemptKey struct {
	batch, outcome, errorClass, err, excerpt, endpoint, headers string
	noHeaders                                                   bool
	startedAt, latencyUs, statusCode, retryAfterUs              int64
	noRetryAfter                                                bool
}

// InsertAttempts inserts the attempts of each bulk POST in one statement,
// any other attempt in one of its own.
func (e *executor) InsertAttempts(ctx context.Context, as []job.Attempt) error {
	params := make([]sqlitedb.InsertAttemptParams, len(as))
	for i, a := range as {
		params[i] = sqlitedb.InsertAttemptParams{
			ID:              a.ID,
			JobID:           a.JobID,
			AttemptNumber:   int64(a.Number),
			BatchID:         a.BatchID,
			StartedAt:       micros(a.StartedAt),
			LatencyUs:       a.Latency.Microseconds(),
			StatusCode:      int64(a.StatusCode),
			Outcome:         a.Outcome,
			ErrorClass:      a.ErrorClass,
			Error:           a.Error,
			ResponseExcerpt: a.ResponseExcerpt,
			Endpoint:        nullable(a.Endpoint),
			RequestHeaders:  store.EncodeHeaders(a.RequestHeaders),
			RetryAfterUs:    retryAfterUs(a.RetryAfter),
		}
	}
	key := func(i int) attemptKey {
		p := params[i]
		if p.BatchID == "" {
			// Not a bulk POST's: alone (the id keeps it apart).
			return attemptKey{batch: p.ID}
		}
		k := attemptKey{batch: p.BatchID, outcome: p.Outcome, errorClass: p.ErrorClass, err: p.Error, excerpt: p.ResponseExcerpt,
			endpoint: deref(p.Endpoint), startedAt: p.StartedAt, latencyUs: p.LatencyUs, statusCode: p.StatusCode}
		if p.RequestHeaders == nil {
			k.noHeaders = true
		} else {
			k.headers = *p.RequestHeaders
		}
		if p.RetryAfterUs == nil {
			k.noRetryAfter = true
		} else {
			k.retryAfterUs = *p.RetryAfterUs
		}
		return k
	}
	for _, g := range groupBy(len(as), key) {
		p := params[g[0]]
		if len(g) == 1 {
			if err := e.q.InsertAttempt(ctx, e.db, p); err != nil {
				return err
			}
			continue
		}
		rows := make([][3]any, len(g))
		for k, i := range g {
			rows[k] = [3]any{params[i].ID, params[i].JobID, params[i].AttemptNumber}
		}
		list, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		if err := e.q.InsertAttemptGroup(ctx, e.db, sqlitedb.InsertAttemptGroupParams{
			BatchID: p.BatchID, StartedAt: p.StartedAt, LatencyUs: p.LatencyUs, StatusCode: p.StatusCode, Outcome: p.Outcome,
			ErrorClass: p.ErrorClass, Error: p.Error, ResponseExcerpt: p.ResponseExcerpt, Endpoint: p.Endpoint,
			RequestHeaders: p.RequestHeaders, RetryAfterUs: p.RetryAfterUs, Rows: string(list),
		}); err != nil {
			return err
		}
	}
	return nil
}

// groupBy returns the indexes 0..n-1 grouped by key, each group in index
// order, the groups in the order of their first index.
func groupBy[K comparable](n int, key func(int) K) [][]int {
	var groups [][]int
	at := map[K]int{}
	for i := range n {
		k := key(i)
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

func (e *executor) GetJob(ctx context.Context, id string) (store.JobRow, error) {
	r, err := e.q.GetJob(ctx, e.db, id)
	return jobRow(r), noRows(err)
}

func (e *executor) ListAttempts(ctx context.Context, jobID string) ([]job.Attempt, error) {
	rows, err := e.q.ListAttempts(ctx, e.db, jobID)
	out := make([]job.Attempt, len(rows))
	for i, r := range rows {
		out[i] = job.Attempt{
			ID: r.ID, JobID: r.JobID, Number: int(r.AttemptNumber), BatchID: r.BatchID,
			StartedAt: fromMicros(r.StartedAt), Latency: time.Duration(r.LatencyUs) * time.Microsecond,
			StatusCode: int(r.StatusCode), Outcome: r.Outcome, ErrorClass: r.ErrorClass, Error: r.Error,
			ResponseExcerpt: r.ResponseExcerpt, Endpoint: deref(r.Endpoint),
			RequestHeaders: store.DecodeHeaders(r.RequestHeaders),
		}
		if r.RetryAfterUs != nil {
			out[i].RetryAfter = time.Duration(*r.RetryAfterUs) * time.Microsecond
		}
	}
	return out, err
}

// retryAfterUs stores no Retry-After as NULL.
func retryAfterUs(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	us := d.Microseconds()
	return &us
}

func (e *executor) GetJobIDByIdempotencyKey(ctx context.Context, endpoint, key string) (string, error) {
	id, err := e.q.GetJobIDByIdempotencyKey(ctx, e.db, sqlitedb.GetJobIDByIdempotencyKeyParams{Endpoint: endpoint, IdempotencyKey: &key})
	return id, noRows(err)
}

func (e *executor) CancelJob(ctx context.Context, id string, now time.Time) (store.JobRow, error) {
	r, err := e.q.CancelJob(ctx, e.db, sqlitedb.CancelJobParams{Now: nullMicros(now), ID: id})
	return jobRow(r), noRows(err)
}

func (e *executor) RetryJob(ctx context.Context, id string, now time.Time) (store.JobRow, error) {
	r, err := e.q.RetryJob(ctx, e.db, sqlitedb.RetryJobParams{Now: micros(now), ID: id})
	return jobRow(r), noRows(err)
}

func (e *executor) ReplayDeadJobs(ctx context.Context, f job.JobFilter, now time.Time) (int64, error) {
	return e.q.ReplayDeadJobs(ctx, e.db, sqlitedb.ReplayDeadJobsParams{
		Now: micros(now), Endpoint: orNil(f.Endpoint), CreatedAfter: microsOrNil(f.CreatedAfter), CreatedBefore: microsOrNil(f.CreatedBefore),
	})
}

func (e *executor) CountUnfinishedJobsByState(ctx context.Context) (map[job.State]int64, error) {
	rows, err := e.q.CountUnfinishedJobsByState(ctx, e.db)
	byState := map[job.State]int64{}
	for _, r := range rows {
		byState[job.State(r.State)] = r.N
	}
	return byState, err
}

func (e *executor) OldestReadyRunAt(ctx context.Context, now time.Time) (time.Time, error) {
	run, err := e.q.OldestReadyRunAt(ctx, e.db, micros(now))
	if err != nil {
		return time.Time{}, noRows(err)
	}
	return fromMicros(run), nil
}

func (e *executor) PruneAttempts(ctx context.Context, finishedBefore, deadBefore time.Time, max int) (int64, error) {
	return e.q.PruneAttempts(ctx, e.db, sqlitedb.PruneAttemptsParams{FinishedBefore: nullMicros(finishedBefore), DeadBefore: nullMicros(deadBefore), MaxJobs: int64(max)})
}

func (e *executor) PruneJobs(ctx context.Context, finishedBefore, deadBefore time.Time, max int) (int64, error) {
	return e.q.PruneJobs(ctx, e.db, sqlitedb.PruneJobsParams{FinishedBefore: nullMicros(finishedBefore), DeadBefore: nullMicros(deadBefore), MaxJobs: int64(max)})
}

func (e *executor) PruneEvents(ctx context.Context, receivedBefore time.Time, max int) (int64, error) {
	return e.q.PruneEvents(ctx, e.db, sqlitedb.PruneEventsParams{ReceivedBefore: micros(receivedBefore), MaxEvents: int64(max)})
}

func (e *executor) InsertKey(ctx context.Context, k job.APIKey) error {
	return e.q.InsertKey(ctx, e.db, sqlitedb.InsertKeyParams{
		ID: k.ID, Prefix: k.Prefix, Hash: k.Hash, Name: k.Name, DefaultEndpoint: k.DefaultEndpoint, Scope: string(k.Scope), CreatedAt: micros(k.CreatedAt),
	})
}

func (e *executor) GetKeyByPrefix(ctx context.Context, prefix string) (job.APIKey, error) {
	r, err := e.q.GetKeyByPrefix(ctx, e.db, prefix)
	return toKey(r), noRows(err)
}

func (e *executor) ListKeys(ctx context.Context) ([]job.APIKey, error) {
	rows, err := e.q.ListKeys(ctx, e.db)
	keys := make([]job.APIKey, len(rows))
	for i, r := range rows {
		keys[i] = toKey(r)
	}
	return keys, err
}

func (e *executor) RevokeKey(ctx context.Context, id string, now time.Time) (int64, error) {
	return e.q.RevokeKey(ctx, e.db, sqlitedb.RevokeKeyParams{ID: id, Now: micros(now)})
}

func (e *executor) TouchKey(ctx context.Context, id string, now time.Time) error {
	return e.q.TouchKey(ctx, e.db, sqlitedb.TouchKeyParams{ID: id, Now: micros(now)})
}

func toKey(r sqlitedb.ApiKey) job.APIKey {
	return job.APIKey{
		ID: r.ID, Prefix: r.Prefix, Name: r.Name, DefaultEndpoint: r.DefaultEndpoint, Scope: job.Scope(r.Scope), Hash: r.Hash,
		CreatedAt: fromMicros(r.CreatedAt), LastUsedAt: fromNullMicros(r.LastUsedAt), RevokedAt: fromNullMicros(r.RevokedAt),
	}
}

func jobRows(rows []sqlitedb.Job, err error) ([]store.JobRow, error) {
	if err != nil {
		return nil, err
	}
	out := make([]store.JobRow, len(rows))
	for i, r := range rows {
		out[i] = jobRow(r)
	}
	return out, nil
}

func jobRow(r sqlitedb.Job) store.JobRow {
	var retry []byte
	if r.Retry != nil {
		retry = []byte(*r.Retry)
	}
	return store.JobRow{Retry: retry, PayloadEventID: deref(r.PayloadEventID), Job: job.Job{
		ID: r.ID, Endpoint: r.Endpoint, EventID: deref(r.EventID), Payload: r.Payload,
		State: job.State(r.State), Attempts: int(r.Attempts),
		RunAt: fromMicros(r.RunAt), CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
		CoalesceKey: deref(r.CoalesceKey), OrderingKey: deref(r.OrderingKey), LeaseID: deref(r.LeaseID),
		LeaseExpiresAt: fromNullMicros(r.LeaseExpiresAt), FirstAttemptAt: fromNullMicros(r.FirstAttemptAt), FinishedAt: fromNullMicros(r.FinishedAt),
		LastError: r.LastError, Source: deref(r.Source), IdempotencyKey: deref(r.IdempotencyKey), TraceParent: r.TraceParent,
	}}
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

func fromNullMicros(us *int64) time.Time {
	if us == nil {
		return time.Time{}
	}
	return fromMicros(*us)
}

// microsOrNil is an optional filter: nil (NULL, "any") for the zero time.
func microsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// orNil is an optional filter: nil (NULL, "any") for "".
func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
