package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/groupcommit"
)

// NextDue implements job.Store.
func (s *Store) NextDue(ctx context.Context, endpoint string) (time.Time, bool, error) {
	r := s.d.Reader()
	next, err := r.NextRunAt(ctx, endpoint)
	switch {
	case errors.Is(err, ErrNoRows):
	case err != nil:
		return time.Time{}, false, s.wrap("next run", err)
	}
	lease, err := r.NextLeaseExpiry(ctx, endpoint)
	if err != nil && !errors.Is(err, ErrNoRows) {
		return time.Time{}, false, s.wrap("next lease expiry", err)
	}
	if !lease.IsZero() && (next.IsZero() || lease.Before(next)) {
		next = lease
	}
	return next, !next.IsZero(), nil
}

// ClaimJobs implements job.Store: expired leases first (a dead worker's
// jobs are the oldest work), then ready jobs, in one transaction.
func (s *Store) ClaimJobs(ctx context.Context, c job.Claim) ([]job.Job, error) {
	var jobs []job.Job
	err := s.inTx(ctx, func(tx Tx) error {
		rows, err := claimInTx(ctx, tx, c)
		if err != nil {
			return err
		}
		jobs, err = s.toJobs(ctx, tx, rows)
		return err
	})
	if err != nil {
		return nil, s.wrap("claim jobs", err)
	}
	job.SortByRunAt(jobs)
	return jobs, nil
}

// ClaimDue implements job.Store. The bucket's row stays locked from the
// draw to the debit (PostgreSQL: FOR UPDATE; SQLite: the single writer), so
// processes claiming at once share the rate exactly; only the POSTs that
// the claimed jobs make are paid for, so nothing has to be given back.
//
// A claim is committed unsynced: losing it to a crash of the machine only
// makes its jobs due again, to be delivered again, as a crash during their
// POSTs would; their finishes are synced, and each flush covers the claims
// before it. A claim that waited for its own fsync held SQLite's single
// writer for it, a few hundred times a second under load.
func (s *Store) ClaimDue(ctx context.Context, c job.DueClaim) (job.Claimed, error) {
	var out job.Claimed
	err := s.inUnsyncedTx(ctx, func(tx Tx) error {
		row, err := tx.GetEndpoint(ctx, c.Endpoint)
		if err != nil {
			return s.notFound(err, "claim", "no endpoint %q", c.Endpoint)
		}
		if out.Endpoint, err = s.toEndpoint(row); err != nil {
			return err
		}
		ep := out.Endpoint
		if !ep.Active() {
			return nil
		}
		posts, perPost, lease := c.Plan(ep)
		if posts <= 0 || perPost <= 0 {
			return nil
		}
		rl := ep.RateLimit
		var tokens *float64
		var last time.Time
		if rl != nil {
			if tokens, last, err = tx.GetRateBucket(ctx, c.Endpoint); err != nil {
				return err
			}
			granted, _, _, wait := job.TakeTokens(tokens, last, c.Now, rl.RPS, max(rl.Burst, 1), posts)
			if granted == 0 {
				out.RateWait = wait
				return nil
			}
			posts = granted
		}
		rows, err := claimInTx(ctx, tx, job.Claim{Endpoint: c.Endpoint, LeaseID: c.LeaseID, Now: c.Now, LeaseUntil: c.Now.Add(lease), Max: posts * perPost})
		if err != nil {
			return err
		}
		if rl != nil && len(rows) > 0 {
			used := (len(rows) + perPost - 1) / perPost
			_, left, at, _ := job.TakeTokens(tokens, last, c.Now, rl.RPS, max(rl.Burst, 1), used)
			if err := tx.SetRateBucket(ctx, c.Endpoint, left, at); err != nil {
				return err
			}
		}
		out.Jobs, err = s.toJobs(ctx, tx, rows)
		return err
	})
	if err != nil {
		var e *job.Error
		if errors.As(err, &e) {
			return job.Claimed{}, err
		}
		return job.Claimed{}, s.wrap("claim", err)
	}
	job.SortByRunAt(out.Jobs)
	return out, nil
}

func claimInTx(ctx context.Context, tx Tx, c job.Claim) ([]JobRow, error) {
	rows, err := tx.ClaimExpiredLeases(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("claim expired leases: %w", err)
	}
	if left := c.Max - len(rows); left > 0 {
		c.Max = left
		ready, err := tx.ClaimReadyJobs(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("claim ready jobs: %w", err)
		}
		rows = append(rows, ready...)
	}
	return rows, nil
}

// FinishJobs implements job.Store. Concurrent deliveries share one
// transaction (group commit), as webhooks do: one commit records many
// outcomes.
func (s *Store) FinishJobs(ctx context.Context, fs []job.Finish) ([]bool, error) {
	ok, err := s.finishes.Do(ctx, fs)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, s.wrap("finish jobs", err)
	}
	return ok, nil
}

