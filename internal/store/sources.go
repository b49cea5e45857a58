package store

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// UpsertSources implements job.Store.
func (s *Store) UpsertSources(ctx context.Context, specs []job.SourceSpec, origin string, now time.Time) error {
	err := s.inTx(ctx, func(tx Tx) error {
		for _, spec := range specs {
			b, err := s.marshalForUpsert("source", spec.Name, spec, func() ([]byte, error) {
				r, err := tx.GetSource(ctx, spec.Name)
				return r.Spec, err
			})
			if err != nil {
				return err
			}
			if err := tx.UpsertSource(ctx, SpecRow{Name: spec.Name, Spec: b, Origin: origin, Now: now}); err != nil {
				return s.wrap("upsert source "+spec.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap("upsert sources", err)
	}
	return nil
}

// CreateSource implements job.Store.
func (s *Store) CreateSource(ctx context.Context, spec job.SourceSpec, now time.Time) error {
	b, err := s.marshalSpec("source", spec.Name, spec)
	if err != nil {
		return err
	}
	n, err := s.d.Writer().InsertSource(ctx, SpecRow{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return s.wrap("create source", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeAlreadyExists, "a source named %q exists", spec.Name)
	}
	return nil
}

// UpdateSourceSpec implements job.Store.
func (s *Store) UpdateSourceSpec(ctx context.Context, spec job.SourceSpec, now time.Time) error {
	b, err := s.marshalSpec("source", spec.Name, spec)
	if err != nil {
		return err
	}
	n, err := s.d.Writer().UpdateSourceSpec(ctx, SpecRow{Name: spec.Name, Spec: b, Now: now})
	if err != nil {
		return s.wrap("update source", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", spec.Name)
	}
	return nil
}

// GetSource implements job.Store.
func (s *Store) GetSource(ctx context.Context, name string) (job.Source, error) {
	row, err := s.d.Reader().GetSource(ctx, name)
	if err != nil {
		return job.Source{}, s.notFound(err, "get source", "no source %q", name)
	}
	return s.toSource(row)
}

// ListSources implements job.Store.
func (s *Store) ListSources(ctx context.Context) ([]job.Source, error) {
	rows, err := s.d.Reader().ListSources(ctx)
	if err != nil {
		return nil, s.wrap("list sources", err)
	}
	out := make([]job.Source, 0, len(rows))
	for _, r := range rows {
		src, err := s.toSource(r)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

func (s *Store) toSource(r SourceRow) (job.Source, error) {
	src := job.Source{Origin: r.Origin, Paused: r.Paused, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if err := s.unmarshalSpec("source", r.Name, r.Spec, &src.SourceSpec); err != nil {
		return job.Source{}, s.wrap("source "+r.Name+" spec", err)
	}
	src.Name = r.Name
	return src, nil
}

// DeleteSource implements job.Store.
func (s *Store) DeleteSource(ctx context.Context, name string) error {
	n, err := s.d.Writer().DeleteSource(ctx, name)
	if err != nil {
		return s.wrap("delete source", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	return nil
}

// SetSourcePaused implements job.Store.
func (s *Store) SetSourcePaused(ctx context.Context, name string, paused bool, now time.Time) error {
	n, err := s.d.Writer().SetSourcePaused(ctx, name, paused, now)
	if err != nil {
		return s.wrap("pause source", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no source %q", name)
	}
	return nil
}
