//go:build soak

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/jackc/pgx/v5"
)

// The soak tests run with `make soak` (long form) and, shorter, in CI.
// SOAK_KILLS and SOAK_RATE size them.
func soakInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// soakReceiver counts deliveries by jobId and the webhook-ids they came with.
type soakReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string][]string
	down atomic.Bool // answer 503 while set
}

func newSoakReceiver(t *testing.T) *soakReceiver {
	r := &soakReceiver{seen: map[string][]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var env struct{ JobID string }
		if !readDelivery(w, req, &env) {
			return
		}
		r.mu.Lock()
		r.seen[env.JobID] = append(r.seen[env.JobID], req.Header.Get("webhook-id"))
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func soakConfig(t *testing.T, endpoints map[string]string) string {
	yaml := "sources:\n  - name: std\n    verify: {scheme: standard-webhooks, secret: " + stdSecret + "}\n    routes: ["
	var names []string
	for n := range endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			yaml += ", "
		}
		yaml += n
	}
	yaml += "]\nendpoints:\n"
	for _, n := range names {
		yaml += fmt.Sprintf("  - {name: %s, url: %q, secret: 0123456789abcdef, timeout: 2s, max_concurrency: 32, retry: {schedule: [500ms, 1s, 1s, 2s, 2s, 5s, 5s, 5s]}}\n", n, endpoints[n])
	}
	path := filepath.Join(t.TempDir(), "dispatchd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sender posts signed webhooks at a fixed rate until stopped, recording
// the job ids of every 2xx.
type sender struct {
	mu     sync.Mutex
	acked  map[string][]string // delivery id → job ids
	status map[int]int
}

func (s *sender) run(ctx context.Context, target func() string, rate int, prefix string) {
	s.mu.Lock()
	if s.acked == nil {
		s.acked, s.status = map[string][]string{}, map[int]int{}
	}
	s.mu.Unlock()
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("%s_%d", prefix, i)
			body := []byte(fmt.Sprintf(`{"n": %d}`, i))
			req, _ := http.NewRequest(http.MethodPost, target()+"/v1/webhooks/std", bytesReader(body))
			req.Header = signStandard(stdSecret, id, time.Now(), body)
			resp, err := client.Do(req)
			if err != nil {
				return // the server is down (killed): the provider would retry
			}
			defer resp.Body.Close()
			var out struct{ JobIDs []string }
			json.NewDecoder(resp.Body).Decode(&out)
			s.mu.Lock()
			s.status[resp.StatusCode]++
			if resp.StatusCode/100 == 2 {
				s.acked[id] = out.JobIDs
			}
			s.mu.Unlock()
		}()
	}
}

