package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
)

// insertJob inserts j in tx (coalescing into a pending job with the same
// key) and returns the id of the job that will deliver it.
func (s *Store) insertJob(ctx context.Context, tx *sql.Tx, j job.Job) (string, error) {
	var retry *string
	if j.Retry != nil {
		b, err := json.Marshal(j.Retry)
		if err != nil {
			return "", err
		}
		r := string(b)
		retry = &r
	}
	return s.q.InsertJob(ctx, s.ws.on(tx), sqlitedb.InsertJobParams{
		ID:             j.ID,
		Endpoint:       j.Endpoint,
		EventID:        nullable(j.EventID),
		Payload:        nonNil(j.Payload),
		State:          string(j.State),
		RunAt:          micros(j.RunAt),
		CreatedAt:      micros(j.CreatedAt),
		UpdatedAt:      micros(j.UpdatedAt),
		CoalesceKey:    nullable(j.CoalesceKey),
		OrderingKey:    nullable(j.OrderingKey),
		Source:         nullable(j.Source),
		IdempotencyKey: nullable(j.IdempotencyKey),
		Retry:          retry,
		TraceParent:    j.TraceParent,
	})
}

// DispatchJobs implements job.Store.
func (s *Store) DispatchJobs(ctx context.Context, jobs []job.Job) ([]job.Dispatched, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable(err)
	}
	defer tx.Rollback()
	out := make([]job.Dispatched, len(jobs))
	var endpoints []string
	for i, j := range jobs {
		if j.IdempotencyKey != "" {
			id, err := s.q.GetJobIDByIdempotencyKey(ctx, s.ws.on(tx), sqlitedb.GetJobIDByIdempotencyKeyParams{Endpoint: j.Endpoint, IdempotencyKey: &j.IdempotencyKey})
			if err == nil {
				out[i] = job.Dispatched{JobID: id, Duplicate: true}
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, unavailable(err)
			}
		}
		id, err := s.insertJob(ctx, tx, j)
		if err != nil {
			return nil, unavailable(err)
		}
		out[i] = job.Dispatched{JobID: id}
		endpoints = append(endpoints, j.Endpoint)
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable(err)
	}
	s.signal.Notify(endpoints...)
	return out, nil
}

func unavailable(err error) error {
	return &job.Error{Code: job.CodeUnavailable, Message: "the store could not commit; retry later", Err: err}
}

