package schedule

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Store is the slice of the store that schedules need. Both engines
// implement it; storetest.ExerciseSchedules holds them to it.
type Store interface {
	// UpsertSchedules declares schedules (from the file at start). A
	// schedule whose spec is unchanged keeps its state (paused, next tick,
	// last fire); a changed one starts again from its NextTick.
	UpsertSchedules(ctx context.Context, ss []job.NewSchedule, origin string, now time.Time) error

	// CreateSchedule creates an API schedule (CodeAlreadyExists).
	CreateSchedule(ctx context.Context, s job.NewSchedule, now time.Time) error

	// UpdateSchedule replaces a schedule's spec and next tick
	// (CodeNotFound).
	UpdateSchedule(ctx context.Context, s job.NewSchedule, now time.Time) error

	// DeleteSchedule deletes a schedule and its fire records; the jobs of
	// its fires stay (CodeNotFound).
	DeleteSchedule(ctx context.Context, name string) error

	// GetSchedule returns a schedule (CodeNotFound).
	GetSchedule(ctx context.Context, name string) (job.Schedule, error)

	// ListSchedules returns every schedule by name.
	ListSchedules(ctx context.Context) ([]job.Schedule, error)

	// PauseSchedule stops a schedule's fires (CodeNotFound).
	PauseSchedule(ctx context.Context, name string, now time.Time) error

	// ResumeSchedule resumes a paused schedule from next; resuming a
	// schedule that runs changes nothing (CodeNotFound).
	ResumeSchedule(ctx context.Context, name string, next, now time.Time) error

	// FireSchedule fires f.Ticks in one transaction, with the schedule's
	// move to f.NextTick: each tick's job (or skip, per f.Overlap) and its
	// fire record commit together or not at all. ok is false, and nothing
	// is written, when the schedule changed since f.Version was read
	// (another scheduler fired it, or it was paused or edited), or a tick
	// already has a fire. A manual firing ignores the version and the
	// pause, and keeps the next tick; CodeNotFound if there is no schedule.
	FireSchedule(ctx context.Context, f job.ScheduleFiring) (fires []job.ScheduleFire, ok bool, err error)

	// ListScheduleFires returns a schedule's fires, newest tick first, at
	// most limit, with ticks before before (zero: from the latest).
	ListScheduleFires(ctx context.Context, name string, before time.Time, limit int) ([]job.ScheduleFire, error)
}
