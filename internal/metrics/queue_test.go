package metrics

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
)

// countingStore is a real SQLite store that counts its queue queries.
type countingStore struct {
	*sqlite.Store
	queries atomic.Int64
}

func (s *countingStore) QueueStats(ctx context.Context, now time.Time) (map[job.State]int64, time.Time, error) {
	s.queries.Add(1)
	return s.Store.QueueStats(ctx, now)
}

// TestScrapesShareQueueQueries: 32 scrapers at once cost one queue query,
// and so does every scrape within a few seconds of it; a later scrape
// reads the store again.
func TestScrapesShareQueueQueries(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	store := &countingStore{Store: s}
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(store, clock))

	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := store.queries.Load(); n != 1 {
		t.Errorf("32 concurrent scrapes made %d queue queries, want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	reg.Gather()
	if n := store.queries.Load(); n != 1 {
		t.Errorf("a scrape 1 s later made a query (%d in all), want the reading reused", n)
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	families, _ := reg.Gather()
	if n := store.queries.Load(); n != 2 {
		t.Errorf("a scrape 11 s later: %d queries in all, want 2", n)
	}
	found := false
	for _, f := range families {
		if f.GetName() == "dispatchd_store_up" && f.GetMetric()[0].GetGauge().GetValue() == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("dispatchd_store_up is not 1")
	}
}
