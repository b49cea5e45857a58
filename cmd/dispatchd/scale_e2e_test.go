package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// scaleReceiver checks what the scale-out test promises: each endpoint's
// deliveries by jobId, per-customer order on the ordered endpoint, and the
// arrival times on the rate-limited one.
type scaleReceiver struct {
	srv *httptest.Server

	mu        sync.Mutex
	seen      map[string]map[string]int // endpoint → jobId → deliveries
	lastSeq   map[string]int            // ordered: customer → last sequence delivered
	inFlight  map[string]bool           // ordered: customer → a delivery under way
	disorder  []string
	limitedAt []time.Time
	cut       int // requests cut short by the SIGKILL, not deliveries
}

func newScaleReceiver(t *testing.T) *scaleReceiver {
	r := &scaleReceiver{seen: map[string]map[string]int{}, lastSeq: map[string]int{}, inFlight: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		endpoint := strings.TrimPrefix(req.URL.Path, "/")
		var env struct {
			JobID   string
			Payload struct {
				Customer string
				Seq      int
			}
		}
		if !readDelivery(w, req, &env) {
			r.mu.Lock()
			r.cut++
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		if r.seen[endpoint] == nil {
			r.seen[endpoint] = map[string]int{}
		}
		r.seen[endpoint][env.JobID]++
		c, seq := env.Payload.Customer, env.Payload.Seq
		if endpoint == "ordered" {
			if r.inFlight[c] {
				r.disorder = append(r.disorder, fmt.Sprintf("customer %s: seq %d while another was in flight", c, seq))
			}
			// A repeat of the last one is a redelivery (at least once);
			// anything older is out of order.
			if last, ok := r.lastSeq[c]; ok && seq < last {
				r.disorder = append(r.disorder, fmt.Sprintf("customer %s: seq %d after %d", c, seq, last))
			}
			r.lastSeq[c] = seq
			r.inFlight[c] = true
		}
		if endpoint == "limited" {
			r.limitedAt = append(r.limitedAt, time.Now())
		}
		r.mu.Unlock()
		if endpoint == "ordered" {
			time.Sleep(2 * time.Millisecond) // give an overlap the chance to show
			r.mu.Lock()
			r.inFlight[c] = false
			r.mu.Unlock()
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestScaleOutOnPostgres runs one gateway+ingest process and three worker
// processes on one PostgreSQL database, sends 5 000 webhooks, SIGKILLs a
// worker midway, and checks that every webhook is delivered, that only
// jobs in flight on the killed worker are delivered twice, that each
// customer's jobs keep their order, and that the rate limit holds across
// the workers.
func TestScaleOutOnPostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtestURL(t)
	recv := newScaleReceiver(t)
	const (
		webhooks    = 5000
		customers   = 25
		rps         = 400.0
		burst       = 40
		concurrency = 16
	)
	cfg := filepath.Join(t.TempDir(), "dispatchd.yaml")
	yaml := fmt.Sprintf(`
sources:
  - name: std
    verify: {scheme: standard-webhooks, secret: %[1]s}
    routes: [plain, limited]
  - name: orders
    verify: {scheme: standard-webhooks, secret: %[1]s}
    ordering_key: {json: /customer}
    routes: [ordered]
endpoints:
  - {name: plain, url: "%[2]s/plain", secret: 0123456789abcdef, timeout: 2s, max_concurrency: %[3]d, retry: {schedule: [1s, 1s, 1s, 1s, 1s]}}
  - {name: limited, url: "%[2]s/limited", secret: 0123456789abcdef, timeout: 2s, max_concurrency: %[3]d, rate_limit: {rps: %[4]g, burst: %[5]d}, retry: {schedule: [1s, 1s, 1s, 1s, 1s]}}
  - {name: ordered, url: "%[2]s/ordered", secret: 0123456789abcdef, timeout: 2s, max_concurrency: %[3]d, retry: {schedule: [1s, 1s, 1s, 1s, 1s]}}
`, stdSecret, recv.srv.URL, concurrency, rps, burst)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(roles string) []string {
		return []string{"DISPATCHD_ROLES=" + roles, "DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"}
	}
	gateway := startProcess(t, dbURL, cfg, env("gateway,ingest")...)
	defer gateway.kill(t)
	workers := make([]*process, 3)
	for i := range workers {
		workers[i] = startProcess(t, dbURL, cfg, env("worker")...)
		defer workers[i].kill(t)
	}

	// Send: half to std (two jobs each), half to orders (one job each, in
	// order per customer: one sender per customer).
	client := &http.Client{Timeout: 30 * time.Second}
	var mu sync.Mutex
	var jobIDs []string
	send := func(source, id string, body []byte) {
		r := post(t, client, gateway.httpURL+"/v1/webhooks/"+source, signStandard(stdSecret, id, time.Now(), body), body)
		if r.status != 200 {
			t.Errorf("%s: %d %s", id, r.status, r.body)
			return
		}
		var out struct{ JobIDs []string }
		json.Unmarshal(r.body, &out)
		mu.Lock()
		jobIDs = append(jobIDs, out.JobIDs...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for c := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range webhooks / 2 / customers {
				send("orders", fmt.Sprintf("ord_%d_%d", c, seq), []byte(fmt.Sprintf(`{"customer": "c%d", "seq": %d}`, c, seq)))
			}
		}()
	}
	for w := range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < webhooks/2; i += 25 {
				send("std", fmt.Sprintf("std_%d", i), []byte(fmt.Sprintf(`{"i": %d}`, i)))
			}
		}()
	}
	// Midway, kill a worker with its deliveries in flight.
	time.Sleep(2 * time.Second)
	workers[0].kill(t)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	store := openTestStore(t, dbURL)
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range jobIDs {
		for {
			j, err := store.GetJob(context.Background(), id)
			if err != nil {
				t.Fatalf("job %s: %v", id, err)
			}
			if j.State == job.StateCompleted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s of %s still %s: attempts %d, lease %q until %s (now %s), ordering key %q, last error %q",
					id, j.Endpoint, j.State, j.Attempts, j.LeaseID, j.LeaseExpiresAt.Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano), j.OrderingKey, j.LastError)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	delivered, twice := 0, 0
	for _, byJob := range recv.seen {
		for _, n := range byJob {
			delivered++
			if n > 1 {
				twice++
			}
		}
	}
	if want := webhooks/2*2 + webhooks/2; delivered != want || len(jobIDs) != want {
		t.Errorf("%d distinct jobs delivered of %d acknowledged, want %d", delivered, len(jobIDs), want)
	}
	// Only the killed worker's deliveries under way can be delivered again:
	// at most its concurrency on each endpoint.
	if twice > 3*concurrency {
		t.Errorf("%d jobs delivered more than once; the killed worker had at most %d in flight", twice, 3*concurrency)
	}
	if len(recv.disorder) > 0 {
		t.Errorf("ordering broken %d times, e.g. %v", len(recv.disorder), recv.disorder[:min(5, len(recv.disorder))])
	}
	// The rate limit across the workers: no one-second window holds more
	// than burst + rps deliveries (15 %% slack for delivery timing).
	sort.Slice(recv.limitedAt, func(i, j int) bool { return recv.limitedAt[i].Before(recv.limitedAt[j]) })
	most := 0
	for i, j := 0, 0; j < len(recv.limitedAt); j++ {
		for recv.limitedAt[j].Sub(recv.limitedAt[i]) >= time.Second {
			i++
		}
		most = max(most, j-i+1)
	}
	if limit := (burst + int(rps)) * 115 / 100; most > limit {
		t.Errorf("the rate-limited endpoint got %d deliveries in one second across 3 workers; the limit allows %d+%d", most, int(rps), burst)
	}
	t.Logf("%d webhooks, %d jobs over 3 workers (one SIGKILLed): all delivered, %d twice (%d requests cut short by the kill), ordering kept for %d customers, at most %d deliveries/s on the %g/s endpoint",
		webhooks, len(jobIDs), twice, recv.cut, customers, most, rps)
}

// TestSplitGatewayAndIngest runs the gateway and the ingest service in two
// processes: webhooks cross a real gRPC hop with the same answers.
func TestSplitGatewayAndIngest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		cfg := filepath.Join(t.TempDir(), "dispatchd.yaml")
		if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		ingestProc := startProcess(t, dbURL, cfg, "DISPATCHD_ROLES=ingest")
		defer ingestProc.kill(t)
		gw := startProcess(t, dbURL, cfg, "DISPATCHD_ROLES=gateway", "DISPATCHD_INGEST_ADDR="+ingestProc.grpcAddr)
		defer gw.kill(t)
		if ingestProc.httpURL != "" || gw.httpURL == "" {
			t.Fatalf("roles: ingest serves HTTP at %q, gateway at %q", ingestProc.httpURL, gw.httpURL)
		}
		client := &http.Client{Timeout: 10 * time.Second}
		body := []byte(`{"type": "split"}`)
		r := post(t, client, gw.httpURL+"/v1/webhooks/std", signStandard(stdSecret, "msg_split", time.Now(), body), body)
		if r.status != 200 || r.json(t)["duplicate"] != false {
			t.Fatalf("through the remote ingest: %d %s", r.status, r.body)
		}
		again := post(t, client, gw.httpURL+"/v1/webhooks/std", signStandard(stdSecret, "msg_split", time.Now(), body), body)
		if again.status != 200 || again.json(t)["duplicate"] != true {
			t.Errorf("repeat: %d %s", again.status, again.body)
		}
		bad := post(t, client, gw.httpURL+"/v1/webhooks/std", signStandard("whsec_"+strings.Repeat("QUJD", 8), "msg_bad", time.Now(), body), body)
		if bad.status != 401 || bad.json(t)["code"] != "unauthenticated" {
			t.Errorf("a bad signature through the remote ingest: %d %s", bad.status, bad.body)
		}
		big := post(t, client, gw.httpURL+"/v1/webhooks/bearer", http.Header{"Content-Type": {"application/json"}}, make([]byte, 20000))
		if big.status != 413 {
			t.Errorf("an oversized body at the gateway: %d %s", big.status, big.body)
		}
	})
}
