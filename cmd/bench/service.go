package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// child is a process the bench started: dispatchd, or this program as the
// R_raw server. Its output is kept (the last lines) for error messages.
type child struct {
	name     string
	cmd      *exec.Cmd
	httpAddr string
	grpcAddr string
	ready    time.Time // when it said it was listening

	tail     *logTail
	warnings atomic.Int64 // log lines at WARN or ERROR
	firstBad atomic.Pointer[string]
	exited   chan struct{}
	err      error // the exit status, once exited is closed
	once     sync.Once
	// stopped, if set, is called once the process has exited after stop.
	stopped func(*child)
}

// logTail keeps the last lines of a process's output.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *logTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, truncate(line, 500))
	if len(t.lines) > 40 {
		t.lines = t.lines[len(t.lines)-40:]
	}
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// startChild starts cmd and waits until it prints the JSON line whose msg
// is ready (with http_addr and grpc_addr), or fails.
func startChild(ctx context.Context, name string, cmd *exec.Cmd, ready string) (*child, error) {
	c := &child{name: name, cmd: cmd, tail: &logTail{}, exited: make(chan struct{})}
	setDeathSignal(cmd) // the child dies with the bench, even on SIGKILL
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	type addrs struct{ http, grpc string }
	listening := make(chan addrs, 1)
	var copied sync.WaitGroup
	copied.Go(func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.tail.add(line)
			var rec struct {
				Level    string `json:"level"`
				Msg      string `json:"msg"`
				HTTPAddr string `json:"http_addr"`
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if rec.Msg == ready {
				select {
				case listening <- addrs{rec.HTTPAddr, rec.GRPCAddr}:
				default:
				}
			}
			if rec.Level == "WARN" || rec.Level == "ERROR" {
				c.warnings.Add(1)
				c.firstBad.CompareAndSwap(nil, &line)
			}
		}
		io.Copy(io.Discard, stdout)
	})
	copied.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.tail.add(sc.Text())
		}
		io.Copy(io.Discard, stderr)
	})
	go func() {
		copied.Wait()
		c.err = cmd.Wait()
		close(c.exited)
	}()

	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case a := <-listening:
		c.httpAddr, c.grpcAddr, c.ready = a.http, a.grpc, time.Now()
	case <-c.exited:
		return nil, fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", name, c.err, c.tail)
	case <-timeout.C:
		c.stop()
		return nil, fmt.Errorf("%s did not say %q within 60 s; its output:\n%s", name, ready, c.tail)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	if c.httpAddr != "" {
		if err := waitReady(ctx, "http://"+c.httpAddr+"/readyz", c.exited); err != nil {
			c.stop()
			return nil, fmt.Errorf("%s: %w; its output:\n%s", name, err, c.tail)
		}
	}
	return c, nil
}

// waitReady polls url until it answers 2xx.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within 20 s (last: %v)", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 15 s. It can be
// called more than once.
func (c *child) stop() {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if c.stopped != nil {
			c.stopped(c)
		}
	})
}

// cpuTime is the CPU time (user and system) the process used, once it
// has exited; zero before.
func (c *child) cpuTime() time.Duration {
	select {
	case <-c.exited:
	default:
		return 0
	}
	if st := c.cmd.ProcessState; st != nil {
		return st.UserTime() + st.SystemTime()
	}
	return 0
}

// noteComplaints adds what a stopped dispatchd complained about to the
// notes of the report, summed by process name.
func (b *bench) noteComplaints(c *child) {
	n := c.warnings.Load()
	if n == 0 {
		return
	}
	if b.complaints == nil {
		b.complaints = map[string]*complaint{}
	}
	k := b.complaints[c.name]
	if k == nil {
		k = &complaint{first: *c.firstBad.Load()}
		b.complaints[c.name] = k
		b.complaintOrder = append(b.complaintOrder, c.name)
	}
	k.n += n
}

type complaint struct {
	n     int64
	first string
}

// alive reports an error if the process has exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s exited (%v); its output:\n%s", c.name, c.err, c.tail)
	default:
		return nil
	}
}

