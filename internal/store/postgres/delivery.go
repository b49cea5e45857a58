package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
)

// UpsertEndpoints implements job.Store.
func (s *Store) UpsertEndpoints(ctx context.Context, specs []job.EndpointSpec, origin string, now time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: upsert endpoints: %w", err)
	}
	defer tx.Rollback(ctx)
	for _, spec := range specs {
		b, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := s.q.UpsertEndpoint(ctx, tx, pgdb.UpsertEndpointParams{
			Name: spec.Name, Spec: b, Origin: origin, Now: now,
		}); err != nil {
			return fmt.Errorf("postgres: upsert endpoint %s: %w", spec.Name, err)
		}
	}
	return tx.Commit(ctx)
}

// GetEndpoint implements job.Store.
func (s *Store) GetEndpoint(ctx context.Context, name string) (job.Endpoint, error) {
	row, err := s.q.GetEndpoint(ctx, s.pool, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Endpoint{}, job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	if err != nil {
		return job.Endpoint{}, fmt.Errorf("postgres: get endpoint: %w", err)
	}
	return toEndpoint(row)
}

// ListEndpoints implements job.Store.
func (s *Store) ListEndpoints(ctx context.Context) ([]job.Endpoint, error) {
	rows, err := s.q.ListEndpoints(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: list endpoints: %w", err)
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

func toEndpoint(r pgdb.Endpoint) (job.Endpoint, error) {
	e := job.Endpoint{
		Origin:         r.Origin,
		Paused:         r.Paused,
		DisabledAt:     derefTime(r.DisabledAt),
		DisabledReason: r.DisabledReason,
		FailingSince:   derefTime(r.FailingSince),
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal(r.Spec, &e.EndpointSpec); err != nil {
		return job.Endpoint{}, fmt.Errorf("postgres: endpoint %s spec: %w", r.Name, err)
	}
	e.Name = r.Name
	return e, nil
}

// SetEndpointPaused implements job.Store.
func (s *Store) SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) error {
	n, err := s.q.SetEndpointPaused(ctx, s.pool, pgdb.SetEndpointPausedParams{Paused: paused, Now: now, Name: name})
	if err != nil {
		return fmt.Errorf("postgres: pause endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	if !paused {
		s.notify(ctx, name)
	}
	return nil
}

// DisableEndpoint implements job.Store.
func (s *Store) DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (bool, error) {
	n, err := s.q.DisableEndpoint(ctx, s.pool, pgdb.DisableEndpointParams{Now: &now, Reason: reason, Name: name})
	if err != nil {
		return false, fmt.Errorf("postgres: disable endpoint: %w", err)
	}
	return n > 0, nil
}

// EnableEndpoint implements job.Store.
func (s *Store) EnableEndpoint(ctx context.Context, name string, now time.Time) error {
	n, err := s.q.EnableEndpoint(ctx, s.pool, pgdb.EnableEndpointParams{Now: now, Name: name})
	if err != nil {
		return fmt.Errorf("postgres: enable endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	s.notify(ctx, name)
	return nil
}

// notify wakes the endpoint's workers in every process; on failure the
// workers' fallback poll still finds the jobs.
func (s *Store) notify(ctx context.Context, endpoints ...string) {
	_ = s.q.NotifyJobs(ctx, s.pool, strings.Join(endpoints, ","))
}

// RecordEndpointHealth implements job.Store.
func (s *Store) RecordEndpointHealth(ctx context.Context, name string, ok bool, now time.Time) (time.Time, error) {
	if ok {
		if err := s.q.MarkEndpointHealthy(ctx, s.pool, name); err != nil {
			return time.Time{}, fmt.Errorf("postgres: endpoint health: %w", err)
		}
		return time.Time{}, nil
	}
	since, err := s.q.MarkEndpointFailing(ctx, s.pool, pgdb.MarkEndpointFailingParams{Now: &now, Name: name})
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: endpoint health: %w", err)
	}
	return derefTime(since), nil
}

// NextDue implements job.Store.
func (s *Store) NextDue(ctx context.Context, endpoint string) (time.Time, bool, error) {
	var next time.Time
	run, err := s.q.NextRunAt(ctx, s.pool, endpoint)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return time.Time{}, false, fmt.Errorf("postgres: next run: %w", err)
	default:
		next = run.UTC()
	}
	lease, err := s.q.NextLeaseExpiry(ctx, s.pool, endpoint)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return time.Time{}, false, fmt.Errorf("postgres: next lease expiry: %w", err)
	case lease != nil:
		if next.IsZero() || lease.Before(next) {
			next = lease.UTC()
		}
	}
	return next, !next.IsZero(), nil
}

// ClaimJobs implements job.Store: expired leases first (a dead worker's
// jobs are the oldest work), then ready jobs, in one transaction.
func (s *Store) ClaimJobs(ctx context.Context, c job.Claim) ([]job.Job, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim jobs: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := s.q.ClaimExpiredLeases(ctx, tx, pgdb.ClaimExpiredLeasesParams{
		LeaseID: &c.LeaseID, LeaseUntil: nullTime(c.LeaseUntil), Now: c.Now, Endpoint: c.Endpoint, MaxJobs: int32(c.Max),
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim expired leases: %w", err)
	}
	if left := c.Max - len(rows); left > 0 {
		ready, err := s.q.ClaimReadyJobs(ctx, tx, pgdb.ClaimReadyJobsParams{
			LeaseID: &c.LeaseID, LeaseUntil: nullTime(c.LeaseUntil), Now: c.Now, Endpoint: c.Endpoint, MaxJobs: int32(left),
		})
		if err != nil {
			return nil, fmt.Errorf("postgres: claim ready jobs: %w", err)
		}
		rows = append(rows, ready...)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: claim jobs: %w", err)
	}
	jobs := make([]job.Job, len(rows))
	for i, r := range rows {
		jobs[i] = toJob(r)
	}
	job.SortByRunAt(jobs)
	return jobs, nil
}

// FinishJobs implements job.Store. Concurrent deliveries share
// transactions (group commit), as webhooks do.
func (s *Store) FinishJobs(ctx context.Context, fs []job.Finish) ([]bool, error) {
	ok, err := s.finishes.Do(ctx, fs)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("postgres: finish jobs: %w", err)
	}
	return ok, nil
}

// commitFinishes records several callers' outcomes in one transaction and
// two round trips: the fenced updates of every job in one pipelined batch,
// then the attempts of those whose lease was still held.
func (s *Store) commitFinishes(ctx context.Context, batches [][]job.Finish) ([][]bool, error) {
	var all []job.Finish
	for _, fs := range batches {
		all = append(all, fs...)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)

	params := make([]pgdb.FinishJobsBatchParams, len(all))
	for i, f := range all {
		params[i] = pgdb.FinishJobsBatchParams{
			State:     string(f.State),
			LastError: f.LastError,
			Now:       f.Now,
			ID:        f.JobID,
			LeaseID:   &f.LeaseID,
		}
		if f.State == job.StateRetrying {
			params[i].RunAt = nullTime(f.RunAt)
		} else {
			params[i].FinishedAt = nullTime(f.Now)
		}
	}
	held := make([]bool, len(all))
	var batchErr error
	fin := s.q.FinishJobsBatch(ctx, tx, params)
	fin.QueryRow(func(i int, _ string, err error) {
		switch {
		case err == nil:
			held[i] = true
		case errors.Is(err, pgx.ErrNoRows): // the lease was lost: another worker owns the job now
		case batchErr == nil:
			batchErr = fmt.Errorf("finish job %s: %w", all[i].JobID, err)
		}
	})
	if err := errors.Join(batchErr, fin.Close()); err != nil {
		return nil, err
	}

	var attempts []pgdb.InsertAttemptsBatchParams
	for i, f := range all {
		if !held[i] {
			continue
		}
		for _, a := range append(f.Earlier, f.Attempt) {
			attempts = append(attempts, pgdb.InsertAttemptsBatchParams{
				ID:              a.ID,
				JobID:           f.JobID,
				AttemptNumber:   int32(a.Number),
				BatchID:         a.BatchID,
				StartedAt:       a.StartedAt,
				LatencyUs:       a.Latency.Microseconds(),
				StatusCode:      int32(a.StatusCode),
				Outcome:         a.Outcome,
				ErrorClass:      a.ErrorClass,
				Error:           a.Error,
				ResponseExcerpt: a.ResponseExcerpt,
			})
		}
	}
	if len(attempts) > 0 {
		ins := s.q.InsertAttemptsBatch(ctx, tx, attempts)
		ins.Exec(func(i int, err error) {
			if err != nil && batchErr == nil {
				batchErr = fmt.Errorf("record attempt of %s: %w", attempts[i].JobID, err)
			}
		})
		if err := errors.Join(batchErr, ins.Close()); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}

	out := make([][]bool, len(batches))
	k := 0
	for b, fs := range batches {
		out[b] = held[k : k+len(fs)]
		k += len(fs)
	}
	return out, nil
}

// GetJob implements job.Store.
func (s *Store) GetJob(ctx context.Context, id string) (job.Job, error) {
	row, err := s.q.GetJob(ctx, s.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Job{}, job.Errorf(job.CodeNotFound, "no job %q", id)
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("postgres: get job: %w", err)
	}
	return toJob(row), nil
}

// ListAttempts implements job.Store.
func (s *Store) ListAttempts(ctx context.Context, jobID string) ([]job.Attempt, error) {
	rows, err := s.q.ListAttempts(ctx, s.pool, jobID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list attempts: %w", err)
	}
	out := make([]job.Attempt, len(rows))
	for i, r := range rows {
		out[i] = job.Attempt{
			ID:              r.ID,
			JobID:           r.JobID,
			Number:          int(r.AttemptNumber),
			BatchID:         r.BatchID,
			StartedAt:       r.StartedAt.UTC(),
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

// listen relays the notifications of every process's commits to this
// process's subscribers. It holds one connection for LISTEN and reconnects
// after a failure; while it is down, the workers' fallback poll covers.
func (s *Store) listen(ctx context.Context) {
	defer close(s.listening)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		_ = err // the connection broke; try again after a pause
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that has run LISTEN must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if err := s.q.ListenJobs(ctx, conn); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != "" {
			s.signal.Notify(strings.Split(n.Payload, ",")...)
		}
	}
}

// QueueStats implements job.Store.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (map[job.State]int64, time.Time, error) {
	rows, err := s.q.CountUnfinishedJobsByState(ctx, s.pool)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: queue stats: %w", err)
	}
	byState := map[job.State]int64{}
	for _, r := range rows {
		byState[job.State(r.State)] = r.N
	}
	run, err := s.q.OldestReadyRunAt(ctx, s.pool, now)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return byState, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("postgres: oldest ready job: %w", err)
	}
	return byState, run.UTC(), nil
}

// TakeRateTokens implements job.Store.
func (s *Store) TakeRateTokens(ctx context.Context, endpoint string, want int, rps float64, burst int, now time.Time) (int, time.Duration, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: rate limit: %w", err)
	}
	defer tx.Rollback(ctx)
	b, err := s.q.GetRateBucket(ctx, tx, endpoint)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: rate limit of %s: %w", endpoint, err)
	}
	granted, left, at, wait := job.TakeTokens(b.RateTokens, derefTime(b.RateUpdatedAt), now, rps, burst, want)
	if err := s.q.SetRateBucket(ctx, tx, pgdb.SetRateBucketParams{RateTokens: &left, RateUpdatedAt: &at, Name: endpoint}); err != nil {
		return 0, 0, fmt.Errorf("postgres: rate limit of %s: %w", endpoint, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("postgres: rate limit of %s: %w", endpoint, err)
	}
	return granted, wait, nil
}

// ReturnRateTokens implements job.Store.
func (s *Store) ReturnRateTokens(ctx context.Context, endpoint string, n, burst int) error {
	err := s.q.ReturnRateTokens(ctx, s.pool, pgdb.ReturnRateTokensParams{Tokens: float64(n), Burst: float64(burst), Name: endpoint})
	if err != nil {
		return fmt.Errorf("postgres: rate limit of %s: %w", endpoint, err)
	}
	return nil
}

// Prune implements job.Store. One process prunes at a time: the others
// find the advisory lock taken and skip.
func (s *Store) Prune(ctx context.Context, c job.PruneCutoffs) (job.Pruned, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return job.Pruned{}, false, fmt.Errorf("postgres: prune: %w", err)
	}
	defer conn.Release()
	got, err := s.q.TryPruneLock(ctx, conn)
	if err != nil || !got {
		return job.Pruned{}, false, err
	}
	defer s.q.PruneUnlock(context.WithoutCancel(ctx), conn)

	// Deleted and updated rows leave dead tuples that only a vacuum makes
	// reusable, and the planner needs fresh statistics as the queue grows
	// and shrinks. Autovacuum does both; where it is off (some CI and
	// benchmark set-ups turn it off, and it is easy to leave so), the
	// pruner does it, before it deletes: the deletes are planned with the
	// statistics, and a failing delete must not stop the upkeep.
	var p job.Pruned
	vacuumed, err := s.maintain(ctx, conn.Conn())
	if err != nil {
		return p, true, err
	}
	p.Vacuumed = vacuumed

	fin, dead := nullTime(c.FinishedBefore), nullTime(c.DeadBefore)
	// Attempts first (they reference their job), then the jobs left
	// without attempts, a batch of each in turn until a batch of jobs
	// comes back short; then the events left without jobs.
	err = func() error {
		for {
			n, err := s.q.PruneAttempts(ctx, conn, pgdb.PruneAttemptsParams{FinishedBefore: fin, DeadBefore: dead, MaxJobs: int32(c.Batch)})
			if err != nil {
				return err
			}
			p.Attempts += n
			if n, err = s.q.PruneJobs(ctx, conn, pgdb.PruneJobsParams{FinishedBefore: fin, DeadBefore: dead, MaxJobs: int32(c.Batch)}); err != nil {
				return err
			}
			p.Jobs += n
			if n < int64(c.Batch) {
				break
			}
		}
		for {
			n, err := s.q.PruneEvents(ctx, conn, pgdb.PruneEventsParams{ReceivedBefore: c.EventsBefore, MaxEvents: int32(c.Batch)})
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
		return p, true, fmt.Errorf("postgres: prune: %w", err)
	}
	return p, true, nil
}

// maintain vacuums and analyzes the tables that churn when autovacuum is
// off and they changed enough to need it (the thresholds autovacuum uses).
// It reports whether it vacuumed.
func (s *Store) maintain(ctx context.Context, conn *pgx.Conn) (bool, error) {
	on, err := s.q.AutovacuumOn(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("postgres: autovacuum setting: %w", err)
	}
	if on {
		return false, nil
	}
	needed, err := s.q.QueueNeedsVacuum(ctx, conn)
	if err != nil || !needed {
		return false, err
	}
	return true, s.vacuum(ctx, conn)
}

// vacuum vacuums the tables that churn, without the statement timeout (the
// first vacuum of a large table may take longer).
func (s *Store) vacuum(ctx context.Context, conn *pgx.Conn) error {
	if err := s.q.LiftStatementTimeout(ctx, conn); err != nil {
		return fmt.Errorf("postgres: vacuum: %w", err)
	}
	defer s.q.ResetStatementTimeout(context.WithoutCancel(ctx), conn)
	if err := s.q.VacuumQueue(ctx, conn); err != nil {
		return fmt.Errorf("postgres: vacuum: %w", err)
	}
	return nil
}
