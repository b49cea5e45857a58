package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// ScheduleExecutor holds the queries of schedules, one method per query;
// Executor embeds it.
type ScheduleExecutor interface {
	UpsertSchedule(ctx context.Context, r ScheduleSpecRow) error
	InsertSchedule(ctx context.Context, r ScheduleSpecRow) (int64, error)
	UpdateScheduleSpec(ctx context.Context, r ScheduleSpecRow) (int64, error)
	DeleteSchedule(ctx context.Context, name string) (int64, error)
	GetSchedule(ctx context.Context, name string) (ScheduleRow, error)
	ListSchedules(ctx context.Context) ([]ScheduleRow, error)
	PauseSchedule(ctx context.Context, name string, now time.Time) (int64, error)
	// ResumeSchedule matches only a paused schedule.
	ResumeSchedule(ctx context.Context, name string, next, now time.Time) (int64, error)
	// AdvanceSchedule moves a running schedule at version to next and
	// returns its last job's id (ErrNoRows when the version moved on).
	AdvanceSchedule(ctx context.Context, name string, version int64, next, now time.Time) (lastJobID string, err error)
	// LockSchedule bumps the version, keeping the next tick, and returns
	// the last job's id (ErrNoRows when there is no schedule).
	LockSchedule(ctx context.Context, name string, now time.Time) (lastJobID string, err error)
	// GetJobState is the state of a job (ErrNoRows when it is gone).
	GetJobState(ctx context.Context, id string) (job.State, error)
	// InsertScheduleFire returns 0 when the tick has a fire already.
	InsertScheduleFire(ctx context.Context, f job.ScheduleFire) (int64, error)
	// RecordScheduleFire sets the last fire; an empty jobID keeps the
	// last job.
	RecordScheduleFire(ctx context.Context, name string, tick, now time.Time, jobID string) error
	// ListScheduleFires returns fires newest tick first, before before
	// (zero: from the latest).
	ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error)
}

// ScheduleSpecRow is what declaring or updating a schedule writes.
type ScheduleSpecRow struct {
	Name     string
	Spec     []byte // JSON of the spec
	Origin   string // only for upserts
	NextTick time.Time
	Now      time.Time
}