// ListJobs implements job.Store.
func (s *Store) ListJobs(ctx context.Context, f job.JobFilter) ([]job.Job, error) {
	p := sqlitedb.ListJobsParams{PageSize: int64(f.Limit)}
	if f.State != "" {
		p.State = string(f.State)
	}
	if f.Endpoint != "" {
		p.Endpoint = f.Endpoint
	}
	if f.Source != "" {
		p.Source = f.Source
	}
	if !f.CreatedAfter.IsZero() {
		p.CreatedAfter = micros(f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		p.CreatedBefore = micros(f.CreatedBefore)
	}
	if f.BeforeID != "" {
		p.BeforeID = f.BeforeID
	}
	rows, err := s.q.ListJobs(ctx, s.rs.on(nil), p)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	out := make([]job.Job, len(rows))
	for i, r := range rows {
		out[i] = toJob(r)
	}
	return out, nil
}

// CancelJob implements job.Store.
func (s *Store) CancelJob(ctx context.Context, id string, now time.Time) (job.Job, error) {
	row, err := s.q.CancelJob(ctx, s.ws.on(nil), sqlitedb.CancelJobParams{Now: nullMicros(now), ID: id})
	if errors.Is(err, sql.ErrNoRows) {
		return job.Job{}, s.whyNot(ctx, id, "cancelled", "only a job waiting for delivery can be cancelled")
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("sqlite: cancel job: %w", err)
	}
	return toJob(row), nil
}

// RetryJob implements job.Store.
func (s *Store) RetryJob(ctx context.Context, id string, now time.Time) (job.Job, error) {
	row, err := s.q.RetryJob(ctx, s.ws.on(nil), sqlitedb.RetryJobParams{Now: micros(now), ID: id})
	if errors.Is(err, sql.ErrNoRows) {
		return job.Job{}, s.whyNot(ctx, id, "retried", "only a dead or cancelled job can be retried")
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("sqlite: retry job: %w", err)
	}
	s.signal.Notify(row.Endpoint)
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
	p := sqlitedb.ReplayDeadJobsParams{Now: micros(now)}
	if f.Endpoint != "" {
		p.Endpoint = f.Endpoint
	}
	if !f.CreatedAfter.IsZero() {
		p.CreatedAfter = micros(f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		p.CreatedBefore = micros(f.CreatedBefore)
	}
	n, err := s.q.ReplayDeadJobs(ctx, s.ws.on(nil), p)
	if err != nil {
		return 0, fmt.Errorf("sqlite: replay: %w", err)
	}
	if n > 0 {
		eps, err := s.ListEndpoints(ctx)
		if err == nil {
			for _, e := range eps {
				s.signal.Notify(e.Name)
			}
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
	n, err := s.q.InsertEndpoint(ctx, s.ws.on(nil), sqlitedb.InsertEndpointParams{Name: spec.Name, Spec: string(b), Now: micros(now)})
	if err != nil {
		return fmt.Errorf("sqlite: create endpoint: %w", err)
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
	n, err := s.q.UpdateEndpointSpec(ctx, s.ws.on(nil), sqlitedb.UpdateEndpointSpecParams{Name: spec.Name, Spec: string(b), Now: micros(now)})
	if err != nil {
		return fmt.Errorf("sqlite: update endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", spec.Name)
	}
	s.signal.Notify(spec.Name)
	return nil
}

// DeleteEndpoint implements job.Store.
func (s *Store) DeleteEndpoint(ctx context.Context, name string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback()
	waiting, err := s.q.CountUnfinishedJobs(ctx, s.ws.on(tx), name)
	if err != nil {
		return fmt.Errorf("sqlite: delete endpoint: %w", err)
	}
	if waiting > 0 {
		return job.Errorf(job.CodeFailedPrecondition, "endpoint %q has %d jobs not yet delivered; cancel them or let them finish first", name, waiting)
	}
	// Read in the same transaction: a source that routed to a deleted
	// endpoint would make jobs no worker ever claims.
	rows, err := s.q.ListSources(ctx, s.ws.on(tx))
	if err != nil {
		return fmt.Errorf("sqlite: delete endpoint: %w", err)
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
	n, err := s.q.DeleteEndpoint(ctx, s.ws.on(tx), name)
	if err != nil {
		return fmt.Errorf("sqlite: delete endpoint: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	return tx.Commit()
}

// UpsertSources implements job.Store.
func (s *Store) UpsertSources(ctx context.Context, specs []job.SourceSpec, origin string, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: upsert sources: %w", err)
	}
	defer tx.Rollback()
	for _, spec := range specs {
		b, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := s.q.UpsertSource(ctx, s.ws.on(tx), sqlitedb.UpsertSourceParams{Name: spec.Name, Spec: string(b), Origin: origin, Now: micros(now)}); err != nil {
			return fmt.Errorf("sqlite: upsert source %s: %w", spec.Name, err)
		}
	}
	return tx.Commit()
}

// CreateSource implements job.Store.
func (s *Store) CreateSource(ctx context.Context, spec job.SourceSpec, now time.Time) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	n, err := s.q.InsertSource(ctx, s.ws.on(nil), sqlitedb.InsertSourceParams{Name: spec.Name, Spec: string(b), Now: micros(now)})
	if err != nil {
		return fmt.Errorf("sqlite: create source: %w", err)
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
	n, err := s.q.UpdateSourceSpec(ctx, s.ws.on(nil), sqlitedb.UpdateSourceSpecParams{Name: spec.Name, Spec: string(b), Now: micros(now)})
	if err != nil {
		return fmt.Errorf("sqlite: update source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", spec.Name)
	}
	return nil
}

// GetSource implements job.Store.
func (s *Store) GetSource(ctx context.Context, name string) (job.Source, error) {
	row, err := s.q.GetSource(ctx, s.rs.on(nil), name)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Source{}, job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	if err != nil {
		return job.Source{}, fmt.Errorf("sqlite: get source: %w", err)
	}
	return toSource(row)
}

// ListSources implements job.Store.
func (s *Store) ListSources(ctx context.Context) ([]job.Source, error) {
	rows, err := s.q.ListSources(ctx, s.rs.on(nil))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sources: %w", err)
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

func toSource(r sqlitedb.Source) (job.Source, error) {
	src := job.Source{Origin: r.Origin, Paused: r.Paused != 0, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
	if err := json.Unmarshal([]byte(r.Spec), &src.SourceSpec); err != nil {
		return job.Source{}, fmt.Errorf("sqlite: source %s spec: %w", r.Name, err)
	}
	src.Name = r.Name
	return src, nil
}

// DeleteSource implements job.Store.
func (s *Store) DeleteSource(ctx context.Context, name string) error {
	n, err := s.q.DeleteSource(ctx, s.ws.on(nil), name)
	if err != nil {
		return fmt.Errorf("sqlite: delete source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	return nil
}

// SetSourcePaused implements job.Store.
func (s *Store) SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) error {
	var p int64
	if paused {
		p = 1
	}
	n, err := s.q.SetSourcePaused(ctx, s.ws.on(nil), sqlitedb.SetSourcePausedParams{Paused: p, Now: micros(now), Name: name})
	if err != nil {
		return fmt.Errorf("sqlite: pause source: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	return nil
}
