package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
