package delivery

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dispatchd/dispatchd/internal/job"
)

// decodeJSON decodes b keeping numbers exact, so 1 and 1.0 differ.
func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	if d.More() {
		t.Fatalf("body %q has data after the JSON value", b)
	}
	return v
}

func TestDeliverSingle(t *testing.T) {
	srv, got := receiver(t, reply(200, `{"status":"success"}`))
	// The payload has whitespace, HTML characters and a number format that
	// re-encoding would change: it must arrive byte for byte.
	payload := `{"task": "send <email> & more", "n": [1, 2.50, null], "u": "\u00e9"}`
	req := Request{
		Endpoint:    Endpoint{Name: "orders", URL: srv.URL + "/hook?x=1", Secrets: []string{whsecA}},
		Records:     []Record{{JobID: "job_01", AttemptID: "att_07", AttemptNumber: 3, Payload: json.RawMessage(payload)}},
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
	res := newTestClient().Deliver(t.Context(), req)
	// The attempt log's copy of the headers masks the bearer secret and
	// the signature (net/http adds Accept-Encoding and Content-Length
	// after: they are not dispatchd's).
	wantSent := map[string]string{
		"Authorization":     "Bearer ***",
		"Content-Type":      "application/json",
		"Traceparent":       req.TraceParent,
		"User-Agent":        testUserAgent,
		"Webhook-Id":        "job_01",
		"Webhook-Signature": "v1,***",
		"Webhook-Timestamp": "1772366400",
	}
	if diff := cmp.Diff(Result{Outcome: Completed, StatusCode: 200, Excerpt: `{"status":"success"}`, RequestHeaders: wantSent}, res,
		cmpopts.IgnoreFields(Result{}, "Latency")); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	r := <-got

	wantBody := map[string]any{
		"jobId":         "job_01",
		"attemptId":     "att_07",
		"attempt":       json.Number("3"),
		"attemptNumber": json.Number("3"),
		"payload": map[string]any{
			"task": "send <email> & more",
			"n":    []any{json.Number("1"), json.Number("2.50"), nil},
			"u":    "é",
		},
	}
	if diff := cmp.Diff(any(wantBody), decodeJSON(t, r.body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	var raw struct{ Payload json.RawMessage }
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw.Payload) != payload {
		t.Errorf("payload bytes = %s, want them as given: %s", raw.Payload, payload)
	}

	wantHeader := http.Header{
		"Accept-Encoding":   {"gzip"}, // added by net/http, which then decompresses
		"Authorization":     {"Bearer " + whsecA},
		"Content-Length":    {strconv.Itoa(len(r.body))},
		"Content-Type":      {"application/json"},
		"Traceparent":       {req.TraceParent},
		"User-Agent":        {testUserAgent},
		"Webhook-Id":        {"job_01"},
		"Webhook-Signature": {refSign(whsecA, "job_01", testNow.Unix(), r.body)},
		"Webhook-Timestamp": {"1772366400"},
	}
	if diff := cmp.Diff(wantHeader, r.header); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestDeliverBulk(t *testing.T) {
	srv, got := receiver(t, reply(204, ""))
	req := Request{
		Endpoint: Endpoint{Name: "orders", URL: srv.URL, Secrets: []string{rawSecret}},
		BatchID:  "batch_42",
		Records: []Record{
			{JobID: "a", AttemptID: "att_a", AttemptNumber: 1, Payload: json.RawMessage(`{"k":1}`)},
			{JobID: "b", AttemptID: "att_b", AttemptNumber: 2, Payload: json.RawMessage(`"text"`)},
			{JobID: "c", AttemptID: "att_c", AttemptNumber: 5}, // no payload: null
		},
	}
	res := newTestClient().Deliver(t.Context(), req)
	if diff := cmp.Diff(Result{Outcome: Completed, StatusCode: 204}, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency")); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	r := <-got

	env := func(id, att string, n int, payload any) map[string]any {
		return map[string]any{
			"jobId": id, "attemptId": att,
			"attempt": json.Number(strconv.Itoa(n)), "attemptNumber": json.Number(strconv.Itoa(n)),
			"payload": payload,
		}
	}
	want := map[string]any{
		"batchId": "batch_42",
		"records": []any{
			env("a", "att_a", 1, map[string]any{"k": json.Number("1")}),
			env("b", "att_b", 2, "text"),
			env("c", "att_c", 5, nil),
		},
	}
	if diff := cmp.Diff(any(want), decodeJSON(t, r.body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	wantHeader := http.Header{
		"Accept-Encoding":   {"gzip"},
		"Authorization":     {"Bearer " + rawSecret},
		"Content-Length":    {strconv.Itoa(len(r.body))},
		"Content-Type":      {"application/json"},
		"User-Agent":        {testUserAgent},
		"Webhook-Id":        {"batch_42"}, // the batch, not a job
		"Webhook-Signature": {refSign(rawSecret, "batch_42", testNow.Unix(), r.body)},
		"Webhook-Timestamp": {"1772366400"},
	}
	if diff := cmp.Diff(wantHeader, r.header); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

// seedReceiver is the Go twin of the Express handler in the seed documents:
// it compares Authorization with "Bearer " + secret, reads jobId, attempt,
// attemptNumber and payload, and answers 200 {"status":"failed"} for an
// error that must not be retried, 500 for one that may be.
func seedReceiver(secret string, seen chan<- string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+secret {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"Unauthorized"}`)
			return
		}
		var body struct {
			JobID         string `json:"jobId"`
			Attempt       int    `json:"attempt"`
			AttemptNumber int    `json:"attemptNumber"`
			Payload       struct {
				Task string `json:"task"`
			} `json:"payload"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			return
		}
		seen <- fmt.Sprintf("%s attempt=%d attemptNumber=%d task=%s", body.JobID, body.Attempt, body.AttemptNumber, body.Payload.Task)
		switch body.Payload.Task {
		case "ok":
			io.WriteString(w, `{"status":"success","result":{}}`)
		case "invalid":
			io.WriteString(w, `{"status":"failed","error":"Invalid payload"}`)
		default:
			w.WriteHeader(500)
			io.WriteString(w, `{"error":"boom"}`)
		}
	}
}

func TestSeedReceiver(t *testing.T) {
	const secret = "disp_whsec_0123456789abcdef"
	tests := []struct {
		name     string
		secret   string // the endpoint's secret in dispatchd
		task     string
		want     Result
		wantSeen string
	}{
		{"processed", secret, "ok", Result{Outcome: Completed, StatusCode: 200}, "job_9 attempt=4 attemptNumber=4 task=ok"},
		{"do not retry", secret, "invalid", Result{Outcome: Failed, StatusCode: 200, ErrorClass: ClassReceiverFailed}, "job_9 attempt=4 attemptNumber=4 task=invalid"},
		{"retryable error", secret, "crash", Result{Outcome: Retry, StatusCode: 500, ErrorClass: ClassHTTPStatus}, "job_9 attempt=4 attemptNumber=4 task=crash"},
		{"wrong secret", "disp_whsec_not-the-right-one", "ok", Result{Outcome: Failed, StatusCode: 401, ErrorClass: ClassHTTPStatus}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan string, 1)
			srv := httptest.NewServer(seedReceiver(secret, seen))
			defer srv.Close()
			req := Request{
				Endpoint: Endpoint{Name: "seed", URL: srv.URL + "/webhook", Secrets: []string{tt.secret}},
				Records:  []Record{{JobID: "job_9", AttemptID: "att_x", AttemptNumber: 4, Payload: json.RawMessage(`{"task":"` + tt.task + `"}`)}},
			}
			res := newTestClient().Deliver(t.Context(), req)
			if diff := cmp.Diff(tt.want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error", "Excerpt")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			checkNoSecret(t, res, secret, tt.secret)
			var got string
			select {
			case got = <-seen:
			default:
			}
			if got != tt.wantSeen {
				t.Errorf("receiver saw %q, want %q", got, tt.wantSeen)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	httpDate := testNow.Add(90 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name     string
		status   int
		body     string
		headers  []string
		retry4xx bool
		want     Result
	}{
		{"200", 200, "", nil, false, Result{Outcome: Completed, StatusCode: 200}},
		{"204", 204, "", nil, false, Result{Outcome: Completed, StatusCode: 204}},
		{"202 with body", 202, "queued", nil, false, Result{Outcome: Completed, StatusCode: 202, Excerpt: "queued"}},
		{"200 status failed", 200, `{"status":"failed","error":"bad"}`, nil, false,
			Result{Outcome: Failed, StatusCode: 200, ErrorClass: ClassReceiverFailed, Excerpt: `{"status":"failed","error":"bad"}`}},
		{"200 status FAILED", 200, ` {"status": "FAILED"} `, nil, false,
			Result{Outcome: Failed, StatusCode: 200, ErrorClass: ClassReceiverFailed, Excerpt: ` {"status": "FAILED"} `}},
		{"200 status failed, RetryClientErrors changes nothing", 200, `{"status":"failed"}`, nil, true,
			Result{Outcome: Failed, StatusCode: 200, ErrorClass: ClassReceiverFailed, Excerpt: `{"status":"failed"}`}},
		{"200 status ok", 200, `{"status":"ok"}`, nil, false, Result{Outcome: Completed, StatusCode: 200, Excerpt: `{"status":"ok"}`}},
		{"200 nested status failed", 200, `{"result":{"status":"failed"}}`, nil, false,
			Result{Outcome: Completed, StatusCode: 200, Excerpt: `{"result":{"status":"failed"}}`}},
		{"200 Status key is not status", 200, `{"Status":"failed"}`, nil, false,
			Result{Outcome: Completed, StatusCode: 200, Excerpt: `{"Status":"failed"}`}},
		{"200 status not a string", 200, `{"status":false}`, nil, false,
			Result{Outcome: Completed, StatusCode: 200, Excerpt: `{"status":false}`}},
		{"200 non-JSON", 200, "<html>failed</html>", nil, false, Result{Outcome: Completed, StatusCode: 200, Excerpt: "<html>failed</html>"}},
		{"200 JSON array", 200, `[{"status":"failed"}]`, nil, false, Result{Outcome: Completed, StatusCode: 200, Excerpt: `[{"status":"failed"}]`}},
		{"400", 400, "bad", nil, false, Result{Outcome: Failed, StatusCode: 400, ErrorClass: ClassHTTPStatus, Excerpt: "bad"}},
		{"400 RetryClientErrors", 400, "", nil, true, Result{Outcome: Retry, StatusCode: 400, ErrorClass: ClassHTTPStatus}},
		{"404", 404, "", nil, false, Result{Outcome: Failed, StatusCode: 404, ErrorClass: ClassHTTPStatus}},
		{"404 RetryClientErrors", 404, "", nil, true, Result{Outcome: Retry, StatusCode: 404, ErrorClass: ClassHTTPStatus}},
		{"408", 408, "", nil, false, Result{Outcome: Retry, StatusCode: 408, ErrorClass: ClassHTTPStatus}},
		{"410", 410, "", nil, false, Result{Outcome: Gone, StatusCode: 410, ErrorClass: ClassHTTPStatus}},
		{"410 RetryClientErrors", 410, "", nil, true, Result{Outcome: Gone, StatusCode: 410, ErrorClass: ClassHTTPStatus}},
		{"429 Retry-After seconds", 429, "", []string{"Retry-After", "120"}, false,
			Result{Outcome: Retry, StatusCode: 429, ErrorClass: ClassHTTPStatus, RetryAfter: 120 * time.Second}},
		{"429 Retry-After HTTP-date", 429, "", []string{"Retry-After", httpDate}, false,
			Result{Outcome: Retry, StatusCode: 429, ErrorClass: ClassHTTPStatus, RetryAfter: 90 * time.Second}},
		{"429 Retry-After invalid", 429, "", []string{"Retry-After", "soon"}, false,
			Result{Outcome: Retry, StatusCode: 429, ErrorClass: ClassHTTPStatus}},
		{"429 Retry-After negative", 429, "", []string{"Retry-After", "-5"}, false,
			Result{Outcome: Retry, StatusCode: 429, ErrorClass: ClassHTTPStatus}},
		{"500", 500, "oops", nil, false, Result{Outcome: Retry, StatusCode: 500, ErrorClass: ClassHTTPStatus, Excerpt: "oops"}},
		{"503 Retry-After", 503, "", []string{"Retry-After", "30"}, false,
			Result{Outcome: Retry, StatusCode: 503, ErrorClass: ClassHTTPStatus, RetryAfter: 30 * time.Second}},
		{"200 with Retry-After still reports it", 200, "", []string{"Retry-After", "7"}, false,
			Result{Outcome: Completed, StatusCode: 200, RetryAfter: 7 * time.Second}},
		{"301", 301, "moved", []string{"Location", "http://127.0.0.1:1/elsewhere"}, false,
			Result{Outcome: Failed, StatusCode: 301, ErrorClass: ClassRedirect, Excerpt: "moved"}},
		{"301 RetryClientErrors", 301, "", []string{"Location", "http://127.0.0.1:1/elsewhere"}, true,
			Result{Outcome: Retry, StatusCode: 301, ErrorClass: ClassRedirect}},
		{"304 without Location", 304, "", nil, false, Result{Outcome: Failed, StatusCode: 304, ErrorClass: ClassRedirect}},
	}
	// Under retry_only_unanswered every answer of 400 and over is final
	// (410 still disables); below 400 nothing changes.
	onlyUnanswered := map[string]Result{
		"400 only unanswered": {Outcome: Failed, StatusCode: 400, ErrorClass: ClassHTTPStatus},
		"408 only unanswered": {Outcome: Failed, StatusCode: 408, ErrorClass: ClassHTTPStatus},
		"410 only unanswered": {Outcome: Gone, StatusCode: 410, ErrorClass: ClassHTTPStatus},
		"429 only unanswered": {Outcome: Failed, StatusCode: 429, ErrorClass: ClassHTTPStatus, RetryAfter: 120 * time.Second},
		"500 only unanswered": {Outcome: Failed, StatusCode: 500, ErrorClass: ClassHTTPStatus},
		"503 only unanswered": {Outcome: Failed, StatusCode: 503, ErrorClass: ClassHTTPStatus},
		"200 only unanswered": {Outcome: Completed, StatusCode: 200},
		"301 only unanswered": {Outcome: Failed, StatusCode: 301, ErrorClass: ClassRedirect},
	}
	for name, want := range onlyUnanswered {
		var headers []string
		if want.StatusCode == 429 {
			headers = []string{"Retry-After", "120"}
		}
		tests = append(tests, struct {
			name     string
			status   int
			body     string
			headers  []string
			retry4xx bool
			want     Result
		}{name, want.StatusCode, "", headers, false, want})
	}
	c := newTestClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := receiver(t, reply(tt.status, tt.body, tt.headers...))
			req := one(srv.URL)
			req.Endpoint.RetryClientErrors = tt.retry4xx
			req.Endpoint.RetryOnlyUnanswered = strings.HasSuffix(tt.name, "only unanswered")
			res := c.Deliver(t.Context(), req)
			if diff := cmp.Diff(tt.want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if (res.Error == "") != (res.Outcome == Completed) {
				t.Errorf("Error = %q for outcome %v: want a message exactly when not completed", res.Error, res.Outcome)
			}
			checkNoSecret(t, res, whsecA)
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			var hits atomic.Int64
			target := httptest.NewServer(counting(&hits))
			defer target.Close()
			srv, _ := receiver(t, reply(status, "", "Location", target.URL+"/stolen"))

			res := newTestClient().Deliver(t.Context(), one(srv.URL))
			want := Result{Outcome: Failed, StatusCode: status, ErrorClass: ClassRedirect}
			if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.Error, target.URL+"/stolen") {
				t.Errorf("Error %q does not name the Location", res.Error)
			}
			// Following would have happened inside Deliver, so the count is final.
			if n := hits.Load(); n != 0 {
				t.Errorf("redirect target got %d requests, want 0", n)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	res := newTestClient().Deliver(t.Context(), one("http://"+addr))
	want := Result{Outcome: Retry, ErrorClass: ClassConnection}
	if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	// No answer is what retry_only_unanswered retries.
	req := one("http://" + addr)
	req.Endpoint.RetryOnlyUnanswered = true
	if res := newTestClient().Deliver(t.Context(), req); res.Outcome != Retry || res.ErrorClass != ClassConnection {
		t.Errorf("retry_only_unanswered, connection refused: %+v, want a retry", res)
	}
	if strings.Contains(res.Error, "http://") {
		t.Errorf("Error %q repeats the URL", res.Error)
	}
}

func TestDNSFailure(t *testing.T) {
	// .invalid never resolves (RFC 6761), and the resolver answers that
	// without the network.
	res := newTestClient().Deliver(t.Context(), one("http://dispatchd-test.invalid/hook"))
	want := Result{Outcome: Retry, ErrorClass: ClassDNS}
	if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
}

// stallingServer starts a server that signals arrived, optionally sends
// headers and part of a body, then blocks until the test ends.
func stallingServer(t *testing.T, arrived chan<- struct{}, sendHeaders bool) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sendHeaders {
			w.WriteHeader(200)
			io.WriteString(w, `{"status":`)
			w.(http.Flusher).Flush()
		}
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	// Cleanups run last-in first-out: the handler is released before Close
	// waits for it.
	t.Cleanup(func() { close(release) })
	return srv
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name        string
		sendHeaders bool
		epTimeout   time.Duration
		ctxTimeout  time.Duration // 0: none
		want        Result
	}{
		{"no answer within the endpoint timeout", false, 200 * time.Millisecond, 0,
			Result{Outcome: Retry, ErrorClass: ClassTimeout}},
		// The caller's deadline wins when it is earlier.
		{"no answer within the context deadline", false, time.Hour, 200 * time.Millisecond,
			Result{Outcome: Retry, ErrorClass: ClassTimeout}},
		// A 200 whose body never ends could still have said "failed".
		{"200 whose body stalls", true, 200 * time.Millisecond, 0,
			Result{Outcome: Retry, StatusCode: 200, ErrorClass: ClassTimeout, Excerpt: `{"status":`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stallingServer(t, make(chan struct{}, 1), tt.sendHeaders)
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			req := one(srv.URL)
			req.Endpoint.Timeout = tt.epTimeout
			res := newTestClient().Deliver(ctx, req)
			if diff := cmp.Diff(tt.want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := stallingServer(t, arrived, false)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	res := newTestClient().Deliver(ctx, one(srv.URL))
	want := Result{Outcome: Retry, ErrorClass: ClassCanceled}
	if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
}

func TestControl(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(counting(&hits))
		defer srv.Close()
		guard := func(network, address string, _ syscall.RawConn) error {
			return errors.New("loopback is not allowed")
		}
		res := NewClient(guard, testClock, testUserAgent).Deliver(t.Context(), one(srv.URL))
		want := Result{Outcome: Failed, ErrorClass: ClassBlockedAddress}
		if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
			t.Errorf("Result (-want +got):\n%s", diff)
		}
		for _, part := range []string{srv.Listener.Addr().String(), "loopback is not allowed"} {
			if !strings.Contains(res.Error, part) {
				t.Errorf("Error %q does not say %q", res.Error, part)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("server got %d requests, want 0", n)
		}
	})
	t.Run("allowed sees the resolved address", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(counting(&hits))
		defer srv.Close()
		addrs := make(chan string, 10)
		guard := func(network, address string, _ syscall.RawConn) error {
			addrs <- network + " " + address
			return nil
		}
		// "localhost" makes the guard's view of the resolved IP matter.
		url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		res := NewClient(guard, testClock, testUserAgent).Deliver(t.Context(), one(url))
		if res.Outcome != Completed {
			t.Fatalf("Outcome = %v (%s), want completed", res.Outcome, res.Error)
		}
		// localhost may be tried as ::1 first; the connection that worked
		// went to the server's IPv4 address, and the guard saw it.
		var seen []string
		for len(addrs) > 0 {
			seen = append(seen, <-addrs)
		}
		want := "tcp4 " + srv.Listener.Addr().String()
		found := false
		for _, s := range seen {
			found = found || s == want
		}
		if !found {
			t.Errorf("guard saw %q, want it to include %q", seen, want)
		}
	})
}

func TestBadRequest(t *testing.T) {
	valid := one("")
	tests := []struct {
		name   string
		change func(r *Request)
	}{
		{"no records", func(r *Request) { r.Records = nil }},
		{"two records without a batch id", func(r *Request) { r.Records = append(r.Records, r.Records[0]) }},
		{"too many records", func(r *Request) {
			r.BatchID = "batch"
			r.Records = make([]Record, job.MaxBulkRecords+1)
			for i := range r.Records {
				r.Records[i] = Record{JobID: fmt.Sprint(i), AttemptNumber: 1}
			}
		}},
		{"no secret", func(r *Request) { r.Endpoint.Secrets = nil }},
		{"empty secret", func(r *Request) { r.Endpoint.Secrets = []string{""} }},
		{"secret with a newline", func(r *Request) { r.Endpoint.Secrets = []string{whsecA + "\n"} }},
		{"invalid payload", func(r *Request) { r.Records[0].Payload = json.RawMessage(`{"a":`) }},
		{"empty job id", func(r *Request) { r.Records[0].JobID = "" }},
		{"job id with a newline", func(r *Request) { r.Records[0].JobID = "job\r\nX-Evil: 1" }},
		{"not http", func(r *Request) { r.Endpoint.URL = strings.Replace(r.Endpoint.URL, "http:", "ftp:", 1) }},
		{"relative URL", func(r *Request) { r.Endpoint.URL = "/hook" }},
		{"unparsable URL", func(r *Request) { r.Endpoint.URL = "http://[::1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(counting(&hits))
			defer srv.Close()
			req := valid
			req.Endpoint.URL = srv.URL
			req.Records = []Record{valid.Records[0]}
			tt.change(&req)

			res := newTestClient().Deliver(t.Context(), req)
			want := Result{Outcome: Failed, ErrorClass: ClassBadRequest}
			if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Error")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if res.Error == "" {
				t.Error("Error is empty")
			}
			checkNoSecret(t, res, whsecA)
			if n := hits.Load(); n != 0 {
				t.Errorf("server got %d requests, want 0", n)
			}
		})
	}
}

func TestTraceParentWithControlCharacterIsDropped(t *testing.T) {
	srv, got := receiver(t, reply(200, ""))
	req := one(srv.URL)
	req.TraceParent = "00-abc\r\nX-Evil: 1"
	if res := newTestClient().Deliver(t.Context(), req); res.Outcome != Completed {
		t.Fatalf("Outcome = %v (%s), want completed", res.Outcome, res.Error)
	}
	r := <-got
	for _, name := range []string{"Traceparent", "X-Evil"} {
		if v, ok := r.header[name]; ok {
			t.Errorf("header %s = %q, want none", name, v)
		}
	}
}

func TestBodyCap(t *testing.T) {
	// The server streams 'a's until a write fails or 1 GiB is out. Socket
	// buffers on loopback can hold tens of MiB, so "the server wrote less
	// than N" is only proof if the client cuts the stream: a write error is.
	const ceiling = 1 << 30
	type outcome struct {
		written int64
		err     error
	}
	done := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("a"), 32<<10)
		var o outcome
		for o.written < ceiling && o.err == nil {
			var n int
			n, o.err = w.Write(chunk)
			o.written += int64(n)
		}
		done <- o
	}))
	defer srv.Close()

	res := newTestClient().Deliver(t.Context(), one(srv.URL))
	want := Result{Outcome: Completed, StatusCode: 200, Excerpt: strings.Repeat("a", ExcerptBytes)}
	if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency")); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	o := <-done
	if o.err == nil {
		t.Errorf("server wrote %d bytes without error: the client read it all", o.written)
	}
}

func TestGzipResponse(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 200) // 3200 bytes
	tests := []struct {
		name string
		body string
		want Result
	}{
		{"excerpt is decompressed", long, Result{Outcome: Completed, StatusCode: 200, Excerpt: long[:ExcerptBytes]}},
		{"status failed is read after decompression", `{"status":"failed"}`,
			Result{Outcome: Failed, StatusCode: 200, ErrorClass: ClassReceiverFailed, Excerpt: `{"status":"failed"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Accept-Encoding") != "gzip" {
					http.Error(w, "client did not offer gzip", 400)
					return
				}
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				io.WriteString(zw, tt.body)
				zw.Close()
			})
			res := newTestClient().Deliver(t.Context(), one(srv.URL))
			if diff := cmp.Diff(tt.want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBulkFailedJobIDs(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		bulk   bool
		want   Result
	}{
		{"one failed", 200, `{"failedJobIds":["b"]}`, true,
			Result{Outcome: Completed, StatusCode: 200, FailedJobIDs: []string{"b"}}},
		{"unknown, repeated and non-string ids ignored", 200, `{"failedJobIds":["zzz","b",7,null,"b","a"]}`, true,
			Result{Outcome: Completed, StatusCode: 200, FailedJobIDs: []string{"b", "a"}}},
		{"all failed", 207, `{"failedJobIds":["c","b","a"]}`, true,
			Result{Outcome: Completed, StatusCode: 207, FailedJobIDs: []string{"c", "b", "a"}}},
		{"empty list", 200, `{"failedJobIds":[]}`, true, Result{Outcome: Completed, StatusCode: 200}},
		{"not a list", 200, `{"failedJobIds":"b"}`, true, Result{Outcome: Completed, StatusCode: 200}},
		{"key is case-sensitive", 200, `{"FailedJobIds":["b"]}`, true, Result{Outcome: Completed, StatusCode: 200}},
		{"status failed fails the batch", 200, `{"status":"failed","failedJobIds":["b"]}`, true,
			Result{Outcome: Failed, StatusCode: 200, ErrorClass: ClassReceiverFailed}},
		{"500 retries the batch", 500, `{"failedJobIds":["b"]}`, true,
			Result{Outcome: Retry, StatusCode: 500, ErrorClass: ClassHTTPStatus}},
		{"single record ignores the list", 200, `{"failedJobIds":["a"]}`, false, Result{Outcome: Completed, StatusCode: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := receiver(t, reply(tt.status, tt.body))
			req := Request{
				Endpoint: Endpoint{Name: "bulk", URL: srv.URL, Secrets: []string{whsecA}},
				Records:  []Record{{JobID: "a", AttemptNumber: 1}, {JobID: "b", AttemptNumber: 1}, {JobID: "c", AttemptNumber: 2}},
				BatchID:  "batch_1",
			}
			if !tt.bulk {
				req.Records, req.BatchID = req.Records[:1], ""
			}
			res := newTestClient().Deliver(t.Context(), req)
			tt.want.Excerpt = tt.body
			if diff := cmp.Diff(tt.want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.WriteHeader(status)
		io.WriteString(w, `{"status":"ok","padding":"`+strings.Repeat("x", 2000)+`"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := newTestClient()
	// Non-2xx answers are read to the end too, so they keep the connection.
	for i, status := range []int{200, 500, 404, 200, 301, 200} {
		res := c.Deliver(t.Context(), one(fmt.Sprintf("%s/?status=%d", srv.URL, status)))
		if res.StatusCode != status {
			t.Fatalf("delivery %d: StatusCode = %d (%s), want %d", i, res.StatusCode, res.Error, status)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections for 6 sequential deliveries, want 1", n)
	}
}

// tlsClient returns a Client that trusts srv's certificate, as it would
// trust a public CA in production.
func tlsClient(t *testing.T, srv *httptest.Server) *Client {
	t.Helper()
	c := newTestClient()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c.base.TLSClientConfig.RootCAs = pool
	return c
}

func TestTLS(t *testing.T) {
	protos := make(chan int, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.ProtoMajor
		io.WriteString(w, "ok")
	}))
	srv.EnableHTTP2 = true
	// The untrusted-certificate case makes the server log a handshake error.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	t.Run("HTTP/2 by ALPN", func(t *testing.T) {
		res := tlsClient(t, srv).Deliver(t.Context(), one(srv.URL))
		if diff := cmp.Diff(Result{Outcome: Completed, StatusCode: 200, Excerpt: "ok"}, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency")); diff != "" {
			t.Errorf("Result (-want +got):\n%s", diff)
		}
		if p := <-protos; p != 2 {
			t.Errorf("server saw HTTP/%d, want HTTP/2", p)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		res := newTestClient().Deliver(t.Context(), one(srv.URL))
		want := Result{Outcome: Retry, ErrorClass: ClassTLS}
		if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
			t.Errorf("Result (-want +got):\n%s", diff)
		}
	})
	t.Run("plain HTTP server behind https URL", func(t *testing.T) {
		plain, _ := receiver(t, reply(200, ""))
		res := newTestClient().Deliver(t.Context(), one(strings.Replace(plain.URL, "http:", "https:", 1)))
		want := Result{Outcome: Retry, ErrorClass: ClassTLS}
		if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "RequestHeaders", "Latency", "Error")); diff != "" {
			t.Errorf("Result (-want +got):\n%s\nError: %s", diff, res.Error)
		}
	})
}

func TestOutcomeString(t *testing.T) {
	got := []string{Completed.String(), Retry.String(), Failed.String(), Gone.String(), Outcome(0).String()}
	want := []string{"completed", "retry", "failed", "gone", "outcome(0)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
}
