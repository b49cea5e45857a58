package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// chromium finds a Chromium to drive, or skips the test (fails it when
// DISPATCHD_TEST_REQUIRE_BROWSER=1, as in CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("DISPATCHD_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium found (apt-get install chromium) and DISPATCHD_TEST_REQUIRE_BROWSER=1")
	}
	t.Skip("no Chromium found: apt-get install chromium to run the console's browser test")
	return ""
}

// TestConsoleInBrowser drives the console in headless Chromium through
// what an operator does: log in, follow a webhook to its delivery, read a
// refused webhook's reason, replay a dead job, bulk-retry after a dry-run
// count, pause and resume an endpoint, create and revoke a key, log out.
// With DISPATCHD_CONSOLE_SCREENSHOTS=1 it writes the main views to docs/.
func TestConsoleInBrowser(t *testing.T) {
	exe := chromium(t)
	okRecv := newAPIReceiver(t, apiSecret)
	// "flaky" refuses every delivery with a 400: its jobs go dead at once.
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no thanks", http.StatusBadRequest) }))
	t.Cleanup(flaky.Close)
	// "busy" asks for two minutes of quiet: its job waits to be retried.
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	t.Cleanup(busy.Close)
	bootstrap, _ := apikey.Generate()
	dir := t.TempDir()
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL":           "sqlite:" + filepath.Join(dir, "console.db"),
		"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
		"DISPATCHD_API_KEY":                bootstrap,
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		"DISPATCHD_TRACE_URL":              "http://127.0.0.1:16686/trace/{traceId}",
	}, fmt.Sprintf(`
sources:
  - name: shop
    verify: {scheme: bearer, secret: shop-secret-0123456789}
    routes: [receiver, flaky]
endpoints:
  - name: receiver
    url: %s/hook
    secret: %s
  - name: flaky
    url: %s/hook
    secret: %s
  - name: busy
    url: %s/hook
    secret: %s
`, okRecv.srv.URL, apiSecret, flaky.URL, apiSecret, busy.URL, apiSecret))
	base := svc.httpURL + "/console"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	fatal := func(what string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(bctx, chromedp.Location())
		body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fatal(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fatal("read "+sel, err)
		}
		return s
	}
	attr := func(sel, name string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			fatal("read "+sel, err)
		}
		return a.Value
	}
	location := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			fatal("location", err)
		}
		return l
	}
	shots := os.Getenv("DISPATCHD_CONSOLE_SCREENSHOTS") == "1"
	screenshot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			fatal("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "console-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// eventually reloads url until sel's text contains want.
	eventually := func(url, sel, want string) string {
		t.Helper()
		for {
			run("open "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
			got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.AtLeast(0)))
			if strings.Contains(got, want) {
				return got
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %q never showed %q (last: %q)", url, sel, want, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	webhook := func(secret, body string) int {
		h := http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}}
		return post(t, http.DefaultClient, svc.httpURL+"/v1/webhooks/shop", h, []byte(body)).status
	}

	// Logged out, every page is the login page, and the JSON feed is 401.
	run("logged out", chromedp.Navigate(base+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#key")))
	loc := location()
	if !strings.HasSuffix(loc, "/console/login") || strings.Contains(text("body"), "Endpoint") {
		t.Fatalf("a logged-out browser at /console/jobs got %s: %s", loc, text("body"))
	}
	if r := rest(t, "GET", base+"/requests.json", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /console/requests.json without a session: %d", r.status)
	}
	screenshot("login")

	// A wrong key is refused; the right one logs in.
	run("wrong key", chromedp.SendKeys(chromedp.CSS("#key"), "disp_k1_nope"), chromedp.Submit(chromedp.CSS("#key")), chromedp.WaitVisible(chromedp.CSS("#error")))
	run("log in", chromedp.SetValue(chromedp.CSS("#key"), bootstrap), chromedp.Submit(chromedp.CSS("#key")), chromedp.WaitVisible(chromedp.CSS("#overview")))

	// The inbound log is live: a forged webhook appears without a reload,
	// with the exact reason.
	run("inbound", chromedp.Navigate(base+"/requests"), chromedp.WaitVisible(chromedp.CSS("#requests")))
	if s := webhook("shop-secret-0123456789", `{"order":1}`); s != 200 {
		t.Fatalf("webhook: %d", s)
	}
	if s := webhook("forged-secret", `{"order":"forged"}`); s != 401 {
		t.Fatalf("forged webhook: %d", s)
	}
	run("live row", chromedp.WaitVisible(chromedp.CSS("#requests tr.unauthorized a")))
	screenshot("inbound")
	run("open refused", chromedp.Click(chromedp.CSS("#requests tr.unauthorized a")), chromedp.WaitVisible(chromedp.CSS("#reason")))
	if r := text("#reason"); !strings.Contains(r, "bearer") {
		t.Errorf("refused reason = %q, want the scheme and the check", r)
	}
	if b := text("#body"); !strings.Contains(b, `"forged"`) {
		t.Errorf("refused body excerpt = %q", b)
	}

	// Follow the accepted webhook to its delivery attempt.
	run("jobs of receiver", chromedp.Navigate(base+"/jobs?source=shop&endpoint=receiver"), chromedp.WaitVisible(chromedp.CSS("#jobs tbody a")))
	jobURL := attr("#jobs tbody a", "href")
	eventually(svc.httpURL+jobURL, "#timeline", "attempt 1: completed")
	screenshot("job")

	// A 503 with Retry-After: the timeline shows the wait asked for and
	// the headers sent, the signature and the bearer secret masked.
	created := rest(t, "POST", svc.httpURL+"/v1/jobs", bootstrap, map[string]any{"endpoint": "busy", "payload": map[string]any{"n": 1}})
	if created.status != 200 {
		t.Fatalf("POST /v1/jobs to busy: %d %s", created.status, created.body)
	}
	busyID := created.json(t)["job"].(map[string]any)["jobId"].(string)
	tl := eventually(base+"/jobs/"+busyID, "#timeline", "attempt 1: retry")
	for _, want := range []string{"status 503", "Retry-After: 2m0s", "Webhook-Signature", "v1,***", "Authorization", "Bearer ***", "Webhook-Id", busyID, "Content-Type"} {
		if !strings.Contains(tl, want) {
			t.Errorf("busy job's timeline lacks %q:\n%s", want, tl)
		}
	}
	if strings.Contains(tl, apiSecret) {
		t.Errorf("busy job's timeline shows the endpoint's secret:\n%s", tl)
	}

	// The flaky endpoint's job is dead; replay it from its page.
	eventually(base+"/jobs?state=dead&endpoint=flaky", "#jobs tbody", "dead")
	deadURL := attr("#jobs tbody a", "href")
	run("replay", chromedp.Navigate(svc.httpURL+deadURL), chromedp.Click(chromedp.CSS("#job-retry")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if f := text("#flash"); !strings.Contains(f, "retry done") {
		t.Errorf("after replay: %q", f)
	}
	eventually(svc.httpURL+deadURL, "#timeline", "attempt 2")

	// Two more webhooks: three dead jobs of flaky; a bulk retry counts them
	// first, then retries them all.
	for i := range 2 {
		webhook("shop-secret-0123456789", fmt.Sprintf(`{"order":%d}`, i+2))
	}
	eventually(base+"/jobs?state=dead&endpoint=flaky", "#jobs tbody", "")
	for {
		run("count dead", chromedp.Navigate(base+"/jobs?state=dead&endpoint=flaky"), chromedp.WaitReady(chromedp.CSS("#jobs")))
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#jobs tbody tr.dead").length`))
		if err != nil {
			fatal("count dead", err)
		}
		if rows == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d dead jobs of flaky, want 3", rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
	screenshot("jobs")
	run("bulk dry run", chromedp.SetValue(chromedp.CSS("#bulk-action"), "retry"), chromedp.Click(chromedp.CSS("#bulk-preview")), chromedp.WaitVisible(chromedp.CSS("#bulk-count")))
	if c := text("#bulk-count"); !strings.HasPrefix(c, "3 jobs match") {
		t.Fatalf("dry-run count = %q, want 3", c)
	}
	run("bulk confirm", chromedp.Click(chromedp.CSS("#bulk-confirm")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if f := text("#flash"); !strings.Contains(f, "3 jobs matched, 3 changed") {
		t.Errorf("after the bulk retry: %q", f)
	}

	// Pause and resume an endpoint.
	run("pause", chromedp.Navigate(base+"/endpoints"), chromedp.Click(chromedp.CSS("#ep-receiver button.pause")), chromedp.WaitVisible(chromedp.CSS("#ep-receiver button.resume")))
	if s := text("#ep-receiver td.state"); s != "paused" {
		t.Errorf("after pause: %q", s)
	}
	screenshot("endpoints")
	run("resume", chromedp.Click(chromedp.CSS("#ep-receiver button.resume")), chromedp.WaitVisible(chromedp.CSS("#ep-receiver button.pause")))
	if s := text("#ep-receiver td.state"); s != "active" {
		t.Errorf("after resume: %q", s)
	}

	// Create a key (shown once) and revoke it.
	run("create key", chromedp.Navigate(base+"/keys"), chromedp.SendKeys(chromedp.CSS("#key-name"), "browser-key"),
		chromedp.Click(chromedp.CSS("#key-create-button")), chromedp.WaitVisible(chromedp.CSS("#secret")))
	secret := text("#secret")
	if !strings.HasPrefix(secret, "disp_k1_") {
		t.Fatalf("one-time key = %q", secret)
	}
	if r := rest(t, "GET", svc.httpURL+"/v1/requests?pageSize=1", secret, nil); r.status != 200 {
		t.Errorf("the new key does not work: %d", r.status)
	}
	run("reload keys", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS(`tr[data-key="browser-key"]`)))
	if strings.Contains(text("body"), secret) {
		t.Error("the key is shown again after the one-time reveal")
	}
	run("revoke", chromedp.Click(chromedp.CSS(`tr[data-key="browser-key"] button.revoke`)), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if s := text(`tr[data-key="browser-key"] td.state`); !strings.HasPrefix(s, "revoked") {
		t.Errorf("after revoke: %q", s)
	}
	if r := rest(t, "GET", svc.httpURL+"/v1/requests?pageSize=1", secret, nil); r.status != 401 {
		t.Errorf("the revoked key still works: %d", r.status)
	}
	screenshot("keys")

	run("audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("#audit")))
	a := text("#audit")
	for _, want := range []string{"key.revoke", "key.create", "endpoint.resume", "endpoint.pause", "jobs.bulk_retry", "job.retry"} {
		if !strings.Contains(a, want) {
			t.Errorf("audit log lacks %s:\n%s", want, a)
		}
	}
	screenshot("audit")
	run("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#overview")))
	screenshot("overview")

	// The events view: the accepted webhook, its headers without the
	// credential, its body and its jobs.
	run("events", chromedp.Navigate(base+"/events?source=shop"), chromedp.WaitVisible(chromedp.CSS("#events tbody a")))
	screenshot("events")
	eventURL := attr("#events tbody tr:last-child a", "href")
	run("event", chromedp.Navigate(svc.httpURL+eventURL), chromedp.WaitVisible(chromedp.CSS("#event-body")))
	if b := text("#event-body"); !strings.Contains(b, `"order":1`) {
		t.Errorf("the oldest shop event's body = %q", b)
	}
	if h := strings.ToLower(text("#event-headers")); !strings.Contains(h, "content-type") || strings.Contains(h, "authorization") || strings.Contains(h, "shop-secret") {
		t.Errorf("event headers = %q: want content-type and no credential", h)
	}
	if j := text("#event-jobs"); !strings.Contains(j, "receiver") || !strings.Contains(j, "flaky") {
		t.Errorf("event jobs = %q, want one per route", j)
	}

	// Text in the payload: the one webhook with order 3, through the form.
	run("text filter", chromedp.Navigate(base+"/jobs?source=shop"), chromedp.SendKeys(chromedp.CSS("#text"), `"order":3`),
		chromedp.Click(chromedp.CSS("#filter")), chromedp.WaitVisible(chromedp.CSS("#search-note")))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#jobs tbody a").length`))
	if err != nil || rows != 2 {
		t.Errorf("jobs with \"order\":3: %d rows (%v), want 2 (receiver and flaky)", rows, err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#bulk").length`)); n != 0 {
		t.Error("bulk actions offered with a text filter (they would ignore the text)")
	}
	screenshot("jobs-text")

	// Log out: the session is gone on the server too.
	run("log out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.CSS("#key")))
	run("after logout", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS("#key")))
	if loc = location(); !strings.HasSuffix(loc, "/console/login") {
		t.Errorf("after logout /console/keys went to %s", loc)
	}

	// A read key sees the pages but no action.
	created = rest(t, "POST", svc.httpURL+"/v1/keys", bootstrap, map[string]any{"name": "viewer", "scope": "read"})
	if created.status != 200 {
		t.Fatalf("create a read key: %d %s", created.status, created.body)
	}
	readKey, _ := created.json(t)["key"].(string)
	run("log in read", chromedp.SetValue(chromedp.CSS("#key"), readKey), chromedp.Submit(chromedp.CSS("#key")), chromedp.WaitVisible(chromedp.CSS("#overview")))
	for _, c := range []struct{ page, sel string }{
		{"/jobs", "#bulk"}, {"/endpoints", "button.pause"}, {"/keys", "#key-create"}, {"/keys", "button.revoke"}, {svc.httpURL + deadURL, "#job-retry"},
	} {
		u := c.page
		if strings.HasPrefix(u, "/") {
			u = base + u
		}
		run("read key "+c.page, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")))
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, c.sel))); n != 0 {
			t.Errorf("a read key sees %s on %s", c.sel, c.page)
		}
	}
	if rows := text("#timeline"); !strings.Contains(rows, "attempt") {
		t.Errorf("a read key's job page lacks its timeline: %q", rows)
	}
}
