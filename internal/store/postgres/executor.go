package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

// executor adapts the generated queries to store.Executor on a pool, a
// connection or a transaction. Batches are pipelined: one round trip for
// many rows.
type executor struct {
	q  *pgdb.Queries
	db pgdb.DBTX
}

// noRows translates pgx's "no rows" into the store's.
func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNoRows
	}
	return err
}

// Notify sends one NOTIFY for the endpoints; in a transaction it is
// delivered at commit, to every process listening (this one included).
func (e *executor) Notify(ctx context.Context, endpoints []string) error {
	if len(endpoints) == 0 {
		return nil
	}
	return e.q.NotifyJobs(ctx, e.db, strings.Join(endpoints, ","))
}

func (e *executor) Ping(ctx context.Context) error {
	_, err := e.q.Ping(ctx, e.db)
	return err
}

// InsertEvents inserts the events in one statement over arrays; a stored
// delivery id inserts nothing, and its event is reported as not inserted.
func (e *executor) InsertEvents(ctx context.Context, events []store.EventRow) ([]bool, error) {
	var p pgdb.InsertEventsParams
	for _, ev := range events {
		p.Ids = append(p.Ids, ev.ID)
		p.Sources = append(p.Sources, ev.Source)
		p.DeliveryIds = append(p.DeliveryIds, ev.DeliveryID)
		p.ContentTypes = append(p.ContentTypes, ev.ContentType)
		p.Headers = append(p.Headers, string(ev.Headers))
		p.Bodies = append(p.Bodies, ev.Body)
		p.ReceivedAts = append(p.ReceivedAts, ev.ReceivedAt)
		p.Types = append(p.Types, ev.Type)
	}
	ids, err := e.q.InsertEvents(ctx, e.db, p)
	if err != nil {
		return nil, err
	}
	stored := make(map[string]bool, len(ids))
	for _, id := range ids {
		stored[id] = true
	}
	inserted := make([]bool, len(events))
	for i, ev := range events {
		inserted[i] = stored[ev.ID]
	}
	return inserted, nil
}

