package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
)

// countingStore is a real SQLite store that counts its queue queries.
type countingStore struct {
	*store.Store
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
	counted := &countingStore{Store: s}
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(counted, clock))

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
	if n := counted.queries.Load(); n != 1 {
		t.Errorf("32 concurrent scrapes made %d queue queries, want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	reg.Gather()
	if n := counted.queries.Load(); n != 1 {
		t.Errorf("a scrape 1 s later made a query (%d in all), want the reading reused", n)
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	families, _ := reg.Gather()
	if n := counted.queries.Load(); n != 2 {
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

// TestCachedHandlerRendersOncePerTTL: scrapers within the TTL share one
// rendering; a scrape after it gets a new one.
func TestCachedHandlerRendersOncePerTTL(t *testing.T) {
	var renders atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := renders.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "renders %d\n", n)
	})
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h := CachedHandler(inner, time.Second, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func() string {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() { defer wg.Done(); get() }()
	}
	wg.Wait()
	if n := renders.Load(); n != 1 {
		t.Errorf("32 scrapes rendered %d times, want 1", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if got := get(); got != "renders 2\n" {
		t.Errorf("a scrape after the TTL got %q, want a new rendering", got)
	}
}
