package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
)

// UpsertEndpoints implements job.Store.
func (s *Store) UpsertEndpoints(ctx context.Context, specs []job.EndpointSpec, origin string, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: upsert endpoints: %w", err)
	}
	defer tx.Rollback()
	for _, spec := range specs {
		b, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := s.q.UpsertEndpoint(ctx, s.ws.on(tx), sqlitedb.UpsertEndpointParams{
			Name: spec.Name, Spec: string(b), Origin: origin, Now: micros(now),
		}); err != nil {
			return fmt.Errorf("sqlite: upsert endpoint %s: %w", spec.Name, err)
		}
	}
	return tx.Commit()
}

// GetEndpoint implements job.Store.
func (s *Store) GetEndpoint(ctx context.Context, name string) (job.Endpoint, error) {
	row, err := s.q.GetEndpoint(ctx, s.rs.on(nil), name)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Endpoint{}, job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	if err != nil {
		return job.Endpoint{}, fmt.Errorf("sqlite: get endpoint: %w", err)
	}
	return toEndpoint(row)
}

// ListEndpoints implements job.Store.
func (s *Store) ListEndpoints(ctx context.Context) ([]job.Endpoint, error) {
	rows, err := s.q.ListEndpoints(ctx, s.rs.on(nil))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
	}
	out := make([]job.Endpoint, 0, len(rows))
	for _, r := range rows {
		e, err := toEndpoint(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func toEndpoint(r sqlitedb.Endpoint) (job.Endpoint, error) {
	e := job.Endpoint{
		Origin:         r.Origin,
		Paused:         r.Paused != 0,
		DisabledAt:     fromNullMicros(r.DisabledAt),
		DisabledReason: r.DisabledReason,
		FailingSince:   fromNullMicros(r.FailingSince),
		CreatedAt:      fromMicros(r.CreatedAt),
		UpdatedAt:      fromMicros(r.UpdatedAt),
	}
	if err := json.Unmarshal([]byte(r.Spec), &e.EndpointSpec); err != nil {
		return job.Endpoint{}, fmt.Errorf("sqlite: endpoint %s spec: %w", r.Name, err)
	}
	e.Name = r.Name
	return e, nil
}

// SetEndpointPaused implements job.Store.
func (s *Store) SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) error {
	var p int64
	if paused {
		p = 1
	}
	n, err := s.q.SetEndpointPaused(ctx, s.ws.on(nil), sqlitedb.SetEndpointPausedParams{Paused: p, Now: micros(now), Name: name})
	if err != nil {
		return fmt.Errorf("sqlite: pause endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	if !paused {
		s.signal.Notify(name)
	}
	return nil
}

// DisableEndpoint implements job.Store.
func (s *Store) DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (bool, error) {
	n, err := s.q.DisableEndpoint(ctx, s.ws.on(nil), sqlitedb.DisableEndpointParams{Now: nullMicros(now), Reason: reason, Name: name})
	if err != nil {
		return false, fmt.Errorf("sqlite: disable endpoint: %w", err)
	}
	return n > 0, nil
}

// EnableEndpoint implements job.Store.
func (s *Store) EnableEndpoint(ctx context.Context, name string, now time.Time) error {
	n, err := s.q.EnableEndpoint(ctx, s.ws.on(nil), sqlitedb.EnableEndpointParams{Now: micros(now), Name: name})
	if err != nil {
		return fmt.Errorf("sqlite: enable endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	s.signal.Notify(name)
	return nil
}

// RecordEndpointHealth implements job.Store.
func (s *Store) RecordEndpointHealth(ctx context.Context, name string, ok bool, now time.Time) (time.Time, error) {
	if ok {
		if err := s.q.MarkEndpointHealthy(ctx, s.ws.on(nil), name); err != nil {
			return time.Time{}, fmt.Errorf("sqlite: endpoint health: %w", err)
		}
		return time.Time{}, nil
	}
	since, err := s.q.MarkEndpointFailing(ctx, s.ws.on(nil), sqlitedb.MarkEndpointFailingParams{Now: nullMicros(now), Name: name})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: endpoint health: %w", err)
	}
	return fromNullMicros(since), nil
}

// NextDue implements job.Store.
func (s *Store) NextDue(ctx context.Context, endpoint string) (time.Time, bool, error) {
	var next time.Time
	run, err := s.q.NextRunAt(ctx, s.rs.on(nil), endpoint)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return time.Time{}, false, fmt.Errorf("sqlite: next run: %w", err)
	default:
		next = fromMicros(run)
	}
	lease, err := s.q.NextLeaseExpiry(ctx, s.rs.on(nil), endpoint)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return time.Time{}, false, fmt.Errorf("sqlite: next lease expiry: %w", err)
	case lease != nil:
		if t := fromMicros(*lease); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, !next.IsZero(), nil
}

// ClaimJobs implements job.Store: expired leases first (a dead worker's
// jobs are the oldest work), then ready jobs, in one transaction.
func (s *Store) ClaimJobs(ctx context.Context, c job.Claim) ([]job.Job, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim jobs: %w", err)
	}
	defer tx.Rollback()
	rows, err := s.q.ClaimExpiredLeases(ctx, s.ws.on(tx), sqlitedb.ClaimExpiredLeasesParams{
		LeaseID: &c.LeaseID, LeaseUntil: nullMicros(c.LeaseUntil), Now: micros(c.Now), Endpoint: c.Endpoint, MaxJobs: int64(c.Max),
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim expired leases: %w", err)
	}
	if left := c.Max - len(rows); left > 0 {
		ready, err := s.q.ClaimReadyJobs(ctx, s.ws.on(tx), sqlitedb.ClaimReadyJobsParams{
			LeaseID: &c.LeaseID, LeaseUntil: nullMicros(c.LeaseUntil), Now: micros(c.Now), Endpoint: c.Endpoint, MaxJobs: int64(left),
		})
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim ready jobs: %w", err)
		}
		rows = append(rows, ready...)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: claim jobs: %w", err)
	}
	s.ws.preparePending(ctx)
	jobs := make([]job.Job, len(rows))
	for i, r := range rows {
		jobs[i] = toJob(r)
	}
	job.SortByRunAt(jobs)
	return jobs, nil
}

// FinishJobs implements job.Store. Concurrent deliveries share one
// transaction (group commit), as webhooks do: one fsync records many
// outcomes.
func (s *Store) FinishJobs(ctx context.Context, fs []job.Finish) ([]bool, error) {
	ok, err := s.finishes.Do(ctx, fs)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("sqlite: finish jobs: %w", err)
	}
	return ok, nil
}

