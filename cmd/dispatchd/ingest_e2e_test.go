package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

const (
	stdSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdOldSecret = "whsec_c2VjcmV0LW9mLWxhc3QtbW9udGgtMTIzNA=="
	bearerSecret = "bearer-secret-for-tests"
)

// testConfig declares one source per behaviour under test.
const testConfig = `
sources:
  - name: std
    verify:
      scheme: standard-webhooks
      secrets: [` + stdSecret + `, ` + stdOldSecret + `]
    routes: [orders, audit]
  - name: bearer
    verify: {scheme: bearer, secret: "${BEARER_SECRET}"}
    idempotency: {header: webhook-id}
    required:
      - {pointer: /type, type: string}
      - {pointer: /data/id, type: integer}
    routes: [orders]
  - name: limited
    verify: {scheme: none}
    rate_limit: {rps: 0.5, burst: 2}
endpoints:
  - {name: orders, url: "http://127.0.0.1:1/orders", secret: 0123456789abcdef}
  - {name: audit, url: "http://127.0.0.1:1/audit", secret: 0123456789abcdef}
`

func TestWebhookIngestion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": dbURL, "BEARER_SECRET": bearerSecret}, testConfig)
		store := openTestStore(t, dbURL)
		client := &http.Client{Timeout: 30 * time.Second}
		ctx := context.Background()
		std := svc.httpURL + "/v1/webhooks/std"
		bearer := svc.httpURL + "/v1/webhooks/bearer"
		bearerHeader := func(id string) http.Header {
			return http.Header{"Authorization": {"Bearer " + bearerSecret}, "Webhook-Id": {id}, "Content-Type": {"application/json"}}
		}
		count := func(source string) int64 {
			n, err := store.CountEvents(ctx, source)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		expectError := func(t *testing.T, r response, status int, code job.Code, inMessage string) {
			t.Helper()
			if r.status != status {
				t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
			}
			m := r.json(t)
			if m["code"] != string(code) {
				t.Errorf("code = %v, want %s", m["code"], code)
			}
			if msg, _ := m["message"].(string); !strings.Contains(msg, inMessage) {
				t.Errorf("message = %q, want it to mention %q", msg, inMessage)
			}
		}

		// The body as the provider sent it: odd spacing, key order and a
		// trailing newline, all of which the signature covers.
		body := []byte("{\"type\":  \"order.created\",\n \"data\": {\"id\": 7}}\n")
		var first map[string]any

		t.Run("Accepted", func(t *testing.T) {
			r := post(t, client, std, signStandard(stdSecret, "msg_1", time.Now(), body), body)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
			}
			first = r.json(t)
			if first["duplicate"] != false {
				t.Errorf("duplicate = %v, want false", first["duplicate"])
			}
			eventID, _ := first["eventId"].(string)
			ev, err := store.GetEvent(ctx, eventID)
			if err != nil {
				t.Fatalf("the acknowledged event is not in the store: %v", err)
			}
			if string(ev.Body) != string(body) {
				t.Errorf("stored body = %q, want the bytes sent %q", ev.Body, body)
			}
			if ev.Source != "std" || ev.DeliveryID != "msg_1" || ev.ContentType != "application/json" {
				t.Errorf("stored event = %s/%s/%s, want std/msg_1/application/json", ev.Source, ev.DeliveryID, ev.ContentType)
			}
			if ev.Headers["webhook-signature"] == "" {
				t.Errorf("stored headers lack webhook-signature: %v", ev.Headers)
			}
			jobs, err := store.ListJobsByEvent(ctx, eventID)
			if err != nil {
				t.Fatal(err)
			}
			var endpoints, ids []string
			for _, j := range jobs {
				endpoints = append(endpoints, j.Endpoint)
				ids = append(ids, j.ID)
				if string(j.Payload) != string(body) || j.State != job.StateAvailable {
					t.Errorf("job %s: payload %q state %s, want the body and available", j.ID, j.Payload, j.State)
				}
			}
			if diff := cmp.Diff([]string{"orders", "audit"}, endpoints); diff != "" {
				t.Errorf("jobs' endpoints (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(first["jobIds"], toAny(ids)); diff != "" {
				t.Errorf("jobIds in the response vs the store (-response +store):\n%s", diff)
			}
		})

		t.Run("RepeatIsDuplicate", func(t *testing.T) {
			r := post(t, client, std, signStandard(stdSecret, "msg_1", time.Now(), body), body)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; body %s", r.status, r.body)
			}
			got := r.json(t)
			want := map[string]any{"eventId": first["eventId"], "duplicate": true, "jobIds": first["jobIds"]}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("repeat (-want +got):\n%s", diff)
			}
			if n := count("std"); n != 1 {
				t.Errorf("std has %d events, want 1", n)
			}
		})

		t.Run("PreviousSecretDuringRotation", func(t *testing.T) {
			r := post(t, client, std, signStandard(stdOldSecret, "msg_2", time.Now(), body), body)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
			}
		})

		t.Run("Unauthenticated", func(t *testing.T) {
			before := count("std")
			wrong := signStandard("whsec_"+strings.Repeat("QUJD", 8), "msg_3", time.Now(), body)
			expectError(t, post(t, client, std, wrong, body), 401, job.CodeUnauthenticated, "")

			tampered := signStandard(stdSecret, "msg_3", time.Now(), body)
			expectError(t, post(t, client, std, tampered, append([]byte(" "), body...)), 401, job.CodeUnauthenticated, "")

			missing := signStandard(stdSecret, "msg_3", time.Now(), body)
			missing.Del("Webhook-Signature")
			expectError(t, post(t, client, std, missing, body), 401, job.CodeUnauthenticated, "webhook-signature")

			stale := signStandard(stdSecret, "msg_3", time.Now().Add(-6*time.Minute), body)
			expectError(t, post(t, client, std, stale, body), 401, job.CodeUnauthenticated, "")
			future := signStandard(stdSecret, "msg_3", time.Now().Add(6*time.Minute), body)
			expectError(t, post(t, client, std, future, body), 401, job.CodeUnauthenticated, "")

			h := bearerHeader("b-0")
			h.Set("Authorization", "Bearer not-the-secret")
			expectError(t, post(t, client, bearer, h, body), 401, job.CodeUnauthenticated, "")
			h.Del("Authorization")
			expectError(t, post(t, client, bearer, h, body), 401, job.CodeUnauthenticated, "Authorization")

			if n := count("std"); n != before {
				t.Errorf("refused webhooks were stored: %d events, want %d", n, before)
			}
		})

		t.Run("BodyLimit", func(t *testing.T) {
			// The default limit is 10240 bytes: a body of exactly that is
			// accepted and one byte more is refused, declared or chunked.
			atLimit := jsonOfSize(10240)
			r := post(t, client, bearer, bearerHeader("b-size"), atLimit)
			if r.status != http.StatusOK {
				t.Fatalf("10240-byte body: status %d, want 200; %s", r.status, r.body)
			}
			over := jsonOfSize(10241)
			expectError(t, post(t, client, bearer, bearerHeader("b-big"), over), 413, job.CodePayloadTooLarge, "10240")

			req, _ := http.NewRequest(http.MethodPost, bearer, &chunked{data: over})
			req.Header = bearerHeader("b-big-chunked")
			req.ContentLength = -1 // unknown: sent with Transfer-Encoding: chunked
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked over-limit body: status %d, want 413", resp.StatusCode)
			}
		})

		t.Run("Malformed", func(t *testing.T) {
			expectError(t, post(t, client, bearer, bearerHeader("b-1"), []byte(`{"type": "x", "data": {"id": 1}`)), 400, job.CodeInvalid, "not valid JSON")
			expectError(t, post(t, client, bearer, bearerHeader("b-1"), []byte("{\"type\": \"\xff\"}")), 400, job.CodeInvalid, "UTF-8")
			expectError(t, post(t, client, bearer, bearerHeader("b-1"), []byte(`{"data": {"id": 1}}`)), 400, job.CodeInvalid, "/type")
			expectError(t, post(t, client, bearer, bearerHeader("b-1"), []byte(`{"type": "x", "data": {"id": "7"}}`)), 400, job.CodeInvalid, "integer")
			form := bearerHeader("b-1")
			form.Set("Content-Type", "application/x-www-form-urlencoded")
			expectError(t, post(t, client, bearer, form, []byte(`a=b`)), 400, job.CodeInvalid, "application/json")
			noID := bearerHeader("")
			noID.Del("Webhook-Id")
			expectError(t, post(t, client, bearer, noID, []byte(`{"type": "x", "data": {"id": 1}}`)), 400, job.CodeInvalid, "Webhook-Id")
			if n := count("bearer"); n != 1 { // only BodyLimit's accepted one
				t.Errorf("bearer has %d events, want 1", n)
			}
		})

		t.Run("UnknownSource", func(t *testing.T) {
			expectError(t, post(t, client, svc.httpURL+"/v1/webhooks/nope", nil, []byte(`{}`)), 404, job.CodeNotFound, `"nope"`)
		})

		t.Run("RateLimited", func(t *testing.T) {
			limited := svc.httpURL + "/v1/webhooks/limited"
			json := http.Header{"Content-Type": {"application/json"}}
			for i := range 2 { // the burst
				if r := post(t, client, limited, json, []byte(`{}`)); r.status != 200 {
					t.Fatalf("request %d within the burst: status %d; %s", i, r.status, r.body)
				}
			}
			r := post(t, client, limited, json, []byte(`{}`))
			expectError(t, r, 429, job.CodeRateLimited, "rate limit")
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
				t.Errorf("Retry-After = %q, want 1 or 2 seconds at 0.5 requests a second", r.header.Get("Retry-After"))
			}
		})

		t.Run("Metrics", func(t *testing.T) {
			resp, err := client.Get(svc.httpURL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			text := string(b)
			value := func(series string) float64 {
				t.Helper()
				for _, line := range strings.Split(text, "\n") {
					if rest, ok := strings.CutPrefix(line, series+" "); ok {
						v, err := strconv.ParseFloat(rest, 64)
						if err != nil {
							t.Fatalf("%s: %v", line, err)
						}
						return v
					}
				}
				t.Errorf("no series %s in /metrics", series)
				return -1
			}
			// What the subtests above sent (they ran before this one).
			for series, want := range map[string]float64{
				`dispatchd_webhooks_received_total{outcome="accepted",source="std"}`:         2,
				`dispatchd_webhooks_received_total{outcome="duplicate",source="std"}`:        1,
				`dispatchd_webhooks_received_total{outcome="unauthorized",source="std"}`:     5,
				`dispatchd_webhooks_received_total{outcome="rate_limited",source="limited"}`: 1,
				`dispatchd_webhooks_received_total{outcome="unknown_source",source=""}`:      1,
				`dispatchd_jobs{state="available"}`:                                          5, // no worker here: 2 std events × 2 routes + 1 bearer
			} {
				if got := value(series); got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
			if value(`dispatchd_webhooks_received_total{outcome="invalid",source="bearer"}`) < 5 {
				t.Errorf("invalid bearer webhooks were not counted")
			}
			if value("dispatchd_commit_batch_size_count") < 3 || value(`dispatchd_ingest_duration_seconds_count{source="std"}`) < 7 {
				t.Errorf("histograms missing observations:\n%s", text)
			}
			if lag := value("dispatchd_oldest_ready_job_age_seconds"); lag <= 0 {
				t.Errorf("oldest ready job age = %v, want > 0 with jobs waiting and no worker", lag)
			}
		})

		t.Run("ConcurrentRepeatsMakeOneEvent", func(t *testing.T) {
			b := []byte(`{"type": "burst"}`)
			h := signStandard(stdSecret, "msg_burst", time.Now(), b)
			const n = 100
			var wg sync.WaitGroup
			results := make([]response, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = post(t, client, std, h, b)
				}()
			}
			wg.Wait()
			events := map[any]int{}
			fresh := 0
			for i, r := range results {
				if r.status != 200 {
					t.Fatalf("request %d: status %d; %s", i, r.status, r.body)
				}
				m := r.json(t)
				events[m["eventId"]]++
				if m["duplicate"] == false {
					fresh++
				}
			}
			if len(events) != 1 || fresh != 1 {
				t.Errorf("%d concurrent identical requests gave %d event ids and %d non-duplicates; want 1 and 1", n, len(events), fresh)
			}
			if got := count("std"); got != 3 { // msg_1, msg_2, msg_burst
				t.Errorf("std has %d events, want 3", got)
			}
		})
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// jsonOfSize returns a valid webhook body for the bearer source of exactly
// n bytes.
func jsonOfSize(n int) []byte {
	head := `{"type": "size", "data": {"id": 1}, "pad": "`
	tail := `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// chunked hides its length from net/http, so the request is sent with
// Transfer-Encoding: chunked.
type chunked struct {
	data []byte
	off  int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.off >= len(c.data) {
		return 0, errEOF
	}
	n := copy(p[:min(len(p), 1000)], c.data[c.off:])
	c.off += n
	return n, nil
}
