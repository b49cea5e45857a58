package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// TestForgedWebhooksDoNotSpendTheRateLimit: a flood of requests without
// the source's secret gets 401 every time and leaves the source's budget
// to its real sender.
func TestForgedWebhooksDoNotSpendTheRateLimit(t *testing.T) {
	const cfg = `
sources:
  - name: guarded
    verify: {scheme: bearer, secret: guarded-secret-for-tests}
    rate_limit: {rps: 0.001, burst: 2}
`
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": dbURL}, cfg)
		client := &http.Client{Timeout: 30 * time.Second}
		url := svc.httpURL + "/v1/webhooks/guarded"
		header := func(secret string) http.Header {
			return http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}}
		}
		for i := range 10 {
			if r := post(t, client, url, header("not-the-secret"), []byte(`{}`)); r.status != http.StatusUnauthorized {
				t.Fatalf("forged request %d: status %d, want 401; %s", i, r.status, r.body)
			}
		}
		for i := range 2 { // the burst is still whole
			if r := post(t, client, url, header("guarded-secret-for-tests"), []byte(`{}`)); r.status != http.StatusOK {
				t.Fatalf("genuine request %d after the forged ones: status %d, want 200; %s", i, r.status, r.body)
			}
		}
		r := post(t, client, url, header("guarded-secret-for-tests"), []byte(`{}`))
		if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "rate limit") {
			t.Errorf("genuine request over the burst: status %d, want 429; %s", r.status, r.body)
		}
		// Over the limit, a forged request still learns nothing but 401.
		if r := post(t, client, url, header("not-the-secret"), []byte(`{}`)); r.status != http.StatusUnauthorized {
			t.Errorf("forged request over the limit: status %d, want 401; %s", r.status, r.body)
		}
	})
}

// TestKeyScopes: a key of each scope, made through the API, may do what
// its scope says over REST, and is refused with 403 permission_denied,
// naming the scope needed, otherwise.
func TestKeyScopes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc, admin := startAPIService(t, dbURL, newAPIReceiver(t, apiSecret))
		create := func(name, scope string) string {
			r := rest(t, "POST", svc.httpURL+"/v1/keys", admin, map[string]any{"name": name, "scope": scope})
			if r.status != 200 {
				t.Fatalf("create a %s key: %d %s", scope, r.status, r.body)
			}
			m := r.json(t)
			if got := m["apiKey"].(map[string]any)["scope"]; got != scope {
				t.Errorf("created key has scope %v, want %s", got, scope)
			}
			return m["key"].(string)
		}
		dispatcher, reader := create("billing", "dispatch"), create("dashboard", "read")

		dispatch := map[string]any{"payload": map[string]any{"n": 1}}
		tests := []struct {
			name         string
			key          string
			method, path string
			body         any
			wantStatus   int
			wantInError  string
		}{
			{"dispatch key dispatches", dispatcher, "POST", "/api/jobs/dispatch", dispatch, 200, ""},
			{"dispatch key lists jobs", dispatcher, "GET", "/v1/jobs", nil, 200, ""},
			{"dispatch key may not list endpoints", dispatcher, "GET", "/v1/endpoints", nil, 403, "ListEndpoints needs a key with scope admin or read"},
			{"dispatch key may not make keys", dispatcher, "POST", "/v1/keys", map[string]any{"name": "x"}, 403, "CreateKey needs a key with scope admin"},
			{"read key lists endpoints", reader, "GET", "/v1/endpoints", nil, 200, ""},
			{"read key lists keys", reader, "GET", "/v1/keys", nil, 200, ""},
			{"read key may not dispatch", reader, "POST", "/api/jobs/dispatch", dispatch, 403, "DispatchedDispatchJob needs a key with scope admin or dispatch"},
			{"read key may not delete", reader, "DELETE", "/v1/endpoints/receiver", nil, 403, "needs a key with scope admin"},
			{"admin key may do anything", admin, "POST", "/v1/jobs:replay", map[string]any{}, 200, ""},
		}
		for _, tt := range tests {
			r := rest(t, tt.method, svc.httpURL+tt.path, tt.key, tt.body)
			if r.status != tt.wantStatus {
				t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.method, tt.path, r.status, r.body, tt.wantStatus)
				continue
			}
			if tt.wantInError != "" {
				m := r.json(t)
				if m["code"] != "permission_denied" || !strings.Contains(fmt.Sprint(m["message"]), tt.wantInError) {
					t.Errorf("%s: error %s, want permission_denied naming %q", tt.name, r.body, tt.wantInError)
				}
			}
		}
		for _, bad := range []map[string]any{{"name": "x", "scope": "write"}, {"name": "two\nlines"}, {"name": strings.Repeat("n", 101)}} {
			if r := rest(t, "POST", svc.httpURL+"/v1/keys", admin, bad); r.status != 400 {
				t.Errorf("create key %v: %d %s, want 400", bad, r.status, r.body)
			}
		}
	})
}

