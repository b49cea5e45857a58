package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// TestCrashDuringDeliveries SIGKILLs the service several times while it
// delivers, restarting it each time: every acknowledged webhook's job
// reaches the receiver at least once, and a job delivered twice carries the
// same webhook-id both times.
func TestCrashDuringDeliveries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		var mu sync.Mutex
		seen := map[string][]string{} // jobId → webhook-ids it arrived with
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var env struct{ JobID string }
			if !readDelivery(w, r, &env) {
				return
			}
			time.Sleep(20 * time.Millisecond) // keep deliveries in flight
			mu.Lock()
			seen[env.JobID] = append(seen[env.JobID], r.Header.Get("webhook-id"))
			mu.Unlock()
		}))
		defer recv.Close()

		cfg := filepath.Join(t.TempDir(), "dispatchd.yaml")
		yaml := fmt.Sprintf(`
sources:
  - name: std
    verify: {scheme: standard-webhooks, secret: %s}
    routes: [receiver]
endpoints:
  - name: receiver
    url: %s/hook
    secret: 0123456789abcdef
    timeout: 1s
    max_concurrency: 4
    retry: {schedule: [1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]}
`, stdSecret, recv.URL)
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8", "DISPATCHD_ROLES=gateway,ingest,worker"}
		client := &http.Client{Timeout: 30 * time.Second}
		var acked []string // job ids of acknowledged webhooks

		for round := range 3 {
			p := startProcess(t, dbURL, cfg, env...)
			for i := range 60 {
				body := []byte(fmt.Sprintf(`{"round": %d, "i": %d}`, round, i))
				r := post(t, client, p.httpURL+"/v1/webhooks/std", signStandard(stdSecret, fmt.Sprintf("msg_%d_%d", round, i), time.Now(), body), body)
				if r.status != 200 {
					t.Fatalf("round %d webhook %d: %d %s", round, i, r.status, r.body)
				}
				var out struct{ JobIDs []string }
				json.Unmarshal(r.body, &out)
				acked = append(acked, out.JobIDs...)
			}
			time.Sleep(150 * time.Millisecond) // deliveries under way
			p.kill(t)
		}

		p := startProcess(t, dbURL, cfg, env...)
		defer p.kill(t)
		store := openTestStore(t, dbURL)
		deadline := time.Now().Add(60 * time.Second)
		for _, id := range acked {
			for {
				j, err := store.GetJob(context.Background(), id)
				if err != nil {
					t.Fatalf("acknowledged job %s lost: %v", id, err)
				}
				if j.State == job.StateCompleted {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s still %s after the restarts (attempts %d, %s)", id, j.State, j.Attempts, j.LastError)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		dups := 0
		for _, id := range acked {
			ids := seen[id]
			if len(ids) == 0 {
				t.Errorf("job %s completed but the receiver never saw it", id)
			}
			for _, wid := range ids {
				if wid != id {
					t.Errorf("job %s arrived with webhook-id %s", id, wid)
				}
			}
			if len(ids) > 1 {
				dups++
			}
		}
		t.Logf("%d jobs acknowledged across 3 SIGKILLs, all delivered; %d delivered more than once (same webhook-id)", len(acked), dups)
	})
}
