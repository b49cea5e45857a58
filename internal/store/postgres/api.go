package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
)

// insertJob inserts j in tx (coalescing into a pending job with the same
// key) and returns the id of the job that will deliver it.
func (s *Store) insertJob(ctx context.Context, tx pgx.Tx, j job.Job) (string, error) {
	p, err := jobParamsOf(j)
	if err != nil {
		return "", err
	}
	return s.q.InsertJob(ctx, tx, p)
}

// jobParamsOf is the row of a job.
func jobParamsOf(j job.Job) (pgdb.InsertJobParams, error) {
	var retry []byte
	if j.Retry != nil {
		b, err := json.Marshal(j.Retry)
		if err != nil {
			return pgdb.InsertJobParams{}, err
		}
		retry = b
	}
	return pgdb.InsertJobParams{
		ID:             j.ID,
		Endpoint:       j.Endpoint,
		EventID:        nullable(j.EventID),
		Payload:        nonNil(j.Payload),
		State:          string(j.State),
		RunAt:          j.RunAt,
		CreatedAt:      j.CreatedAt,
		UpdatedAt:      j.UpdatedAt,
		CoalesceKey:    nullable(j.CoalesceKey),
		OrderingKey:    nullable(j.OrderingKey),
		Source:         nullable(j.Source),
		IdempotencyKey: nullable(j.IdempotencyKey),
		Retry:          retry,
		TraceParent:    j.TraceParent,
	}, nil
}

