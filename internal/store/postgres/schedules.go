package postgres

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

func (e *executor) UpsertSchedule(ctx context.Context, r store.ScheduleSpecRow) error {
	return e.q.UpsertSchedule(ctx, e.db, pgdb.UpsertScheduleParams{
		Name: r.Name, Spec: r.Spec, Origin: r.Origin, NextTick: r.NextTick, Now: r.Now,
	})
}

func (e *executor) InsertSchedule(ctx context.Context, r store.ScheduleSpecRow) (int64, error) {
	return e.q.InsertSchedule(ctx, e.db, pgdb.InsertScheduleParams{Name: r.Name, Spec: r.Spec, NextTick: r.NextTick, Now: r.Now})
}

func (e *executor) UpdateScheduleSpec(ctx context.Context, r store.ScheduleSpecRow) (int64, error) {
	return e.q.UpdateScheduleSpec(ctx, e.db, pgdb.UpdateScheduleSpecParams{Name: r.Name, Spec: r.Spec, NextTick: r.NextTick, Now: r.Now})
}

func (e *executor) DeleteSchedule(ctx context.Context, name string) (int64, error) {
	return e.q.DeleteSchedule(ctx, e.db, name)
}

func (e *executor) GetSchedule(ctx context.Context, name string) (store.ScheduleRow, error) {
	r, err := e.q.GetSchedule(ctx, e.db, name)
	return scheduleRow(r), noRows(err)
}

func (e *executor) ListSchedules(ctx context.Context) ([]store.ScheduleRow, error) {
	rows, err := e.q.ListSchedules(ctx, e.db)
	out := make([]store.ScheduleRow, len(rows))
	for i, r := range rows {
		out[i] = scheduleRow(r)
	}
	return out, err
}

func (e *executor) PauseSchedule(ctx context.Context, name string, now time.Time) (int64, error) {
	return e.q.PauseSchedule(ctx, e.db, pgdb.PauseScheduleParams{Name: name, Now: now})
}

func (e *executor) ResumeSchedule(ctx context.Context, name string, next, now time.Time) (int64, error) {
	return e.q.ResumeSchedule(ctx, e.db, pgdb.ResumeScheduleParams{Name: name, NextTick: next, Now: now})
}

// AdvanceSchedule: under READ COMMITTED, a second process's update waits
// for the first's row lock, then finds the version moved on.
func (e *executor) AdvanceSchedule(ctx context.Context, name string, version int64, next, now time.Time) (string, error) {
	p := pgdb.AdvanceScheduleParams{Name: name, Version: version, NextTick: next, Now: now}
	last, err := e.q.AdvanceSchedule(ctx, e.db, p)
	return deref(last), noRows(err)
}

func (e *executor) LockSchedule(ctx context.Context, name string, now time.Time) (string, error) {
	last, err := e.q.LockSchedule(ctx, e.db, pgdb.LockScheduleParams{Name: name, Now: now})
	return deref(last), noRows(err)
}

func (e *executor) GetJobState(ctx context.Context, id string) (job.State, error) {
	state, err := e.q.GetScheduleJobState(ctx, e.db, id)
	return job.State(state), noRows(err)
}

func (e *executor) InsertScheduleFire(ctx context.Context, f job.ScheduleFire) (int64, error) {
	return e.q.InsertScheduleFire(ctx, e.db, pgdb.InsertScheduleFireParams{
		Schedule: f.Schedule, Tick: f.Tick, JobID: nullable(f.JobID), Outcome: f.Outcome, Manual: f.Manual, FiredAt: f.FiredAt,
	})
}

func (e *executor) RecordScheduleFire(ctx context.Context, name string, tick, now time.Time, jobID string) error {
	return e.q.RecordScheduleFire(ctx, e.db, pgdb.RecordScheduleFireParams{Name: name, Tick: tick, Now: now, JobID: nullable(jobID)})
}

func (e *executor) ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error) {
	p := pgdb.ListScheduleFiresParams{Schedule: name, PageSize: int32(limit), BeforeTick: nullTime(before)}
	rows, err := e.q.ListScheduleFires(ctx, e.db, p)
	out := make([]job.ScheduleFire, len(rows))
	for i, r := range rows {
		out[i] = job.ScheduleFire{Schedule: r.Schedule, Tick: r.Tick.UTC(), JobID: deref(r.JobID),
			Outcome: r.Outcome, Manual: r.Manual, FiredAt: r.FiredAt.UTC()}
	}
	return out, err
}

func scheduleRow(r pgdb.Schedule) store.ScheduleRow {
	return store.ScheduleRow{
		Name: r.Name, Spec: r.Spec, Origin: r.Origin, Paused: r.Paused, NextTick: r.NextTick.UTC(),
		LastTick: derefTime(r.LastTick), LastJobID: deref(r.LastJobID), LastFiredAt: derefTime(r.LastFiredAt),
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}
