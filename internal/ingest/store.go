package ingest

import (
	"context"

	"github.com/dispatchd/dispatchd/internal/job"
)

// EventStore is the slice of the store that ingestion uses: one durable
// commit of an event with its jobs.
type EventStore interface {
	StoreEvent(ctx context.Context, e job.NewEvent) (job.Stored, error)
}