// commitFinishes records several callers' outcomes in one transaction.
func (s *Store) commitFinishes(ctx context.Context, batches [][]job.Finish) ([][]bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out := make([][]bool, len(batches))
	for b, fs := range batches {
		if out[b], err = s.finishInTx(ctx, tx, fs); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.ws.preparePending(ctx)
	return out, nil
}

func (s *Store) finishInTx(ctx context.Context, tx *sql.Tx, fs []job.Finish) ([]bool, error) {
	ok := make([]bool, len(fs))
	for i, f := range fs {
		p := sqlitedb.FinishJobParams{
			State:     string(f.State),
			LastError: f.LastError,
			Now:       micros(f.Now),
			ID:        f.JobID,
			LeaseID:   &f.LeaseID,
		}
		if f.State == job.StateRetrying {
			p.RunAt = nullMicros(f.RunAt)
		} else {
			p.FinishedAt = nullMicros(f.Now)
		}
		n, err := s.q.FinishJob(ctx, s.ws.on(tx), p)
		if err != nil {
			return nil, fmt.Errorf("sqlite: finish job %s: %w", f.JobID, err)
		}
		if n == 0 {
			continue // the lease was lost: another worker owns the job now
		}
		ok[i] = true
		for _, a := range append(f.Earlier, f.Attempt) {
			if err := s.insertAttempt(ctx, tx, f.JobID, a); err != nil {
				return nil, err
			}
		}
	}
	return ok, nil
}

// insertAttempt records one attempt of a job whose outcome is being
// finished.
func (s *Store) insertAttempt(ctx context.Context, tx *sql.Tx, jobID string, a job.Attempt) error {
	err := s.q.InsertAttempt(ctx, s.ws.on(tx), sqlitedb.InsertAttemptParams{
		ID:              a.ID,
		JobID:           jobID,
		AttemptNumber:   int64(a.Number),
		BatchID:         a.BatchID,
		StartedAt:       micros(a.StartedAt),
		LatencyUs:       a.Latency.Microseconds(),
		StatusCode:      int64(a.StatusCode),
		Outcome:         a.Outcome,
		ErrorClass:      a.ErrorClass,
		Error:           a.Error,
		ResponseExcerpt: a.ResponseExcerpt,
	})
	if err != nil {
		return fmt.Errorf("sqlite: record attempt of %s: %w", jobID, err)
	}
	return nil
}

// GetJob implements job.Store.
func (s *Store) GetJob(ctx context.Context, id string) (job.Job, error) {
	row, err := s.q.GetJob(ctx, s.rs.on(nil), id)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Job{}, job.Errorf(job.CodeNotFound, "no job %q", id)
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("sqlite: get job: %w", err)
	}
	return toJob(row), nil
}