// TestSoakKill9UnderLoad SIGKILLs the service SOAK_KILLS times (default 10)
// while SOAK_RATE webhooks a second (default 300) arrive and are delivered;
// then every acknowledged webhook is stored and delivered at least once,
// with its jobId as webhook-id every time.
func TestSoakKill9UnderLoad(t *testing.T) {
	kills, rate := soakInt("SOAK_KILLS", 10), soakInt("SOAK_RATE", 300)
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newSoakReceiver(t)
		cfg := soakConfig(t, map[string]string{"receiver": recv.srv.URL + "/hook"})
		env := []string{"DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"}
		var current atomic.Value
		p := startProcess(t, dbURL, cfg, env...)
		current.Store(p.httpURL)
		ctx, stop := context.WithCancel(context.Background())
		var s sender
		done := make(chan struct{})
		go func() { s.run(ctx, func() string { return current.Load().(string) }, rate, "msg"); close(done) }()
		for range kills {
			time.Sleep(1500 * time.Millisecond)
			p.kill(t)
			p = startProcess(t, dbURL, cfg, env...)
			current.Store(p.httpURL)
		}
		time.Sleep(time.Second)
		stop()
		<-done
		defer p.kill(t)

		store := openTestStore(t, dbURL)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.acked) < rate {
			t.Fatalf("only %d webhooks acknowledged (statuses %v)", len(s.acked), s.status)
		}
		deadline := time.Now().Add(2 * time.Minute)
		jobs := 0
		for id, jobIDs := range s.acked {
			for _, jid := range jobIDs {
				jobs++
				for {
					j, err := store.GetJob(context.Background(), jid)
					if err != nil {
						t.Fatalf("acknowledged webhook %s: job %s lost: %v", id, jid, err)
					}
					if j.State == job.StateCompleted {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("job %s still %s (attempts %d, %s)", jid, j.State, j.Attempts, j.LastError)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
		recv.mu.Lock()
		defer recv.mu.Unlock()
		dups := 0
		for _, jobIDs := range s.acked {
			for _, jid := range jobIDs {
				got := recv.seen[jid]
				if len(got) == 0 {
					t.Errorf("job %s completed but never reached the receiver", jid)
				}
				for _, w := range got {
					if w != jid {
						t.Errorf("job %s arrived with webhook-id %s", jid, w)
					}
				}
				if len(got) > 1 {
					dups++
				}
			}
		}
		t.Logf("%d kills at %d webhooks/s: %d acknowledged (statuses %v), %d jobs all delivered, %d more than once",
			kills, rate, len(s.acked), s.status, jobs, dups)
	})
}

// TestSoakStoreOutage cuts the service off from PostgreSQL for 10 s under
// load: webhooks get 503 meanwhile (never a 2xx that is not stored), and
// it recovers by itself.
func TestSoakStoreOutage(t *testing.T) {
	dbURL := pgtestURL(t)
	u, _ := url.Parse(dbURL)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	recv := newSoakReceiver(t)
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL":           u.String(),
		"DISPATCHD_ROLES":                  "gateway,ingest,worker",
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
	}, mustRead(t, soakConfig(t, map[string]string{"receiver": recv.srv.URL + "/hook"})))
	ctx, stop := context.WithCancel(context.Background())
	var s sender
	done := make(chan struct{})
	go func() { s.run(ctx, func() string { return svc.httpURL }, 100, "out"); close(done) }()
	time.Sleep(2 * time.Second)
	proxy.stop()
	time.Sleep(10 * time.Second)
	proxy.start()
	time.Sleep(5 * time.Second)
	stop()
	<-done

	store := openTestStore(t, dbURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status[503] == 0 {
		t.Errorf("no 503 during a 10 s outage (statuses %v)", s.status)
	}
	// Every acknowledged webhook is stored (each has its own delivery id,
	// so events and acknowledgements correspond one to one).
	if n, err := store.CountEvents(context.Background(), "std"); err != nil || n < int64(len(s.acked)) {
		t.Fatalf("%d events stored for %d acknowledged webhooks (%v)", n, len(s.acked), err)
	}
	// After the outage the service answers again without a restart.
	r := post(t, &http.Client{Timeout: 10 * time.Second}, svc.httpURL+"/v1/webhooks/std", signStandard(stdSecret, "after", time.Now(), []byte(`{}`)), []byte(`{}`))
	if r.status != 200 {
		t.Errorf("after the outage: %d %s", r.status, r.body)
	}
	t.Logf("store outage of 10 s at 100 webhooks/s: statuses %v", s.status)
}

