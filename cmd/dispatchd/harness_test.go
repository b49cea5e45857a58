package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/secretbox"
	dstore "github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
)

// engine is a database the end-to-end tests run the whole service on.
type engine struct {
	name string
	// newURL returns DISPATCHD_DATABASE_URL for a fresh database.
	newURL func(t *testing.T) string
}

var engines = []engine{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "dispatchd.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

// readDelivery decodes a delivery's JSON envelope into v. A request whose
// body is cut short (its worker was SIGKILLed while sending) or is not a
// JSON envelope with a jobId is not a delivery: it is answered 400 and
// the receiver must not count it.
func readDelivery(w http.ResponseWriter, req *http.Request, v any) bool {
	b, err := io.ReadAll(req.Body)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err == nil {
		var env struct{ JobID string }
		if json.Unmarshal(b, &env); env.JobID == "" {
			err = fmt.Errorf("no jobId")
		}
	}
	if err != nil {
		http.Error(w, "not a delivery: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// forEachEngine runs test as a subtest per engine.
func forEachEngine(t *testing.T, test func(t *testing.T, dbURL string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			test(t, e.newURL(t))
		})
	}
}

// testEncryptionKey is the DISPATCHD_ENCRYPTION_KEY of the PostgreSQL
// services the tests start (PostgreSQL refuses to start without one).
const testEncryptionKey = "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE="

// openStore opens the service's database beside it, to check what it
// stored, with the keyring the service uses.
func openTestStore(t *testing.T, dbURL string) job.Store {
	t.Helper()
	var s job.Store
	var err error
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		var keys *secretbox.Keyring
		if b, rerr := os.ReadFile(path + keyFileSuffix); rerr == nil {
			keys, err = secretbox.ParseKeyring(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
		}
		s, err = sqlite.Open(context.Background(), path, dstore.WithKeyring(keys))
	} else {
		keys, kerr := secretbox.ParseKeyring(testEncryptionKey)
		if kerr != nil {
			t.Fatal(kerr)
		}
		s, err = postgres.OpenWith(context.Background(), dbURL, postgres.Options{StatementTimeout: 30 * time.Second}, dstore.WithKeyring(keys))
	}
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// service is a running `dispatchd serve`.
type service struct {
	httpURL  string
	grpcAddr string
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startService runs the whole program in-process on ports chosen by the
// kernel, with env as its environment and configYAML as its declarative
// file; it is stopped (and must stop cleanly) when the test ends.
func startService(t *testing.T, env map[string]string, configYAML string) *service {
	t.Helper()
	return startServiceWith(t, env, configYAML, nil)
}

// startServiceWith is startService with a tracer provider of the test's.
func startServiceWith(t *testing.T, env map[string]string, configYAML string, tp trace.TracerProvider) *service {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dispatchd.yaml")
	if err := os.WriteFile(cfg, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"DISPATCHD_HTTP_ADDR":  "127.0.0.1:0",
		"DISPATCHD_GRPC_ADDR":  "127.0.0.1:0",
		"DISPATCHD_CONFIG":     cfg,
		"DISPATCHD_LOG_FORMAT": "json",
		"DISPATCHD_LOG_LEVEL":  "debug",
		// Ingestion tests look at jobs as stored; delivery tests add the
		// worker role.
		"DISPATCHD_ROLES": "gateway,ingest",
	}
	for k, v := range env {
		vars[k] = v
	}
	if _, ok := env["DISPATCHD_ENCRYPTION_KEY"]; !ok && strings.HasPrefix(vars["DISPATCHD_DATABASE_URL"], "postgres") {
		vars["DISPATCHD_ENCRYPTION_KEY"] = testEncryptionKey
	}
	getenv := func(k string) string { return vars[k] }

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := serveWith(ctx, nil, getenv, pw, io.Discard, tp)
		pw.CloseWithError(fmt.Errorf("dispatchd returned: %v", err))
		done <- err
	}()
	svc := &service{logs: logs}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line map[string]any
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "dispatchd listening" {
				scheme := "http"
				if line["tls"] == "TLS 1.2+" {
					scheme = "https"
				}
				svc.httpURL = scheme + "://" + fmt.Sprint(line["http_addr"])
				svc.grpcAddr = fmt.Sprint(line["grpc_addr"])
				sent = true
				ready <- nil
			}
		}
		if !sent {
			ready <- fmt.Errorf("dispatchd did not start: %v\nlogs:\n%s", sc.Err(), logs.String())
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("dispatchd did not start within 30 s; logs:\n%s", logs.String())
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dispatchd serve returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("dispatchd did not stop within 20 s")
		}
	})
	return svc
}

// response is an HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body is not JSON (%v): %q", err, r.body)
	}
	return m
}

func post(t *testing.T, client *http.Client, url string, header http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// signStandard signs like a Standard Webhooks sender, computed here
// independently of the verify package.
func signStandard(secret, id string, ts time.Time, body []byte) http.Header {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + tsStr + "."))
	mac.Write(body)
	return http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {tsStr},
		"Webhook-Signature": {"v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))},
	}
}

var errEOF = io.EOF

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