// ListAttempts implements job.Store.
func (s *Store) ListAttempts(ctx context.Context, jobID string) ([]job.Attempt, error) {
	rows, err := s.q.ListAttempts(ctx, s.rs.on(nil), jobID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list attempts: %w", err)
	}
	out := make([]job.Attempt, len(rows))
	for i, r := range rows {
		out[i] = job.Attempt{
			ID:              r.ID,
			JobID:           r.JobID,
			Number:          int(r.AttemptNumber),
			BatchID:         r.BatchID,
			StartedAt:       fromMicros(r.StartedAt),
			Latency:         time.Duration(r.LatencyUs) * time.Microsecond,
			StatusCode:      int(r.StatusCode),
			Outcome:         r.Outcome,
			ErrorClass:      r.ErrorClass,
			Error:           r.Error,
			ResponseExcerpt: r.ResponseExcerpt,
		}
	}
	return out, nil
}

// Subscribe implements job.Store.
func (s *Store) Subscribe(endpoint string) (<-chan struct{}, func()) {
	return s.signal.Subscribe(endpoint)
}

// QueueStats implements job.Store.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (map[job.State]int64, time.Time, error) {
	rows, err := s.q.CountUnfinishedJobsByState(ctx, s.rs.on(nil))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: queue stats: %w", err)
	}
	byState := map[job.State]int64{}
	for _, r := range rows {
		byState[job.State(r.State)] = r.N
	}
	run, err := s.q.OldestReadyRunAt(ctx, s.rs.on(nil), micros(now))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return byState, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("sqlite: oldest ready job: %w", err)
	}
	return byState, fromMicros(run), nil
}

// TakeRateTokens implements job.Store.
func (s *Store) TakeRateTokens(ctx context.Context, endpoint string, want int, rps float64, burst int, now time.Time) (int, time.Duration, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: rate limit: %w", err)
	}
	defer tx.Rollback()
	b, err := s.q.GetRateBucket(ctx, s.ws.on(tx), endpoint)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: rate limit of %s: %w", endpoint, err)
	}
	granted, left, at, wait := job.TakeTokens(b.RateTokens, fromNullMicros(b.RateUpdatedAt), now, rps, burst, want)
	if err := s.q.SetRateBucket(ctx, s.ws.on(tx), sqlitedb.SetRateBucketParams{RateTokens: &left, RateUpdatedAt: nullMicros(at), Name: endpoint}); err != nil {
		return 0, 0, fmt.Errorf("sqlite: rate limit of %s: %w", endpoint, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("sqlite: rate limit of %s: %w", endpoint, err)
	}
	return granted, wait, nil
}

// ReturnRateTokens implements job.Store.
func (s *Store) ReturnRateTokens(ctx context.Context, endpoint string, n, burst int) error {
	err := s.q.ReturnRateTokens(ctx, s.ws.on(nil), sqlitedb.ReturnRateTokensParams{Tokens: float64(n), Burst: float64(burst), Name: endpoint})
	if err != nil {
		return fmt.Errorf("sqlite: rate limit of %s: %w", endpoint, err)
	}
	return nil
}

// Prune implements job.Store. SQLite has one process: it always runs.
func (s *Store) Prune(ctx context.Context, c job.PruneCutoffs) (job.Pruned, bool, error) {
	var p job.Pruned
	fin, dead := nullMicros(c.FinishedBefore), nullMicros(c.DeadBefore)
	// Attempts first (they reference their job), then the jobs left
	// without attempts, a batch of each in turn until a batch of jobs
	// comes back short; then the events left without jobs.
	err := func() error {
		for {
			n, err := s.q.PruneAttempts(ctx, s.ws.on(nil), sqlitedb.PruneAttemptsParams{FinishedBefore: fin, DeadBefore: dead, MaxJobs: int64(c.Batch)})
			if err != nil {
				return err
			}
			p.Attempts += n
			if n, err = s.q.PruneJobs(ctx, s.ws.on(nil), sqlitedb.PruneJobsParams{FinishedBefore: fin, DeadBefore: dead, MaxJobs: int64(c.Batch)}); err != nil {
				return err
			}
			p.Jobs += n
			if n < int64(c.Batch) {
				break
			}
		}
		for {
			n, err := s.q.PruneEvents(ctx, s.ws.on(nil), sqlitedb.PruneEventsParams{ReceivedBefore: micros(c.EventsBefore), MaxEvents: int64(c.Batch)})
			if err != nil {
				return err
			}
			p.Events += n
			if n < int64(c.Batch) {
				return nil
			}
		}
	}()
	if err != nil {
		return p, true, fmt.Errorf("sqlite: prune: %w", err)
	}
	return p, true, nil
}
