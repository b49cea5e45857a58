package postgres

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
)

// LockEndpoints returns the endpoints among names that exist, locked FOR
// KEY SHARE until the transaction ends.
func (e *executor) LockEndpoints(ctx context.Context, names []string) ([]string, error) {
	return e.q.LockEndpoints(ctx, e.db, names)
}

func (e *executor) KillOrphanJobs(ctx context.Context, now time.Time, max int) (int64, error) {
	return e.q.KillOrphanJobs(ctx, e.db, pgdb.KillOrphanJobsParams{Now: &now, MaxJobs: int32(max)})
}