// InsertJobs inserts the jobs without a coalesce key in one statement and
// those with one in one pipelined batch (each may update the pending job it
// coalesces into, which one statement cannot do twice to one row).
func (e *executor) InsertJobs(ctx context.Context, jobs []store.JobRow) ([]string, error) {
	ids := make([]string, len(jobs))
	var plain pgdb.InsertUncoalescedJobsParams
	var coalesced []pgdb.InsertJobsBatchParams
	var at []int // the position in jobs of each coalesced one
	for i, r := range jobs {
		j := r.Job
		if j.CoalesceKey != "" {
			coalesced = append(coalesced, insertJobParams(r))
			at = append(at, i)
			continue
		}
		ids[i] = j.ID
		plain.Ids = append(plain.Ids, j.ID)
		plain.Endpoints = append(plain.Endpoints, j.Endpoint)
		plain.EventIds = append(plain.EventIds, j.EventID)
		plain.Payloads = append(plain.Payloads, nonNilBytes(j.Payload))
		plain.States = append(plain.States, string(j.State))
		plain.RunAts = append(plain.RunAts, j.RunAt)
		plain.CreatedAts = append(plain.CreatedAts, j.CreatedAt)
		plain.UpdatedAts = append(plain.UpdatedAts, j.UpdatedAt)
		plain.OrderingKeys = append(plain.OrderingKeys, j.OrderingKey)
		plain.Sources = append(plain.Sources, j.Source)
		plain.IdempotencyKeys = append(plain.IdempotencyKeys, j.IdempotencyKey)
		plain.Retries = append(plain.Retries, string(r.Retry))
		plain.TraceParents = append(plain.TraceParents, j.TraceParent)
		plain.PayloadEventIds = append(plain.PayloadEventIds, r.PayloadEventID)
		plain.LastErrors = append(plain.LastErrors, j.LastError)
		plain.FinishedAts = append(plain.FinishedAts, j.FinishedAt) // zero: NULL
	}
	if len(plain.Ids) > 0 {
		if err := e.q.InsertUncoalescedJobs(ctx, e.db, plain); err != nil {
			return nil, err
		}
	}
	switch len(coalesced) {
	case 0:
	case 1:
		id, err := e.q.InsertJob(ctx, e.db, pgdb.InsertJobParams(coalesced[0]))
		if err != nil {
			return nil, err
		}
		ids[at[0]] = id
	default:
		var batchErr error
		res := e.q.InsertJobsBatch(ctx, e.db, coalesced)
		res.QueryRow(func(k int, id string, err error) {
			if err != nil && batchErr == nil {
				batchErr = err
			}
			ids[at[k]] = id
		})
		if err := errors.Join(batchErr, res.Close()); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func insertJobParams(r store.JobRow) pgdb.InsertJobsBatchParams {
	j := r.Job
	return pgdb.InsertJobsBatchParams{
		ID: j.ID, Endpoint: j.Endpoint, EventID: nullable(j.EventID), Payload: j.Payload, State: string(j.State),
		RunAt: j.RunAt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		CoalesceKey: nullable(j.CoalesceKey), OrderingKey: nullable(j.OrderingKey), Source: nullable(j.Source),
		IdempotencyKey: nullable(j.IdempotencyKey), Retry: r.Retry, TraceParent: j.TraceParent,
		PayloadEventID: nullable(r.PayloadEventID),
		LastError:      j.LastError, FinishedAt: nullTime(j.FinishedAt),
	}
}

func (e *executor) GetEventIDByDeliveryID(ctx context.Context, source, deliveryID string) (string, error) {
	id, err := e.q.GetEventIDByDeliveryID(ctx, e.db, pgdb.GetEventIDByDeliveryIDParams{Source: source, DeliveryID: nullable(deliveryID)})
	return id, noRows(err)
}

func (e *executor) GetEvent(ctx context.Context, id string) (store.EventRow, error) {
	r, err := e.q.GetEvent(ctx, e.db, id)
	if err != nil {
		return store.EventRow{}, noRows(err)
	}
	return store.EventRow{
		ID: r.ID, Source: r.Source, DeliveryID: deref(r.DeliveryID), ContentType: r.ContentType,
		Headers: r.Headers, Body: r.Body, ReceivedAt: r.ReceivedAt.UTC(), Type: r.Type,
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
	return e.q.UpsertEndpoint(ctx, e.db, pgdb.UpsertEndpointParams{Name: r.Name, Spec: r.Spec, Origin: r.Origin, Now: r.Now})
}

func (e *executor) InsertEndpoint(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.InsertEndpoint(ctx, e.db, pgdb.InsertEndpointParams{Name: r.Name, Spec: r.Spec, Now: r.Now})
}

func (e *executor) UpdateEndpointSpec(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.UpdateEndpointSpec(ctx, e.db, pgdb.UpdateEndpointSpecParams{Name: r.Name, Spec: r.Spec, Now: r.Now})
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

func endpointRow(r pgdb.Endpoint) store.EndpointRow {
	return store.EndpointRow{
		Name: r.Name, Spec: r.Spec, Origin: r.Origin, Paused: r.Paused,
		DisabledAt: derefTime(r.DisabledAt), DisabledReason: r.DisabledReason, FailingSince: derefTime(r.FailingSince),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func (e *executor) SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) (int64, error) {
	return e.q.SetEndpointPaused(ctx, e.db, pgdb.SetEndpointPausedParams{Paused: paused, Now: now, Name: name})
}

func (e *executor) DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (int64, error) {
	return e.q.DisableEndpoint(ctx, e.db, pgdb.DisableEndpointParams{Now: &now, Reason: reason, Name: name})
}

func (e *executor) EnableEndpoint(ctx context.Context, name string, now time.Time) (int64, error) {
	return e.q.EnableEndpoint(ctx, e.db, pgdb.EnableEndpointParams{Now: now, Name: name})
}

func (e *executor) MarkEndpointHealthy(ctx context.Context, name string) error {
	return e.q.MarkEndpointHealthy(ctx, e.db, name)
}

func (e *executor) MarkEndpointFailing(ctx context.Context, name string, now time.Time) (time.Time, error) {
	since, err := e.q.MarkEndpointFailing(ctx, e.db, pgdb.MarkEndpointFailingParams{Now: &now, Name: name})
	return derefTime(since), noRows(err)
}

func (e *executor) CountUnfinishedJobs(ctx context.Context, endpoint string) (int64, error) {
	return e.q.CountUnfinishedJobs(ctx, e.db, endpoint)
}

func (e *executor) DeleteEndpoint(ctx context.Context, name string) (int64, error) {
	return e.q.DeleteEndpoint(ctx, e.db, name)
}

func (e *executor) GetRateBucket(ctx context.Context, endpoint string) (*float64, time.Time, error) {
	b, err := e.q.GetRateBucket(ctx, e.db, endpoint)
	return b.RateTokens, derefTime(b.RateUpdatedAt), noRows(err)
}

func (e *executor) SetRateBucket(ctx context.Context, endpoint string, tokens float64, at time.Time) error {
	return e.q.SetRateBucket(ctx, e.db, pgdb.SetRateBucketParams{RateTokens: &tokens, RateUpdatedAt: &at, Name: endpoint})
}

func (e *executor) UpsertSource(ctx context.Context, r store.SpecRow) error {
	return e.q.UpsertSource(ctx, e.db, pgdb.UpsertSourceParams{Name: r.Name, Spec: r.Spec, Origin: r.Origin, Now: r.Now})
}

func (e *executor) InsertSource(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.InsertSource(ctx, e.db, pgdb.InsertSourceParams{Name: r.Name, Spec: r.Spec, Now: r.Now})
}

func (e *executor) UpdateSourceSpec(ctx context.Context, r store.SpecRow) (int64, error) {
	return e.q.UpdateSourceSpec(ctx, e.db, pgdb.UpdateSourceSpecParams{Name: r.Name, Spec: r.Spec, Now: r.Now})
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

func sourceRow(r pgdb.Source) store.SourceRow {
	return store.SourceRow{Name: r.Name, Spec: r.Spec, Origin: r.Origin, Paused: r.Paused, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func (e *executor) DeleteSource(ctx context.Context, name string) (int64, error) {
	return e.q.DeleteSource(ctx, e.db, name)
}

func (e *executor) SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) (int64, error) {
	return e.q.SetSourcePaused(ctx, e.db, pgdb.SetSourcePausedParams{Paused: paused, Now: now, Name: name})
}

func (e *executor) NextRunAt(ctx context.Context, endpoint string) (time.Time, error) {
	run, err := e.q.NextRunAt(ctx, e.db, endpoint)
	return run.UTC(), noRows(err)
}

func (e *executor) NextLeaseExpiry(ctx context.Context, endpoint string) (time.Time, error) {
	lease, err := e.q.NextLeaseExpiry(ctx, e.db, endpoint)
	return derefTime(lease), noRows(err)
}

func (e *executor) ClaimExpiredLeases(ctx context.Context, c job.Claim) ([]store.JobRow, error) {
	return jobRows(e.q.ClaimExpiredLeases(ctx, e.db, pgdb.ClaimExpiredLeasesParams{
		LeaseID: &c.LeaseID, LeaseUntil: nullTime(c.LeaseUntil), Now: c.Now, Endpoint: c.Endpoint, MaxJobs: int32(c.Max),
	}))
}

func (e *executor) ClaimReadyJobs(ctx context.Context, c job.Claim) ([]store.JobRow, error) {
	return jobRows(e.q.ClaimReadyJobs(ctx, e.db, pgdb.ClaimReadyJobsParams{
		LeaseID: &c.LeaseID, LeaseUntil: nullTime(c.LeaseUntil), Now: c.Now, Endpoint: c.Endpoint, MaxJobs: int32(c.Max),
	}))
}

// FinishJobs runs the fenced updates as one statement over arrays: a
// group commit of many deliveries costs the server one statement, not one
// per job.
func (e *executor) FinishJobs(ctx context.Context, fs []store.FinishRow) ([]bool, error) {
	p := pgdb.FinishJobsParams{
		Ids: make([]string, len(fs)), LeaseIds: make([]string, len(fs)), States: make([]string, len(fs)),
		LastErrors: make([]string, len(fs)), RunAts: make([]time.Time, len(fs)), FinishedAts: make([]time.Time, len(fs)),
		Nows: make([]time.Time, len(fs)),
	}
	for i, f := range fs {
		// Zero times travel as zero: the query reads them as "keep the run
		// time" and "not finished".
		p.Ids[i], p.LeaseIds[i], p.States[i], p.LastErrors[i] = f.JobID, f.LeaseID, string(f.State), f.LastError
		p.RunAts[i], p.FinishedAts[i], p.Nows[i] = f.RunAt, f.FinishedAt, f.Now
	}
	positions, err := e.q.FinishJobs(ctx, e.db, p)
	if err != nil {
		return nil, err
	}
	held := make([]bool, len(fs))
	for _, pos := range positions {
		held[pos-1] = true // positions count from 1
	}
	return held, nil
}

// InsertAttempts inserts the attempts as one statement over arrays.
func (e *executor) InsertAttempts(ctx context.Context, as []job.Attempt) error {
	n := len(as)
	p := pgdb.InsertAttemptsParams{
		Ids: make([]string, n), JobIds: make([]string, n), AttemptNumbers: make([]int32, n), BatchIds: make([]string, n),
		StartedAts: make([]time.Time, n), LatenciesUs: make([]int64, n), StatusCodes: make([]int32, n), Outcomes: make([]string, n),
		ErrorClasses: make([]string, n), Errors: make([]string, n), ResponseExcerpts: make([]string, n),
		Endpoints: make([]string, n), RequestHeaders: make([]string, n), RetryAftersUs: make([]int64, n),
	}
	for i, a := range as {
		p.Ids[i], p.JobIds[i], p.AttemptNumbers[i], p.BatchIds[i] = a.ID, a.JobID, int32(a.Number), a.BatchID
		p.StartedAts[i], p.LatenciesUs[i], p.StatusCodes[i], p.Outcomes[i] = a.StartedAt, a.Latency.Microseconds(), int32(a.StatusCode), a.Outcome
		p.ErrorClasses[i], p.Errors[i], p.ResponseExcerpts[i] = a.ErrorClass, a.Error, a.ResponseExcerpt
		// The query stores an empty endpoint or headers and a -1 Retry-After as NULL.
		p.Endpoints[i], p.RetryAftersUs[i] = a.Endpoint, -1
		if h := store.EncodeHeaders(a.RequestHeaders); h != nil {
			p.RequestHeaders[i] = *h
		}
		if a.RetryAfter > 0 {
			p.RetryAftersUs[i] = a.RetryAfter.Microseconds()
		}
	}
	return e.q.InsertAttempts(ctx, e.db, p)
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
			StartedAt: r.StartedAt.UTC(), Latency: time.Duration(r.LatencyUs) * time.Microsecond,
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

func (e *executor) GetJobIDByIdempotencyKey(ctx context.Context, endpoint, key string) (string, error) {
	id, err := e.q.GetJobIDByIdempotencyKey(ctx, e.db, pgdb.GetJobIDByIdempotencyKeyParams{Endpoint: endpoint, IdempotencyKey: &key})
	return id, noRows(err)
}

func (e *executor) CancelJob(ctx context.Context, id string, now time.Time) (store.JobRow, error) {
	r, err := e.q.CancelJob(ctx, e.db, pgdb.CancelJobParams{Now: &now, ID: id})
	return jobRow(r), noRows(err)
}

func (e *executor) RetryJob(ctx context.Context, id string, now time.Time) (store.JobRow, error) {
	r, err := e.q.RetryJob(ctx, e.db, pgdb.RetryJobParams{Now: now, ID: id})
	return jobRow(r), noRows(err)
}

func (e *executor) ReplayDeadJobs(ctx context.Context, f job.JobFilter, now time.Time) (int64, error) {
	return e.q.ReplayDeadJobs(ctx, e.db, pgdb.ReplayDeadJobsParams{
		Now: now, Endpoint: nullable(f.Endpoint), CreatedAfter: nullTime(f.CreatedAfter), CreatedBefore: nullTime(f.CreatedBefore),
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
	run, err := e.q.OldestReadyRunAt(ctx, e.db, now)
	return run.UTC(), noRows(err)
}

func (e *executor) PruneAttempts(ctx context.Context, finishedBefore, deadBefore time.Time, max int) (int64, error) {
	return e.q.PruneAttempts(ctx, e.db, pgdb.PruneAttemptsParams{FinishedBefore: nullTime(finishedBefore), DeadBefore: nullTime(deadBefore), MaxJobs: int32(max)})
}

func (e *executor) PruneJobs(ctx context.Context, finishedBefore, deadBefore time.Time, max int) (int64, error) {
	return e.q.PruneJobs(ctx, e.db, pgdb.PruneJobsParams{FinishedBefore: nullTime(finishedBefore), DeadBefore: nullTime(deadBefore), MaxJobs: int32(max)})
}

func (e *executor) PruneEvents(ctx context.Context, receivedBefore time.Time, max int) (int64, error) {
	return e.q.PruneEvents(ctx, e.db, pgdb.PruneEventsParams{ReceivedBefore: receivedBefore, MaxEvents: int32(max)})
}

func (e *executor) InsertKey(ctx context.Context, k job.APIKey) error {
	return e.q.InsertKey(ctx, e.db, pgdb.InsertKeyParams{
		ID: k.ID, Prefix: k.Prefix, Hash: k.Hash, Name: k.Name, DefaultEndpoint: k.DefaultEndpoint, Scope: string(k.Scope), CreatedAt: k.CreatedAt,
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
	return e.q.RevokeKey(ctx, e.db, pgdb.RevokeKeyParams{ID: id, Now: now})
}

func (e *executor) TouchKey(ctx context.Context, id string, now time.Time) error {
	return e.q.TouchKey(ctx, e.db, pgdb.TouchKeyParams{ID: id, Now: now})
}

func toKey(r pgdb.ApiKey) job.APIKey {
	return job.APIKey{
		ID: r.ID, Prefix: r.Prefix, Name: r.Name, DefaultEndpoint: r.DefaultEndpoint, Scope: job.Scope(r.Scope), Hash: r.Hash,
		CreatedAt: r.CreatedAt.UTC(), LastUsedAt: derefTime(r.LastUsedAt), RevokedAt: derefTime(r.RevokedAt),
	}
}

func jobRows(rows []pgdb.Job, err error) ([]store.JobRow, error) {
	if err != nil {
		return nil, err
	}
	out := make([]store.JobRow, len(rows))
	for i, r := range rows {
		out[i] = jobRow(r)
	}
	return out, nil
}

func jobRow(r pgdb.Job) store.JobRow {
	return store.JobRow{Retry: r.Retry, PayloadEventID: deref(r.PayloadEventID), Job: job.Job{
		ID: r.ID, Endpoint: r.Endpoint, EventID: deref(r.EventID), Payload: r.Payload,
		State: job.State(r.State), Attempts: int(r.Attempts),
		RunAt: r.RunAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		CoalesceKey: deref(r.CoalesceKey), OrderingKey: deref(r.OrderingKey), LeaseID: deref(r.LeaseID),
		LeaseExpiresAt: derefTime(r.LeaseExpiresAt), FirstAttemptAt: derefTime(r.FirstAttemptAt), FinishedAt: derefTime(r.FinishedAt),
		LastError: r.LastError, Source: deref(r.Source), IdempotencyKey: deref(r.IdempotencyKey), TraceParent: r.TraceParent,
	}}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
