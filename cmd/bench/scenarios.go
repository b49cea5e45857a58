package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	engineSQLite   = "sqlite"
	enginePostgres = "postgres"
)

var engines = []string{engineSQLite, enginePostgres}

func engineName(e string) string {
	if e == engineSQLite {
		return "SQLite"
	}
	return "PostgreSQL"
}

// available says whether engine can be measured, and marks r skipped if
// not.
func (b *bench) available(engine string, r *row) bool {
	if engine == enginePostgres && b.pg == nil {
		r.skipped = "no PostgreSQL at 127.0.0.1:5432"
		return false
	}
	return true
}

// record adds a round to r and prints it.
func (b *bench) record(r *row, round int, f, ref figure) {
	r.add(f, ref)
	b.progress("round %d/%d  %s: %s", round+1, b.opts.rounds, r.name, r.roundLine(len(r.rounds)-1))
}

func (b *bench) selected(group string) bool {
	for _, g := range b.opts.only {
		if g == group {
			return true
		}
	}
	return false
}

// --- ingest: closed loop, and tracing on vs off ---

// ingestService returns the ingest-only dispatchd of engine (gateway and
// ingest, no worker: jobs accumulate), started on first use and shared by
// the ingest and ack groups.
func (b *bench) ingestService(ctx context.Context, engine string, env ...string) (*child, func(), error) {
	cfg, err := b.configFile("ingest", false)
	if err != nil {
		return nil, nil, err
	}
	url, drop, err := b.database(ctx, engine)
	if err != nil {
		return nil, nil, err
	}
	name := "dispatchd (gateway,ingest; " + engineName(engine) + ")"
	c, err := b.startDispatchd(ctx, name, service{roles: "gateway,ingest", databaseURL: url, config: cfg, env: env})
	if err != nil {
		drop()
		return nil, nil, err
	}
	return c, func() { c.stop(); drop() }, nil
}

// ingestServices starts (once) the ingest-only processes of each engine.
func (b *bench) ingestServices(ctx context.Context) (map[string]*child, error) {
	if b.ingest != nil {
		return b.ingest, nil
	}
	b.ingest = map[string]*child{}
	for _, e := range engines {
		if e == enginePostgres && b.pg == nil {
			continue
		}
		c, stop, err := b.ingestService(ctx, e)
		if err != nil {
			return nil, err
		}
		b.ingest[e] = c
		b.stopIngest = append(b.stopIngest, stop)
	}
	return b.ingest, nil
}

func (b *bench) releaseIngestServices() {
	for _, stop := range b.stopIngest {
		stop()
	}
	b.ingest, b.stopIngest = nil, nil
}

func webhookURL(c *child) string { return "http://" + c.httpAddr + "/v1/webhooks/bench" }

// closed measures signed webhooks to url in a closed loop of conns
// connections, expecting status want.
func (b *bench) closed(ctx context.Context, url string, want, conns int, measuring func()) figure {
	return figureOf(closedLoop{
		conns: conns, warmup: b.opts.warmup, duration: b.opts.duration, want: want,
		request: webhooks(url, b.signer), measuring: measuring,
	}.run(ctx))
}

// closedIngest is closed with the commit batch size read from /metrics
// when the window opens and closes.
func (b *bench) closedIngest(ctx context.Context, c *child) (figure, error) {
	var before string
	var scrapeErr error
	opened := make(chan struct{})
	f := b.closed(ctx, webhookURL(c), http.StatusOK, b.opts.conns, func() {
		before, scrapeErr = scrape(ctx, c.httpAddr)
		close(opened)
	})
	select {
	case <-opened:
	case <-ctx.Done():
		return f, ctx.Err()
	}
	if err := c.alive(); err != nil {
		return f, err
	}
	after, err := scrape(ctx, c.httpAddr)
	if err = errors.Join(scrapeErr, err); err != nil {
		f.note = "no commit batch size: " + err.Error()
	} else {
		f.batch = batchSize(before, after)
	}
	return f, nil
}