// DispatchJobs implements job.Store.
func (s *Store) DispatchJobs(ctx context.Context, jobs []job.Job) ([]job.Dispatched, error) {
	out, err := s.dispatchJobs(ctx, jobs)
	// Two processes may dispatch with the same idempotency key at once;
	// the loser of the race finds the winner's job on a second try.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "jobs_idempotency_key" {
		out, err = s.dispatchJobs(ctx, jobs)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

func (s *Store) dispatchJobs(ctx context.Context, jobs []job.Job) ([]job.Dispatched, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	out := make([]job.Dispatched, len(jobs))
	var endpoints []string
	for i, j := range jobs {
		if j.IdempotencyKey != "" {
			id, err := s.q.GetJobIDByIdempotencyKey(ctx, tx, pgdb.GetJobIDByIdempotencyKeyParams{Endpoint: j.Endpoint, IdempotencyKey: &j.IdempotencyKey})
			if err == nil {
				out[i] = job.Dispatched{JobID: id, Duplicate: true}
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
		}
		id, err := s.insertJob(ctx, tx, j)
		if err != nil {
			return nil, err
		}
		out[i] = job.Dispatched{JobID: id}
		endpoints = append(endpoints, j.Endpoint)
	}
	if len(endpoints) > 0 {
		if err := s.q.NotifyJobs(ctx, tx, strings.Join(endpoints, ",")); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

func unavailable(err error) error {
	return &job.Error{Code: job.CodeUnavailable, Message: "the store could not commit; retry later", Err: err}
}

// ListJobs implements job.Store.
func (s *Store) ListJobs(ctx context.Context, f job.JobFilter) ([]job.Job, error) {
	p := pgdb.ListJobsParams{
		PageSize:      int32(f.Limit),
		State:         nullable(string(f.State)),
		Endpoint:      nullable(f.Endpoint),
		Source:        nullable(f.Source),
		CreatedAfter:  nullTime(f.CreatedAfter),
		CreatedBefore: nullTime(f.CreatedBefore),
		BeforeID:      nullable(f.BeforeID),
	}
	rows, err := s.q.ListJobs(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("postgres: list jobs: %w", err)
	}
	out := make([]job.Job, len(rows))
	for i, r := range rows {
		out[i] = toJob(r)
	}
	return out, nil
}

// CancelJob implements job.Store.
func (s *Store) CancelJob(ctx context.Context, id string, now time.Time) (job.Job, error) {
	row, err := s.q.CancelJob(ctx, s.pool, pgdb.CancelJobParams{Now: &now, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Job{}, s.whyNot(ctx, id, "cancelled", "only a job waiting for delivery can be cancelled")
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("postgres: cancel job: %w", err)
	}
	return toJob(row), nil
}

// RetryJob implements job.Store.
func (s *Store) RetryJob(ctx context.Context, id string, now time.Time) (job.Job, error) {
	row, err := s.q.RetryJob(ctx, s.pool, pgdb.RetryJobParams{Now: now, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Job{}, s.whyNot(ctx, id, "retried", "only a dead or cancelled job can be retried")
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("postgres: retry job: %w", err)
	}
	s.notify(ctx, row.Endpoint)
	return toJob(row), nil
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
	p := pgdb.ReplayDeadJobsParams{
		Now:           now,
		Endpoint:      nullable(f.Endpoint),
		CreatedAfter:  nullTime(f.CreatedAfter),
		CreatedBefore: nullTime(f.CreatedBefore),
	}
	n, err := s.q.ReplayDeadJobs(ctx, s.pool, p)
	if err != nil {
		return 0, fmt.Errorf("postgres: replay: %w", err)
	}
	if n > 0 {
		eps, err := s.ListEndpoints(ctx)
		if err == nil {
			names := make([]string, len(eps))
			for i, e := range eps {
				names[i] = e.Name
			}
			s.notify(ctx, names...)
		}
	}
	return n, nil
}

// CreateEndpoint implements job.Store.
func (s *Store) CreateEndpoint(ctx context.Context, spec job.EndpointSpec, now time.Time) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	n, err := s.q.InsertEndpoint(ctx, s.pool, pgdb.InsertEndpointParams{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return fmt.Errorf("postgres: create endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeAlreadyExists, "an endpoint named %q exists", spec.Name)
	}
	return nil
}

// UpdateEndpointSpec implements job.Store.
func (s *Store) UpdateEndpointSpec(ctx context.Context, spec job.EndpointSpec, now time.Time) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	n, err := s.q.UpdateEndpointSpec(ctx, s.pool, pgdb.UpdateEndpointSpecParams{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return fmt.Errorf("postgres: update endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", spec.Name)
	}
	s.notify(ctx, spec.Name)
	return nil
}

// DeleteEndpoint implements job.Store.
func (s *Store) DeleteEndpoint(ctx context.Context, name string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx)
	waiting, err := s.q.CountUnfinishedJobs(ctx, tx, name)
	if err != nil {
		return fmt.Errorf("postgres: delete endpoint: %w", err)
	}
	if waiting > 0 {
		return job.Errorf(job.CodeFailedPrecondition, "endpoint %q has %d jobs not yet delivered; cancel them or let them finish first", name, waiting)
	}
	// Read in the same transaction: a source that routed to a deleted
	// endpoint would make jobs no worker ever claims.
	rows, err := s.q.ListSources(ctx, tx)
	if err != nil {
		return fmt.Errorf("postgres: delete endpoint: %w", err)
	}
	var routing []string
	for _, r := range rows {
		src, err := toSource(r)
		if err != nil {
			return err
		}
		if slices.Contains(src.Routes, name) {
			routing = append(routing, strconv.Quote(src.Name))
		}
	}
	if len(routing) > 0 {
		return job.Errorf(job.CodeFailedPrecondition, "endpoint %q is routed to by source %s; remove it from their routes first", name, strings.Join(routing, ", "))
	}
	n, err := s.q.DeleteEndpoint(ctx, tx, name)
	if err != nil {
		return fmt.Errorf("postgres: delete endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	return tx.Commit(ctx)
}

// UpsertSources implements job.Store.
func (s *Store) UpsertSources(ctx context.Context, specs []job.SourceSpec, origin string, now time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: upsert sources: %w", err)
	}
	defer tx.Rollback(ctx)
	for _, spec := range specs {
		b, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := s.q.UpsertSource(ctx, tx, pgdb.UpsertSourceParams{Name: spec.Name, Spec: b, Origin: origin, Now: now}); err != nil {
			return fmt.Errorf("postgres: upsert source %s: %w", spec.Name, err)
		}
	}
	return tx.Commit(ctx)
}

// CreateSource implements job.Store.
func (s *Store) CreateSource(ctx context.Context, spec job.SourceSpec, now time.Time) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	n, err := s.q.InsertSource(ctx, s.pool, pgdb.InsertSourceParams{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return fmt.Errorf("postgres: create source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeAlreadyExists, "a source named %q exists", spec.Name)
	}
	return nil
}

// UpdateSourceSpec implements job.Store.
func (s *Store) UpdateSourceSpec(ctx context.Context, spec job.SourceSpec, now time.Time) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	n, err := s.q.UpdateSourceSpec(ctx, s.pool, pgdb.UpdateSourceSpecParams{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return fmt.Errorf("postgres: update source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", spec.Name)
	}
	return nil
}

// GetSource implements job.Store.
func (s *Store) GetSource(ctx context.Context, name string) (job.Source, error) {
	row, err := s.q.GetSource(ctx, s.pool, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Source{}, job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	if err != nil {
		return job.Source{}, fmt.Errorf("postgres: get source: %w", err)
	}
	return toSource(row)
}

// ListSources implements job.Store.
func (s *Store) ListSources(ctx context.Context) ([]job.Source, error) {
	rows, err := s.q.ListSources(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sources: %w", err)
	}
	out := make([]job.Source, 0, len(rows))
	for _, r := range rows {
		src, err := toSource(r)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

func toSource(r pgdb.Source) (job.Source, error) {
	src := job.Source{Origin: r.Origin, Paused: r.Paused, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if err := json.Unmarshal(r.Spec, &src.SourceSpec); err != nil {
		return job.Source{}, fmt.Errorf("postgres: source %s spec: %w", r.Name, err)
	}
	src.Name = r.Name
	return src, nil
}

// DeleteSource implements job.Store.
func (s *Store) DeleteSource(ctx context.Context, name string) error {
	n, err := s.q.DeleteSource(ctx, s.pool, name)
	if err != nil {
		return fmt.Errorf("postgres: delete source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	return nil
}

// SetSourcePaused implements job.Store.
func (s *Store) SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) error {
	n, err := s.q.SetSourcePaused(ctx, s.pool, pgdb.SetSourcePausedParams{Paused: paused, Now: now, Name: name})
	if err != nil {
		return fmt.Errorf("postgres: pause source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	return nil
}
