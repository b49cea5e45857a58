package main

import (
	"context"
	"database/sql"
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
	b.progress("adding rare rows: dead jobs, a second endpoint, a day of attempts")
	if err := addListViewRows(ctx, path); err != nil {
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
	// Time windows: the last hour (pending jobs), and an hour three days
	// back among the completed ones.
	now := time.Now().UTC()
	lastHour := url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339))
	oldFrom, oldTo := url.QueryEscape(now.Add(-72*time.Hour).Format(time.RFC3339)), url.QueryEscape(now.Add(-71*time.Hour).Format(time.RFC3339))
	views := []struct{ name, path string }{
		{"API: jobs, first page", "/v1/jobs"},
		{"API: jobs, dead (rare)", "/v1/jobs?state=JOB_STATE_DEAD"},
		{"API: jobs, cancelled (none)", "/v1/jobs?state=JOB_STATE_CANCELLED"},
		{"API: jobs of an endpoint", "/v1/jobs?endpoint=receiver"},
		{"API: jobs of a rare endpoint", "/v1/jobs?endpoint=rare"},
		{"API: jobs of an endpoint, pending", "/v1/jobs?state=JOB_STATE_AVAILABLE&endpoint=receiver"},
		{"API: jobs of an endpoint, dead", "/v1/jobs?state=JOB_STATE_DEAD&endpoint=receiver"},
		{"API: jobs of a source", "/v1/jobs?source=bench"},
		{"API: jobs of a source, dead", "/v1/jobs?state=JOB_STATE_DEAD&source=bench"},
		{"API: jobs, source + endpoint", "/v1/jobs?source=bench&endpoint=receiver"},
		{"API: jobs, last hour", "/v1/jobs?createdAfter=" + lastHour},
		{"API: jobs, an hour 3 days ago", "/v1/jobs?createdAfter=" + oldFrom + "&createdBefore=" + oldTo},
		{"API: jobs, dead, an hour 3 days ago", "/v1/jobs?state=JOB_STATE_DEAD&createdAfter=" + oldFrom + "&createdBefore=" + oldTo},
		{"API: events, first page", "/v1/events"},
		{"API: events of a source", "/v1/events?source=bench"},
		{"API: events of a rare source", "/v1/events?source=bench-rare"},
		{"API: events by delivery id", "/v1/events?deliveryId=msg_backlog_500000"},
		{"API: events, an hour 3 days ago", "/v1/events?receivedAfter=" + oldFrom + "&receivedBefore=" + oldTo},
		{"API: request log", "/v1/requests"},
		{"API: request log, refused", "/v1/requests?outcome=unauthorized"},
		{"API: audit log", "/v1/audit"},
		{"API: stats, 24 h", "/v1/stats?window=24h"},
		{"API: stats of an endpoint, 7 d", "/v1/stats?window=7d&endpoint=receiver"},
		{"console: jobs", "/console/jobs"},
		{"console: jobs, dead", "/console/jobs?state=dead"},
		{"console: jobs of a source", "/console/jobs?source=bench"},
		{"console: inbound", "/console/requests"},
		{"console: overview", "/console/"},
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
		line := fmt.Sprintf("list view %-40s p50 %6.1f ms  p95 %6.1f ms  (%d requests, 1.1 M jobs)", v.name,
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

// addListViewRows makes the rows the filters must find among a million
// others: 500 dead jobs spread over the week, 200 jobs of a rare
// endpoint, events of a rare source, and 100 k attempts over the last day
// (what the stats' delivery side reads).
func addListViewRows(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	for _, stmt := range []string{
		// The pending jobs were made after the completed ones, so their ids
		// (kept increasing by job.NewID) carry the end of the fill, not the
		// hour-old times fillStore gives them: the service makes an id and
		// its created_at from one clock, so do the same here.
		fmt.Sprintf(`UPDATE jobs SET created_at = %d WHERE state = 'available'`, now.UnixMicro()),
		`UPDATE jobs SET state = 'dead' WHERE rowid % 2000 = 7 AND state = 'completed'`,
		`UPDATE jobs SET endpoint = 'rare' WHERE rowid % 5000 = 11 AND state = 'completed'`,
		`UPDATE events SET source = 'bench-rare' WHERE rowid % 5000 = 13`,
		// Attempts name their endpoint, as dispatchd writes them since 0017.
		fmt.Sprintf(`INSERT INTO attempts (id, job_id, attempt_number, started_at, latency_us, status_code, outcome, endpoint, request_headers)
			SELECT 'att_' || id, id, 1, %d - (rowid %% 86400) * 1000000, 20000 + rowid %% 5000, 200, 'completed', endpoint, '{}'
			FROM jobs WHERE state = 'completed' AND rowid %% 10 = 0`, now.UnixMicro()),
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}
