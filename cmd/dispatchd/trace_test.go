package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceOfAWebhook follows one webhook in the SDK's in-memory recorder:
// the provider's trace is continued through the gateway, ingestion, the
// commit, and both delivery attempts (the first answered 500), each linked
// to the ingest span and sending its traceparent to the receiver.
func TestTraceOfAWebhook(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer tp.Shutdown(t.Context())

	var mu sync.Mutex
	var traceparents []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		n := len(traceparents)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer recv.Close()

	cfg := fmt.Sprintf(`
sources:
  - name: std
    verify: {scheme: standard-webhooks, secret: %s}
    routes: [receiver]
endpoints:
  - name: receiver
    url: %s/hook
    secret: 0123456789abcdef
    timeout: 5s
    retry: {schedule: [200ms]}
`, stdSecret, recv.URL)
	svc := startServiceWith(t, map[string]string{
		"DISPATCHD_DATABASE_URL":           "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
		"DISPATCHD_ROLES":                  "gateway,ingest,worker",
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
	}, cfg, tp)

	// The provider's own trace: dispatchd must continue it.
	const providerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	body := []byte(`{"type": "traced"}`)
	h := signStandard(stdSecret, "msg_trace", time.Now(), body)
	h.Set("traceparent", "00-"+providerTrace+"-00f067aa0ba902b7-01")
	if r := post(t, &http.Client{Timeout: 10 * time.Second}, svc.httpURL+"/v1/webhooks/std", h, body); r.status != 200 {
		t.Fatalf("webhook: %d %s", r.status, r.body)
	}
	defer func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", svc.logs.String())
		}
	}()
	eventually(t, "two deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(traceparents) == 2
	})

	spans := func() []sdktrace.ReadOnlySpan { return recorder.Ended() }
	byName := func(name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range spans() {
			if s.Name() == name {
				out = append(out, s)
			}
		}
		return out
	}
	eventually(t, "both deliver spans ended", func() bool { return len(byName("deliver")) == 2 })

	names := map[string]int{}
	for _, s := range spans() {
		names[s.Name()]++
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		got := byName(name)
		if len(got) != 1 {
			t.Fatalf("%d spans named %q, want 1; spans: %v", len(got), name, names)
		}
		return got[0]
	}
	gatewaySpan := one("POST /v1/webhooks/{source}")
	ingestSpan := one("dispatchd.v1.IngestService/ReceiveWebhook")
	verifySpan := one("verify")
	commitSpan := one("store.commit")

	if gatewaySpan.SpanContext().TraceID().String() != providerTrace || gatewaySpan.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("the gateway span does not continue the provider's trace: %s under %s", gatewaySpan.SpanContext().TraceID(), gatewaySpan.Parent().SpanID())
	}
	parentIs := func(child, parent sdktrace.ReadOnlySpan) {
		t.Helper()
		if child.Parent().SpanID() != parent.SpanContext().SpanID() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %q is not a child of %q", child.Name(), parent.Name())
		}
	}
	parentIs(ingestSpan, gatewaySpan)
	parentIs(verifySpan, ingestSpan)
	parentIs(commitSpan, ingestSpan)
	if v := attr(commitSpan, "dispatchd.commit.batch_size"); v.AsInt64() < 1 {
		t.Errorf("store.commit batch size = %v", v.Emit())
	}
	if attr(ingestSpan, "dispatchd.source").AsString() != "std" || attr(commitSpan, "db.system.name").AsString() != "sqlite" {
		t.Errorf("ingest/commit attributes: %v / %v", ingestSpan.Attributes(), commitSpan.Attributes())
	}

	deliveries := byName("deliver")
	seen := map[int64]bool{}
	for _, d := range deliveries {
		parentIs(d, ingestSpan)
		if d.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("deliver span kind = %v, want consumer", d.SpanKind())
		}
		linked := false
		for _, l := range d.Links() {
			if l.SpanContext.SpanID() == ingestSpan.SpanContext().SpanID() {
				linked = true
			}
		}
		if !linked {
			t.Errorf("deliver span has no link to the ingest span: %v", d.Links())
		}
		n := attr(d, "dispatchd.attempt_number").AsInt64()
		seen[n] = true
		if attr(d, "dispatchd.endpoint").AsString() != "receiver" || !strings.HasPrefix(attr(d, "dispatchd.job_id").AsString(), "job_") {
			t.Errorf("deliver attributes: %v", d.Attributes())
		}
		var client sdktrace.ReadOnlySpan
		for _, s := range byName("POST") {
			if s.Parent().SpanID() == d.SpanContext().SpanID() {
				client = s
			}
		}
		if client == nil {
			t.Errorf("attempt %d has no HTTP client span", n)
			continue
		}
		mu.Lock()
		want := fmt.Sprintf("00-%s-%s-01", providerTrace, client.SpanContext().SpanID())
		found := false
		for _, tp := range traceparents {
			found = found || tp == want
		}
		mu.Unlock()
		if !found {
			t.Errorf("the receiver never saw traceparent %s (saw %v)", want, traceparents)
		}
	}
	if !seen[1] || !seen[2] {
		t.Errorf("deliver spans for attempts %v, want 1 and 2", seen)
	}
	for _, d := range deliveries {
		if attr(d, "dispatchd.attempt_number").AsInt64() == 1 && d.Status().Code.String() != "Error" {
			t.Errorf("the failed attempt's span status = %v, want Error", d.Status())
		}
	}
	for _, s := range spans() {
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), stdSecret[6:]) || strings.Contains(kv.Value.Emit(), `"traced"`) {
				t.Errorf("span %q attribute %s holds a secret or the payload", s.Name(), kv.Key)
			}
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// eventually waits up to 20 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}
