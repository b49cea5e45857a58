//go:build jaeger

package jaeger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// Where `make e2e-jaeger` runs Jaeger (tools/jaeger/config.yaml).
const (
	otlpEndpoint = "http://127.0.0.1:4317"
	jaegerQuery  = "http://127.0.0.1:16686"
)

// The span names and attributes the tracing contract promises.
const (
	opHTTPServer = "POST /v1/webhooks/{source}"
	opReceive    = "dispatchd.v1.IngestService/ReceiveWebhook"
	opVerify     = "verify"
	opCommit     = "store.commit"
	opDeliver    = "deliver"
	opHTTPClient = "POST"

	tagBatchSize     = "dispatchd.commit.batch_size"
	tagAttemptNumber = "dispatchd.attempt_number"
	tagJobID         = "dispatchd.job_id"
	tagEndpoint      = "dispatchd.endpoint"
)

const (
	sourceName   = "e2e"
	endpointName = "receiver"
)

// TestWebhookTraceInJaeger follows one webhook from the provider's trace
// through ingestion and two delivery attempts (the first answered 500), and
// checks what Jaeger stored.
func TestWebhookTraceInJaeger(t *testing.T) {
	client := &http.Client{Timeout: 10 * time.Second}
	requireJaeger(t, client)

	bin := buildDispatchd(t)
	rcv := startReceiver(t)
	serviceName := "dispatchd-e2e-" + randomHex(4)
	svc := startDispatchd(t, bin, serviceName, rcv.url)
	t.Logf("dispatchd at %s, OTEL_SERVICE_NAME=%s", svc.httpURL, serviceName)

	// The provider's trace: dispatchd must continue it.
	traceID, parentSpanID := randomTraceID(), randomHex(8)
	traceparent := "00-" + traceID + "-" + parentSpanID + "-01"
	jobID := sendWebhook(t, client, svc, traceparent)
	t.Logf("sent webhook with traceparent %s; job %s", traceparent, jobID)

	attempts := rcv.waitAttempts(t, 2, 30*time.Second, svc)
	waitCompleted(t, client, svc, jobID)
	for _, a := range attempts {
		t.Logf("receiver: attempt %d answered %d, traceparent %q", a.number, a.status, a.traceparent)
	}

	want := expectation{
		traceID:      traceID,
		parentSpanID: parentSpanID,
		jobID:        jobID,
		attempts:     attempts,
	}
	tr, problems := pollTrace(t, client, serviceName, want, 30*time.Second)
	if tr != nil {
		t.Logf("trace %s in Jaeger (%d spans):\n%s", traceID, len(tr.Spans), spanTree(tr, parentSpanID))
		for _, a := range attempts {
			if _, sid, ok := parseTraceparent(a.traceparent); ok {
				t.Logf("attempt %d's traceparent names span %s: %s", a.number, sid, describeSpan(tr, sid))
			}
		}
	}
	if len(problems) > 0 {
		found := "(no trace)"
		if tr != nil {
			found = operationSummary(tr)
		}
		t.Errorf("the trace in Jaeger does not match the tracing contract:\n  - %s\noperations found: %s",
			strings.Join(problems, "\n  - "), found)
	}
}

// requireJaeger stops the test at once when Jaeger's query API is not there.
func requireJaeger(t *testing.T, client *http.Client) {
	t.Helper()
	resp, err := client.Get(jaegerQuery + "/api/services")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	t.Fatalf("Jaeger's query API at %s does not answer (%v): run `make e2e-jaeger`, "+
		"or start Jaeger with tools/jaeger/config.yaml first", jaegerQuery, err)
}