// commitFinishes records several callers' outcomes in one transaction:
// the fenced updates of every job, then the attempts of those whose lease
// was still held.
func (s *Store) commitFinishes(ctx context.Context, batches [][]job.Finish) ([][]bool, groupcommit.Durable, error) {
	var all []job.Finish
	for _, fs := range batches {
		all = append(all, fs...)
	}
	rows := make([]FinishRow, len(all))
	for i, f := range all {
		rows[i] = FinishRow{JobID: f.JobID, LeaseID: f.LeaseID, State: f.State, LastError: f.LastError, Now: f.Now}
		if f.State == job.StateRetrying {
			rows[i].RunAt = f.RunAt
		} else {
			rows[i].FinishedAt = f.Now
		}
	}
	held := make([]bool, len(rows))
	durable, err := s.inGroupTx(ctx, func(tx Tx) error {
		if err := finishRounds(ctx, tx, rows, held); err != nil {
			return err
		}
		var attempts []job.Attempt
		for i, f := range all {
			if !held[i] {
				continue // the lease was lost: another worker owns the job now
			}
			// Earlier tries of the same attempt (a 401 retried at once with
			// the previous secret) are recorded before the one that counted.
			for _, a := range append(f.Earlier, f.Attempt) {
				a.JobID = f.JobID
				attempts = append(attempts, a)
			}
		}
		if len(attempts) == 0 {
			return nil
		}
		return tx.InsertAttempts(ctx, s.sealAttempts(attempts))
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([][]bool, len(batches))
	k := 0
	for b, fs := range batches {
		out[b] = held[k : k+len(fs)]
		k += len(fs)
	}
	return out, durable, nil
}

// finishRounds applies the fenced updates, each job once per call to
// FinishJobs: a job named again in the batch waits for a later call, so
// it is held only if the earlier row did not hold (and end) its lease,
// as if each row were its own statement.
func finishRounds(ctx context.Context, tx Tx, rows []FinishRow, held []bool) error {
	pending := make([]int, len(rows))
	for i := range rows {
		pending[i] = i
	}
	for len(pending) > 0 {
		seen := make(map[string]bool, len(pending))
		var round, later []int
		var batch []FinishRow
		for _, i := range pending {
			if seen[rows[i].JobID] {
				later = append(later, i)
				continue
			}
			seen[rows[i].JobID] = true
			round = append(round, i)
			batch = append(batch, rows[i])
		}
		h, err := tx.FinishJobs(ctx, batch)
		if err != nil {
			return err
		}
		for k, i := range round {
			held[i] = h[k]
		}
		pending = later
	}
	return nil
}

// GetJob implements job.Store.
func (s *Store) GetJob(ctx context.Context, id string) (job.Job, error) {
	r := s.d.Reader()
	row, err := r.GetJob(ctx, id)
	if err != nil {
		return job.Job{}, s.notFound(err, "get job", "no job %q", id)
	}
	return s.toJob(ctx, r, row)
}

// ListAttempts implements job.Store.
func (s *Store) ListAttempts(ctx context.Context, jobID string) ([]job.Attempt, error) {
	out, err := s.d.Reader().ListAttempts(ctx, jobID)
	if err != nil {
		return nil, s.wrap("list attempts", err)
	}
	if err := s.openAttempts(out); err != nil {
		return nil, s.wrap("open attempts", err)
	}
	return out, nil
}

// DispatchJobs implements job.Store.
func (s *Store) DispatchJobs(ctx context.Context, jobs []job.Job) ([]job.Dispatched, error) {
	out, err := s.dispatchJobs(ctx, jobs)
	// Two processes may dispatch with the same idempotency key at once;
	// the loser of the race finds the winner's job on a second try.
	if err != nil && s.d.IdempotencyRace(err) {
		out, err = s.dispatchJobs(ctx, jobs)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

func (s *Store) dispatchJobs(ctx context.Context, jobs []job.Job) ([]job.Dispatched, error) {
	out := make([]job.Dispatched, len(jobs))
	err := s.inTx(ctx, func(tx Tx) error {
		if err := dispatchable(ctx, tx, jobs); err != nil {
			return err
		}
		var endpoints []string
		for i, j := range jobs {
			if j.IdempotencyKey != "" {
				id, err := tx.GetJobIDByIdempotencyKey(ctx, j.Endpoint, j.IdempotencyKey)
				if err == nil {
					out[i] = job.Dispatched{JobID: id, Duplicate: true}
					continue
				}
				if !errors.Is(err, ErrNoRows) {
					return err
				}
			}
			r, err := s.jobRowOf(j)
			if err != nil {
				return err
			}
			ids, err := tx.InsertJobs(ctx, []JobRow{r})
			if err != nil {
				return err
			}
			out[i] = job.Dispatched{JobID: ids[0]}
			endpoints = append(endpoints, j.Endpoint)
		}
		return tx.Notify(ctx, endpoints)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListJobs implements job.Store.
func (s *Store) ListJobs(ctx context.Context, f job.JobFilter) ([]job.Job, error) {
	r := s.d.Reader()
	rows, err := r.ListJobs(ctx, jobQuery(f))
	if err != nil {
		return nil, s.wrap("list jobs", err)
	}
	return s.toJobs(ctx, r, rows)
}

// CancelJob implements job.Store.
func (s *Store) CancelJob(ctx context.Context, id string, now time.Time) (job.Job, error) {
	row, err := s.d.Writer().CancelJob(ctx, id, now)
	if errors.Is(err, ErrNoRows) {
		return job.Job{}, s.whyNot(ctx, id, "cancelled", "only a job waiting for delivery can be cancelled")
	}
	if err != nil {
		return job.Job{}, s.wrap("cancel job", err)
	}
	return s.toJob(ctx, s.d.Reader(), row)
}

// RetryJob implements job.Store.
func (s *Store) RetryJob(ctx context.Context, id string, now time.Time) (job.Job, error) {
	row, err := s.d.Writer().RetryJob(ctx, id, now)
	if errors.Is(err, ErrNoRows) {
		return job.Job{}, s.whyNot(ctx, id, "retried", "only a dead or cancelled job can be retried")
	}
	if err != nil {
		return job.Job{}, s.wrap("retry job", err)
	}
	s.notify(ctx, row.Job.Endpoint)
	return s.toJob(ctx, s.d.Reader(), row)
}

// whyNot explains a state change that matched no row: no such job, or the
// job's state does not allow it.
func (s *Store) whyNot(ctx context.Context, id, verb, rule string) error {
	j, err := s.GetJob(ctx, id)
	if err != nil {
		return err
	}
	return job.Errorf(job.CodeFailedPrecondition, "job %s is %s and cannot be %s: %s", id, j.State, verb, rule)
}

// ReplayDeadJobs implements job.Store.
func (s *Store) ReplayDeadJobs(ctx context.Context, f job.JobFilter, now time.Time) (int64, error) {
	n, err := s.d.Writer().ReplayDeadJobs(ctx, f, now)
	if err != nil {
		return 0, s.wrap("replay", err)
	}
	if n > 0 {
		if eps, err := s.ListEndpoints(ctx); err == nil {
			names := make([]string, len(eps))
			for i, e := range eps {
				names[i] = e.Name
			}
			s.notify(ctx, names...)
		}
	}
	return n, nil
}

// QueueStats implements job.Store.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (map[job.State]int64, time.Time, error) {
	byState, err := s.d.Reader().CountUnfinishedJobsByState(ctx)
	if err != nil {
		return nil, time.Time{}, s.wrap("queue stats", err)
	}
	run, err := s.d.Reader().OldestReadyRunAt(ctx, now)
	switch {
	case errors.Is(err, ErrNoRows):
		return byState, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, s.wrap("oldest ready job", err)
	}
	return byState, run, nil
}

// Prune implements job.Store. One process prunes at a time (PostgreSQL:
// an advisory lock; SQLite has one process and always runs).
func (s *Store) Prune(ctx context.Context, c job.PruneCutoffs) (job.Pruned, bool, error) {
	var p job.Pruned
	ran, vacuumed, err := s.d.Exclusive(ctx, func(ex Executor) error {
		// Jobs that no endpoint will ever claim are dead first: they then
		// show in listings, to be replayed once it is recreated.
		var err error
		if p.Orphaned, err = killOrphans(ctx, ex, c); err != nil {
			return err
		}
		// Attempts first (they reference their job), then the jobs left
		// without attempts, a batch of each in turn until a batch of jobs
		// comes back short; then the events left without jobs.
		for {
			n, err := ex.PruneAttempts(ctx, c.FinishedBefore, c.DeadBefore, c.Batch)
			if err != nil {
				return err
			}
			p.Attempts += n
			if n, err = ex.PruneJobs(ctx, c.FinishedBefore, c.DeadBefore, c.Batch); err != nil {
				return err
			}
			p.Jobs += n
			if n < int64(c.Batch) {
				break
			}
		}
		for {
			n, err := ex.PruneEvents(ctx, c.EventsBefore, c.Batch)
			if err != nil {
				return err
			}
			p.Events += n
			if n < int64(c.Batch) {
				break
			}
		}
		if !c.Now.IsZero() {
			if _, err := ex.PruneSessions(ctx, c.Now); err != nil {
				return err
			}
		}
		return pruneRequests(ctx, ex, c)
	})
	p.Vacuumed = vacuumed
	if err != nil {
		return p, ran, s.wrap("prune", err)
	}
	return p, ran, nil
}

// EncodeHeaders is the stored form of an attempt's request headers: a
// JSON object, or NULL when they are unknown. They need no sealing under
// DISPATCHD_ENCRYPT_PAYLOADS: delivery.SentHeaders masked every secret.
func EncodeHeaders(h map[string]string) *string {
	if h == nil {
		return nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil // a map of strings always marshals
	}
	s := string(b)
	return &s
}

// DecodeHeaders reads what EncodeHeaders stored; NULL (an attempt recorded
// before dispatchd kept them) reads nil.
func DecodeHeaders(s *string) map[string]string {
	if s == nil {
		return nil
	}
	h := map[string]string{}
	if json.Unmarshal([]byte(*s), &h) != nil {
		return nil
	}
	return h
}
