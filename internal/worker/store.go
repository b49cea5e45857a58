package worker

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Store is the slice of the store the worker uses: endpoints' state,
// one claim (the endpoint, its rate tokens and its due jobs), finishes
// and wake-ups.
type Store interface {
	ListEndpoints(ctx context.Context) ([]job.Endpoint, error)
	DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (changed bool, err error)
	RecordEndpointHealth(ctx context.Context, name string, ok bool, now time.Time) (failingSince time.Time, err error)
	NextDue(ctx context.Context, endpoint string) (at time.Time, ok bool, err error)
	ClaimDue(ctx context.Context, c job.DueClaim) (job.Claimed, error)
	FinishJobs(ctx context.Context, fs []job.Finish) (ok []bool, err error)
	Subscribe(endpoint string) (<-chan struct{}, func())
}

// PruneStore is the slice of the store the Pruner uses.
type PruneStore interface {
	Prune(ctx context.Context, c job.PruneCutoffs) (p job.Pruned, ran bool, err error)
}
