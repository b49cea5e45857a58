package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/metrics"
)

// edgeAPIKey is a bootstrap API key of the edge tests.
// edgeAPIKey is the bootstrap key of the edge tests: a generated one, as
// serve refuses a key typed by hand.
var edgeAPIKey, _ = apikey.Generate()

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// metricSum adds up the samples of one metric family at GET /metrics.
func metricSum(t *testing.T, baseURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// TestWebhookRPCOnlyThroughRawRoute: however the webhook path is spelt,
// a request either takes the raw-body route (whose body is bounded before
// it is read) or never reaches the ingest service. Before the fix an
// escaped slash reached ReceiveWebhook through grpc-gateway's JSON mapping,
// unbounded, and even stored a webhook.
func TestWebhookRPCOnlyThroughRawRoute(t *testing.T) {
	t.Parallel()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "d.db")
	svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": dbURL, "BEARER_SECRET": bearerSecret}, testConfig)
	store := openTestStore(t, dbURL)

	// A request message in grpc-gateway's JSON mapping: a webhook the
	// bearer source would accept, and one far over its 10 KiB limit.
	valid, _ := json.Marshal(map[string]any{
		"body":    base64.StdEncoding.EncodeToString([]byte(`{"type": "t", "data": {"id": 1}}`)),
		"headers": map[string]string{"authorization": "Bearer " + bearerSecret, "webhook-id": "mapped-1", "content-type": "application/json"},
	})
	huge, _ := json.Marshal(map[string]any{
		"body":    base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("a"), 1<<20)),
		"headers": map[string]string{"authorization": "Bearer " + bearerSecret, "webhook-id": "mapped-2"},
	})
	before := metricSum(t, svc.httpURL, "dispatchd_webhooks_received_total")
	for _, path := range []string{
		"/v1%2Fwebhooks/bearer",
		"/v1%2fwebhooks%2fbearer",
		"/v1/webhooks%2Fbearer",
		"/v1%2Fwebhooks%2Fbearer/",
		"/%76%31/webhooks%2fbearer",
		"//v1/webhooks/bearer",
		"/v1//webhooks/bearer",
		"/./v1/webhooks/bearer",
		"/v1/webhooks/bearer/",
		"/v1/x/../webhooks%2Fbearer",
	} {
		for name, body := range map[string][]byte{"valid": valid, "huge": huge} {
			r := post(t, noFollow, svc.httpURL+path, http.Header{"Content-Type": {"application/json"}}, body)
			if r.status == 200 {
				t.Errorf("POST %s (%s): 200 %s: the webhook RPC was reached outside the raw-body route", path, name, r.body)
			}
		}
	}
	time.Sleep(metrics.ScrapeTTL + 100*time.Millisecond) // past the rendering /metrics caches
	if after := metricSum(t, svc.httpURL, "dispatchd_webhooks_received_total"); after != before {
		t.Errorf("the ingest service counted %v webhooks from the odd spellings; want none to reach it", after-before)
	}
	if n, err := store.CountEvents(context.Background(), "bearer"); err != nil || n != 0 {
		t.Errorf("%d events stored (%v); want none", n, err)
	}
	// The route itself still works, with an encoded segment too.
	body := []byte(`{"type": "t", "data": {"id": 1}}`)
	h := http.Header{"Authorization": {"Bearer " + bearerSecret}, "Webhook-Id": {"raw-1"}, "Content-Type": {"application/json"}}
	if r := post(t, noFollow, svc.httpURL+"/v1/webhooks/b%65arer", h, body); r.status != 200 {
		t.Errorf("the raw-body route with an encoded segment: %d %s", r.status, r.body)
	}
}

