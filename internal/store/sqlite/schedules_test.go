package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
	"github.com/dispatchd/dispatchd/internal/store/storetest"
)

func TestSchedulesConformance(t *testing.T) {
	storetest.ExerciseSchedules(t, func(t *testing.T) func(context.Context) (job.Store, error) {
		path := filepath.Join(t.TempDir(), "data", "dispatchd.db")
		return func(ctx context.Context) (job.Store, error) { return sqlite.Open(ctx, path) }
	})
}