// buildDispatchd builds ./cmd/dispatchd into dir and returns the binary.
func buildDispatchd(ctx context.Context, moduleDir, dir string) (string, error) {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	bin := filepath.Join(dir, "dispatchd")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./cmd/dispatchd")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dispatchd: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod of the current directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			if !strings.Contains(string(data), "module github.com/dispatchd/dispatchd\n") {
				return "", fmt.Errorf("%s is not dispatchd's go.mod; run the bench from the repository", filepath.Join(d, "go.mod"))
			}
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s; run the bench from the repository", dir)
		}
	}
}

// cleanEnv is the environment without the variables that would change what
// is measured: DISPATCHD_* and OTEL_* come from the bench alone.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DISPATCHD_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// service describes one dispatchd process.
type service struct {
	roles       string
	databaseURL string
	config      string   // path of the YAML file
	env         []string // more variables (OTEL_*)
}

// benchEncryptionKey is the DISPATCHD_ENCRYPTION_KEY of every service the
// bench starts.
const benchEncryptionKey = "YmVuY2gtZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMtISE="

// pprofSeq numbers the dispatchd processes for BENCH_PPROF_BASE: set to
// a port, it gives each process the profiler (DISPATCHD_PPROF_ADDR) on
// the next port above it and prints which, to profile a measurement with
// go tool pprof while it runs.
var pprofSeq int

// startDispatchd runs `dispatchd serve` as s describes, in dir (so no
// .env file of the repository is read).
func (b *bench) startDispatchd(ctx context.Context, name string, s service) (*child, error) {
	cmd := exec.Command(b.bin, "serve")
	cmd.Dir = b.tmp
	cmd.Env = append(cleanEnv(),
		"DISPATCHD_DATABASE_URL="+s.databaseURL,
		"DISPATCHD_HTTP_ADDR=127.0.0.1:0",
		"DISPATCHD_GRPC_ADDR=127.0.0.1:0",
		"DISPATCHD_LOG_FORMAT=json",
		// info, not warn: the "dispatchd listening" line carries the
		// addresses. Nothing is logged per webhook at info.
		"DISPATCHD_LOG_LEVEL=info",
		"DISPATCHD_CONFIG="+s.config,
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8",
		"DISPATCHD_ROLES="+s.roles,
		// PostgreSQL refuses to start without a key; SQLite gets the same,
		// so both engines seal secrets as a deployment does.
		"DISPATCHD_ENCRYPTION_KEY="+benchEncryptionKey,
	)
	cmd.Env = append(cmd.Env, s.env...)
	if base := os.Getenv("BENCH_PPROF_BASE"); base != "" {
		port, err := strconv.Atoi(base)
		if err != nil {
			return nil, fmt.Errorf("BENCH_PPROF_BASE=%q: want a port number", base)
		}
		pprofSeq++
		addr := fmt.Sprintf("127.0.0.1:%d", port+pprofSeq)
		cmd.Env = append(cmd.Env, "DISPATCHD_PPROF_ADDR="+addr)
		b.progress("profiler of %s on %s", name, addr)
	}
	c, err := startChild(ctx, name, cmd, "dispatchd listening")
	if err != nil {
		return nil, err
	}
	c.stopped = b.noteComplaints
	b.children = append(b.children, c)
	b.defer_(c.stop)
	return c, nil
}

// startRawServer runs this program as the R_raw server.
func (b *bench) startRawServer(ctx context.Context) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, rawServerCommand)
	cmd.Env = cleanEnv()
	c, err := startChild(ctx, "R_raw server", cmd, "raw server listening")
	if err != nil {
		return nil, err
	}
	b.defer_(c.stop)
	return c, nil
}

// rawServerCommand is the hidden command that makes this program the R_raw
// server: the least a Go net/http server does for a 1 KiB JSON POST.
const rawServerCommand = "raw-server"

