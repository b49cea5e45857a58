package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
)

// consoleConfig declares a Bearer source routed to the test's receiver.
func consoleConfig(receiverURL string) string {
	return fmt.Sprintf(`
default_endpoint: receiver
sources:
  - name: shop
    verify: {scheme: bearer, secret: shop-secret-0123456789}
    max_body_bytes: 1024
    routes: [receiver]
endpoints:
  - name: receiver
    url: %s/hook
    secret: %s
    timeout: 5s
    retry: {schedule: [1s]}
`, receiverURL, apiSecret)
}

// TestConsoleAPI checks the RPCs behind the console on both engines:
// the request log, stats, bulk actions, the audit log and key usage.
func TestConsoleAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		bootstrap, _ := apikey.Generate()
		svc := startService(t, map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                bootstrap,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}, consoleConfig(recv.srv.URL))
		conn, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		ctx, cancel := context.WithTimeout(withKey(context.Background(), bootstrap), 60*time.Second)
		defer cancel()
		requests := dispatchdv1.NewRequestServiceClient(conn)
		stats := dispatchdv1.NewStatsServiceClient(conn)
		audit := dispatchdv1.NewAuditServiceClient(conn)
		jobs := dispatchdv1.NewJobServiceClient(conn)
		keys := dispatchdv1.NewKeyServiceClient(conn)
		endpoints := dispatchdv1.NewEndpointServiceClient(conn)

		hook := svc.httpURL + "/v1/webhooks/shop"
		good := http.Header{"Authorization": {"Bearer shop-secret-0123456789"}, "Content-Type": {"application/json"}}
		if r := post(t, http.DefaultClient, hook, good, []byte(`{"order":1}`)); r.status != 200 {
			t.Fatalf("accepted webhook: %d %s", r.status, r.body)
		}
		forged := http.Header{"Authorization": {"Bearer forged"}, "Content-Type": {"application/json"}}
		if r := post(t, http.DefaultClient, hook, forged, []byte(`{"forged":true}`)); r.status != 401 {
			t.Fatalf("forged webhook: %d %s", r.status, r.body)
		}
		if r := post(t, http.DefaultClient, hook, good, []byte(strings.Repeat("x", 2000))); r.status != 413 {
			t.Fatalf("large webhook: %d %s", r.status, r.body)
		}
		if r := post(t, http.DefaultClient, svc.httpURL+"/v1/webhooks/nope", good, []byte(`{}`)); r.status != 404 {
			t.Fatalf("unknown source: %d %s", r.status, r.body)
		}

		t.Run("ListRequests", func(t *testing.T) {
			got, err := requests.ListRequests(ctx, &dispatchdv1.ListRequestsRequest{Source: "shop"})
			if err != nil {
				t.Fatal(err)
			}
			var outcomes []string
			for _, r := range got.GetRequests() {
				outcomes = append(outcomes, fmt.Sprintf("%s/%d", r.GetOutcome(), r.GetStatusCode()))
			}
			if fmt.Sprint(outcomes) != "[too_large/413 unauthorized/401 accepted/200]" {
				t.Fatalf("outcomes newest first = %v", outcomes)
			}
			refused := got.GetRequests()[1]
			if !strings.Contains(refused.GetReason(), "bearer") || refused.GetRemoteAddr() != "127.0.0.1" {
				t.Errorf("refused request: reason %q, remote %q", refused.GetReason(), refused.GetRemoteAddr())
			}
			one, err := requests.GetRequest(ctx, &dispatchdv1.GetRequestRequest{RequestId: refused.GetRequestId()})
			if err != nil {
				t.Fatal(err)
			}
			if string(one.GetRequest().GetBodyExcerpt()) != `{"forged":true}` || one.GetRequest().GetHeaders()["authorization"] != "" ||
				one.GetRequest().GetHeaders()["content-type"] != "application/json" {
				t.Errorf("GetRequest = %v", one.GetRequest())
			}
			// REST, and the unknown source.
			r := rest(t, "GET", svc.httpURL+"/v1/requests?outcome=unknown_source", bootstrap, nil)
			if r.status != 200 || !strings.Contains(string(r.body), `"source":"nope"`) {
				t.Errorf("GET /v1/requests?outcome=unknown_source: %d %s", r.status, r.body)
			}
			if r := rest(t, "GET", svc.httpURL+"/v1/requests", "", nil); r.status != 401 {
				t.Errorf("GET /v1/requests without a key: %d", r.status)
			}
		})

		t.Run("GetStats", func(t *testing.T) {
			got, err := stats.GetStats(ctx, &dispatchdv1.GetStatsRequest{Source: "shop", Window: "1h"})
			if err != nil {
				t.Fatal(err)
			}
			sum := map[string]int64{}
			for _, p := range got.GetPoints() {
				for k, v := range p.GetReceived() {
					sum[k] += v
				}
			}
			if sum["accepted"] != 1 || sum["unauthorized"] != 1 || sum["too_large"] != 1 || len(got.GetPoints()) < 60 {
				t.Errorf("received over 1h = %v in %d points", sum, len(got.GetPoints()))
			}
			if _, err := stats.GetStats(ctx, &dispatchdv1.GetStatsRequest{Window: "2w"}); err == nil {
				t.Error("window 2w accepted")
			}
			r := rest(t, "GET", svc.httpURL+"/v1/stats?window=24h&endpoint=receiver", bootstrap, nil)
			if r.status != 200 || r.json(t)["bucketSeconds"] != "900" {
				t.Errorf("GET /v1/stats: %d %s", r.status, r.body)
			}
		})

		t.Run("BulkJobsAndAudit", func(t *testing.T) {
			payload, _ := structpb.NewValue(map[string]any{"n": 1.0})
			later := timestamppb.New(time.Now().Add(time.Hour))
			for range 3 {
				if _, err := jobs.DispatchJob(ctx, &dispatchdv1.DispatchJobRequest{Endpoint: "receiver", Payload: payload, RunAt: later}); err != nil {
					t.Fatal(err)
				}
			}
			f := &dispatchdv1.JobFilter{State: dispatchdv1.JobState_JOB_STATE_SCHEDULED, Endpoint: "receiver"}
			dry, err := jobs.BulkJobs(ctx, &dispatchdv1.BulkJobsRequest{Filter: f, Action: dispatchdv1.BulkAction_BULK_ACTION_CANCEL, DryRun: true})
			if err != nil || dry.GetMatched() != 3 || dry.GetAffected() != 0 {
				t.Fatalf("dry run = %v, %v", dry, err)
			}
			r := rest(t, "POST", svc.httpURL+"/v1/jobs:bulk", bootstrap, map[string]any{
				"filter": map[string]any{"state": "JOB_STATE_SCHEDULED", "endpoint": "receiver"}, "action": "BULK_ACTION_CANCEL"})
			if r.status != 200 || r.json(t)["affected"] != "3" {
				t.Fatalf("POST /v1/jobs:bulk: %d %s", r.status, r.body)
			}
			if _, err := jobs.BulkJobs(ctx, &dispatchdv1.BulkJobsRequest{Filter: f}); err == nil {
				t.Error("a bulk request without an action was accepted")
			}
			if _, err := endpoints.PauseEndpoint(ctx, &dispatchdv1.PauseEndpointRequest{Name: "receiver"}); err != nil {
				t.Fatal(err)
			}
			got, err := audit.ListAuditEntries(ctx, &dispatchdv1.ListAuditEntriesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, e := range got.GetEntries() {
				lines = append(lines, e.GetKeyId()+" "+e.GetAction()+" "+e.GetTarget()+" "+e.GetDetail())
			}
			want := "[bootstrap endpoint.pause receiver  bootstrap jobs.bulk_cancel state=scheduled endpoint=receiver matched 3, affected 3]"
			if fmt.Sprint(lines) != want {
				t.Errorf("audit entries:\n got %v\nwant %v", lines, want)
			}
		})

		t.Run("EventsView", func(t *testing.T) {
			admin := consoleLogin(t, svc.httpURL, bootstrap)
			list := consoleGet(t, admin, svc.httpURL+"/console/events?source=shop")
			m := regexp.MustCompile(`href="/console/events/(evt_[0-9A-Z]+)"`).FindStringSubmatch(list)
			if m == nil {
				t.Fatalf("events of shop: no event listed:\n%s", list)
			}
			if other := consoleGet(t, admin, svc.httpURL+"/console/events?source=nope"); strings.Contains(other, "/console/events/evt_") {
				t.Errorf("events of an unknown source list an event")
			}
			detail := consoleGet(t, admin, svc.httpURL+"/console/events/"+m[1])
			if !strings.Contains(detail, "{&#34;order&#34;:1}") || !strings.Contains(detail, `href="/console/jobs/job_`) || !strings.Contains(detail, "content-type") {
				t.Errorf("event detail: want the body, a job and the headers:\n%s", detail)
			}
			if strings.Contains(detail, "shop-secret") || strings.Contains(strings.ToLower(detail), ">authorization<") {
				t.Errorf("event detail shows a credential:\n%s", detail)
			}
		})

		t.Run("ReadKeySeesButCannotAct", func(t *testing.T) {
			read, err := keys.CreateKey(ctx, &dispatchdv1.CreateKeyRequest{Name: "viewer", Scope: "read"})
			if err != nil {
				t.Fatal(err)
			}
			who := rest(t, "GET", svc.httpURL+"/v1/whoami", read.GetKey(), nil)
			if who.status != 200 || who.json(t)["scope"] != "read" {
				t.Fatalf("GET /v1/whoami with a read key: %d %s", who.status, who.body)
			}
			// Each page and the actions it offers to an admin key.
			pages := map[string][]string{
				"/console/jobs":      {`action="/console/jobs/bulk"`},
				"/console/endpoints": {`action="/console/endpoints/receiver/`, `/test"`, `/replay"`},
				"/console/keys":      {`id="key-create"`, `/revoke"`},
				"/console/sources":   {`/test"`},
			}
			admin, reader := consoleLogin(t, svc.httpURL, bootstrap), consoleLogin(t, svc.httpURL, read.GetKey())
			for path, actions := range pages {
				adminPage, readPage := consoleGet(t, admin, svc.httpURL+path), consoleGet(t, reader, svc.httpURL+path)
				for _, a := range actions {
					if !strings.Contains(adminPage, a) {
						t.Errorf("%s as admin: no %s", path, a)
					}
					if strings.Contains(readPage, a) {
						t.Errorf("%s as a read key: offers %s", path, a)
					}
				}
			}
			// The server refuses the action anyway.
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(consoleGet(t, reader, svc.httpURL+"/console/jobs"))
			if csrf == nil {
				t.Fatal("no CSRF token on the read key's page")
			}
			before, err := endpoints.GetEndpoint(ctx, &dispatchdv1.GetEndpointRequest{Name: "receiver"})
			if err != nil {
				t.Fatal(err)
			}
			action := "pause"
			if before.GetEndpoint().GetPaused() {
				action = "resume"
			}
			req, _ := http.NewRequest("POST", svc.httpURL+"/console/endpoints/receiver/"+action, strings.NewReader(url.Values{"csrf": {csrf[1]}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", svc.httpURL)
			resp, err := reader.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ep, err := endpoints.GetEndpoint(ctx, &dispatchdv1.GetEndpointRequest{Name: "receiver"})
			if err != nil || ep.GetEndpoint().GetPaused() != before.GetEndpoint().GetPaused() {
				t.Errorf("after a read key's %s: paused=%v, %v; want it unchanged", action, ep.GetEndpoint().GetPaused(), err)
			}
		})

		t.Run("KeyUsage", func(t *testing.T) {
			created, err := keys.CreateKey(ctx, &dispatchdv1.CreateKeyRequest{Name: "reporting"})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if r := rest(t, "GET", svc.httpURL+"/v1/requests?pageSize=1", created.GetKey(), nil); r.status != 200 {
					t.Fatalf("GET with the new key: %d %s", r.status, r.body)
				}
			}
			got, err := keys.GetKey(ctx, &dispatchdv1.GetKeyRequest{KeyId: created.GetApiKey().GetKeyId()})
			if err != nil {
				t.Fatal(err)
			}
			// The first request of a minute is written at once; the next
			// ones within it wait for a later one.
			k := got.GetApiKey()
			if k.GetLastUsedAt() == nil || len(k.GetUsage()) != 1 || k.GetUsage()[0].GetRequests() < 1 ||
				k.GetUsage()[0].GetDay() != time.Now().UTC().Format(time.DateOnly) {
				t.Errorf("key after use: last used %v, usage %v", k.GetLastUsedAt(), k.GetUsage())
			}
			entries, _ := audit.ListAuditEntries(ctx, &dispatchdv1.ListAuditEntriesRequest{PageSize: 1})
			if e := entries.GetEntries(); len(e) != 1 || e[0].GetAction() != "key.create" || e[0].GetTarget() != created.GetApiKey().GetKeyId() {
				t.Errorf("newest audit entry = %v", e)
			}
		})
	})
}

// consoleLogin logs in to the console with key and returns a client that
// holds the session cookie and does not follow redirects.
func consoleLogin(t *testing.T, base, key string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", base+"/console/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login: %d", resp.StatusCode)
	}
	return c
}

// consoleGet returns a console page's HTML.
func consoleGet(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}
