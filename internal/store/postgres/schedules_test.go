package postgres_test

import (
	"context"
	"testing"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
	"github.com/dispatchd/dispatchd/internal/store/storetest"
)

func TestSchedulesConformance(t *testing.T) {
	storetest.ExerciseSchedules(t, func(t *testing.T) func(context.Context) (job.Store, error) {
		url := pgtest.NewDatabase(t)
		return func(ctx context.Context) (job.Store, error) { return postgres.Open(ctx, url) }
	})
}
