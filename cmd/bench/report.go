package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is what one measurement of one round found.
type figure struct {
	rate           float64 // per second: requests, jobs or posts
	p50, p99, p999 time.Duration
	latencies      int // how many latencies the quantiles come from

	ok      int
	bad     int    // answers with another status than expected
	badBody string // the first of them
	errors  int    // no answer at all
	errText string

	// Open loop.
	sent, behind int
	maxLate      time.Duration

	batch float64 // mean commit batch size (0: not measured)
	note  string  // anything else worth saying about this round
}

func figureOf(r result) figure {
	return figure{
		rate: r.rate(),
		p50:  r.lat.quantile(0.50), p99: r.lat.quantile(0.99), p999: r.lat.quantile(0.999),
		latencies: r.lat.count(),
		ok:        r.ok, bad: r.badCount(), badBody: r.badBody, errors: r.errors, errText: r.firstErr,
		sent: r.sent, behind: r.behind, maxLate: r.maxLate,
	}
}

// What a row's ratio compares with its reference.
const (
	byRate = "rate"
	byP50  = "p50"
	byP99  = "p99"
)

func (f figure) value(by string) float64 {
	switch by {
	case byP50:
		return float64(f.p50)
	case byP99:
		return float64(f.p99)
	}
	return f.rate
}

// row is one line of the table: a figure for each round and the figure of
// its reference measured in the same round, next to it.
type row struct {
	id      string // what targets refer to
	name    string
	unit    string // of the rate: "req/s", "jobs/s", "posts/s"
	by      string // what the ratio compares: byRate, byP50 or byP99
	refName string // "" for a reference row itself
	refUnit string // of the reference's rate, when not unit
	rounds  []figure
	refs    []figure
	notes   []string // about the whole row
	skipped string   // why the row was not measured
}

func (r *row) add(f, ref figure) {
	r.rounds = append(r.rounds, f)
	r.refs = append(r.refs, ref)
}

func (r *row) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// ratio is the median over the rounds of the figure divided by the
// reference of the same round: the pair was measured a few seconds
// apart, so what the noisy machine did to both cancels out.
func (r *row) ratio() float64 {
	var rs []float64
	for i, f := range r.rounds {
		if ref := r.refs[i].value(r.by); ref > 0 {
			rs = append(rs, f.value(r.by)/ref)
		}
	}
	return median(rs)
}

// med is the median over the rounds of one quantity of the figure.
func (r *row) med(of func(figure) float64) float64 {
	vs := make([]float64, len(r.rounds))
	for i, f := range r.rounds {
		vs[i] = of(f)
	}
	return median(vs)
}

func (r *row) medRef(of func(figure) float64) float64 {
	vs := make([]float64, len(r.refs))
	for i, f := range r.refs {
		vs[i] = of(f)
	}
	return median(vs)
}

func (r *row) sum(of func(figure) int) int {
	n := 0
	for _, f := range r.rounds {
		n += of(f)
	}
	return n
}

// median of vs; NaN for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func rate(f figure) float64  { return f.rate }
func p50(f figure) float64   { return float64(f.p50) }
func p99(f figure) float64   { return float64(f.p99) }
func p999(f figure) float64  { return float64(f.p999) }
func batch(f figure) float64 { return f.batch }

// report is the whole run: rows in the order they were made.
type report struct {
	rows    []*row
	notes   []string
	machine machine
	command string
	opts    options
	started time.Time
	took    time.Duration
}

func (rep *report) row(id, name, unit, by, refName string) *row {
	for _, r := range rep.rows {
		if r.id == id {
			return r
		}
	}
	r := &row{id: id, name: name, unit: unit, by: by, refName: refName}
	rep.rows = append(rep.rows, r)
	return r
}