// buildDispatchd builds the binary under test into a temporary directory.
func buildDispatchd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dispatchd")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dispatchd/dispatchd/cmd/dispatchd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/dispatchd: %v\n%s", err, out)
	}
	t.Logf("built dispatchd in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// attempt is one delivery as the receiver saw it.
type attempt struct {
	number      int // the envelope's attemptNumber
	status      int // what the receiver answered
	traceparent string
}

// receiver answers 500 to the first delivery and 200 to the others.
type receiver struct {
	url  string
	mu   sync.Mutex
	seen []attempt
	hit  chan struct{}
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{hit: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var envelope struct {
			AttemptNumber int `json:"attemptNumber"`
		}
		_ = json.Unmarshal(body, &envelope)
		r.mu.Lock()
		status := http.StatusOK
		if len(r.seen) == 0 {
			status = http.StatusInternalServerError
		}
		r.seen = append(r.seen, attempt{envelope.AttemptNumber, status, req.Header.Get("traceparent")})
		r.mu.Unlock()
		w.WriteHeader(status)
		select {
		case r.hit <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hook"
	return r
}

// waitAttempts waits until the receiver has seen n deliveries.
func (r *receiver) waitAttempts(t *testing.T, n int, timeout time.Duration, svc *service) []attempt {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		seen := slices.Clone(r.seen)
		r.mu.Unlock()
		if len(seen) >= n {
			return seen
		}
		select {
		case <-r.hit:
		case <-deadline:
			t.Fatalf("the receiver saw %d deliveries within %v, want %d; dispatchd's log:\n%s", len(seen), timeout, n, svc.logs.String())
		}
	}
}

// service is a running `dispatchd serve`.
type service struct {
	httpURL string
	apiKey  string
	logs    *logSink
}

// logSink keeps a child's output and reports the address of its start-up
// line ({"msg":"dispatchd listening","http_addr":…}).
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan string
	sent    bool
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		s.partial = s.partial[i+1:]
		var rec struct {
			Msg      string `json:"msg"`
			HTTPAddr string `json:"http_addr"`
		}
		if !s.sent && json.Unmarshal(line, &rec) == nil && rec.Msg == "dispatchd listening" && rec.HTTPAddr != "" {
			s.sent = true
			s.addr <- rec.HTTPAddr
		}
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// startDispatchd runs `dispatchd serve` as a child process exporting traces
// to Jaeger, with one Standard Webhooks source routed to the receiver.
func startDispatchd(t *testing.T, bin, serviceName, receiverURL string) *service {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`sources:
  - name: %s
    verify:
      scheme: standard-webhooks
      secret: %s
    routes: [%s]
endpoints:
  - name: %s
    url: %s
    secret: %s
    timeout: 5s
    retry: {schedule: [1s]}
`, sourceName, sourceSecret, endpointName, endpointName, receiverURL, "whsec_"+randomBase64(32))
	cfgPath := filepath.Join(dir, "dispatchd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	bootstrap, _ := apikey.Generate()
	svc := &service{apiKey: bootstrap, logs: &logSink{addr: make(chan string, 1)}}
	// Should the test time out (and panic before its cleanups), the child is
	// still stopped: interrupted shortly before the deadline, killed 5 s later.
	// (Not t.Context(): that ends before the cleanup below, which stops the
	// child itself and checks that it exits cleanly.)
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-10*time.Second))
		t.Cleanup(cancel)
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = dir // no stray .env from the working directory
	cmd.Env = append(environWithout("DISPATCHD_", "OTEL_"),
		"DISPATCHD_DATABASE_URL=sqlite:"+filepath.Join(dir, "d.db"),
		"DISPATCHD_HTTP_ADDR=127.0.0.1:0",
		"DISPATCHD_GRPC_ADDR=127.0.0.1:0",
		"DISPATCHD_LOG_FORMAT=json",
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8",
		"DISPATCHD_CONFIG="+cfgPath,
		"DISPATCHD_API_KEY="+svc.apiKey,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+otlpEndpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_SERVICE_NAME="+serviceName,
		"OTEL_BSP_SCHEDULE_DELAY=200",
	)
	cmd.Stdout = svc.logs
	cmd.Stderr = svc.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dispatchd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("dispatchd serve exited with %v; log:\n%s", err, svc.logs.String())
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("dispatchd did not stop within 20 s of SIGINT; killed")
		}
	})

	select {
	case addr := <-svc.logs.addr:
		svc.httpURL = "http://" + addr
	case err := <-exited:
		t.Fatalf("dispatchd exited before listening (%v); log:\n%s", err, svc.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("dispatchd did not log \"dispatchd listening\" within 30 s; log:\n%s", svc.logs.String())
	}
	return svc
}

// environWithout is this process's environment minus the variables with
// those prefixes, so that the caller's settings do not leak into the child.
func environWithout(prefixes ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return env
}

// sourceSecret is the source's Standard Webhooks secret, fresh per run.
var sourceSecret = "whsec_" + randomBase64(32)