// TestMadeUpBootstrapKeyIsRefused: serve does not start with a bootstrap
// key that lacks the shape or entropy of a generated key, and says how to
// make one.
func TestMadeUpBootstrapKeyIsRefused(t *testing.T) {
	for _, key := range []string{"disp_k1_bootstrapchosenbyanoperator", "disp_k1_" + strings.Repeat("a", 38)} {
		vars := map[string]string{
			"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "dispatchd.db"),
			"DISPATCHD_HTTP_ADDR":    "127.0.0.1:0",
			"DISPATCHD_GRPC_ADDR":    "127.0.0.1:0",
			"DISPATCHD_API_KEY":      key,
		}
		err := serveWith(context.Background(), nil, func(k string) string { return vars[k] }, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "DISPATCHD_API_KEY") || !strings.Contains(err.Error(), "dispatchd keys generate") {
			t.Errorf("serve with DISPATCHD_API_KEY=%s: %v; want a refusal saying how to make a key", key, err)
		}
	}
}

// TestOpaquePayloads: a webhook accepted as opaque bytes that are not
// UTF-8 is delivered byte for byte (base64, "payloadEncoding":"base64"),
// and neither GetJob nor a ListJobs page holding it fails; a JSON payload
// beside it is delivered and shown as JSON, as before.
func TestOpaquePayloads(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		bodies := make(chan []byte, 10)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			b, _ := io.ReadAll(req.Body)
			bodies <- b
		}))
		t.Cleanup(recv.Close)
		admin, _ := apikey.Generate()
		cfg := fmt.Sprintf(`
sources:
  - name: opaque
    verify: {scheme: none}
    content_types: [application/octet-stream, application/json]
    routes: [receiver]
endpoints:
  - {name: receiver, url: "%s/hook", secret: 0123456789abcdef, retry: {schedule: [1s]}}
`, recv.URL)
		svc := startService(t, map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                admin,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}, cfg)
		client := &http.Client{Timeout: 30 * time.Second}
		raw := []byte("\xff\xfe\x00binary\xc3(\n")
		r := post(t, client, svc.httpURL+"/v1/webhooks/opaque", http.Header{"Content-Type": {"application/octet-stream"}}, raw)
		if r.status != 200 {
			t.Fatalf("opaque webhook: %d %s", r.status, r.body)
		}
		opaqueID := r.json(t)["jobIds"].([]any)[0].(string)
		jsonBody := []byte(`{"b": 1,  "a": "<&>"}`)
		if r := post(t, client, svc.httpURL+"/v1/webhooks/opaque", http.Header{"Content-Type": {"application/json"}}, jsonBody); r.status != 200 {
			t.Fatalf("JSON webhook: %d %s", r.status, r.body)
		}

		got := map[string]map[string]json.RawMessage{}
		for len(got) < 2 {
			select {
			case b := <-bodies:
				var env map[string]json.RawMessage
				if err := json.Unmarshal(b, &env); err != nil {
					t.Fatalf("delivery is not JSON: %v; %q", err, b)
				}
				var id string
				json.Unmarshal(env["jobId"], &id)
				got[id] = env
			case <-time.After(30 * time.Second):
				t.Fatalf("%d of 2 deliveries arrived", len(got))
			}
		}
		for id, env := range got {
			if id == opaqueID {
				var enc, b64 string
				json.Unmarshal(env["payloadEncoding"], &enc)
				json.Unmarshal(env["payload"], &b64)
				dec, err := base64.StdEncoding.DecodeString(b64)
				if enc != "base64" || err != nil || !bytes.Equal(dec, raw) {
					t.Errorf("opaque delivery: payloadEncoding %q, payload %s (%v); want base64 of %q", enc, env["payload"], err, raw)
				}
				continue
			}
			if _, ok := env["payloadEncoding"]; ok || !bytes.Equal(env["payload"], jsonBody) {
				t.Errorf("JSON delivery: payload %s, encoding %s; want %s as is, no encoding", env["payload"], env["payloadEncoding"], jsonBody)
			}
		}

		r = rest(t, "GET", svc.httpURL+"/v1/jobs/"+opaqueID, admin, nil)
		if r.status != 200 {
			t.Fatalf("GetJob of the opaque job: %d %s", r.status, r.body)
		}
		j := r.json(t)["job"].(map[string]any)
		if dec, _ := base64.StdEncoding.DecodeString(fmt.Sprint(j["payload"])); j["payloadEncoding"] != "base64" || !bytes.Equal(dec, raw) {
			t.Errorf("GetJob shows payload %v, encoding %v; want base64 of the bytes", j["payload"], j["payloadEncoding"])
		}
		r = rest(t, "GET", svc.httpURL+"/v1/jobs?endpoint=receiver", admin, nil)
		if r.status != 200 {
			t.Fatalf("ListJobs with the opaque job: %d %s", r.status, r.body)
		}
		jobs := r.json(t)["jobs"].([]any)
		if len(jobs) != 2 {
			t.Fatalf("ListJobs has %d jobs, want 2", len(jobs))
		}
		for _, x := range jobs {
			j := x.(map[string]any)
			if j["jobId"] != opaqueID {
				if diff := cmp.Diff(map[string]any{"a": "<&>", "b": float64(1)}, j["payload"]); diff != "" || (j["payloadEncoding"] != nil && j["payloadEncoding"] != "") {
					t.Errorf("ListJobs shows the JSON payload (-want +got):\n%s (encoding %v)", diff, j["payloadEncoding"])
				}
			}
		}
	})
}

