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
	"github.com/dispatchd/dispatchd/internal/schedule"
)

var _ schedule.Store = (*Store)(nil)

// UpsertSchedules implements schedule.Store.
func (s *Store) UpsertSchedules(ctx context.Context, ss []job.NewSchedule, origin string, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback()
	for _, n := range ss {
		spec, err := json.Marshal(n.Spec)
		if err != nil {
			return err
		}
		if err := s.q.UpsertSchedule(ctx, s.ws.on(tx), sqlitedb.UpsertScheduleParams{
			Name: n.Spec.Name, Spec: string(spec), Origin: origin, NextTick: micros(n.NextTick), Now: micros(now),
		}); err != nil {
			return fmt.Errorf("sqlite: upsert schedule %s: %w", n.Spec.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
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
	rows, err := s.q.InsertSchedule(ctx, s.ws.on(nil), sqlitedb.InsertScheduleParams{
		Name: n.Spec.Name, Spec: string(spec), NextTick: micros(n.NextTick), Now: micros(now),
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
	rows, err := s.q.UpdateScheduleSpec(ctx, s.ws.on(nil), sqlitedb.UpdateScheduleSpecParams{
		Name: n.Spec.Name, Spec: string(spec), NextTick: micros(n.NextTick), Now: micros(now),
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
	rows, err := s.q.DeleteSchedule(ctx, s.ws.on(nil), name)
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
	row, err := s.q.GetSchedule(ctx, s.rs.on(nil), name)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Schedule{}, noSchedule(name)
	}
	if err != nil {
		return job.Schedule{}, fmt.Errorf("sqlite: get schedule: %w", err)
	}
	return toSchedule(row)
}

// ListSchedules implements schedule.Store.
func (s *Store) ListSchedules(ctx context.Context) ([]job.Schedule, error) {
	rows, err := s.q.ListSchedules(ctx, s.rs.on(nil))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list schedules: %w", err)
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
	rows, err := s.q.PauseSchedule(ctx, s.ws.on(nil), sqlitedb.PauseScheduleParams{Name: name, Now: micros(now)})
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
	rows, err := s.q.ResumeSchedule(ctx, s.ws.on(nil), sqlitedb.ResumeScheduleParams{Name: name, NextTick: micros(next), Now: micros(now)})
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

// FireSchedule implements schedule.Store. SQLite's single writer
// serialises firings; the version check still refuses a plan made before
// another firing or an edit committed.
func (s *Store) FireSchedule(ctx context.Context, f job.ScheduleFiring) ([]job.ScheduleFire, bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, unavailable(err)
	}
	defer tx.Rollback()
	db := s.ws.on(tx)
	var last *string
	if f.Manual {
		last, err = s.q.LockSchedule(ctx, db, sqlitedb.LockScheduleParams{Name: f.Name, Now: micros(f.Now)})
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, noSchedule(f.Name)
		}
	} else {
		last, err = s.q.AdvanceSchedule(ctx, db, sqlitedb.AdvanceScheduleParams{
			Name: f.Name, Version: f.Version, NextTick: micros(f.NextTick), Now: micros(f.Now),
		})
		if errors.Is(err, sql.ErrNoRows) {
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
			state, err := s.q.GetScheduleJobState(ctx, db, lastJob)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
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
		n, err := s.q.InsertScheduleFire(ctx, db, sqlitedb.InsertScheduleFireParams{
			Schedule: f.Name, Tick: micros(t.Tick), JobID: nullable(fire.JobID), Outcome: fire.Outcome,
			Manual: boolInt(f.Manual), FiredAt: micros(f.Now),
		})
		if err != nil {
			return nil, false, unavailable(err)
		}
		if n == 0 {
			return nil, false, nil // the tick has fired already
		}
		if err := s.q.RecordScheduleFire(ctx, db, sqlitedb.RecordScheduleFireParams{
			Name: f.Name, Tick: micros(t.Tick), Now: micros(f.Now), JobID: nullable(fire.JobID),
		}); err != nil {
			return nil, false, unavailable(err)
		}
		fires = append(fires, fire)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, unavailable(err)
	}
	if created && len(f.Ticks) > 0 {
		s.signal.Notify(f.Ticks[0].Job.Endpoint)
	}
	return fires, true, nil
}

// ListScheduleFires implements schedule.Store.
func (s *Store) ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error) {
	p := sqlitedb.ListScheduleFiresParams{Schedule: name, PageSize: int64(limit)}
	if !before.IsZero() {
		p.BeforeTick = micros(before)
	}
	rows, err := s.q.ListScheduleFires(ctx, s.rs.on(nil), p)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list schedule fires: %w", err)
	}
	out := make([]job.ScheduleFire, len(rows))
	for i, r := range rows {
		out[i] = job.ScheduleFire{
			Schedule: r.Schedule, Tick: fromMicros(r.Tick), JobID: deref(r.JobID), Outcome: r.Outcome,
			Manual: r.Manual != 0, FiredAt: fromMicros(r.FiredAt),
		}
	}
	return out, nil
}

func toSchedule(r sqlitedb.Schedule) (job.Schedule, error) {
	var spec job.ScheduleSpec
	if err := json.Unmarshal([]byte(r.Spec), &spec); err != nil {
		return job.Schedule{}, fmt.Errorf("sqlite: schedule %s spec: %w", r.Name, err)
	}
	return job.Schedule{
		Spec:        spec,
		Origin:      r.Origin,
		Paused:      r.Paused != 0,
		NextTick:    fromMicros(r.NextTick),
		LastTick:    fromNullMicros(r.LastTick),
		LastJobID:   deref(r.LastJobID),
		LastFiredAt: fromNullMicros(r.LastFiredAt),
		Version:     r.Version,
		CreatedAt:   fromMicros(r.CreatedAt),
		UpdatedAt:   fromMicros(r.UpdatedAt),
	}, nil
}

// unfinished reports whether a job still waits for, or is in, a delivery.
func unfinished(s job.State) bool { return s.Pending() || s == job.StateRunning }

func noSchedule(name string) error { return job.Errorf(job.CodeNotFound, "no schedule %q", name) }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
