package sqlite

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
)

// LockEndpoints returns the endpoints among names that exist; the single
// writer keeps them from being deleted until the transaction ends.
func (e *executor) LockEndpoints(ctx context.Context, names []string) ([]string, error) {
	return e.q.LockEndpoints(ctx, e.db, names)
}

func (e *executor) KillOrphanJobs(ctx context.Context, now time.Time, max int) (int64, error) {
	return e.q.KillOrphanJobs(ctx, e.db, sqlitedb.KillOrphanJobsParams{Now: nullMicros(now), MaxJobs: int64(max)})
}
