package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// eventReceiver records the payload of each delivery by endpoint path.
type eventReceiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	got     map[string][]json.RawMessage // path → payloads
	arrived chan struct{}
}

func newEventReceiver(t *testing.T) *eventReceiver {
	r := &eventReceiver{got: map[string][]json.RawMessage{}, arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var env struct {
			JobID   string          `json:"jobId"`
			Payload json.RawMessage `json:"payload"`
		}
		if !readDelivery(w, req, &env) {
			return
		}
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], env.Payload)
		r.mu.Unlock()
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first payload delivered to path.
func (r *eventReceiver) wait(t *testing.T, path string) json.RawMessage {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		got := r.got[path]
		r.mu.Unlock()
		if len(got) > 0 {
			return got[0]
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("nothing delivered to %s", path)
		}
	}
}

const eventsConfig = `
event_types:
  - name: invoice.paid
    description: an invoice was paid
    schema: {type: object, required: [amount], properties: {amount: {type: number}}}
endpoints:
  - name: orders-all
    url: %[1]s/orders-all
    secret: %[2]s
    event_types: ["order.*"]
  - name: orders-created
    url: %[1]s/orders-created
    secret: %[2]s
    event_types: [order.created]
    transform: '{"id": payload.data.id, "total": payload.data.amount / 100.0}'
  - name: big-orders
    url: %[1]s/big-orders
    secret: %[2]s
    event_types: ["order.*"]
    filter: payload.data.amount > 100000.0
  - name: standard
    url: %[1]s/standard
    secret: %[2]s
    event_types: [order.created]
    payload_format: standard-webhooks
  - name: invoices
    url: %[1]s/invoices
    secret: %[2]s
    event_types: [invoice.paid]
  - name: refunds
    url: %[1]s/refunds
    secret: %[2]s
    event_types: [refund.created]
    transform: '{"id": payload.refund.id}'
  - name: plain
    url: %[1]s/plain
    secret: %[2]s
sources:
  - name: billing
    verify: {scheme: none}
    event_type: {json: /type}
    routes: [{subscribers: true}]
  - name: gh
    verify: {scheme: github, secret: github-secret-0123456789}
    routes:
      - {subscribers: true}
      - {endpoint: plain, filter: 'type == "push" && headers["x-github-event"] == "push"'}
`

func TestPublishAndRouteEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newEventReceiver(t)
		key, _ := apikey.Generate()
		svc := startService(t, map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                key,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}, fmt.Sprintf(eventsConfig, recv.srv.URL, apiSecret))

		// Publish once: exactly the endpoints subscribed to order.* or
		// order.created whose filters pass get a job.
		resp := rest(t, http.MethodPost, svc.httpURL+"/v1/events", key, map[string]any{
			"type": "order.created", "payload": map[string]any{"data": map[string]any{"id": "o1", "amount": 2500}},
		})
		if resp.status != http.StatusOK {
			t.Fatalf("publish: %d %s", resp.status, resp.body)
		}
		var pub struct {
			EventID   string   `json:"eventId"`
			Duplicate bool     `json:"duplicate"`
			JobIDs    []string `json:"jobIds"`
		}
		json.Unmarshal(resp.body, &pub)
		if len(pub.JobIDs) != 3 || pub.Duplicate {
			t.Fatalf("publish answered %s; want 3 jobs", resp.body)
		}
		got := rest(t, http.MethodGet, svc.httpURL+"/v1/events/"+pub.EventID, key, nil)
		var ev struct {
			Event struct{ Type, Source string }
			Jobs  []struct{ Endpoint string }
		}
		json.Unmarshal(got.body, &ev)
		var endpoints []string
		for _, j := range ev.Jobs {
			endpoints = append(endpoints, j.Endpoint)
		}
		slices.Sort(endpoints)
		if diff := cmp.Diff([]string{"orders-all", "orders-created", "standard"}, endpoints); diff != "" || ev.Event.Type != "order.created" {
			t.Fatalf("jobs of the event (-want +got):\n%s\n%s", diff, got.body)
		}

		// The transform reshapes what the receiver gets; the others get
		// the payload as published, or in the Standard Webhooks shape.
		assertJSON(t, recv.wait(t, "/orders-created"), `{"id": "o1", "total": 25}`)
		assertJSON(t, recv.wait(t, "/orders-all"), `{"data": {"id": "o1", "amount": 2500}}`)
		var std struct {
			Type      string          `json:"type"`
			Timestamp time.Time       `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(recv.wait(t, "/standard"), &std); err != nil || std.Type != "order.created" || std.Timestamp.IsZero() {
			t.Fatalf("standard-webhooks payload: %+v (%v)", std, err)
		}
		assertJSON(t, std.Data, `{"data": {"id": "o1", "amount": 2500}}`)

		// A transformation that fails on an event makes its job dead with
		// the error; the event is stored.
		ref := rest(t, http.MethodPost, svc.httpURL+"/v1/events", key, map[string]any{"type": "refund.created", "payload": map[string]any{"id": "r1"}})
		var refPub struct{ EventID string }
		json.Unmarshal(ref.body, &refPub)
		var refEv struct {
			Jobs []struct{ Endpoint, State, LastError string }
		}
		json.Unmarshal(rest(t, http.MethodGet, svc.httpURL+"/v1/events/"+refPub.EventID, key, nil).body, &refEv)
		if len(refEv.Jobs) != 1 || refEv.Jobs[0].State != "JOB_STATE_DEAD" || !strings.Contains(refEv.Jobs[0].LastError, "transform") {
			t.Fatalf("a failing transform: %s / %+v", ref.body, refEv)
		}

		// A repeated idempotency key answers with the first event.
		again := rest(t, http.MethodPost, svc.httpURL+"/v1/events", key, map[string]any{"type": "refund.created", "payload": map[string]any{"id": "r2"}, "idempotencyKey": "r-1"})
		again2 := rest(t, http.MethodPost, svc.httpURL+"/v1/events", key, map[string]any{"type": "refund.created", "payload": map[string]any{"id": "r2"}, "idempotencyKey": "r-1"})
		if a, b := again.json(t), again2.json(t); a["eventId"] != b["eventId"] || b["duplicate"] != true {
			t.Fatalf("a repeated idempotency key: %s then %s", again.body, again2.body)
		}

		// A payload that fails its declared type's schema is a 400 that
		// names the pointer; nothing is stored.
		bad := rest(t, http.MethodPost, svc.httpURL+"/v1/events", key, map[string]any{"type": "invoice.paid", "payload": map[string]any{"amount": "ten"}})
		if bad.status != http.StatusBadRequest || !strings.Contains(string(bad.body), "/amount") {
			t.Fatalf("schema violation: %d %s", bad.status, bad.body)
		}
		ok := rest(t, http.MethodPost, svc.httpURL+"/v1/events", key, map[string]any{"type": "invoice.paid", "payload": map[string]any{"amount": 10}})
		if ok.status != http.StatusOK {
			t.Fatalf("valid invoice.paid: %d %s", ok.status, ok.body)
		}

		// So is a webhook of that type.
		wbad := post(t, http.DefaultClient, svc.httpURL+"/v1/webhooks/billing", http.Header{"Content-Type": {"application/json"}},
			[]byte(`{"type": "invoice.paid", "amount": "ten"}`))
		if wbad.status != http.StatusBadRequest || !strings.Contains(string(wbad.body), "/amount") {
			t.Fatalf("schema violation by a webhook: %d %s", wbad.status, wbad.body)
		}

		// An invalid expression is refused over the API, naming the field.
		inv := rest(t, http.MethodPost, svc.httpURL+"/v1/endpoints", key, map[string]any{
			"name": "broken", "spec": map[string]any{"url": recv.srv.URL + "/broken", "eventTypes": []string{"order.*"}, "filter": "payload.amount >"},
		})
		if inv.status != http.StatusBadRequest || !strings.Contains(string(inv.body), "spec.filter") {
			t.Fatalf("invalid filter over the API: %d %s", inv.status, inv.body)
		}

		// A GitHub webhook takes its type from X-GitHub-Event; the source
		// routes to the type's subscribers (none) and, filtered, to plain.
		body := []byte(`{"ref": "refs/heads/main"}`)
		mac := hmac.New(sha256.New, []byte("github-secret-0123456789"))
		mac.Write(body)
		wh := post(t, http.DefaultClient, svc.httpURL+"/v1/webhooks/gh", http.Header{
			"Content-Type":        {"application/json"},
			"X-Github-Event":      {"push"},
			"X-Github-Delivery":   {"d-1"},
			"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
		}, body)
		if wh.status != http.StatusOK || len(wh.json(t)["jobIds"].([]any)) != 1 {
			t.Fatalf("github webhook: %d %s", wh.status, wh.body)
		}
		assertJSON(t, recv.wait(t, "/plain"), string(body))
		list := rest(t, http.MethodGet, svc.httpURL+"/v1/events?type=push", key, nil)
		var events struct {
			Events []struct{ Type, Source, DeliveryID string }
		}
		json.Unmarshal(list.body, &events)
		if len(events.Events) != 1 || events.Events[0].Source != "gh" || events.Events[0].Type != "push" {
			t.Fatalf("GET /v1/events?type=push: %s", list.body)
		}

		// The catalog lists the types seen with their counts, and the
		// declared one.
		cat := rest(t, http.MethodGet, svc.httpURL+"/v1/event-types", key, nil)
		var types struct {
			EventTypes []struct {
				Name     string
				Declared bool
				Count    string // int64 is a JSON string
			}
		}
		json.Unmarshal(cat.body, &types)
		counts := map[string]string{}
		for _, et := range types.EventTypes {
			counts[et.Name] = et.Count
			if et.Name == "invoice.paid" && !et.Declared {
				t.Errorf("invoice.paid is not listed as declared: %s", cat.body)
			}
		}
		if diff := cmp.Diff(map[string]string{"order.created": "1", "invoice.paid": "1", "push": "1", "refund.created": "2"}, counts); diff != "" {
			t.Errorf("catalog counts (-want +got):\n%s\n%s", diff, cat.body)
		}
		// Nothing reached the endpoint whose filter was false.
		recv.mu.Lock()
		defer recv.mu.Unlock()
		if n := len(recv.got["/big-orders"]); n != 0 {
			t.Errorf("big-orders got %d deliveries; its filter is false", n)
		}
	})
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}