func serveRaw(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"accepted"}`)
		}),
	}
	line, _ := json.Marshal(map[string]string{"msg": "raw server listening", "http_addr": ln.Addr().String()})
	fmt.Fprintf(stdout, "%s\n", line)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// plainClientCommand is the hidden command that makes this program the
// delivery reference: a plain Go client, in a process of its own as
// dispatchd's worker is, posting envelopes to the receiver in a closed loop.
// It prints its figure as one JSON line.
const plainClientCommand = "plain-client"

// plainFigure is what the plain client prints.
type plainFigure struct {
	OK, Bad, Errors int
	Elapsed         time.Duration
	P50, P99, P999  time.Duration
	FirstProblem    string
}

func plainClient(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 4 {
		return errors.New("usage: plain-client URL WORKERS WARMUP DURATION")
	}
	workers, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	warmup, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	duration, err := time.ParseDuration(args[3])
	if err != nil {
		return err
	}
	r := closedLoop{conns: workers, warmup: warmup, duration: duration, want: http.StatusOK, request: envelopes(args[0])}.run(ctx)
	line, err := json.Marshal(plainFigure{
		OK: r.ok, Bad: r.badCount(), Errors: r.errors, Elapsed: r.elapsed,
		P50: r.lat.quantile(0.5), P99: r.lat.quantile(0.99), P999: r.lat.quantile(0.999),
		FirstProblem: r.badBody + r.firstErr,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}

// runPlainClient runs the plain client as a child process and reads its
// figure.
func (b *bench) runPlainClient(ctx context.Context, workers int) (figure, error) {
	self, err := os.Executable()
	if err != nil {
		return figure{}, err
	}
	cmd := exec.CommandContext(ctx, self, plainClientCommand, b.rcv.url, strconv.Itoa(workers), b.opts.warmup.String(), b.opts.duration.String())
	cmd.Env = cleanEnv()
	setDeathSignal(cmd)
	out, err := cmd.Output()
	if err != nil {
		return figure{}, fmt.Errorf("plain client: %w", err)
	}
	var p plainFigure
	if err := json.Unmarshal(out, &p); err != nil {
		return figure{}, fmt.Errorf("plain client printed %q: %w", out, err)
	}
	f := figure{ok: p.OK, bad: p.Bad, errors: p.Errors, p50: p.P50, p99: p.P99, p999: p.P999, latencies: p.OK + p.Bad}
	if p.Elapsed > 0 {
		f.rate = float64(p.OK) / p.Elapsed.Seconds()
	}
	if p.Bad > 0 {
		f.badBody = p.FirstProblem
	} else if p.Errors > 0 {
		f.errText = p.FirstProblem
	}
	return f, nil
}

// configFile writes dispatchd's declarative file: the signed source bench
// routing to the receiver, in bulk of 100 when bulk is set.
func (b *bench) configFile(name string, bulk bool) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, `sources:
  - name: bench
    verify: {scheme: standard-webhooks, secret: %q}
    max_body_bytes: 10240
    routes: [receiver]
endpoints:
  - name: receiver
    url: %q
    secret: %q
    retry: {preset: dispatched}
    max_concurrency: 64