func (rep *report) find(id string) *row {
	for _, r := range rep.rows {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (rep *report) note(format string, args ...any) {
	rep.notes = append(rep.notes, fmt.Sprintf(format, args...))
}

// target is one promise of the service, checked against a row.
type target struct {
	text  string
	rowID string
	check func(r *row) (measured string, met bool)
}

func ratioAtLeast(min float64) func(*row) (string, bool) {
	return func(r *row) (string, bool) {
		v := r.ratio()
		return fmtRatio(v, min), v >= min
	}
}

// fmtRatio prints v to two decimals, or to as many more as it takes for
// the printed figure not to sit on the target or across it (0.899 is not
// "0.90", which would read as met).
func fmtRatio(v, target float64) string {
	for prec := 2; ; prec++ {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		printed, _ := strconv.ParseFloat(s, 64)
		if prec == 6 || ((printed >= target) == (v >= target) && (printed != target || v == target)) {
			return s + " ×"
		}
	}
}

func latencyAtMost(by string, limit time.Duration) func(*row) (string, bool) {
	return func(r *row) (string, bool) {
		v := time.Duration(r.med(func(f figure) float64 { return f.value(by) }))
		return by + " " + fmtDur(v), v <= limit
	}
}

// targets are the store issue's (wave 2), and the first wave's where that
// issue set none (end-to-end latency, backlog ingest).
var targets = []target{
	{"ingest on SQLite ≥ 0.25 × R_raw", "ingest-sqlite", ratioAtLeast(0.25)},
	{"ingest on PostgreSQL ≥ 0.2 × R_raw", "ingest-postgres", ratioAtLeast(0.2)},
	{"ack p99 ≤ 10 ms at 2 000/s open loop, SQLite", "ack-sqlite-2000", latencyAtMost(byP99, 10*time.Millisecond)},
	{"ack p99 ≤ 20 ms at 2 000/s open loop, PostgreSQL", "ack-postgres-2000", latencyAtMost(byP99, 20*time.Millisecond)},
	{"tracing on ≥ 0.9 × tracing off, SQLite ingest", "tracing", ratioAtLeast(0.9)},
	{"delivery ≥ 0.5 × plain client, SQLite, one job per POST", "delivery-sqlite", ratioAtLeast(0.5)},
	{"delivery ≥ 0.8 × plain client, SQLite, bulk 100", "delivery-sqlite-bulk", ratioAtLeast(0.8)},
	{"delivery ≥ 0.5 × plain client, PostgreSQL, one job per POST", "delivery-postgres", ratioAtLeast(0.5)},
	{"delivery ≥ 0.8 × plain client, PostgreSQL, bulk 100", "delivery-postgres-bulk", ratioAtLeast(0.8)},
	{"end-to-end p50 ≤ 20 ms idle, SQLite", "e2e-sqlite", latencyAtMost(byP50, 20*time.Millisecond)},
	{"end-to-end p50 ≤ 20 ms idle, PostgreSQL", "e2e-postgres", latencyAtMost(byP50, 20*time.Millisecond)},
	{"backlog: claim rate ≥ 0.8 × the empty store", "backlog-claim", ratioAtLeast(0.8)},
	{"backlog: ingest rate ≥ 0.8 × the empty store", "backlog-ingest", ratioAtLeast(0.8)},
}

// targetLine is a target's outcome: measured and "met", "MISSED" or "not
// measured".
func (rep *report) targetLine(t target) (measured, verdict string) {
	r := rep.find(t.rowID)
	if r == nil || len(r.rounds) == 0 {
		return "—", "not measured"
	}
	m, ok := t.check(r)
	if ok {
		return m, "met"
	}
	return m, "MISSED"
}

// cells are the columns of a row in the table.
func (r *row) cells() []string {
	if len(r.rounds) == 0 {
		why := r.skipped
		if why == "" {
			why = "not measured"
		}
		return []string{r.name, "skipped", "", "", "", "", "", why}
	}
	result := "—"
	if v := r.med(rate); v > 0 {
		result = fmtRate(v) + " " + r.unit
	}
	lat := func(of func(figure) float64) string {
		if r.rounds[0].latencies == 0 {
			return "—"
		}
		return fmtDur(time.Duration(r.med(of)))
	}
	ref, ratio := "—", "—"
	if r.refName != "" {
		switch r.by {
		case byRate:
			ref = r.refName + " " + fmtRate(r.medRef(rate)) + " " + cmp.Or(r.refUnit, r.unit)
			ratio = fmt.Sprintf("%.2f", r.ratio())
		default:
			ref = r.refName + " " + r.by + " " + fmtDur(time.Duration(r.medRef(func(f figure) float64 { return f.value(r.by) })))
			ratio = fmt.Sprintf("%.1f (%s)", r.ratio(), r.by)
		}
	}
	return []string{r.name, result, lat(p50), lat(p99), lat(p999), ref, ratio, strings.Join(r.summary(), "; ")}
}

// summary says what went wrong or is worth knowing, over all rounds.
func (r *row) summary() []string {
	var s []string
	if b := r.med(batch); b > 0 {
		s = append(s, fmt.Sprintf("commit batch %.1f", b))
	}
	if r.unit == "req/s" && r.refName != "" || r.sum(func(f figure) int { return f.bad }) > 0 {
		bad := r.sum(func(f figure) int { return f.bad })
		if bad == 0 {
			s = append(s, "non-2xx: 0")
		} else {
			first := ""
			for _, f := range r.rounds {
				if f.badBody != "" {
					first = f.badBody
					break
				}
			}
			s = append(s, fmt.Sprintf("non-2xx: %d (first: %s)", bad, first))
		}
	}
	if n := r.sum(func(f figure) int { return f.errors }); n > 0 {
		first := ""
		for _, f := range r.rounds {
			if f.errText != "" {
				first = f.errText
				break
			}
		}
		s = append(s, fmt.Sprintf("errors: %d (first: %s)", n, truncate(first, 120)))
	}
	if sent := r.sum(func(f figure) int { return f.sent }); sent > 0 {
		var late time.Duration
		for _, f := range r.rounds {
			late = max(late, f.maxLate)
		}
		s = append(s, fmt.Sprintf("behind schedule (>1 ms): %d of %d sends, latest %s",
			r.sum(func(f figure) int { return f.behind }), sent, fmtDur(late)))
	}
	for _, f := range r.rounds {
		if f.note != "" {
			s = append(s, f.note)
			break // the rounds' notes are in the round details
		}
	}
	return append(s, r.notes...)
}

// roundLine is one round of a row, for the details.
func (r *row) roundLine(i int) string {
	f, ref := r.rounds[i], r.refs[i]
	var b strings.Builder
	switch r.by {
	case byRate:
		fmt.Fprintf(&b, "%s %s", fmtRate(f.rate), r.unit)
		if f.latencies > 0 {
			fmt.Fprintf(&b, " (p50 %s, p99 %s)", fmtDur(f.p50), fmtDur(f.p99))
		}
		if r.refName != "" && ref.rate > 0 {
			fmt.Fprintf(&b, " vs %s → %.2f", fmtRate(ref.rate), f.rate/ref.rate)
		}
	default:
		fmt.Fprintf(&b, "p50 %s, p99 %s, p99.9 %s", fmtDur(f.p50), fmtDur(f.p99), fmtDur(f.p999))
		if ref.value(r.by) > 0 {
			fmt.Fprintf(&b, " vs %s %s → %.1f", r.by, fmtDur(time.Duration(ref.value(r.by))), f.value(r.by)/ref.value(r.by))
		}
	}
	if f.batch > 0 {
		fmt.Fprintf(&b, ", batch %.1f", f.batch)
	}
	if f.sent > 0 {
		fmt.Fprintf(&b, ", %d/%d behind", f.behind, f.sent)
	}
	if f.note != "" {
		fmt.Fprintf(&b, "; %s", f.note)
	}
	return b.String()
}

var header = []string{"measurement", "result", "p50", "p99", "p99.9", "reference (same rounds)", "ratio", "notes"}

// writeText prints the table and the targets for a terminal.
func (rep *report) writeText(w io.Writer) {
	fmt.Fprintf(w, "\ndispatchd benchmarks — %s, %d cores, %s, %s\n%s\n\n",
		rep.machine.cpu, rep.machine.cores, rep.machine.goVersion, rep.started.UTC().Format("2006-01-02 15:04 MST"), rep.command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rep.rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range targets {
		m, v := rep.targetLine(t)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.text, m, v)
	}
	tw.Flush()
	for _, n := range rep.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// writeMarkdown writes docs/benchmarks.md.
func (rep *report) writeMarkdown(w io.Writer) {
	m := rep.machine
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Written by `make bench` ([`cmd/bench`](../cmd/bench)); rerun it rather than editing this file.\n\n")
	fmt.Fprintf(w, "- **Date**: %s\n", rep.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- **Machine**: %s, %d cores (%s, kernel %s); shared with other work, so absolute figures are noisy: read the ratios\n",
		m.cpu, m.cores, m.os, m.kernel)
	fmt.Fprintf(w, "- **Go**: %s\n", m.goVersion)
	fmt.Fprintf(w, "- **Command**: `%s` (%d round(s) of %s per measurement after %s of warm-up; took %s)\n\n",
		rep.command, rep.opts.rounds, rep.opts.duration, rep.opts.warmup, rep.took.Round(time.Second))

	fmt.Fprintf(w, "## Results\n\n")
	fmt.Fprintf(w, "Medians over the rounds. *ratio* is the median over the rounds of the figure divided by its reference measured in the same round.\n\n")
	mdRow(w, header)
	mdRow(w, slices.Repeat([]string{"---"}, len(header)))
	for _, r := range rep.rows {
		mdRow(w, r.cells())
	}

	fmt.Fprintf(w, "\n## Targets\n\n")
	mdRow(w, []string{"target", "measured", ""})
	mdRow(w, []string{"---", "---", "---"})
	for _, t := range targets {
		measured, verdict := rep.targetLine(t)
		if verdict == "MISSED" {
			verdict = "**missed**"
		}
		mdRow(w, []string{t.text, measured, verdict})
	}
	if len(rep.notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range rep.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}

	fmt.Fprintf(w, "\n## Rounds\n\n")
	for _, r := range rep.rows {
		if len(r.rounds) == 0 {
			continue
		}
		fmt.Fprintf(w, "- **%s**\n", r.name)
		for i := range r.rounds {
			fmt.Fprintf(w, "  - round %d: %s\n", i+1, r.roundLine(i))
		}
	}
	fmt.Fprint(w, method)
}

// method says how the figures are made, for the reader of the file.
const method = `
## How it measures

Everything runs on 127.0.0.1: dispatchd (built once with ` + "`go build`" + `) as a child
process per scenario, with a generated configuration — source ` + "`bench`" + ` verified
with ` + "`standard-webhooks`" + `, one endpoint (` + "`retry: {preset: dispatched}`" + `,
` + "`max_concurrency: 64`" + `) pointing at a receiver inside the bench that answers 200
` + "`{\"status\":\"ok\"}`" + `. Each webhook is 1 KiB of JSON, signed, with a webhook-id of its own.

- **R_raw**: a minimal Go net/http server (this program re-executed as a child
  process) that reads the 1 KiB body and answers 202, driven by the same load generator.
- **Closed loop**: N clients, each on a keep-alive connection of its own, each
  sending when the previous answer arrived. Throughput counts the expected answers
  (200, or 202 for R_raw) that arrived in the window; everything else is listed as non-2xx.
- **Open loop**: sends scheduled by the clock at a fixed rate and handed to a pool of
  workers (rate × 100 ms of them, at least 64), each with a keep-alive connection of its
  own, so a slow answer does not hold up the next send while a worker is free. Latency
  runs from the *scheduled* time, so queueing — in the server, or in the generator when
  every worker is busy — shows; a send that started more than 1 ms late counts as
  behind schedule (on this shared machine a few percent are, even against R_raw).
- **Commit batch**: ` + "`dispatchd_commit_batch_size`" + ` from ` + "`GET /metrics`" + `, scraped when the
  window opens and closes: Δsum / Δcount, i.e. per stored event, the size of the commit
  it shared (event-weighted).
- **Delivery**: N jobs stored through the ingest path (worker role off), then a
  process with only the worker role is started; jobs/s is the number of distinct job
  ids the receiver saw, divided by the time from the worker's "listening" line to the
  last new id. The reference is a plain Go client in a process of its own (as the
  worker is), 64 keep-alive workers posting the same envelope (1 KiB payload) to the
  same receiver. N is sized from the previous round so that a round lasts about the
  measurement duration (the first round guesses; at most 50 000 jobs).
- **End-to-end**: one process with every role; webhooks sent one at a time, 10 ms
  apart; latency from reading the 200 (with its jobIds) to the receiver's arrival of
  that job. The reference is the same one-at-a-time POST to R_raw.
- **Tracing**: the SQLite ingest row with ` + "`OTEL_EXPORTER_OTLP_ENDPOINT`" + ` pointing at an
  OTLP/gRPC trace receiver inside the bench that counts spans and drops them, against
  the same row without it.
- **Backlog** (` + "`-backlog`" + `): two SQLite stores migrated by dispatchd, then filled
  directly — one with 100 000 pending jobs, one with 1 000 000 completed jobs (spread
  over the last 6 days, inside the default retention) plus the same 100 000 pending,
  each job with its event. Claim rate: a worker-only process with bulk 100 for the
  measurement duration (or until the queue is empty); ingest rate: the closed loop.
  Before each round the pending jobs are made pending again and the jobs the previous
  ingest stored are marked completed, so both stores start each round alike.
- The load generator shares the 2 cores with the server it drives, for R_raw as for
  dispatchd; the ratios carry that.
`

func mdRow(w io.Writer, cells []string) {
	esc := make([]string, len(cells))
	for i, c := range cells {
		esc[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
}

// fmtRate writes a rate with a thin space between thousands: 12 345.
func fmtRate(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(" ")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtDur writes a latency with three significant digits in ms (or s).
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}

// machine is where the figures come from.
type machine struct {
	cpu       string
	cores     int
	goVersion string
	os        string
	kernel    string
}

func thisMachine() machine {
	m := machine{cpu: "unknown CPU", cores: runtime.NumCPU(), goVersion: runtime.Version(), os: runtime.GOOS + "/" + runtime.GOARCH, kernel: "?"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(data))
	}
	return m
}
