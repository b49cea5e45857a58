package main

import (
	"net/http"
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
