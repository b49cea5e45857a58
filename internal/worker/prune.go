package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Retention defaults.
const (
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultDeadRetention = 30 * 24 * time.Hour
	pruneInterval        = time.Minute
	pruneBatch           = 1000
)

// Pruner deletes what is past its retention, so the store stops growing:
// completed and cancelled jobs (with their attempts) after Retention, dead
// jobs after DeadRetention (they are kept longer: they can be replayed),
// and events once their jobs are gone and they are older than Retention —
// which makes Retention the deduplication window of delivery ids. First it
// marks dead the unfinished jobs whose endpoint no longer exists, which no
// worker would ever claim.
type Pruner struct {
	Store         PruneStore
	Retention     time.Duration
	DeadRetention time.Duration
	Now           func() time.Time
	Log           *slog.Logger

	warned bool // the autovacuum warning was logged
}

// Run prunes every minute until ctx ends — more often when the retention
// is short, so that what is kept never exceeds the retention by much more
// than a quarter of it.
func (p *Pruner) Run(ctx context.Context) error {
	every := pruneInterval
	if q := p.Retention / 4; q > 0 && q < every {
		every = q
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.Once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Once runs one prune.
func (p *Pruner) Once(ctx context.Context) {
	now := p.Now()
	got, ran, err := p.Store.Prune(ctx, job.PruneCutoffs{
		FinishedBefore: now.Add(-p.Retention),
		DeadBefore:     now.Add(-p.DeadRetention),
		EventsBefore:   now.Add(-p.Retention),
		RefusedBefore:  now.Add(-job.RefusedRetention),
		Batch:          pruneBatch,
		Now:            now,
	})
	switch {
	case err != nil && ctx.Err() == nil:
		p.Log.Warn("retention: prune failed; it runs again at the next tick", "error", err)
	case ran && got.Orphaned > 0:
		p.Log.Warn("retention: jobs of deleted endpoints marked dead; recreate the endpoint and replay them", "orphaned", got.Orphaned, "jobs", got.Jobs, "attempts", got.Attempts, "events", got.Events)
	case ran && (got.Jobs > 0 || got.Events > 0):
		p.Log.Info("retention: pruned", "jobs", got.Jobs, "attempts", got.Attempts, "events", got.Events)
	}
	if got.Vacuumed && !p.warned {
		p.warned = true
		p.Log.Warn("retention: PostgreSQL autovacuum is off, so dispatchd vacuums and analyzes jobs, attempts, events and endpoints itself when they need it; turn autovacuum on (see docs/deployment.md)")
	}
}
