package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/api"
	"github.com/dispatchd/dispatchd/internal/config"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/schedule"
)

// schedulesOf returns the store's schedule slice; both engines have it.
func schedulesOf(store job.Store) (schedule.Store, error) {
	s, ok := store.(schedule.Store)
	if !ok {
		return nil, fmt.Errorf("the %T store has no schedules", store)
	}
	return s, nil
}

// declareSchedules upserts the file's schedules, each starting from its
// first tick after now; an unchanged schedule keeps where it stands.
func declareSchedules(ctx context.Context, store job.Store, file *config.File, now time.Time) error {
	if len(file.Schedules) == 0 {
		return nil
	}
	ss, err := schedulesOf(store)
	if err != nil {
		return err
	}
	news := make([]job.NewSchedule, len(file.Schedules))
	for i := range file.Schedules {
		spec := file.Schedules[i].Spec()
		c, err := schedule.Compile(spec) // the file loader checked it already
		if err != nil {
			return err
		}
		news[i] = job.NewSchedule{Spec: spec, NextTick: c.First(now)}
	}
	if err := ss.UpsertSchedules(ctx, news, job.OriginConfig, now); err != nil {
		return fmt.Errorf("declare the configured schedules: %w", err)
	}
	return nil
}

// scheduler is the worker role's schedule runner: every worker process
// runs one, and the store sees to it that each tick fires once.
func scheduler(store job.Store, log *slog.Logger) (listener, error) {
	ss, err := schedulesOf(store)
	if err != nil {
		return listener{}, err
	}
	r := schedule.NewRunner(ss, schedule.Options{Log: log.With("component", "schedule")})
	return listener{"schedules", r.Run}, nil
}

// registerScheduleService serves ScheduleService on g.
func registerScheduleService(g *grpc.Server, store job.Store, log *slog.Logger) {
	ss, err := schedulesOf(store)
	if err != nil {
		// Both engines have schedules; a store without them serves none.
		log.Error("ScheduleService not served", "error", err)
		return
	}
	dispatchdv1.RegisterScheduleServiceServer(g, api.NewScheduleServer(ss, store, time.Now, log))
}