// TestSoakEndpointOutage: one endpoint answers 503 for a while; its jobs
// are delivered after it recovers, and the other endpoint is not slowed.
func TestSoakEndpointOutage(t *testing.T) {
	down, up := newSoakReceiver(t), newSoakReceiver(t)
	down.down.Store(true)
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL":           "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
		"DISPATCHD_ROLES":                  "gateway,ingest,worker",
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
	}, mustRead(t, soakConfig(t, map[string]string{"down": down.srv.URL, "up": up.srv.URL})))
	ctx, stop := context.WithCancel(context.Background())
	var s sender
	done := make(chan struct{})
	go func() { s.run(ctx, func() string { return svc.httpURL }, 100, "ep"); close(done) }()
	time.Sleep(5 * time.Second)
	// The healthy endpoint kept up while the other was down: at most half
	// a second of webhooks behind.
	s.mu.Lock()
	ackedThen := len(s.acked)
	s.mu.Unlock()
	up.mu.Lock()
	upThen := len(up.seen)
	up.mu.Unlock()
	if upThen < ackedThen-50 {
		t.Errorf("while one endpoint was down the other received %d of %d webhooks", upThen, ackedThen)
	}
	down.down.Store(false)
	time.Sleep(2 * time.Second)
	stop()
	<-done

	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		down.mu.Lock()
		up.mu.Lock()
		nDown, nUp := len(down.seen), len(up.seen)
		up.mu.Unlock()
		down.mu.Unlock()
		if nDown == len(s.acked) && nUp == len(s.acked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: %d and %d of %d webhooks delivered to the recovered and the healthy endpoint", nDown, nUp, len(s.acked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("endpoint outage of 5 s at 100 webhooks/s: %d webhooks, all delivered to both endpoints", len(s.acked))
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSoakBoundedGrowth runs SOAK_RATE webhooks a second for SOAK_GROWTH
// (default 10m) with a one-minute retention, and shows that the store
// stops growing once the retention has been reached: the tables and
// indexes of jobs, events and attempts (PostgreSQL) or the database file
// (SQLite) are sampled every 15 s and must not keep growing after the
// warm-up. The engines run side by side: each is measured on its own store.
func TestSoakBoundedGrowth(t *testing.T) {
	rate := soakInt("SOAK_RATE", 300)
	total, err := time.ParseDuration(os.Getenv("SOAK_GROWTH"))
	if err != nil {
		total = 10 * time.Minute
	}
	const (
		retention = time.Minute
		every     = 15 * time.Second
		// Jobs live until delivered plus the retention; the pruner runs every
		// retention/4. After two retentions the store holds what it will
		// hold from then on.
		warmup = 2 * retention
	)
	if total < warmup+2*retention {
		t.Fatalf("SOAK_GROWTH=%s: want at least %s to see the size after the warm-up", total, warmup+2*retention)
	}
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newSoakReceiver(t)
		cfg := soakConfig(t, map[string]string{"receiver": recv.srv.URL + "/hook"})
		p := startProcess(t, dbURL, cfg, "DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8", "DISPATCHD_RETENTION="+retention.String())
		defer p.kill(t)
		size := storeSizer(t, dbURL)

		ctx, stop := context.WithCancel(context.Background())
		var s sender
		done := make(chan struct{})
		go func() { s.run(ctx, func() string { return p.httpURL }, rate, "grow"); close(done) }()
		start := time.Now()
		var baseline, largest int64
		for at := every; at <= total; at += every {
			time.Sleep(time.Until(start.Add(at)))
			n, detail := size()
			s.mu.Lock()
			acked := len(s.acked)
			s.mu.Unlock()
			t.Logf("%6s  %4d webhooks acked  %s", at, acked, detail)
			switch {
			case at == warmup:
				baseline = n
			case at > warmup:
				largest = max(largest, n)
			}
		}
		stop()
		<-done

		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.acked) < rate*int(total/time.Second)*9/10 {
			t.Fatalf("only %d webhooks acknowledged in %s at %d/s (statuses %v)", len(s.acked), total, rate, s.status)
		}
		// Flat: the size after the warm-up grows by at most a quarter
		// over the rest of the run (without pruning it grows in
		// proportion to the run: 2× at the short form, 4× at the long).
		if largest > baseline+baseline/4 {
			t.Errorf("the store grew from %d to %d bytes after the warm-up", baseline, largest)
		}
		// Nothing is pruned before it is delivered: everything
		// acknowledged in the last retention period still arrives.
		deadline := time.Now().Add(time.Minute)
		for {
			recv.mu.Lock()
			got := len(recv.seen)
			recv.mu.Unlock()
			if got >= len(s.acked) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d acknowledged webhooks delivered", got, len(s.acked))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s at %d webhooks/s, retention %s: %d webhooks acknowledged and delivered; store %d bytes after the warm-up, at most %d after",
			total, rate, retention, len(s.acked), baseline, largest)
	})
}

// storeSizer returns a function measuring what the service's store takes
// on disk: total bytes and a line to log.
func storeSizer(t *testing.T, dbURL string) func() (int64, string) {
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		return func() (int64, string) {
			var n int64
			detail := ""
			for _, suffix := range []string{"", "-wal"} {
				fi, err := os.Stat(path + suffix)
				if err != nil {
					t.Fatalf("size of the database: %v", err)
				}
				n += fi.Size()
				detail += fmt.Sprintf("  file%s %6.1f MB", suffix, float64(fi.Size())/1e6)
			}
			return n, detail
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return func() (int64, string) {
		rows, err := conn.Query(context.Background(), `
			SELECT name, pg_table_size(to_regclass(name)), pg_indexes_size(to_regclass(name)),
			       (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass(name))
			FROM unnest(ARRAY['jobs', 'events', 'attempts']) AS name`)
		if err != nil {
			t.Fatalf("table sizes: %v", err)
		}
		var n int64
		detail := ""
		for rows.Next() {
			var name string
			var table, index, live int64
			if err := rows.Scan(&name, &table, &index, &live); err != nil {
				t.Fatalf("table sizes: %v", err)
			}
			n += table + index
			detail += fmt.Sprintf("  %s %6.1f+%5.1f MB (%6d rows)", name, float64(table)/1e6, float64(index)/1e6, live)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("table sizes: %v", err)
		}
		return n, detail
	}
}