// ScheduleRow is a schedule as stored: its spec still JSON.
type ScheduleRow struct {
	Name        string
	Spec        []byte
	Origin      string
	Paused      bool
	NextTick    time.Time
	LastTick    time.Time // zero: never fired
	LastJobID   string
	LastFiredAt time.Time
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// errStaleFiring rolls back a firing whose plan no longer holds.
var errStaleFiring = errors.New("store: stale schedule firing")

func scheduleSpecRow(n job.NewSchedule, origin string, now time.Time) (ScheduleSpecRow, error) {
	b, err := json.Marshal(n.Spec)
	if err != nil {
		return ScheduleSpecRow{}, err
	}
	return ScheduleSpecRow{Name: n.Spec.Name, Spec: b, Origin: origin, NextTick: n.NextTick, Now: now}, nil
}

func noSchedule(name string) error { return job.Errorf(job.CodeNotFound, "no schedule %q", name) }

// UpsertSchedules implements schedule.Store: a schedule whose spec is
// unchanged keeps its state; a changed one starts again from its NextTick.
func (s *Store) UpsertSchedules(ctx context.Context, ss []job.NewSchedule, origin string, now time.Time) error {
	err := s.inTx(ctx, func(tx Tx) error {
		for _, n := range ss {
			r, err := scheduleSpecRow(n, origin, now)
			if err != nil {
				return err
			}
			if err := tx.UpsertSchedule(ctx, r); err != nil {
				return s.wrap("upsert schedule "+n.Spec.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// CreateSchedule implements schedule.Store.
func (s *Store) CreateSchedule(ctx context.Context, n job.NewSchedule, now time.Time) error {
	r, err := scheduleSpecRow(n, "", now)
	if err != nil {
		return err
	}
	rows, err := s.d.Writer().InsertSchedule(ctx, r)
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
	r, err := scheduleSpecRow(n, "", now)
	if err != nil {
		return err
	}
	rows, err := s.d.Writer().UpdateScheduleSpec(ctx, r)
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
	rows, err := s.d.Writer().DeleteSchedule(ctx, name)
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
	row, err := s.d.Reader().GetSchedule(ctx, name)
	if err != nil {
		return job.Schedule{}, s.notFound(err, "get schedule", "no schedule %q", name)
	}
	return s.toSchedule(row)
}

// ListSchedules implements schedule.Store.
func (s *Store) ListSchedules(ctx context.Context) ([]job.Schedule, error) {
	rows, err := s.d.Reader().ListSchedules(ctx)
	if err != nil {
		return nil, s.wrap("list schedules", err)
	}
	out := make([]job.Schedule, len(rows))
	for i, r := range rows {
		if out[i], err = s.toSchedule(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) toSchedule(r ScheduleRow) (job.Schedule, error) {
	sc := job.Schedule{
		Origin: r.Origin, Paused: r.Paused, NextTick: r.NextTick, LastTick: r.LastTick,
		LastJobID: r.LastJobID, LastFiredAt: r.LastFiredAt, Version: r.Version,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if err := json.Unmarshal(r.Spec, &sc.Spec); err != nil {
		return job.Schedule{}, s.wrap("schedule "+r.Name+" spec", err)
	}
	return sc, nil
}

// PauseSchedule implements schedule.Store.
func (s *Store) PauseSchedule(ctx context.Context, name string, now time.Time) error {
	rows, err := s.d.Writer().PauseSchedule(ctx, name, now)
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
	rows, err := s.d.Writer().ResumeSchedule(ctx, name, next, now)
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

// FireSchedule implements schedule.Store. Exactly once: the schedule moves
// from the version the ticks were planned from, in the same transaction as
// the ticks' jobs and fire records. A second scheduler that planned the
// same ticks matches no row (PostgreSQL: it waits for the first's row lock
// and finds the version moved on; SQLite: the single writer serialises
// them), and its transaction rolls back.
func (s *Store) FireSchedule(ctx context.Context, f job.ScheduleFiring) ([]job.ScheduleFire, bool, error) {
	var fires []job.ScheduleFire
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		fires, err = s.fire(ctx, tx, f)
		return err
	})
	if errors.Is(err, errStaleFiring) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable(err)
	}
	return fires, true, nil
}

func (s *Store) fire(ctx context.Context, tx Tx, f job.ScheduleFiring) ([]job.ScheduleFire, error) {
	var lastJob string
	var err error
	if f.Manual {
		lastJob, err = tx.LockSchedule(ctx, f.Name, f.Now)
		if errors.Is(err, ErrNoRows) {
			return nil, noSchedule(f.Name)
		}
	} else {
		lastJob, err = tx.AdvanceSchedule(ctx, f.Name, f.Version, f.NextTick, f.Now)
		if errors.Is(err, ErrNoRows) {
			return nil, errStaleFiring
		}
	}
	if err != nil {
		return nil, err
	}
	fires := make([]job.ScheduleFire, 0, len(f.Ticks))
	var endpoints []string
	for _, t := range f.Ticks {
		fire := job.ScheduleFire{Schedule: f.Name, Tick: t.Tick, Manual: f.Manual, FiredAt: f.Now}
		if f.Overlap == job.OverlapSkip && lastJob != "" {
			state, err := tx.GetJobState(ctx, lastJob)
			if err != nil && !errors.Is(err, ErrNoRows) {
				return nil, err
			}
			// A job that is gone (pruned) finished long ago.
			if err == nil && (state.Pending() || state == job.StateRunning) {
				fire.Outcome = job.FireSkipped
			}
		}
		if fire.Outcome == "" {
			r, err := s.jobRowOf(t.Job)
			if err != nil {
				return nil, err
			}
			ids, err := tx.InsertJobs(ctx, []JobRow{r})
			if err != nil {
				return nil, err
			}
			fire.JobID, fire.Outcome, lastJob = ids[0], job.FireCreated, ids[0]
			if ids[0] != t.Job.ID {
				fire.Outcome = job.FireCoalesced
			}
			endpoints = append(endpoints, t.Job.Endpoint)
		}
		n, err := tx.InsertScheduleFire(ctx, fire)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errStaleFiring // the tick has fired already
		}
		if err := tx.RecordScheduleFire(ctx, f.Name, t.Tick, f.Now, fire.JobID); err != nil {
			return nil, err
		}
		fires = append(fires, fire)
	}
	if len(endpoints) > 0 {
		if err := tx.Notify(ctx, endpoints[:1]); err != nil {
			return nil, err
		}
	}
	return fires, nil
}

// ListScheduleFires implements schedule.Store.
func (s *Store) ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error) {
	out, err := s.d.Reader().ListScheduleFires(ctx, name, before, limit)
	if err != nil {
		return nil, s.wrap("list schedule fires", err)
	}
	return out, nil
}
