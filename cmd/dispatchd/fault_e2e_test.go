package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// process is dispatchd running as a real child process.
type process struct {
	cmd      *exec.Cmd
	httpURL  string // empty without the gateway role
	grpcAddr string
}

// startProcess runs `dispatchd serve` as a child process (the test binary
// re-executed as main) and waits until it listens.
func startProcess(t *testing.T, dbURL, configFile string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(append(os.Environ(), env...),
		"DISPATCHD_TEST_AS_MAIN=1",
		"DISPATCHD_DATABASE_URL="+dbURL,
		"DISPATCHD_CONFIG="+configFile,
		"DISPATCHD_HTTP_ADDR=127.0.0.1:0",
		"DISPATCHD_GRPC_ADDR=127.0.0.1:0",
		"DISPATCHD_LOG_FORMAT=json",
		"BEARER_SECRET="+bearerSecret,
	)
	if strings.HasPrefix(dbURL, "postgres") {
		cmd.Env = append(cmd.Env, "DISPATCHD_ENCRYPTION_KEY="+testEncryptionKey)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	addr := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		// DISPATCHD_TEST_LOG_DIR keeps each process's log (<pid>.log), to
		// see what the processes of a failed run did.
		var logf *os.File
		if dir := os.Getenv("DISPATCHD_TEST_LOG_DIR"); dir != "" {
			if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.log", cmd.Process.Pid))); err == nil {
				logf = f
				defer f.Close()
			}
		}
		for sc.Scan() {
			if logf != nil {
				fmt.Fprintf(logf, "%s\n", sc.Bytes())
			}
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "dispatchd listening" {
				addr <- line
			}
		}
		close(addr)
	}()
	select {
	case line, ok := <-addr:
		if !ok {
			t.Fatalf("dispatchd exited before listening")
		}
		if a, ok := line["http_addr"].(string); ok {
			p.httpURL = "http://" + a
		}
		p.grpcAddr, _ = line["grpc_addr"].(string)
	case <-time.After(30 * time.Second):
		t.Fatalf("dispatchd did not listen within 30 s")
	}
	return p
}

func (p *process) kill(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return // already killed
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// TestKill9KeepsAcknowledgedWebhooks kills the server with SIGKILL while
// webhooks are being acknowledged, restarts it, and checks that every
// webhook that got a 200 is stored: re-sending it reports the duplicate
// with the same event id.
func TestKill9KeepsAcknowledgedWebhooks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		cfg := filepath.Join(t.TempDir(), "dispatchd.yaml")
		if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Timeout: 30 * time.Second}
		acked := map[string]string{} // delivery id → event id
		var mu sync.Mutex

		for round := range 3 {
			p := startProcess(t, dbURL, cfg)
			// The plain case first: one 200, then SIGKILL at once.
			id := fmt.Sprintf("msg_r%d_single", round)
			body := []byte(`{"type": "kill"}`)
			r := post(t, client, p.httpURL+"/v1/webhooks/std", signStandard(stdSecret, id, time.Now(), body), body)
			if r.status != 200 {
				t.Fatalf("round %d: status %d; %s", round, r.status, r.body)
			}
			acked[id] = r.json(t)["eventId"].(string)

			// Then under load: senders keep posting while the process is
			// killed; whatever was acknowledged must survive.
			var wg sync.WaitGroup
			var stop atomic.Bool
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						id := fmt.Sprintf("msg_r%d_w%d_%d", round, w, i)
						b := []byte(`{"type": "load"}`)
						req, _ := http.NewRequest(http.MethodPost, p.httpURL+"/v1/webhooks/std", strings.NewReader(string(b)))
						req.Header = signStandard(stdSecret, id, time.Now(), b)
						resp, err := client.Do(req)
						if err != nil {
							return // the server is gone
						}
						var out struct{ EventID string }
						err = json.NewDecoder(resp.Body).Decode(&out)
						resp.Body.Close()
						if resp.StatusCode == 200 && err == nil {
							mu.Lock()
							acked[id] = out.EventID
							mu.Unlock()
						}
					}
				}()
			}
			// Kill once the load is flowing: a fixed pause acknowledged
			// only a few webhooks in a -race build on a busy machine.
			mu.Lock()
			before := len(acked)
			mu.Unlock()
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				n := len(acked) - before
				mu.Unlock()
				if n >= 20 {
					break
				}
			}
			p.kill(t)
			stop.Store(true)
			wg.Wait()
		}

		p := startProcess(t, dbURL, cfg)
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 10 {
			t.Fatalf("only %d webhooks were acknowledged; the test did not load the server", len(acked))
		}
		t.Logf("%d webhooks acknowledged across 3 SIGKILLs", len(acked))
		store := openTestStore(t, dbURL)
		for id, eventID := range acked {
			ev, err := store.GetEvent(context.Background(), eventID)
			if err != nil || ev.DeliveryID != id {
				t.Errorf("acknowledged delivery %s (event %s) lost: %v", id, eventID, err)
			}
		}
		// And through the front door, for a sample: a repeat is a duplicate.
		for _, id := range []string{"msg_r0_single", "msg_r1_single", "msg_r2_single"} {
			body := []byte(`{"type": "kill"}`)
			r := post(t, client, p.httpURL+"/v1/webhooks/std", signStandard(stdSecret, id, time.Now(), body), body)
			m := r.json(t)
			if r.status != 200 || m["duplicate"] != true || m["eventId"] != acked[id] {
				t.Errorf("re-sending %s after restart = %d %s, want duplicate of %s", id, r.status, r.body, acked[id])
			}
		}
	})
}

// TestStoreDownAnswers503 cuts the service off from PostgreSQL: webhooks
// are refused with 503 (never a 2xx), readiness fails, and both recover
// when the database is back.
func TestStoreDownAnswers503(t *testing.T) {
	dbURL := pgtestURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": u.String(), "BEARER_SECRET": bearerSecret}, testConfig)
	client := &http.Client{Timeout: 20 * time.Second}
	send := func(id string) response {
		body := []byte(`{"type": "outage"}`)
		return post(t, client, svc.httpURL+"/v1/webhooks/std", signStandard(stdSecret, id, time.Now(), body), body)
	}
	get := func(path string) int {
		resp, err := client.Get(svc.httpURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if r := send("msg_before"); r.status != 200 {
		t.Fatalf("before the outage: status %d; %s", r.status, r.body)
	}
	proxy.stop()
	r := send("msg_during")
	if r.status != http.StatusServiceUnavailable || r.json(t)["code"] != string(job.CodeUnavailable) {
		t.Errorf("during the outage: status %d %s, want 503 unavailable", r.status, r.body)
	}
	if s := get("/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage = %d, want 503", s)
	}
	if s := get("/healthz"); s != http.StatusOK {
		t.Errorf("/healthz during the outage = %d, want 200 (the process is alive)", s)
	}

	proxy.start()
	// The pool reconnects on demand; the provider's retry then succeeds.
	var after response
	for range 20 {
		if after = send("msg_during"); after.status == 200 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if after.status != 200 || after.json(t)["duplicate"] != false {
		t.Errorf("after the outage: %d %s, want 200 and a new event (the refused one was not stored)", after.status, after.body)
	}
}

func pgtestURL(t *testing.T) string {
	for _, e := range engines {
		if e.name == "postgres" {
			return e.newURL(t)
		}
	}
	t.Fatal("no postgres engine")
	return ""
}

// tcpProxy forwards a local port to a server and can cut every connection,
// which is what a database outage looks like to the service.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start() {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
