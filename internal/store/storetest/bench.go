package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// BenchmarkStoreEvent measures ingestion's hot path: concurrent webhooks,
// each routed to two endpoints, sharing group commits. It is a benchmark,
// run with go test -bench, never a timed assertion.
func BenchmarkStoreEvent(b *testing.B, s job.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{spec("orders"), spec("audit")}, job.OriginConfig, now); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := newEvent("bevy", fmt.Sprintf("d-%d", n.Add(1)), now, "orders", "audit")
			if _, err := s.StoreEvent(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
