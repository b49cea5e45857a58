package sqlite

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
)

func (e *executor) UpsertSchedule(ctx context.Context, r store.ScheduleSpecRow) error {
	return e.q.UpsertSchedule(ctx, e.db, sqlitedb.UpsertScheduleParams{
		Name: r.Name, Spec: string(r.Spec), Origin: r.Origin, NextTick: micros(r.NextTick), Now: micros(r.Now),
	})
}

func (e *executor) InsertSchedule(ctx context.Context, r store.ScheduleSpecRow) (int64, error) {
	return e.q.InsertSchedule(ctx, e.db, sqlitedb.InsertScheduleParams{
		Name: r.Name, Spec: string(r.Spec), NextTick: micros(r.NextTick), Now: micros(r.Now),
	})
}

func (e *executor) UpdateScheduleSpec(ctx context.Context, r store.ScheduleSpecRow) (int64, error) {
	return e.q.UpdateScheduleSpec(ctx, e.db, sqlitedb.UpdateScheduleSpecParams{
		Name: r.Name, Spec: string(r.Spec), NextTick: micros(r.NextTick), Now: micros(r.Now),
	})
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
	return e.q.PauseSchedule(ctx, e.db, sqlitedb.PauseScheduleParams{Name: name, Now: micros(now)})
}

func (e *executor) ResumeSchedule(ctx context.Context, name string, next, now time.Time) (int64, error) {
	return e.q.ResumeSchedule(ctx, e.db, sqlitedb.ResumeScheduleParams{Name: name, NextTick: micros(next), Now: micros(now)})
}

func (e *executor) AdvanceSchedule(ctx context.Context, name string, version int64, next, now time.Time) (string, error) {
	last, err := e.q.AdvanceSchedule(ctx, e.db, sqlitedb.AdvanceScheduleParams{
		Name: name, Version: version, NextTick: micros(next), Now: micros(now),
	})
	return deref(last), noRows(err)
}

func (e *executor) LockSchedule(ctx context.Context, name string, now time.Time) (string, error) {
	last, err := e.q.LockSchedule(ctx, e.db, sqlitedb.LockScheduleParams{Name: name, Now: micros(now)})
	return deref(last), noRows(err)
}

func (e *executor) GetJobState(ctx context.Context, id string) (job.State, error) {
	state, err := e.q.GetScheduleJobState(ctx, e.db, id)
	return job.State(state), noRows(err)
}

func (e *executor) InsertScheduleFire(ctx context.Context, f job.ScheduleFire) (int64, error) {
	return e.q.InsertScheduleFire(ctx, e.db, sqlitedb.InsertScheduleFireParams{
		Schedule: f.Schedule, Tick: micros(f.Tick), JobID: nullable(f.JobID), Outcome: f.Outcome,
		Manual: boolInt(f.Manual), FiredAt: micros(f.FiredAt),
	})
}

func (e *executor) RecordScheduleFire(ctx context.Context, name string, tick, now time.Time, jobID string) error {
	return e.q.RecordScheduleFire(ctx, e.db, sqlitedb.RecordScheduleFireParams{
		Name: name, Tick: micros(tick), Now: micros(now), JobID: nullable(jobID),
	})
}

func (e *executor) ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error) {
	rows, err := e.q.ListScheduleFires(ctx, e.db, sqlitedb.ListScheduleFiresParams{
		Schedule: name, PageSize: int64(limit), BeforeTick: microsOrNil(before),
	})
	out := make([]job.ScheduleFire, len(rows))
	for i, r := range rows {
		out[i] = job.ScheduleFire{
			Schedule: r.Schedule, Tick: fromMicros(r.Tick), JobID: deref(r.JobID), Outcome: r.Outcome,
			Manual: r.Manual != 0, FiredAt: fromMicros(r.FiredAt),
		}
	}
	return out, err
}

func scheduleRow(r sqlitedb.Schedule) store.ScheduleRow {
	return store.ScheduleRow{
		Name: r.Name, Spec: []byte(r.Spec), Origin: r.Origin, Paused: r.Paused != 0,
		NextTick: fromMicros(r.NextTick), LastTick: fromNullMicros(r.LastTick), LastJobID: deref(r.LastJobID),
		LastFiredAt: fromNullMicros(r.LastFiredAt), Version: r.Version,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
	}
}