// rawRequest writes head (and nothing of the body it announces) on a new
// connection and returns the status and body of the answer. The server
// must answer without waiting for the body: the deadline is well below
// the server's own 30 s read timeout.
func rawRequest(t *testing.T, baseURL, head string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\n{"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAPIKeyCheckedBeforeBody: an API request's key is checked before its
// body is read, and every API route caps its body.
func TestAPIKeyCheckedBeforeBody(t *testing.T) {
	t.Parallel()
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
		"DISPATCHD_ROLES":        "gateway,ingest,api",
		"DISPATCHD_API_KEY":      edgeAPIKey,
		"BEARER_SECRET":          bearerSecret,
	}, testConfig)

	head := func(path, auth string, length int) string {
		h := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(length) + "\r\n"
		if auth != "" {
			h += "Authorization: " + auth + "\r\n"
		}
		return h
	}
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"no key", "/v1/jobs", "", 401},
		{"unknown key", "/v1/jobs", "Bearer disp_k1_not-a-key-of-ours-000000", 401},
		{"no key, escaped path", "/v1%2Fjobs", "", 401},
		{"no key, Dispatched route", "/api/jobs/dispatch", "", 401},
		{"no key, endpoints", "/v1/endpoints", "", 401},
		{"good key, over the cap", "/v1/jobs", "Bearer " + edgeAPIKey, 413},
		{"good key, over the cap, escaped", "/v1%2Fendpoints", "Bearer " + edgeAPIKey, 413},
	} {
		status, body := rawRequest(t, svc.httpURL, head(tc.path, tc.auth, 300<<20))
		if status != tc.want || !strings.HasPrefix(body, "{") {
			t.Errorf("%s: %d %s, want %d with a JSON error", tc.name, status, body, tc.want)
		}
	}

	// Bodies that are sent, over the route's cap: 413, not the decoder's
	// 400 or the service's own check after decoding.
	auth := http.Header{"Authorization": {"Bearer " + edgeAPIKey}, "Content-Type": {"application/json"}}
	dispatched := []byte(`{"payload": {"pad": "` + strings.Repeat("x", 100<<10) + `"}}`)
	if r := post(t, noFollow, svc.httpURL+"/api/jobs/dispatch", auth, dispatched); r.status != 413 {
		t.Errorf("a 100 KiB Dispatched call: %d %s, want 413", r.status, r.body)
	}
	// Chunked: no Content-Length to refuse early; cut off at the cap.
	req, _ := http.NewRequest("POST", svc.httpURL+"/v1/endpoints", io.MultiReader(strings.NewReader(`{"name": "x", "url": "`), strings.NewReader(strings.Repeat("y", 2<<20)), strings.NewReader(`"}`)))
	req.Header = auth.Clone()
	if resp, err := noFollow.Do(req); err != nil {
		t.Errorf("chunked endpoint create: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("a chunked 2 MiB endpoint definition: %d %s, want 413", resp.StatusCode, b)
		}
	}
	// An honest call still works.
	ok := post(t, noFollow, svc.httpURL+"/v1/jobs", auth, []byte(`{"endpoint": "orders", "payload": {"a": 1}}`))
	if ok.status != 200 {
		t.Errorf("DispatchJob: %d %s", ok.status, ok.body)
	}
}

// TestGRPCIngestMessageCap: over gRPC, an ingest request larger than the
// largest source's limit plus headers is refused before it is decoded:
// the ingest service never sees it.
func TestGRPCIngestMessageCap(t *testing.T) {
	t.Parallel()
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
		"BEARER_SECRET":          bearerSecret,
	}, testConfig)
	conn, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := metricSum(t, svc.httpURL, "dispatchd_webhooks_received_total")
	_, err = dispatchdv1.NewIngestServiceClient(conn).ReceiveWebhook(ctx, &dispatchdv1.ReceiveWebhookRequest{
		Source: "bearer", Body: bytes.Repeat([]byte("a"), 4<<20),
		Headers: map[string]string{"authorization": "Bearer " + bearerSecret},
	})
	if err == nil {
		t.Fatal("a 4 MiB webhook to a 10 KiB source was accepted")
	}
	time.Sleep(metrics.ScrapeTTL + 100*time.Millisecond) // past the rendering /metrics caches
	if after := metricSum(t, svc.httpURL, "dispatchd_webhooks_received_total"); after != before {
		t.Errorf("the ingest service handled the 4 MiB message (%v counted); want it refused before decoding: %v", after-before, err)
	}
}

