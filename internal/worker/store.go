package worker

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Store is the slice of the store the worker uses: endpoints' state,
// claims and finishes, wake-ups and rate buckets.
type Store interface {
	ListEndpoints(ctx context.Context) ([]job.Endpoint, error)
	GetEndpoint(ctx context.Context, name string) (job.Endpoint, error)
	DisableEndpoint(ctx context.Context, name, reason string, now time.Time) (changed bool, err error)
	RecordEndpointHealth(ctx context.Context, name string, ok bool, now time.Time) (failingSince time.Time, err error)
	NextDue(ctx context.Context, endpoint string) (at time.Time, ok bool, err error)
	ClaimJobs(ctx context.Context, c job.Claim) ([]job.Job, error)
	FinishJobs(ctx context.Context, fs []job.Finish) (ok []bool, err error)
	Subscribe(endpoint string) (<-chan struct{}, func())
	TakeRateTokens(ctx context.Context, endpoint string, want int, rps float64, burst int, now time.Time) (granted int, wait time.Duration, err error)
	ReturnRateTokens(ctx context.Context, endpoint string, n, burst int) error
}

// PruneStore is the slice of the store the Pruner uses.
type PruneStore interface {
	Prune(ctx context.Context, c job.PruneCutoffs) (p job.Pruned, ran bool, err error)
}