// sendWebhook posts one signed webhook within the provider's trace and
// returns the one job it created.
func sendWebhook(t *testing.T, client *http.Client, svc *service, traceparent string) string {
	t.Helper()
	body := []byte(`{"type":"e2e.traced","n":1}`)
	id := "msg_" + randomHex(8)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sourceSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, svc.httpURL+"/v1/webhooks/"+sourceName, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("traceparent", traceparent)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST webhook: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST webhook: status %d, body %s; dispatchd's log:\n%s", resp.StatusCode, b, svc.logs.String())
	}
	var got struct {
		JobIDs []string `json:"jobIds"`
	}
	if err := json.Unmarshal(b, &got); err != nil || len(got.JobIDs) != 1 {
		t.Fatalf("POST webhook: want one job id, got %s (%v)", b, err)
	}
	return got.JobIDs[0]
}

// waitCompleted polls GET /v1/jobs/{id} until the job is completed.
func waitCompleted(t *testing.T, client *http.Client, svc *service, jobID string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, svc.httpURL+"/v1/jobs/"+jobID, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+svc.apiKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET job: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			Job struct {
				State    string `json:"state"`
				Attempts int    `json:"attempts"`
			} `json:"job"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil {
			t.Fatalf("GET job: status %d, body %s", resp.StatusCode, b)
		}
		switch got.Job.State {
		case "JOB_STATE_COMPLETED":
			if got.Job.Attempts != 2 {
				t.Fatalf("job completed after %d attempts, want 2", got.Job.Attempts)
			}
			return
		case "JOB_STATE_DEAD", "JOB_STATE_CANCELLED":
			t.Fatalf("job ended %s, want completed: %s", got.Job.State, b)
		}
		last = string(b)
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("job %s not completed within 15 s; last answer %s", jobID, last)
}

// The v1 JSON of Jaeger's query API (GET /api/traces).
type (
	tracesResponse struct {
		Data   []jaegerTrace `json:"data"`
		Errors []struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	jaegerTrace struct {
		TraceID   string       `json:"traceID"`
		Spans     []jaegerSpan `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	}
	jaegerSpan struct {
		TraceID       string      `json:"traceID"`
		SpanID        string      `json:"spanID"`
		OperationName string      `json:"operationName"`
		References    []jaegerRef `json:"references"`
		StartTime     int64       `json:"startTime"` // µs since the epoch
		Duration      int64       `json:"duration"`  // µs
		Tags          []jaegerTag `json:"tags"`
	}
	jaegerRef struct {
		RefType string `json:"refType"` // CHILD_OF or FOLLOWS_FROM
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	}
	jaegerTag struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	}
)

// tag returns the span's tag key as text, and whether it has it.
func (s jaegerSpan) tag(key string) (string, bool) {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value), true
		}
	}
	return "", false
}

// ref returns the span's first reference of that type, if any.
func (s jaegerSpan) ref(refType string) (jaegerRef, bool) {
	for _, r := range s.References {
		if r.RefType == refType {
			return r, true
		}
	}
	return jaegerRef{}, false
}

// expectation is what the trace must show.
type expectation struct {
	traceID      string
	parentSpanID string // the provider's span: parent of the gateway's server span
	jobID        string
	attempts     []attempt
}