// TestBadHeaderBytesAre400: header values HTTP refuses (NUL, CR, LF) are
// refused on the gRPC path into ingest too, on both engines: 400 (invalid
// argument), never stored, never a 503.
func TestBadHeaderBytesAre400(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": dbURL, "BEARER_SECRET": bearerSecret}, testConfig)
		conn, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := dispatchdv1.NewIngestServiceClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i, bad := range []map[string]string{
			{"x-note": "a\x00b"},
			{"x-note": "a\r\nx-injected: 1"},
			{"x-note": "a\nb"},
			{"x-no\x00te": "a"},
			{"x note": "a"},
		} {
			h := map[string]string{"authorization": "Bearer " + bearerSecret, "webhook-id": fmt.Sprintf("bad-%d", i), "content-type": "application/json"}
			for k, v := range bad {
				h[k] = v
			}
			_, err := client.ReceiveWebhook(ctx, &dispatchdv1.ReceiveWebhookRequest{Source: "bearer", Body: []byte(`{"type": "t", "data": {"id": 1}}`), Headers: h})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("headers %q: %v, want InvalidArgument", bad, err)
			}
		}
		if n, err := openTestStore(t, dbURL).CountEvents(ctx, "bearer"); err != nil || n != 0 {
			t.Errorf("%d events stored (%v); want none", n, err)
		}
	})
}

// TestOperationalWebhooksAreGuarded: operational webhooks go through the
// deliveries' SSRF guard and follow no redirect.
func TestOperationalWebhooksAreGuarded(t *testing.T) {
	t.Parallel()
	var opsHits, redirectedHits atomic.Int64
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			redirectedHits.Add(1)
			return
		}
		opsHits.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer ops.Close()
	// The endpoint refuses every delivery with 400: its jobs go dead at
	// once, and each dead job makes an operational webhook.
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer endpoint.Close()
	cfg := `
sources:
  - name: open
    verify: {scheme: none}
    routes: [refuses]
endpoints:
  - {name: refuses, url: "` + endpoint.URL + `/hook", secret: 0123456789abcdef}
operational_webhook: {url: "` + ops.URL + `/ops", secret: ops-secret-0123456789}
`
	for _, tc := range []struct {
		name, allow string
		want        string
	}{
		// Loopback is not allowed: the endpoint is blocked (the job is
		// dead) and the operational webhook must be blocked too.
		{"blocked", "", "never reach the loopback address"},
		// Loopback allowed: the webhook is sent, and its redirect is an
		// answer (a failure), not followed.
		{"no redirect", "127.0.0.0/8,::1/128", "not follow the redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opsHits.Store(0)
			redirectedHits.Store(0)
			svc := startService(t, map[string]string{
				"DISPATCHD_DATABASE_URL":           "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
				"DISPATCHD_ROLES":                  "gateway,ingest,worker",
				"DISPATCHD_ALLOW_PRIVATE_NETWORKS": tc.allow,
			}, cfg)
			if r := post(t, noFollow, svc.httpURL+"/v1/webhooks/open", http.Header{"Content-Type": {"application/json"}}, []byte(`{"a": 1}`)); r.status != 200 {
				t.Fatalf("webhook: %d %s", r.status, r.body)
			}
			deadline := time.Now().Add(60 * time.Second)
			for metricSum(t, svc.httpURL, `dispatchd_operational_webhooks_total`) < 1 {
				if time.Now().After(deadline) {
					t.Fatalf("no operational webhook was ever counted; logs:\n%s", svc.logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if failed := metricSum(t, svc.httpURL, `dispatchd_operational_webhooks_total{result="failed",type="job.dead"}`); failed != 1 {
				t.Errorf("failed job.dead notices = %v, want 1", failed)
			}
			if tc.allow == "" && opsHits.Load() != 0 {
				t.Errorf("the operational webhook reached a loopback address %d times with the guard on; it must %s", opsHits.Load(), tc.want)
			}
			if redirectedHits.Load() != 0 {
				t.Errorf("the redirect was followed %d times; the sender must %s", redirectedHits.Load(), tc.want)
			}
		})
	}
}

// TestSQLiteFilesArePrivate: the database, its WAL and its SHM are created
// 0600, and a directory open to others is warned about.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dispatchd.db")
	svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": "sqlite:" + path, "BEARER_SECRET": bearerSecret}, testConfig)
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(name), perm)
		}
	}
	if !strings.Contains(svc.logs.String(), "open to other users") {
		t.Errorf("no warning about the database directory (mode 0755); logs:\n%s", svc.logs.String())
	}
}

