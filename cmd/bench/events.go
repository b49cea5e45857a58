package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// groupEvents measures publishing one event to 1, 10 and 100 subscribed
// endpoints, and ingestion with a CEL filter and transformation on its
// route against the same route without them (SQLite, a fresh database for
// each; no worker, so jobs accumulate as in the ingest group).
const groupEvents = "events"

var fanOuts = []int{1, 10, 100}

// eventsConfig declares n endpoints subscribed to order.*, and a source
// per routing style: bench (a bare route) and bench-cel (the same route
// with a filter and a transformation).
func (b *bench) eventsConfig(n int) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, `sources:
  - name: bench
    verify: {scheme: standard-webhooks, secret: %[1]q}
    event_type: {json: /type}
    routes: [sub-0]
  - name: bench-cel
    verify: {scheme: standard-webhooks, secret: %[1]q}
    event_type: {json: /type}
    routes:
      - endpoint: sub-0
        filter: 'type == "bench.event" && payload.data.customer.startsWith("cus_")'
        transform: '{"customer": payload.data.customer, "kind": type}'
endpoints:
`, b.signer.secret)
	for i := range n {
		fmt.Fprintf(&sb, "  - name: sub-%d\n    url: %q\n    secret: %q\n    event_types: [\"order.*\"]\n", i, b.rcv.url, b.endpointSecret)
	}
	path := filepath.Join(b.tmp, fmt.Sprintf("events-%d.yaml", n))
	return path, os.WriteFile(path, []byte(sb.String()), 0o600)
}

// publishes returns a requestFunc of POST /v1/events of a 1 KiB payload.
func publishes(url, key string) requestFunc {
	body := []byte(`{"type":"order.created","payload":` + string(webhookBody()) + `}`)
	return func(ctx context.Context, _, _ int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		return req, nil
	}
}

func (b *bench) eventsGroup(ctx context.Context) error {
	type fan struct {
		n            int
		events, jobs *row
	}
	var fans []fan
	for _, n := range fanOuts {
		fans = append(fans, fan{n,
			b.rep.row(fmt.Sprintf("publish-%d", n), fmt.Sprintf("publish SQLite to %d subscribers, closed loop %d conns", n, b.opts.conns), "events/s", byRate, ""),
			b.rep.row(fmt.Sprintf("publish-%d-jobs", n), fmt.Sprintf("  the jobs those make (%d per event)", n), "jobs/s", byRate, ""),
		})
	}
	plain := b.rep.row("route-plain", fmt.Sprintf("ingest SQLite, bare route, closed loop %d conns", b.opts.conns), "req/s", byRate, "")
	cel := b.rep.row("route-cel", "ingest SQLite, CEL filter + transform on the route", "req/s", byRate, "bare route")

	key, _ := apikey.Generate()
	// start runs dispatchd on a fresh SQLite database with n subscribers;
	// stop ends it and drops the database.
	start := func(name string, n int) (c *child, stop func(), err error) {
		cfg, err := b.eventsConfig(n)
		if err != nil {
			return nil, nil, err
		}
		url, drop, err := b.database(ctx, engineSQLite)
		if err != nil {
			return nil, nil, err
		}
		c, err = b.startDispatchd(ctx, name, service{
			roles: "gateway,ingest,api", databaseURL: url, config: cfg, env: []string{"DISPATCHD_API_KEY=" + key},
		})
		if err != nil {
			drop()
			return nil, nil, err
		}
		return c, func() { c.stop(); drop() }, nil
	}
	for _, f := range fans {
		c, stop, err := start(fmt.Sprintf("dispatchd (events, %d subscribers)", f.n), f.n)
		if err != nil {
			return err
		}
		for round := range b.opts.rounds {
			r := figureOf(closedLoop{
				conns: b.opts.conns, warmup: b.opts.warmup, duration: b.opts.duration, want: http.StatusOK,
				request: publishes("http://"+c.httpAddr+"/v1/events", key),
			}.run(ctx))
			b.record(f.events, round, r, figure{})
			jobs := r
			jobs.rate *= float64(f.n)
			b.record(f.jobs, round, jobs, figure{})
		}
		err = c.alive()
		stop()
		if err != nil {
			return err
		}
	}
	// The bare and the CEL route each run on a fresh database. Measured one
	// after the other on one database, the second paid for the rows the
	// first wrote: on 2 cores the CEL route read 0.59 of the bare route
	// when measured second and 0.87 when measured first.
	for round := range b.opts.rounds {
		var figs [2]figure
		for i, source := range []string{"bench", "bench-cel"} {
			c, stop, err := start("dispatchd (events, "+source+")", 1)
			if err != nil {
				return err
			}
			figs[i] = b.closed(ctx, "http://"+c.httpAddr+"/v1/webhooks/"+source, http.StatusOK, b.opts.conns, nil)
			err = c.alive()
			stop()
			if err != nil {
				return err
			}
		}
		b.record(plain, round, figs[0], figure{})
		b.record(cel, round, figs[1], figs[0])
	}
	cel.note("the filter is true for every webhook: each one runs both expressions")
	return nil
}