`, b.signer.secret, b.rcv.url, b.endpointSecret)
	if bulk {
		sb.WriteString("    bulk: {max_records: 100, max_wait: 10ms}\n")
	}
	path := filepath.Join(b.tmp, name+".yaml")
	return path, os.WriteFile(path, []byte(sb.String()), 0o600)
}

// database returns a fresh database — a new SQLite file, or a new
// PostgreSQL database — and the function that removes it (also run at the
// end of the bench if it was not called).
func (b *bench) database(ctx context.Context, engine string) (string, func(), error) {
	b.dbSeq++
	var once sync.Once
	if engine == engineSQLite {
		dir := filepath.Join(b.tmp, fmt.Sprintf("db%d", b.dbSeq))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, err
		}
		drop := func() { once.Do(func() { os.RemoveAll(dir) }) }
		b.defer_(drop)
		return "sqlite:" + filepath.Join(dir, "d.db"), drop, nil
	}
	if b.pg == nil {
		return "", nil, errors.New("no PostgreSQL")
	}
	name := fmt.Sprintf("bench_%s_%d", randomHex(4), b.dbSeq)
	if _, err := b.pg.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := b.pg.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				b.progress("warning: drop database %s: %v", name, err)
			}
		})
	}
	b.defer_(drop)
	return postgresURL(name), drop, nil
}

const postgresAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func postgresURL(db string) string {
	return "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable"
}

// connectPostgres connects to the local server, or says why it cannot.
func connectPostgres(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresAdminURL)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// receiver is the endpoint deliveries go to: it answers 200
// {"status":"ok"} and notes when each job id first arrived.
type receiver struct {
	url string
	srv *http.Server

	mu      sync.Mutex
	arrived map[string]time.Time
	records int // job ids received, repeats included
	last    time.Time
	want    int
	done    chan struct{}
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/deliver", arrived: map[string]time.Time{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// expect forgets what arrived and returns a channel closed when want
// distinct job ids have (never, for 0).
func (r *receiver) expect(want int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrived, r.records, r.last = map[string]time.Time{}, 0, time.Time{}
	r.want, r.done = want, make(chan struct{})
	return r.done
}

// counts returns the distinct job ids, all ids received, and when the last
// new one arrived.
func (r *receiver) counts() (distinct, records int, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.arrived), r.records, r.last
}

func (r *receiver) arrival(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.arrived[id]
	return t, ok
}

// envelope is a delivery: one job, or a bulk batch of records.
type envelope struct {
	JobID   string `json:"jobId"`
	Records []struct {
		JobID string `json:"jobId"`
	} `json:"records"`
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 32<<20))
	var env envelope
	if err == nil {
		err = json.Unmarshal(body, &env)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	note := func(id string) {
		r.records++
		if _, seen := r.arrived[id]; !seen && id != "" {
			r.arrived[id] = now
			r.last = now
		}
	}
	if env.JobID != "" {
		note(env.JobID)
	}
	for _, rec := range env.Records {
		note(rec.JobID)
	}
	if r.want > 0 && len(r.arrived) >= r.want {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ok"}`)
}

// spanSink is an OTLP/gRPC trace receiver that counts spans and drops
// them.
type spanSink struct {
	collectortrace.UnimplementedTraceServiceServer
	addr  string
	srv   *grpc.Server
	spans atomic.Int64
}

func startSpanSink() (*spanSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &spanSink{addr: ln.Addr().String(), srv: grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))}
	collectortrace.RegisterTraceServiceServer(s.srv, s)
	go s.srv.Serve(ln)
	return s, nil
}

// Export implements collectortrace.TraceServiceServer.
func (s *spanSink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	n := 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	s.spans.Add(int64(n))
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// scrape reads GET /metrics of a dispatchd.
func scrape(ctx context.Context, httpAddr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), nil
}

// metricValue sums the samples of the metric called name (every label
// set) in a Prometheus text exposition; ok is false when there is none.
func metricValue(text, name string) (sum float64, ok bool) {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		rest, found := strings.CutPrefix(line, name)
		if !found || rest == "" {
			continue
		}
		switch rest[0] {
		case '{':
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		case ' ', '\t':
		default:
			continue // a longer name: name_sum when name is asked
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		ok = true
	}
	return sum, ok
}

// batchSize is the mean commit batch size between two scrapes, as
// dispatchd_commit_batch_size observes it: per stored event, the size of
// the commit it shared.
func batchSize(before, after string) float64 {
	s0, _ := metricValue(before, "dispatchd_commit_batch_size_sum")
	c0, _ := metricValue(before, "dispatchd_commit_batch_size_count")
	s1, ok1 := metricValue(after, "dispatchd_commit_batch_size_sum")
	c1, ok2 := metricValue(after, "dispatchd_commit_batch_size_count")
	if !ok1 || !ok2 || c1 <= c0 {
		return 0
	}
	return (s1 - s0) / (c1 - c0)
}
