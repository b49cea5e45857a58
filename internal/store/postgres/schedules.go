package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/schedule"
)

var _ schedule.Store = (*Store)(nil)

// UpsertSchedules implements schedule.Store.
func (s *Store) UpsertSchedules(ctx context.Context, ss []job.NewSchedule, origin string, now time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx)
	for _, n := range ss {
		spec, err := json.Marshal(n.Spec)
		if err != nil {
			return err
		}
		if err := s.q.UpsertSchedule(ctx, tx, pgdb.UpsertScheduleParams{
			Name: n.Spec.Name, Spec: spec, Origin: origin, NextTick: n.NextTick, Now: now,
		}); err != nil {
			return fmt.Errorf("postgres: upsert schedule %s: %w", n.Spec.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// CreateSchedule implements schedule.Store.
func (s *Store) CreateSchedule(ctx context.Context, n job.NewSchedule, now time.Time) error {
	spec, err := json.Marshal(n.Spec)
	if err != nil {
		return err
	}
	rows, err := s.q.InsertSchedule(ctx, s.pool, pgdb.InsertScheduleParams{
		Name: n.Spec.Name, Spec: spec, NextTick: n.NextTick, Now: now,
	})
	if err != nil {
		return unavailable(err)
	}
	if rows == 0 {
		return job.Errorf(job.CodeAlreadyExists, "schedule %q already exists", n.Spec.Name)
	}
	return nil
}

// UpdateSchedule implements schedule.Store.
func (s *Store) UpdateSchedule(ctx context.Context, n job.NewSchedule, now time.Time) error {
	spec, err := json.Marshal(n.Spec)
	if err != nil {
		return err
	}
	rows, err := s.q.UpdateScheduleSpec(ctx, s.pool, pgdb.UpdateScheduleSpecParams{
		Name: n.Spec.Name, Spec: spec, NextTick: n.NextTick, Now: now,
	})
	if err != nil {
		return unavailable(err)
	}
	if rows == 0 {
		return noSchedule(n.Spec.Name)
	}
	return nil
}

// DeleteSchedule implements schedule.Store.
func (s *Store) DeleteSchedule(ctx context.Context, name string) error {
	rows, err := s.q.DeleteSchedule(ctx, s.pool, name)
	if err != nil {
		return unavailable(err)
	}
	if rows == 0 {
		return noSchedule(name)
	}
	return nil
}

// GetSchedule implements schedule.Store.
func (s *Store) GetSchedule(ctx context.Context, name string) (job.Schedule, error) {
	row, err := s.q.GetSchedule(ctx, s.pool, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Schedule{}, noSchedule(name)
	}
	if err != nil {
		return job.Schedule{}, fmt.Errorf("postgres: get schedule: %w", err)
	}
	return toSchedule(row)
}

// ListSchedules implements schedule.Store.
func (s *Store) ListSchedules(ctx context.Context) ([]job.Schedule, error) {
	rows, err := s.q.ListSchedules(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: list schedules: %w", err)
	}
	out := make([]job.Schedule, len(rows))
	for i, r := range rows {
		if out[i], err = toSchedule(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PauseSchedule implements schedule.Store.
func (s *Store) PauseSchedule(ctx context.Context, name string, now time.Time) error {
	rows, err := s.q.PauseSchedule(ctx, s.pool, pgdb.PauseScheduleParams{Name: name, Now: now})
	if err != nil {
		return unavailable(err)
	}
	if rows == 0 {
		return noSchedule(name)
	}
	return nil
}

// ResumeSchedule implements schedule.Store.
func (s *Store) ResumeSchedule(ctx context.Context, name string, next, now time.Time) error {
	rows, err := s.q.ResumeSchedule(ctx, s.pool, pgdb.ResumeScheduleParams{Name: name, NextTick: next, Now: now})
	if err != nil {
		return unavailable(err)
	}
	if rows == 0 {
		// Not paused, or not there: only the second is an error.
		_, err := s.GetSchedule(ctx, name)
		return err
	}
	return nil
}

// FireSchedule implements schedule.Store. Under READ COMMITTED, a second
// process's AdvanceSchedule waits for the first's row lock and then finds
// the version moved on: it matches no row, and its firing rolls back.
func (s *Store) FireSchedule(ctx context.Context, f job.ScheduleFiring) ([]job.ScheduleFire, bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, false, unavailable(err)
	}
	defer tx.Rollback(ctx)
	var last *string
	if f.Manual {
		last, err = s.q.LockSchedule(ctx, tx, pgdb.LockScheduleParams{Name: f.Name, Now: f.Now})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, noSchedule(f.Name)
		}
	} else {
		last, err = s.q.AdvanceSchedule(ctx, tx, pgdb.AdvanceScheduleParams{
			Name: f.Name, Version: f.Version, NextTick: f.NextTick, Now: f.Now,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, nil
		}
	}
	if err != nil {
		return nil, false, unavailable(err)
	}
	lastJob := deref(last)
	fires := make([]job.ScheduleFire, 0, len(f.Ticks))
	created := false
	for _, t := range f.Ticks {
		fire := job.ScheduleFire{Schedule: f.Name, Tick: t.Tick, Manual: f.Manual, FiredAt: f.Now}
		if f.Overlap == job.OverlapSkip && lastJob != "" {
			state, err := s.q.GetScheduleJobState(ctx, tx, lastJob)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return nil, false, unavailable(err)
			}
			// A job that is gone (pruned) finished long ago.
			if err == nil && unfinished(job.State(state)) {
				fire.Outcome = job.FireSkipped
			}
		}
		if fire.Outcome == "" {
			id, err := s.insertJob(ctx, tx, t.Job)
			if err != nil {
				return nil, false, unavailable(err)
			}
			fire.JobID, fire.Outcome, lastJob = id, job.FireCreated, id
			if id != t.Job.ID {
				fire.Outcome = job.FireCoalesced
			}
			created = true
		}
		n, err := s.q.InsertScheduleFire(ctx, tx, pgdb.InsertScheduleFireParams{
			Schedule: f.Name, Tick: t.Tick, JobID: nullable(fire.JobID), Outcome: fire.Outcome,
			Manual: f.Manual, FiredAt: f.Now,
		})
		if err != nil {
			return nil, false, unavailable(err)
		}
		if n == 0 {
			return nil, false, nil // the tick has fired already
		}
		if err := s.q.RecordScheduleFire(ctx, tx, pgdb.RecordScheduleFireParams{
			Name: f.Name, Tick: t.Tick, Now: f.Now, JobID: nullable(fire.JobID),
		}); err != nil {
			return nil, false, unavailable(err)
		}
		fires = append(fires, fire)
	}
	if created && len(f.Ticks) > 0 {
		if err := s.q.NotifyJobs(ctx, tx, f.Ticks[0].Job.Endpoint); err != nil {
			return nil, false, unavailable(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, unavailable(err)
	}
	return fires, true, nil
}

// ListScheduleFires implements schedule.Store.
func (s *Store) ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error) {
	p := pgdb.ListScheduleFiresParams{Schedule: name, PageSize: int32(limit), BeforeTick: nullTime(before)}
	rows, err := s.q.ListScheduleFires(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("postgres: list schedule fires: %w", err)
	}
	out := make([]job.ScheduleFire, len(rows))
	for i, r := range rows {
		out[i] = job.ScheduleFire{
			Schedule: r.Schedule, Tick: r.Tick.UTC(), JobID: deref(r.JobID), Outcome: r.Outcome,
			Manual: r.Manual, FiredAt: r.FiredAt.UTC(),
		}
	}
	return out, nil
}

func toSchedule(r pgdb.Schedule) (job.Schedule, error) {
	var spec job.ScheduleSpec
	if err := json.Unmarshal(r.Spec, &spec); err != nil {
		return job.Schedule{}, fmt.Errorf("postgres: schedule %s spec: %w", r.Name, err)
	}
	return job.Schedule{
		Spec:        spec,
		Origin:      r.Origin,
		Paused:      r.Paused,
		NextTick:    r.NextTick.UTC(),
		LastTick:    derefTime(r.LastTick),
		LastJobID:   deref(r.LastJobID),
		LastFiredAt: derefTime(r.LastFiredAt),
		Version:     r.Version,
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),
	}, nil
}

// unfinished reports whether a job still waits for, or is in, a delivery.
func unfinished(s job.State) bool { return s.Pending() || s == job.StateRunning }

func noSchedule(name string) error { return job.Errorf(job.CodeNotFound, "no schedule %q", name) }