// TestEndpointInUseCannotBeDeleted: an endpoint a source routes to, or
// with jobs not yet delivered, is refused deletion with
// failed_precondition naming what refers to it; once nothing does, it is
// deleted. (Before, deleting a routed endpoint succeeded, and every
// webhook of the source then made a job no worker would ever claim.)
func TestEndpointInUseCannotBeDeleted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc, admin := startAPIService(t, dbURL, newAPIReceiver(t, apiSecret))
		call := func(method, path string, body any, want int) map[string]any {
			t.Helper()
			r := rest(t, method, svc.httpURL+path, admin, body)
			if r.status != want {
				t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
			}
			return r.json(t)
		}
		call("POST", "/v1/endpoints", map[string]any{"name": "billing", "spec": map[string]any{"url": "https://billing.example/hook"}}, 200)
		// Paused, so that its job stays pending whatever the worker does.
		call("POST", "/v1/endpoints/billing:pause", map[string]any{}, 200)
		call("POST", "/v1/sources", map[string]any{"name": "shop", "spec": map[string]any{"scheme": "none", "routes": []string{"billing"}}}, 200)

		m := call("DELETE", "/v1/endpoints/billing", nil, 400)
		if m["code"] != "failed_precondition" || !strings.Contains(fmt.Sprint(m["message"]), `source "shop"`) {
			t.Errorf("delete a routed endpoint: %v, want failed_precondition naming source \"shop\"", m)
		}
		// It is still there, and the source's webhooks still make jobs for it.
		call("GET", "/v1/endpoints/billing", nil, 200)
		r := post(t, http.DefaultClient, svc.httpURL+"/v1/webhooks/shop", http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
		if r.status != 200 {
			t.Fatalf("webhook: %d %s", r.status, r.body)
		}

		call("DELETE", "/v1/sources/shop", nil, 200)
		m = call("DELETE", "/v1/endpoints/billing", nil, 400)
		if m["code"] != "failed_precondition" || !strings.Contains(fmt.Sprint(m["message"]), "1 jobs not yet delivered") {
			t.Errorf("delete an endpoint with a pending job: %v, want failed_precondition naming the job", m)
		}
		jobs := call("GET", "/v1/jobs?endpoint=billing", nil, 200)["jobs"].([]any)
		if len(jobs) != 1 {
			t.Fatalf("billing has %d jobs, want 1", len(jobs))
		}
		call("POST", "/v1/jobs/"+jobs[0].(map[string]any)["jobId"].(string)+":cancel", map[string]any{}, 200)
		call("DELETE", "/v1/endpoints/billing", nil, 200)
		call("GET", "/v1/endpoints/billing", nil, 404)
	})
}
