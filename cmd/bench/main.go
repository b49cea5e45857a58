// Command bench measures dispatchd on this machine and prints a table:
// ingestion throughput and latency (closed and open loop, SQLite and
// PostgreSQL), delivery throughput, end-to-end latency, tracing overhead
// and, with -backlog, the effect of a large store.
//
// Every figure comes with a ratio to a reference measured in the same run,
// round by round, because the machines it runs on are shared and noisy.
// It starts everything it needs on 127.0.0.1 and stops it again, also on
// failure or Ctrl-C.
//
//	go run ./cmd/bench                          # 3 rounds of 5 s per measurement
//	go run ./cmd/bench -quick                   # 1 round of 2 s, for CI
//	go run ./cmd/bench -out docs/benchmarks.md  # also write the Markdown report
//	go run ./cmd/bench -only ingest,e2e         # some groups only
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == rawServerCommand:
		err = serveRaw(ctx, os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == plainClientCommand:
		err = plainClient(ctx, os.Args[2:], os.Stdout)
	default:
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		stop()
		os.Exit(1)
	}
}

// Groups of measurements, for -only.
const (
	groupIngest   = "ingest"    // R_raw, ingest closed loop, tracing on/off
	groupAck      = "ack"       // open loop at fixed rates
	groupDelivery = "delivery"  // jobs/s against the plain client
	groupE2E      = "e2e"       // idle end-to-end latency
	groupBacklog  = "backlog"   // a store of 1.1 M jobs against an empty one
	groupLists    = "listviews" // console and API list views on a 1.1 M-job store
	groupWorkers  = "workers"   // delivery with 1, 2 and 3 worker processes on PostgreSQL
	// groupEvents (events.go): publish fan-out, CEL routing cost.
)

var allGroups = []string{groupIngest, groupAck, groupDelivery, groupE2E, groupWorkers, groupEvents, groupBacklog, groupLists}

type options struct {
	rounds   int
	duration time.Duration
	warmup   time.Duration
	quick    bool
	backlog  bool
	out      string
	only     []string
	conns    int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per measurement, each interleaved with its reference; the table shows medians")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measurement")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before each measurement that is not counted")
	fs.BoolVar(&o.quick, "quick", false, "CI mode: 1 round of 2 s per measurement (overrides -rounds, -duration, -warmup)")
	fs.BoolVar(&o.backlog, "backlog", false, "also measure with 1 000 000 completed and 100 000 pending jobs in the store (takes minutes)")
	fs.StringVar(&o.out, "out", "", "also write the report as Markdown to this file (e.g. docs/benchmarks.md)")
	only := fs.String("only", "", "comma-separated groups to run: "+strings.Join(allGroups, ", ")+" (default: all but backlog, which -backlog adds)")
	fs.IntVar(&o.conns, "conns", 50, "connections of the closed-loop ingest load")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/bench [flags]\n\nMeasures dispatchd on loopback and prints a table of figures with ratios to references.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		o.rounds, o.duration, o.warmup = 1, 2*time.Second, 500*time.Millisecond
	}
	if o.rounds < 1 || o.duration <= 0 || o.warmup < 0 || o.conns < 1 {
		return o, errors.New("-rounds, -duration and -conns must be positive, -warmup not negative")
	}
	if *only == "" {
		o.only = []string{groupIngest, groupAck, groupDelivery, groupE2E, groupWorkers, groupEvents}
		if o.backlog {
			o.only = append(o.only, groupBacklog, groupLists)
		}
	} else {
		for _, g := range strings.Split(*only, ",") {
			g = strings.TrimSpace(g)
			if !slices.Contains(allGroups, g) {
				return o, fmt.Errorf("-only: unknown group %q; groups: %s", g, strings.Join(allGroups, ", "))
			}
			o.only = append(o.only, g)
		}
	}
	return o, nil
}

// bench is one run: what it started, and what it found.
type bench struct {
	opts options
	log  io.Writer // progress

	tmp string // removed at the end
	bin string // dispatchd

	signer         signer
	endpointSecret string
	raw            *child // the R_raw server
	rcv            *receiver
	pg             *pgx.Conn // nil: no PostgreSQL
	dbSeq          int

	ingest     map[string]*child // the ingest-only processes, by engine
	stopIngest []func()
	deliveryN  map[string]int // jobs per delivery round, by row

	children       []*child              // every dispatchd started
	complaints     map[string]*complaint // warnings logged by dispatchd processes, by name
	complaintOrder []string

	rep      report
	cleanups []func()
}

// defer_ registers f to run when the bench ends, last registered first.
func (b *bench) defer_(f func()) { b.cleanups = append(b.cleanups, f) }

func (b *bench) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{opts: opts, log: stderr, signer: newSigner(), endpointSecret: newSigner().secret, deliveryN: map[string]int{}}
	b.rep = report{machine: thisMachine(), command: commandLine(args), opts: opts, started: time.Now()}
	defer b.cleanup()

	if err := b.setup(ctx); err != nil {
		return err
	}
	failed := false
	for _, g := range []struct {
		name string
		run  func(context.Context) error
	}{
		{groupIngest, b.ingestGroup},
		{groupAck, b.ackGroup},
		{groupDelivery, b.deliveryGroup},
		{groupE2E, b.e2eGroup},
		{groupWorkers, b.workersGroup},
		{groupEvents, b.eventsGroup},
		{groupBacklog, b.backlogGroup},
		{groupLists, b.listViewsGroup},
	} {
		if !slices.Contains(opts.only, g.name) || ctx.Err() != nil {
			continue
		}
		b.progress("— %s —", g.name)
		if err := g.run(ctx); err != nil {
			failed = true
			b.rep.note("the %s measurements stopped: %v", g.name, err)
			b.progress("%s failed: %v", g.name, err)
		}
	}
	b.stopAll()
	for _, name := range b.complaintOrder {
		k := b.complaints[name]
		b.rep.note("%s logged %d warnings or errors; the first: %s", name, k.n, truncate(k.first, 400))
	}
	b.rep.took = time.Since(b.rep.started)
	b.rep.writeText(stdout)
	if opts.out != "" && ctx.Err() == nil {
		var md strings.Builder
		b.rep.writeMarkdown(&md)
		if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(opts.out, []byte(md.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwritten to %s\n", opts.out)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed {
		return errors.New("some measurements failed; see the notes")
	}
	return nil
}

// setup builds dispatchd and starts what every group shares: the R_raw
// server, the receiver, and the PostgreSQL connection if there is one.
func (b *bench) setup(ctx context.Context) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "dispatchd-bench-"); err != nil {
		return err
	}
	b.defer_(func() { os.RemoveAll(b.tmp) })

	b.progress("building ./cmd/dispatchd")
	if b.bin, err = buildDispatchd(ctx, root, b.tmp); err != nil {
		return err
	}
	if b.rcv, err = startReceiver(); err != nil {
		return err
	}
	b.defer_(func() { b.rcv.srv.Close() })
	if b.raw, err = b.startRawServer(ctx); err != nil {
		return err
	}
	if conn, err := connectPostgres(ctx); err != nil {
		b.rep.note("PostgreSQL rows skipped: %s did not answer (%v)", strings.Split(postgresAdminURL, "?")[0], err)
		b.progress("no PostgreSQL: %v", err)
	} else {
		b.pg = conn
		b.defer_(func() { conn.Close(context.Background()) })
	}
	return nil
}

// stopAll stops every dispatchd still running.
func (b *bench) stopAll() {
	for _, c := range b.children {
		c.stop()
	}
}

// commandLine is how this run was asked for, to be repeated.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./cmd/bench"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