// pollTrace searches the service's traces in Jaeger until the expected
// trace is there and complete, or the timeout passes; it returns the last
// version of the trace seen (nil if none) and what is still wrong with it.
func pollTrace(t *testing.T, client *http.Client, serviceName string, want expectation, timeout time.Duration) (*jaegerTrace, []string) {
	t.Helper()
	search := jaegerQuery + "/api/traces?" + url.Values{"service": {serviceName}, "limit": {"20"}}.Encode()
	deadline := time.Now().Add(timeout)
	var (
		tr       *jaegerTrace
		problems []string
	)
	for {
		tr, problems = nil, nil
		traces, err := getTraces(client, search)
		switch {
		case err != nil:
			problems = []string{fmt.Sprintf("GET %s: %v", search, err)}
		case len(traces) == 0:
			problems = []string{fmt.Sprintf("Jaeger has no trace of service %q: dispatchd exported no spans to %s", serviceName, otlpEndpoint)}
		default:
			var ids []string
			for i := range traces {
				if normalizeID(traces[i].TraceID, 32) == want.traceID {
					tr = &traces[i]
				}
				ids = append(ids, traces[i].TraceID)
			}
			if tr == nil {
				problems = []string{fmt.Sprintf("none of the %d traces of service %q is the provider's trace %s: the incoming traceparent was not continued (traces: %s)",
					len(traces), serviceName, want.traceID, strings.Join(ids, ", "))}
			} else {
				problems = checkTrace(tr, want)
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			return tr, problems
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func getTraces(client *http.Client, u string) ([]jaegerTrace, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var r tracesResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode: %v", err)
	}
	if len(r.Errors) > 0 {
		return nil, fmt.Errorf("errors: %+v", r.Errors)
	}
	return r.Data, nil
}

// checkTrace lists how the trace differs from the contract.
func checkTrace(tr *jaegerTrace, want expectation) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	byOp := map[string][]jaegerSpan{}
	byID := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		byOp[s.OperationName] = append(byOp[s.OperationName], s)
		byID[normalizeID(s.SpanID, 16)] = s
	}
	for _, op := range []string{opHTTPServer, opReceive, opVerify, opCommit} {
		if len(byOp[op]) == 0 {
			fail("no span named %q", op)
		}
	}

	// The gateway's server span continues the provider's span.
	for _, s := range byOp[opHTTPServer] {
		if r, ok := s.ref("CHILD_OF"); !ok || normalizeID(r.SpanID, 16) != want.parentSpanID {
			fail("%q span %s is not a child of the provider's span %s (references %+v)", opHTTPServer, s.SpanID, want.parentSpanID, s.References)
		}
	}
	if commits := byOp[opCommit]; len(commits) > 0 && !slices.ContainsFunc(commits, func(s jaegerSpan) bool {
		_, ok := s.tag(tagBatchSize)
		return ok
	}) {
		fail("no %q span has the tag %s", opCommit, tagBatchSize)
	}

	receiveIDs := map[string]bool{}
	for _, s := range byOp[opReceive] {
		receiveIDs[normalizeID(s.SpanID, 16)] = true
	}
	delivers := byOp[opDeliver]
	if len(delivers) != 2 {
		fail("%d spans named %q, want 2 (one per attempt)", len(delivers), opDeliver)
	}
	var numbers []string
	for _, d := range delivers {
		n, _ := d.tag(tagAttemptNumber)
		numbers = append(numbers, n)
		name := fmt.Sprintf("%q span %s (attempt %q)", opDeliver, d.SpanID, n)
		if v, ok := d.tag(tagJobID); !ok || v != want.jobID {
			fail("%s: tag %s = %q, want %q", name, tagJobID, v, want.jobID)
		}
		if v, ok := d.tag(tagEndpoint); !ok || v != endpointName {
			fail("%s: tag %s = %q, want %q", name, tagEndpoint, v, endpointName)
		}
		linked := slices.ContainsFunc(d.References, func(r jaegerRef) bool {
			return r.RefType == "FOLLOWS_FROM" && normalizeID(r.TraceID, 32) == want.traceID && receiveIDs[normalizeID(r.SpanID, 16)]
		})
		if !linked {
			fail("%s has no FOLLOWS_FROM reference (link) to the %q span (references %+v)", name, opReceive, d.References)
		}
		hasClient := slices.ContainsFunc(byOp[opHTTPClient], func(c jaegerSpan) bool {
			r, ok := c.ref("CHILD_OF")
			return ok && normalizeID(r.SpanID, 16) == normalizeID(d.SpanID, 16)
		})
		if !hasClient {
			fail("%s has no child HTTP client span named %q", name, opHTTPClient)
		}
	}
	if len(delivers) > 0 {
		slices.Sort(numbers)
		if !slices.Equal(numbers, []string{"1", "2"}) {
			fail("%s tags of the %q spans: %q, want [1 2]", tagAttemptNumber, opDeliver, numbers)
		}
	}

	// What the receiver saw belongs to this trace.
	for _, a := range want.attempts {
		tid, sid, ok := parseTraceparent(a.traceparent)
		switch {
		case !ok:
			fail("attempt %d reached the receiver with traceparent %q, want one of trace %s", a.number, a.traceparent, want.traceID)
		case tid != want.traceID:
			fail("attempt %d carried trace id %s, want %s", a.number, tid, want.traceID)
		default:
			if _, ok := byID[sid]; !ok {
				fail("attempt %d carried span id %s, which is not a span of the trace", a.number, sid)
			}
		}
	}
	return problems
}

// parseTraceparent splits a W3C traceparent (version 00).
func parseTraceparent(h string) (traceID, spanID string, ok bool) {
	parts := strings.Split(h, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		return "", "", false
	}
	return strings.ToLower(parts[1]), strings.ToLower(parts[2]), true
}

// normalizeID left-pads a hex id: Jaeger drops the leading zero half of a
// trace id.
func normalizeID(id string, width int) string {
	id = strings.ToLower(id)
	if len(id) < width {
		id = strings.Repeat("0", width-len(id)) + id
	}
	return id
}

// describeSpan names the span with that id and its parent, for the log.
func describeSpan(tr *jaegerTrace, spanID string) string {
	byID := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		byID[normalizeID(s.SpanID, 16)] = s
	}
	s, ok := byID[spanID]
	if !ok {
		return "not in the trace"
	}
	desc := fmt.Sprintf("%q", s.OperationName)
	if r, ok := s.ref("CHILD_OF"); ok {
		if p, ok := byID[normalizeID(r.SpanID, 16)]; ok {
			desc += fmt.Sprintf(", child of %q", p.OperationName)
			if n, ok := p.tag(tagAttemptNumber); ok {
				desc += fmt.Sprintf(" (%s=%s)", tagAttemptNumber, n)
			}
		}
	}
	return desc
}

