package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// UpsertEndpoints implements job.Store.
func (s *Store) UpsertEndpoints(ctx context.Context, specs []job.EndpointSpec, origin string, now time.Time) error {
	err := s.inTx(ctx, func(tx Tx) error {
		for _, spec := range specs {
			b, err := s.marshalForUpsert("endpoint", spec.Name, spec, func() ([]byte, error) {
				r, err := tx.GetEndpoint(ctx, spec.Name)
				return r.Spec, err
			})
			if err != nil {
				return err
			}
			if err := tx.UpsertEndpoint(ctx, SpecRow{Name: spec.Name, Spec: b, Origin: origin, Now: now}); err != nil {
				return s.wrap("upsert endpoint "+spec.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap("upsert endpoints", err)
	}
	return nil
}

// GetEndpoint implements job.Store.
func (s *Store) GetEndpoint(ctx context.Context, name string) (job.Endpoint, error) {
	row, err := s.d.Reader().GetEndpoint(ctx, name)
	if err != nil {
		return job.Endpoint{}, s.notFound(err, "get endpoint", "no endpoint %q", name)
	}
	return s.toEndpoint(row)
}

// ListEndpoints implements job.Store.
func (s *Store) ListEndpoints(ctx context.Context) ([]job.Endpoint, error) {
	rows, err := s.d.Reader().ListEndpoints(ctx)
	if err != nil {
		return nil, s.wrap("list endpoints", err)
	}
	out := make([]job.Endpoint, 0, len(rows))
	for _, r := range rows {
		e, err := s.toEndpoint(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Store) toEndpoint(r EndpointRow) (job.Endpoint, error) {
	e := job.Endpoint{
		Origin:         r.Origin,
		Paused:         r.Paused,
		DisabledAt:     r.DisabledAt,
		DisabledReason: r.DisabledReason,
		FailingSince:   r.FailingSince,
		CreatedAt:      r.CreatedAt,
		UpdatedAt:      r.UpdatedAt,
	}
	if err := s.unmarshalSpec("endpoint", r.Name, r.Spec, &e.EndpointSpec); err != nil {
		return job.Endpoint{}, s.wrap("endpoint "+r.Name+" spec", err)
	}
	e.Name = r.Name
	return e, nil
}

// SetEndpointPaused implements job.Store.
func (s *Store) SetEndpointPaused(ctx context.Context, name string, paused bool, now time.Time) error {
	n, err := s.d.Writer().SetEndpointPaused(ctx, name, paused, now)
	if err != nil {
		return s.wrap("pause endpoint", err)
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
	n, err := s.d.Writer().DisableEndpoint(ctx, name, reason, now)
	if err != nil {
		return false, s.wrap("disable endpoint", err)
	}
	return n > 0, nil
}

// EnableEndpoint implements job.Store.
func (s *Store) EnableEndpoint(ctx context.Context, name string, now time.Time) error {
	n, err := s.d.Writer().EnableEndpoint(ctx, name, now)
	if err != nil {
		return s.wrap("enable endpoint", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	s.notify(ctx, name)
	return nil
}

// RecordEndpointHealth implements job.Store.
func (s *Store) RecordEndpointHealth(ctx context.Context, name string, ok bool, now time.Time) (time.Time, error) {
	if ok {
		if err := s.d.Writer().MarkEndpointHealthy(ctx, name); err != nil {
			return time.Time{}, s.wrap("endpoint health", err)
		}
		return time.Time{}, nil
	}
	since, err := s.d.Writer().MarkEndpointFailing(ctx, name, now)
	if err != nil {
		return time.Time{}, s.notFound(err, "endpoint health", "no endpoint %q", name)
	}
	return since, nil
}

// CreateEndpoint implements job.Store.
func (s *Store) CreateEndpoint(ctx context.Context, spec job.EndpointSpec, now time.Time) error {
	b, err := s.marshalSpec("endpoint", spec.Name, spec)
	if err != nil {
		return err
	}
	n, err := s.d.Writer().InsertEndpoint(ctx, SpecRow{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return s.wrap("create endpoint", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeAlreadyExists, "an endpoint named %q exists", spec.Name)
	}
	return nil
}

// UpdateEndpointSpec implements job.Store.
func (s *Store) UpdateEndpointSpec(ctx context.Context, spec job.EndpointSpec, now time.Time) error {
	b, err := s.marshalSpec("endpoint", spec.Name, spec)
	if err != nil {
		return err
	}
	n, err := s.d.Writer().UpdateEndpointSpec(ctx, SpecRow{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return s.wrap("update endpoint", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", spec.Name)
	}
	s.notify(ctx, spec.Name)
	return nil
}

// DeleteEndpoint implements job.Store.
func (s *Store) DeleteEndpoint(ctx context.Context, name string) error {
	tx, err := s.d.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx)
	// Delete first, then look for what refers to it, in the same
	// transaction: on PostgreSQL the delete waits for the transactions
	// inserting jobs for the endpoint (they hold it FOR KEY SHARE), so the
	// count that follows sees their jobs. A refusal rolls the delete back.
	n, err := tx.DeleteEndpoint(ctx, name)
	if err != nil {
		return s.wrap("delete endpoint", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no endpoint %q", name)
	}
	waiting, err := tx.CountUnfinishedJobs(ctx, name)
	if err != nil {
		return s.wrap("delete endpoint", err)
	}
	if waiting > 0 {
		return job.Errorf(job.CodeFailedPrecondition, "endpoint %q has %d jobs not yet delivered; cancel them or let them finish first", name, waiting)
	}
	// Read in the same transaction: a source that routed to a deleted
	// endpoint would make jobs no worker ever claims.
	rows, err := tx.ListSources(ctx)
	if err != nil {
		return s.wrap("delete endpoint", err)
	}
	var routing []string
	for _, r := range rows {
		src, err := s.toSource(r)
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
	return tx.Commit(ctx)
}

// TakeRateTokens implements job.Store.
func (s *Store) TakeRateTokens(ctx context.Context, endpoint string, want int, rps float64, burst int, now time.Time) (int, time.Duration, error) {
	var granted int
	var wait time.Duration
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		granted, wait, err = takeTokens(ctx, tx, endpoint, want, rps, burst, now)
		return err
	})
	if err != nil {
		return 0, 0, s.wrap("rate limit of "+endpoint, err)
	}
	return granted, wait, nil
}

// takeTokens draws from the bucket, which GetRateBucket locked for the
// rest of tx.
func takeTokens(ctx context.Context, tx Tx, endpoint string, want int, rps float64, burst int, now time.Time) (int, time.Duration, error) {
	tokens, at, err := tx.GetRateBucket(ctx, endpoint)
	if err != nil {
		return 0, 0, err
	}
	granted, left, at, wait := job.TakeTokens(tokens, at, now, rps, burst, want)
	if err := tx.SetRateBucket(ctx, endpoint, left, at); err != nil {
		return 0, 0, err
	}
	return granted, wait, nil
}
