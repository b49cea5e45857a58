package main

import (
	"context"
	"fmt"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/metrics"
)

// initKnownMetrics puts the series of every stored source and endpoint on
// /metrics at 0 before the first webhook or delivery.
func initKnownMetrics(ctx context.Context, store job.Store, m *metrics.Metrics) error {
	sources, err := store.ListSources(ctx)
	if err != nil {
		return fmt.Errorf("list the sources for the metrics: %w", err)
	}
	endpoints, err := store.ListEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("list the endpoints for the metrics: %w", err)
	}
	var sourceNames, endpointNames []string
	for _, s := range sources {
		sourceNames = append(sourceNames, s.Name)
	}
	for _, e := range endpoints {
		endpointNames = append(endpointNames, e.Name)
	}
	m.Known(sourceNames, endpointNames)
	return nil
}
