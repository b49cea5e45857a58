package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// BenchmarkStoreEvent measures ingestion's hot path: concurrent webhooks,
// each routed to two endpoints and logged, sharing group commits. It is a benchmark,
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
			// Providers' delivery ids are random (UUIDs, evt_…): each
			// lands on its own page of the delivery-id index.
			e := newEvent("bevy", fmt.Sprintf("d-%016x-%d", rand.Uint64(), n.Add(1)), now, "orders", "audit")
			// Ingestion logs every request with its event's commit.
			e.Request = &job.InboundRequest{
				ID: job.NewID("req", now), Source: "bevy", ReceivedAt: now, Size: int64(len(e.Event.Body)),
				RemoteAddr: "127.0.0.1", Headers: e.Event.Headers, KnownSource: true,
			}
			if _, err := s.StoreEvent(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDeliveryCycle measures the store's share of delivering one job:
// claims of up to 64 jobs (ClaimDue), then each job's outcome finished by
// its own goroutine, as the worker's deliveries do, sharing group
// commits. The jobs are stored before the timer starts.
func BenchmarkDeliveryCycle(b *testing.B, s job.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{spec("orders")}, job.OriginConfig, now); err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if _, err := s.StoreEvent(ctx, newEvent("bevy", fmt.Sprintf("d-%d", i), now, "orders")); err != nil {
			b.Fatal(err)
		}
	}
	plan := func(job.Endpoint) (int, int, time.Duration) { return 64, 1, time.Minute }
	b.ResetTimer()
	for done := 0; done < b.N; {
		got, err := s.ClaimDue(ctx, job.DueClaim{Endpoint: "orders", LeaseID: job.NewID("lease", now), Now: now.Add(time.Second), Plan: plan})
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Jobs) == 0 {
			b.Fatalf("nothing to claim after %d of %d jobs", done, b.N)
		}
		var wg sync.WaitGroup
		for _, j := range got.Jobs {
			wg.Go(func() {
				at := now.Add(2 * time.Second)
				held, err := s.FinishJobs(ctx, []job.Finish{{
					JobID: j.ID, LeaseID: j.LeaseID, State: job.StateCompleted, Now: at,
					Attempt: job.Attempt{ID: job.NewID("att", at), Number: 1, StartedAt: at, StatusCode: 200, Outcome: "completed"},
				}})
				if err != nil || !held[0] {
					b.Errorf("FinishJobs = %v, %v", held, err)
				}
			})
		}
		wg.Wait()
		done += len(got.Jobs)
	}
}