func (b *bench) ingestGroup(ctx context.Context) error {
	rawRow := b.rep.row("raw", fmt.Sprintf("R_raw: net/http 1 KiB POST → 202, closed loop %d conns", b.opts.conns), "req/s", byRate, "")
	rows := map[string]*row{}
	for _, e := range engines {
		rows[e] = b.rep.row("ingest-"+e, fmt.Sprintf("ingest %s, signed 1 KiB, closed loop %d conns", engineName(e), b.opts.conns), "req/s", byRate, "R_raw")
		b.available(e, rows[e])
	}
	traceRow := b.rep.row("tracing", "ingest SQLite, tracing on (OTLP/gRPC export)", "req/s", byRate, "tracing off")
	sealRow := b.rep.row("encrypt-payloads", "ingest SQLite, DISPATCHD_ENCRYPT_PAYLOADS=true", "req/s", byRate, "payload encryption off")
	defer func() {
		if !b.selected(groupAck) {
			b.releaseIngestServices()
		}
	}()
	procs, err := b.ingestServices(ctx)
	if err != nil {
		return err
	}

	sink, err := startSpanSink()
	if err != nil {
		return err
	}
	defer sink.srv.Stop()
	traced, stopTraced, err := b.ingestService(ctx, engineSQLite,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+sink.addr, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
	if err != nil {
		return err
	}
	defer stopTraced()
	sealed, stopSealed, err := b.ingestService(ctx, engineSQLite, "DISPATCHD_ENCRYPT_PAYLOADS=true")
	if err != nil {
		return err
	}
	defer stopSealed()

	for round := range b.opts.rounds {
		raw := b.closed(ctx, "http://"+b.raw.httpAddr+"/", http.StatusAccepted, b.opts.conns, nil)
		b.record(rawRow, round, raw, figure{})
		for _, e := range engines {
			c, ok := procs[e]
			if !ok {
				continue
			}
			f, err := b.closedIngest(ctx, c)
			if err != nil {
				return err
			}
			b.record(rows[e], round, f, raw)
		}
		f, err := b.closedIngest(ctx, traced)
		if err != nil {
			return err
		}
		b.record(traceRow, round, f, rows[engineSQLite].rounds[round])
		f, err = b.closedIngest(ctx, sealed)
		if err != nil {
			return err
		}
		b.record(sealRow, round, f, rows[engineSQLite].rounds[round])
	}

	// Every accepted webhook of the traced process, then its spans, all
	// flushed by its shutdown.
	metrics, err := scrape(ctx, traced.httpAddr)
	if err != nil {
		return err
	}
	accepted, _ := metricValue(acceptedOnly(metrics), "dispatchd_webhooks_received_total")
	stopTraced()
	spans := sink.spans.Load()
	traceRow.note("spans received: %d for %.0f webhooks accepted (%.1f per webhook)", spans, accepted, float64(spans)/max(accepted, 1))
	return nil
}

// acceptedOnly keeps the lines of the accepted outcome.
func acceptedOnly(metrics string) string {
	var b strings.Builder
	for line := range strings.Lines(metrics) {
		if strings.Contains(line, `outcome="accepted"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// --- ack latency: open loop ---

var openRates = []float64{2000, 5000}

func (b *bench) ackGroup(ctx context.Context) error {
	defer b.releaseIngestServices()
	rows := map[string]*row{}
	for _, rate := range openRates {
		for _, e := range engines {
			key := fmt.Sprintf("ack-%s-%.0f", e, rate)
			rows[key] = b.rep.row(key, fmt.Sprintf("ack latency %s, open loop %s/s", engineName(e), fmtRate(rate)), "req/s", byP99,
				fmt.Sprintf("R_raw at %s/s", fmtRate(rate)))
			b.available(e, rows[key])
		}
	}
	procs, err := b.ingestServices(ctx)
	if err != nil {
		return err
	}
	for round := range b.opts.rounds {
		for _, rate := range openRates {
			raw := b.open(ctx, "http://"+b.raw.httpAddr+"/", http.StatusAccepted, rate)
			for _, e := range engines {
				c, ok := procs[e]
				if !ok {
					continue
				}
				f := b.open(ctx, webhookURL(c), http.StatusOK, rate)
				if err := c.alive(); err != nil {
					return err
				}
				b.record(rows[fmt.Sprintf("ack-%s-%.0f", e, rate)], round, f, raw)
			}
		}
	}
	return nil
}

func (b *bench) open(ctx context.Context, url string, want int, rate float64) figure {
	return figureOf(openLoop{
		rate: rate, warmup: b.opts.warmup, duration: b.opts.duration, want: want,
		request: webhooks(url, b.signer), lateAfter: time.Millisecond,
	}.run(ctx))
}

// --- delivery ---

func (b *bench) deliveryGroup(ctx context.Context) error {
	plain := b.rep.row("plain", "plain Go client: 64 keep-alive workers POST 1 KiB → receiver", "posts/s", byRate, "")
	type variant struct {
		engine string
		bulk   bool
		row    *row
	}
	var variants []variant
	for _, e := range engines {
		for _, bulk := range []bool{false, true} {
			id, name := "delivery-"+e, "delivery "+engineName(e)+", one job per POST"
			if bulk {
				id, name = id+"-bulk", "delivery "+engineName(e)+", bulk 100 per POST"
			}
			r := b.rep.row(id, name, "jobs/s", byRate, "plain client")
			r.refUnit = "posts/s"
			if b.available(e, r) {
				variants = append(variants, variant{e, bulk, r})
			}
		}
	}
	sealRow := b.rep.row("delivery-encrypt-payloads", "delivery SQLite, one job per POST, DISPATCHD_ENCRYPT_PAYLOADS=true", "jobs/s", byRate, "payload encryption off")
	for round := range b.opts.rounds {
		b.rcv.expect(0)
		ref, err := b.runPlainClient(ctx, 64)
		if err != nil {
			return err
		}
		b.record(plain, round, ref, figure{})
		var off figure
		for _, v := range variants {
			f, err := b.delivery(ctx, v.engine, v.bulk, v.row.id)
			if err != nil {
				return err
			}
			b.record(v.row, round, f, ref)
			if v.engine == engineSQLite && !v.bulk {
				off = f
			}
		}
		f, err := b.deliveryWith(ctx, engineSQLite, false, sealRow.id, 1, "DISPATCHD_ENCRYPT_PAYLOADS=true")
		if err != nil {
			return err
		}
		b.record(sealRow, round, f, off)
	}
	return nil
}

// maxDeliveryJobs bounds a delivery round: storing the jobs first goes at
// the ingest rate, which is slower than bulk delivery.
const maxDeliveryJobs = 50_000

// deliveryJobs is how many jobs a delivery round stores: enough for about
// -duration at the rate the previous round measured (a guess at first).
func (b *bench) deliveryJobs(key string, bulk bool) int {
	if n, ok := b.deliveryN[key]; ok {
		return n
	}
	perSecond := 2000.0
	if bulk {
		perSecond = 8000
	}
	return min(int(perSecond*b.opts.duration.Seconds()), maxDeliveryJobs)
}

// workersGroup measures delivery (one job per POST) on PostgreSQL with 1, 2
// and 3 worker processes sharing the database, each against 1 worker in
// the same round.
func (b *bench) workersGroup(ctx context.Context) error {
	if !b.available(enginePostgres, b.rep.row("workers-1", "delivery PostgreSQL, 1 worker process", "jobs/s", byRate, "")) {
		return nil
	}
	one := b.rep.row("workers-1", "delivery PostgreSQL, 1 worker process", "jobs/s", byRate, "")
	var more []*row
	for k := 2; k <= 3; k++ {
		r := b.rep.row(fmt.Sprintf("workers-%d", k), fmt.Sprintf("delivery PostgreSQL, %d worker processes", k), "jobs/s", byRate, "1 worker")
		more = append(more, r)
	}
	for round := range b.opts.rounds {
		ref, err := b.deliveryWith(ctx, enginePostgres, false, "workers-1", 1)
		if err != nil {
			return err
		}
		b.record(one, round, ref, figure{})
		for i, r := range more {
			f, err := b.deliveryWith(ctx, enginePostgres, false, r.id, i+2)
			if err != nil {
				return err
			}
			b.record(r, round, f, ref)
		}
	}
	return nil
}

// delivery stores jobs through the ingest path with no worker running,
// then starts a worker-only process and times it until the receiver has
// seen every job.
func (b *bench) delivery(ctx context.Context, engine string, bulk bool, key string) (figure, error) {
	return b.deliveryWith(ctx, engine, bulk, key, 1)
}

// deliveryWith is delivery with several worker processes, started
// together; the time runs from the first one's start.
func (b *bench) deliveryWith(ctx context.Context, engine string, bulk bool, key string, workers int, env ...string) (figure, error) {
	n := b.deliveryJobs(key, bulk)
	url, drop, err := b.database(ctx, engine)
	if err != nil {
		return figure{}, err
	}
	defer drop()
	cfg, err := b.configFile(key, bulk)
	if err != nil {
		return figure{}, err
	}
	fill, err := b.startDispatchd(ctx, "dispatchd (fill; "+engineName(engine)+")", service{roles: "gateway,ingest", databaseURL: url, config: cfg, env: env})
	if err != nil {
		return figure{}, err
	}
	filled := closedLoop{conns: b.opts.conns, total: n, want: http.StatusOK, request: webhooks(webhookURL(fill), b.signer)}.run(ctx)
	fill.stop()
	if filled.ok == 0 {
		return figure{}, fmt.Errorf("storing %d jobs: none accepted (%s%s)", n, filled.badBody, filled.firstErr)
	}

	done := b.rcv.expect(filled.ok)
	ws := make([]*child, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i], errs[i] = b.startDispatchd(ctx, fmt.Sprintf("dispatchd (worker %d; %s)", i+1, engineName(engine)), service{roles: "worker", databaseURL: url, config: cfg, env: env})
		}()
	}
	wg.Wait()
	for i, w := range ws {
		if errs[i] != nil {
			return figure{}, errs[i]
		}
		defer w.stop()
	}
	w := ws[0]
	start := w.ready
	exited := make(chan *child, workers)
	for _, c := range ws {
		if c.ready.Before(start) {
			start = c.ready
		}
		go func() {
			<-c.exited
			exited <- c
		}()
	}
	limit := 2 * time.Minute
	timedOut := false
	select {
	case <-done:
	case c := <-exited:
		return figure{}, c.alive()
	case <-time.After(limit):
		timedOut = true
	case <-ctx.Done():
		return figure{}, ctx.Err()
	}
	distinct, records, last := b.rcv.counts()
	var cpu time.Duration
	for _, c := range ws {
		c.stop()
		cpu += c.cpuTime()
	}

	f := figure{ok: distinct}
	if took := last.Sub(start); distinct > 0 && took > 0 {
		f.rate = float64(distinct) / took.Seconds()
	}
	f.note = fmt.Sprintf("%d jobs", filled.ok)
	if distinct > 0 && cpu > 0 {
		// The CPU the worker processes used (start and stop included)
		// per job: steadier than the rate on a shared machine.
		f.note += fmt.Sprintf("; worker CPU %.0f µs/job", float64(cpu.Microseconds())/float64(distinct))
	}
	if timedOut {
		f.note += fmt.Sprintf(", only %d arrived within %s", distinct, limit)
	}
	if dup := records - distinct; dup > 0 {
		f.note += fmt.Sprintf(", %d delivered twice", dup)
	}
	if bad := filled.badCount() + filled.errors; bad > 0 {
		f.note += fmt.Sprintf(", %d not stored (%s%s)", bad, filled.badBody, filled.firstErr)
	}
	// Size the next round to last about -duration.
	b.deliveryN[key] = min(max(int(f.rate*b.opts.duration.Seconds()), 500), maxDeliveryJobs)
	return f, nil
}

// --- end-to-end latency, idle ---

func (b *bench) e2eGroup(ctx context.Context) error {
	rows := map[string]*row{}
	procs := map[string]*child{}
	for _, e := range engines {
		rows[e] = b.rep.row("e2e-"+e, "end-to-end idle "+engineName(e)+": 200 ack → receiver, 1 at a time", "", byP50, "R_raw one-at-a-time POST")
		if !b.available(e, rows[e]) {
			continue
		}
		url, drop, err := b.database(ctx, e)
		if err != nil {
			return err
		}
		defer drop()
		cfg, err := b.configFile("e2e", false)
		if err != nil {
			return err
		}
		c, err := b.startDispatchd(ctx, "dispatchd (all roles; "+engineName(e)+")", service{roles: "gateway,ingest,worker,api", databaseURL: url, config: cfg})
		if err != nil {
			return err
		}
		defer c.stop()
		procs[e] = c
	}
	for round := range b.opts.rounds {
		ref := b.oneAtATime(ctx, "http://"+b.raw.httpAddr+"/", http.StatusAccepted, nil)
		for _, e := range engines {
			c, ok := procs[e]
			if !ok {
				continue
			}
			f := b.oneAtATime(ctx, webhookURL(c), http.StatusOK, b.rcv)
			if err := c.alive(); err != nil {
				return err
			}
			b.record(rows[e], round, f, ref)
		}
	}
	return nil
}

// oneAtATime sends webhooks one by one, 10 ms apart. Without a receiver
// it measures each request's latency; with one, the time from reading the
// 200 to the receiver's arrival of its job.
func (b *bench) oneAtATime(ctx context.Context, url string, want int, rcv *receiver) figure {
	const warm, n, spacing = 20, 200, 10 * time.Millisecond
	if rcv != nil {
		rcv.expect(0)
	}
	tr := newTransport(1)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	request := webhooks(url, b.signer)
	type ack struct {
		job string
		at  time.Time
	}
	var acks []ack
	var res result
	start := time.Now()
	for i := range warm + n {
		select {
		case <-ctx.Done():
			return figureOf(res)
		case <-time.After(time.Until(start.Add(time.Duration(i) * spacing))):
		}
		req, err := request(ctx, 0, i)
		if err != nil {
			res.record(want, 0, nil, err, 0)
			continue
		}
		t0 := time.Now()
		status, body, err := do(client, req)
		t1 := time.Now()
		if i < warm {
			continue
		}
		if rcv == nil || err != nil || status != want {
			res.record(want, status, body, err, t1.Sub(t0))
			continue
		}
		var answer struct {
			JobIDs []string `json:"jobIds"`
		}
		if err := json.Unmarshal(body, &answer); err != nil || len(answer.JobIDs) != 1 {
			res.record(want, 0, nil, fmt.Errorf("answer without one job id: %s", truncate(string(body), 200)), 0)
			continue
		}
		acks = append(acks, ack{answer.JobIDs[0], t1})
	}
	if rcv == nil {
		res.elapsed = time.Since(start)
		return figureOf(res)
	}
	// Wait for the last deliveries.
	deadline := time.Now().Add(10 * time.Second)
	early := 0
	for _, a := range acks {
		arrived, ok := rcv.arrival(a.job)
		for !ok && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			arrived, ok = rcv.arrival(a.job)
		}
		if !ok {
			res.record(want, 0, nil, fmt.Errorf("job %s not delivered within 10 s", a.job), 0)
			continue
		}
		lat := arrived.Sub(a.at)
		if lat < 0 {
			early++ // delivered before the bench had read the ack
			lat = 0
		}
		res.record(want, want, nil, nil, lat)
	}
	res.elapsed = time.Since(start)
	f := figureOf(res)
	f.rate = 0 // not a throughput
	if early > 0 {
		f.note = fmt.Sprintf("%d delivered before the ack was read (counted as 0)", early)
	}
	return f
}

// --- backlog ---

// Sizes of the backlog store.
const (
	backlogCompleted = 1_000_000
	backlogPending   = 100_000
)

func (b *bench) backlogGroup(ctx context.Context) error {
	claimRow := b.rep.row("backlog-claim", "delivery SQLite bulk 100, store with 1 M completed + 100 k pending jobs", "jobs/s", byRate, "100 k pending only")
	ingestRow := b.rep.row("backlog-ingest", fmt.Sprintf("ingest SQLite, closed loop %d conns, same 1.1 M-job store", b.opts.conns), "req/s", byRate, "100 k pending only")

	cfg, err := b.configFile("backlog", true)
	if err != nil {
		return err
	}
	stores := map[string]string{} // "empty" / "full" → sqlite:<path>
	for _, s := range []struct {
		name      string
		completed int
	}{{"empty", 0}, {"full", backlogCompleted}} {
		url, drop, err := b.database(ctx, engineSQLite)
		if err != nil {
			return err
		}
		defer drop()
		// dispatchd creates the schema and declares the endpoint; then the
		// jobs are written straight into its file.
		c, err := b.startDispatchd(ctx, "dispatchd (migrate)", service{roles: "gateway,ingest", databaseURL: url, config: cfg})
		if err != nil {
			return err
		}
		c.stop()
		b.progress("filling the %s store: %d completed + %d pending jobs", s.name, s.completed, backlogPending)
		t0 := time.Now()
		if err := fillStore(ctx, strings.TrimPrefix(url, "sqlite:"), s.completed, backlogPending, webhookBody()); err != nil {
			return fmt.Errorf("fill the %s store: %w", s.name, err)
		}
		size := int64(0)
		if st, err := os.Stat(strings.TrimPrefix(url, "sqlite:")); err == nil {
			size = st.Size()
		}
		b.progress("filled in %s (%d MB)", time.Since(t0).Round(time.Second), size>>20)
		stores[s.name] = url
	}
	for round := range b.opts.rounds {
		claims := map[string]figure{}
		for _, name := range []string{"empty", "full"} {
			if err := resetStore(ctx, strings.TrimPrefix(stores[name], "sqlite:")); err != nil {
				return err
			}
			f, err := b.claimRate(ctx, stores[name], cfg)
			if err != nil {
				return err
			}
			claims[name] = f
		}
		b.record(claimRow, round, claims["full"], claims["empty"])
		ingests := map[string]figure{}
		for _, name := range []string{"empty", "full"} {
			c, err := b.startDispatchd(ctx, "dispatchd (ingest; "+name+" store)", service{roles: "gateway,ingest", databaseURL: stores[name], config: cfg})
			if err != nil {
				return err
			}
			f, err := b.closedIngest(ctx, c)
			c.stop()
			if err != nil {
				return err
			}
			ingests[name] = f
		}
		b.record(ingestRow, round, ingests["full"], ingests["empty"])
	}
	return nil
}

// claimRate runs a worker-only process on the store for -duration, or
// until the pending jobs run out, and counts what the receiver got.
func (b *bench) claimRate(ctx context.Context, url, cfg string) (figure, error) {
	done := b.rcv.expect(backlogPending)
	w, err := b.startDispatchd(ctx, "dispatchd (worker; backlog)", service{roles: "worker", databaseURL: url, config: cfg})
	if err != nil {
		return figure{}, err
	}
	defer w.stop()
	select {
	case <-done:
	case <-time.After(b.opts.warmup + b.opts.duration):
	case <-w.exited:
		return figure{}, w.alive()
	case <-ctx.Done():
		return figure{}, ctx.Err()
	}
	distinct, records, last := b.rcv.counts()
	w.stop()
	f := figure{ok: distinct, note: fmt.Sprintf("%d jobs delivered", distinct)}
	if took := last.Sub(w.ready); took > 0 {
		f.rate = float64(distinct) / took.Seconds()
	}
	if dup := records - distinct; dup > 0 {
		f.note += fmt.Sprintf(", %d twice", dup)
	}
	return f, nil
}