// operationSummary lists the trace's operation names with their counts.
func operationSummary(tr *jaegerTrace) string {
	counts := map[string]int{}
	for _, s := range tr.Spans {
		counts[s.OperationName]++
	}
	var ops []string
	for op, n := range counts {
		ops = append(ops, fmt.Sprintf("%q×%d", op, n))
	}
	slices.Sort(ops)
	return strings.Join(ops, ", ")
}

// Tags worth showing in the span tree.
var treeTags = []string{tagAttemptNumber, tagBatchSize, "http.response.status_code", "http.status_code", "rpc.grpc.status_code", "error"}

// spanTree renders the trace as indented text: operation, duration, a few
// tags; a span without a parent in the trace hangs under the span it
// follows from (marked so).
func spanTree(tr *jaegerTrace, providerSpanID string) string {
	byID := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		byID[normalizeID(s.SpanID, 16)] = s
	}
	type edge struct {
		parent  string
		follows bool
	}
	parents := map[string]edge{}
	children := map[string][]jaegerSpan{}
	var roots []jaegerSpan
	for _, s := range tr.Spans {
		e, ok := edge{}, false
		for _, refType := range []string{"CHILD_OF", "FOLLOWS_FROM"} {
			if r, has := s.ref(refType); has {
				if _, inTrace := byID[normalizeID(r.SpanID, 16)]; inTrace {
					e, ok = edge{normalizeID(r.SpanID, 16), refType == "FOLLOWS_FROM"}, true
					break
				}
			}
		}
		if ok {
			parents[normalizeID(s.SpanID, 16)] = e
			children[e.parent] = append(children[e.parent], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b jaegerSpan) int { return cmp.Compare(a.StartTime, b.StartTime) }
	slices.SortFunc(roots, byStart)

	var out strings.Builder
	visited := map[string]bool{}
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		id := normalizeID(s.SpanID, 16)
		if visited[id] {
			return
		}
		visited[id] = true
		fmt.Fprintf(&out, "%s%s  %v", strings.Repeat("    ", depth), s.OperationName, time.Duration(s.Duration)*time.Microsecond)
		for _, k := range treeTags {
			if v, ok := s.tag(k); ok {
				fmt.Fprintf(&out, "  %s=%s", k, v)
			}
		}
		if parents[id].follows {
			out.WriteString("  [follows from parent]")
		}
		if r, ok := s.ref("CHILD_OF"); ok && normalizeID(r.SpanID, 16) == providerSpanID {
			out.WriteString("  [child of the provider's span]")
		}
		out.WriteString("\n")
		kids := children[id]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return strings.TrimRight(out.String(), "\n")
}

// randomTraceID returns a trace id whose first byte is not zero, so that
// Jaeger prints it in full.
func randomTraceID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[0] |= 0x10
	return hex.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomBase64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
