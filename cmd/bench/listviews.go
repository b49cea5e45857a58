package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// listViewsGroup measures the console's list views and the API calls
// behind them on a SQLite store of 1 M completed and 100 k pending jobs
// (1.1 M events): each view is fetched listViewRequests times, one after
// another, and its p50 and p95 are reported. The promise: under 100 ms at
// p95, because every list is a keyset page on an index and no page counts
// the table.
func (b *bench) listViewsGroup(ctx context.Context) error {
	cfg, err := b.configFile("listviews", false)
	if err != nil {
		return err
	}
	dbURL, drop, err := b.database(ctx, engineSQLite)
	if err != nil {
		return err
	}
	defer drop()
	c, err := b.startDispatchd(ctx, "dispatchd (migrate)", service{roles: "gateway,ingest", databaseURL: dbURL, config: cfg})
	if err != nil {
		return err
	}
	c.stop()
	b.progress("filling the store: %d completed + %d pending jobs", backlogCompleted, backlogPending)
	path := strings.TrimPrefix(dbURL, "sqlite:")
	if err := fillStore(ctx, path, backlogCompleted, backlogPending, webhookBody()); err != nil {
		return err
	}
	key, _ := apikey.Generate()
	c, err = b.startDispatchd(ctx, "dispatchd (api; 1.1 M-job store)", service{
		roles: "gateway,ingest,api", databaseURL: dbURL, config: cfg, env: []string{"DISPATCHD_API_KEY=" + key},
	})
	if err != nil {
		return err
	}
	defer c.stop()
	base := "http://" + c.httpAddr
	jar, _ := cookiejar.New(nil)
	// Redirects are not followed: the login's goes to the overview, which
	// is not a list view.
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Log in to the console as a browser would.
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/console/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	if resp, err := client.Do(req); err != nil {
		return err
	} else {
		resp.Body.Close()
	}
	views := []struct{ name, path string }{
		{"API: jobs, first page", "/v1/jobs"},
		{"API: jobs of an endpoint, pending", "/v1/jobs?state=JOB_STATE_AVAILABLE&endpoint=receiver"},
		{"API: jobs of a source", "/v1/jobs?source=bench"},
		{"API: request log", "/v1/requests"},
		{"API: audit log", "/v1/audit"},
		{"console: jobs", "/console/jobs"},
		{"console: jobs, dead (none)", "/console/jobs?state=dead"},
		{"console: inbound", "/console/requests"},
		{"console: keys", "/console/keys"},
	}
	n := listViewRequests
	if b.opts.quick {
		n = 50
	}
	for _, v := range views {
		var lat latencies
		for range n {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+v.path, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s: status %d", v.path, resp.StatusCode)
			}
			lat.add(time.Since(t0))
		}
		line := fmt.Sprintf("list view %-36s p50 %6.1f ms  p95 %6.1f ms  (%d requests, 1.1 M jobs)", v.name,
			ms(lat.quantile(0.5)), ms(lat.quantile(0.95)), lat.count())
		b.progress("%s", line)
		b.rep.note("%s", line)
		fmt.Fprintln(os.Stdout, line)
	}
	return nil
}

// listViewRequests is how many times each view is fetched.
const listViewRequests = 200

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