// TestErrorsNameNoAddresses: a failure between processes is a JSON error
// that names no socket address.
func TestErrorsNameNoAddresses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nothing listens there now
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
		"DISPATCHD_ROLES":        "gateway",
		"DISPATCHD_INGEST_ADDR":  deadAddr,
		"BEARER_SECRET":          bearerSecret,
	}, testConfig)
	body := []byte(`{"type": "t"}`)
	r := post(t, noFollow, svc.httpURL+"/v1/webhooks/std", signStandard(stdSecret, "msg_dead", time.Now(), body), body)
	if r.status != 503 {
		t.Errorf("status %d %s, want 503", r.status, r.body)
	}
	_, port, _ := net.SplitHostPort(deadAddr)
	if s := string(r.body); strings.Contains(s, "127.0.0.1") || strings.Contains(s, ":"+port) || strings.Contains(s, "dial") {
		t.Errorf("the error shows the internals: %s", s)
	}
	if m := r.json(t); m["code"] != "unavailable" {
		t.Errorf("code = %v, want unavailable", m["code"])
	}
}

// TestTLS12OffersOnlyAEAD: over TLS 1.2 only AEAD suites are negotiated.
func TestTLS12OffersOnlyAEAD(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL":  "sqlite:" + filepath.Join(dir, "d.db"),
		"DISPATCHD_TLS_CERT_FILE": certFile,
		"DISPATCHD_TLS_KEY_FILE":  keyFile,
		"BEARER_SECRET":           bearerSecret,
	}, testConfig)
	addr := strings.TrimPrefix(svc.httpURL, "https://")
	dial := func(suites []uint16) error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: suites})
		if err == nil {
			conn.Close()
		}
		return err
	}
	for _, s := range tls.InsecureCipherSuites() {
		if err := dial([]uint16{s.ID}); err == nil && s.SupportedVersions[len(s.SupportedVersions)-1] >= tls.VersionTLS12 {
			t.Errorf("%s was negotiated", s.Name)
		}
	}
	for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256} {
		if err := dial([]uint16{s}); err == nil {
			t.Errorf("CBC suite %s was negotiated over TLS 1.2", tls.CipherSuiteName(s))
		}
	}
	if err := dial([]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}); err != nil {
		t.Errorf("AES-GCM over TLS 1.2: %v", err)
	}
	if err := dial([]uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}); err != nil {
		t.Errorf("ChaCha20-Poly1305 over TLS 1.2: %v", err)
	}
}

// capturedProcess is dispatchd as a child process whose stdout (the
// structured log) and stderr are kept.
type capturedProcess struct {
	cmd            *exec.Cmd
	httpURL        string
	stdout, stderr *syncBuffer
}

// startCaptured is startProcess keeping both output streams.
func startCaptured(t *testing.T, env ...string) *capturedProcess {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dispatchd.yaml")
	if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(append(os.Environ(), env...),
		"DISPATCHD_TEST_AS_MAIN=1",
		"DISPATCHD_DATABASE_URL=sqlite:"+filepath.Join(dir, "d.db"),
		"DISPATCHD_CONFIG="+cfg,
		"DISPATCHD_HTTP_ADDR=127.0.0.1:0",
		"DISPATCHD_GRPC_ADDR=127.0.0.1:0",
		"DISPATCHD_LOG_FORMAT=json",
		"BEARER_SECRET="+bearerSecret,
	)
	p := &capturedProcess{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		sent := false
		for sc.Scan() {
			p.stdout.Write(append(sc.Bytes(), '\n'))
			var line map[string]any
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "dispatchd listening" {
				addr <- fmt.Sprint(line["http_addr"])
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("dispatchd exited before listening; stderr:\n%s", p.stderr.String())
		}
		p.httpURL = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("dispatchd did not listen within 30 s")
	}
	return p
}

// TestGatewayLogsAreStructured: grpc-gateway's and gRPC's own log lines
// (here: a header it will not forward) come out as the service's JSON log
// lines, not as plain text on stderr.
func TestGatewayLogsAreStructured(t *testing.T) {
	t.Parallel()
	p := startCaptured(t, "DISPATCHD_API_KEY="+edgeAPIKey)
	req, _ := http.NewRequest("GET", p.httpURL+"/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer caf\xe9")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !bytes.HasPrefix(b, []byte("{")) {
		t.Errorf("a non-ASCII Authorization: %d %s, want a 401 JSON error", resp.StatusCode, b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stdout.String(), `"component":"grpc"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stdout.String(), `"component":"grpc"`) {
		t.Errorf("no structured grpc log line; stdout:\n%s", p.stdout.String())
	}
	if s := p.stderr.String(); strings.Contains(s, "Authorization") || strings.Contains(s, "ERROR:") {
		t.Errorf("plain-text lines on stderr:\n%s", s)
	}
}

// procStatus returns a field of /proc/<pid>/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestHostileRequestsMemoryBound: N concurrent hostile requests cost the
// process at most N × (the largest cap that applies to them) plus a
// constant. Each request below sends 32 MiB by one spelling or another;
// none may cost more than its route's cap: 10 KiB for a webhook (the
// sources' default limit), nothing at all for an unauthenticated API call.
// The bound asserted is N × 10 KiB + 64 MiB of peak RSS (VmHWM) over the
// RSS before; without the caps, 9 such requests of 64 MiB grew the
// process by 1.1 GiB.
func TestHostileRequestsMemoryBound(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "dispatchd.yaml")
	if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db"), cfg, "DISPATCHD_ROLES=gateway,ingest,api", "DISPATCHD_API_KEY="+edgeAPIKey)
	pid := p.cmd.Process.Pid
	// One honest webhook and API call first, so that what they allocate
	// once is in the baseline.
	body := []byte(`{"type": "t", "data": {"id": 1}}`)
	post(t, noFollow, p.httpURL+"/v1/webhooks/bearer", http.Header{"Authorization": {"Bearer " + bearerSecret}, "Webhook-Id": {"warm"}, "Content-Type": {"application/json"}}, body)
	post(t, noFollow, p.httpURL+"/v1/jobs", http.Header{"Authorization": {"Bearer " + edgeAPIKey}}, []byte(`{"endpoint": "orders", "payload": {}}`))
	before := procStatus(t, pid, "VmRSS")

	const size = 32 << 20
	// A JSON request message whose base64 body is size bytes (what the
	// grpc-gateway mapping of ReceiveWebhook would decode), and a JSON
	// payload padded to size bytes.
	type shape struct {
		prefix, suffix string
		fill           byte
	}
	mapped := shape{`{"body": "`, `"}`, 'A'}
	padded := shape{`{"endpoint": "orders", "payload": {"pad": "`, `"}}`, 'x'}
	type hostile struct {
		path   string
		body   shape
		header http.Header
		known  bool // Content-Length is sent (else chunked)
	}
	requests := []hostile{
		{"/v1%2Fwebhooks/bearer", mapped, nil, true},
		{"/v1%2fwebhooks%2fbearer", mapped, nil, false},
		{"/v1/webhooks%2Fstd", mapped, nil, true},
		{"/v1/webhooks/bearer", padded, http.Header{"Authorization": {"Bearer " + bearerSecret}}, false},
		{"/v1/webhooks/bearer", padded, http.Header{"Authorization": {"Bearer " + bearerSecret}}, true},
		{"/v1/jobs", padded, nil, true},
		{"/v1/jobs", padded, http.Header{"Authorization": {"Bearer disp_k1_not-a-key-of-ours-000000"}}, false},
		{"/v1%2Fjobs:batch", padded, nil, false},
		{"/api/jobs/dispatch", padded, nil, true},
	}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, h := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := io.MultiReader(strings.NewReader(h.body.prefix), io.LimitReader(repeatReader(h.body.fill), size), strings.NewReader(h.body.suffix))
			req, _ := http.NewRequest("POST", p.httpURL+h.path, io.NopCloser(body))
			if h.known {
				req.ContentLength = int64(len(h.body.prefix) + size + len(h.body.suffix))
			}
			req.Header = h.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set("Content-Type", "application/json")
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Errorf("POST %s: 200", h.path)
				}
			}
		}()
	}
	wg.Wait()
	peak := procStatus(t, pid, "VmHWM")
	after := procStatus(t, pid, "VmRSS")
	n := int64(len(requests))
	bound := n*10240 + 64<<20
	t.Logf("%d hostile requests of %d MiB: VmRSS before %.1f MiB, peak (VmHWM) %.1f MiB, after %.1f MiB; growth %.1f MiB, bound %.1f MiB",
		n, size>>20, mib(before), mib(peak), mib(after), mib(peak-before), mib(bound))
	if peak-before > bound {
		t.Errorf("peak RSS grew by %.1f MiB over %d hostile requests; the bound is %.1f MiB", mib(peak-before), n, mib(bound))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// repeatReader is an endless stream of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
