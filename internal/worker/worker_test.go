package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/goleak"

	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/ssrf"
	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
	"github.com/dispatchd/dispatchd/internal/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// clock is a test clock: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// delivered is one request the receiver got.
type delivered struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a local endpoint whose answers the test scripts.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []delivered
	arrived chan delivered
	answer  func(n int, d delivered) (status int, header http.Header, body string)
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{arrived: make(chan delivered, 1000)}
	r.answer = func(int, delivered) (int, http.Header, string) { return 200, nil, `{"status":"ok"}` }
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		d := delivered{header: req.Header.Clone(), body: b, at: time.Now()}
		r.mu.Lock()
		r.got = append(r.got, d)
		n := len(r.got)
		answer := r.answer
		r.mu.Unlock()
		status, h, body := answer(n, d)
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		r.arrived <- d
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(f func(n int, d delivered) (int, http.Header, string)) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

// next waits for the receiver's next request.
func (r *receiver) next(t *testing.T) delivered {
	t.Helper()
	select {
	case d := <-r.arrived:
		return d
	case <-time.After(15 * time.Second):
		t.Fatalf("no delivery arrived")
		return delivered{}
	}
}

// bundle is a store, a receiver, an endpoint and a running worker.
type bundle struct {
	store    job.Store
	recv     *receiver
	clock    *clock
	worker   *worker.Worker
	endpoint job.EndpointSpec
	notes    *notes
}

// notes records what the worker told operators.
type notes struct {
	mu       sync.Mutex
	dead     []string
	disabled []string
}

func (n *notes) JobDead(j job.Job, reason string) {
	n.mu.Lock()
	n.dead = append(n.dead, j.ID)
	n.mu.Unlock()
}

func (n *notes) EndpointDisabled(endpoint, reason string) {
	n.mu.Lock()
	n.disabled = append(n.disabled, endpoint+": "+reason)
	n.mu.Unlock()
}

func (n *notes) snapshot() (dead, disabled []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dead...), append([]string(nil), n.disabled...)
}

type engine struct {
	name string
	open func(t *testing.T) job.Store
}

var engines = []engine{
	{"sqlite", func(t *testing.T) job.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"postgres", func(t *testing.T) job.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// forEachEngine runs test on both stores.
func forEachEngine(t *testing.T, test func(t *testing.T, open func(t *testing.T) job.Store)) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			test(t, e.open)
		})
	}
}

// setup starts a worker delivering to a receiver as endpoint "ep", shaped
// by mutate. The clock starts at the real time, so signatures verify.
func setup(t *testing.T, open func(t *testing.T) job.Store, mutate func(*job.EndpointSpec)) *bundle {
	b := setupStopped(t, open, mutate)
	b.start(t)
	return b
}

// setupStopped is setup without starting the worker.
func setupStopped(t *testing.T, open func(t *testing.T) job.Store, mutate func(*job.EndpointSpec)) *bundle {
	t.Helper()
	b := &bundle{store: open(t), recv: newReceiver(t), clock: &clock{t: time.Now().UTC().Truncate(time.Millisecond)}, notes: &notes{}}
	b.endpoint = job.EndpointSpec{
		Name: "ep", URL: b.recv.srv.URL + "/hook", Secrets: []string{secret},
		Timeout: 5 * time.Second, Retry: job.RetrySpec{Preset: "dispatched"},
	}
	if mutate != nil {
		mutate(&b.endpoint)
	}
	ctx := context.Background()
	if err := b.store.UpsertEndpoints(ctx, []job.EndpointSpec{b.endpoint}, job.OriginConfig, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	guard := ssrf.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	b.worker = worker.New(worker.Options{
		Store:           b.store,
		Client:          delivery.NewClient(guard.Control, nil, "dispatchd/test"),
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		Notifier:        b.notes,
		Now:             b.clock.Now,
		Rand:            func() float64 { return 0.5 }, // no jitter: exact schedules
		LeaseGrace:      2 * time.Second,
		PollInterval:    200 * time.Millisecond,
		RefreshInterval: 200 * time.Millisecond,
	})
	t.Cleanup(func() { b.store.Close() })
	return b
}

func (b *bundle) start(t *testing.T) {
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.worker.Run(wctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// enqueue stores an event routed to "ep" and returns its job id.
func (b *bundle) enqueue(t *testing.T, payload string, mutate func(*job.Job)) string {
	t.Helper()
	now := b.clock.Now()
	e := job.NewEvent{Event: job.Event{
		ID: job.NewID("evt", now), Source: "src", ContentType: "application/json",
		Headers: map[string]string{}, Body: []byte(payload), ReceivedAt: now,
	}}
	j := job.Job{ID: job.NewID("job", now), Endpoint: "ep", EventID: e.Event.ID, Payload: []byte(payload),
		State: job.StateAvailable, RunAt: now, CreatedAt: now, UpdatedAt: now}
	if mutate != nil {
		mutate(&j)
	}
	e.Jobs = []job.Job{j}
	st, err := b.store.StoreEvent(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return st.JobIDs[0]
}

// waitJob polls the store until the job satisfies cond.
func (b *bundle) waitJob(t *testing.T, id string, what string, cond func(job.Job) bool) job.Job {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := b.store.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never became %s; it is %+v", id, what, j)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

func state(s job.State) func(job.Job) bool { return func(j job.Job) bool { return j.State == s } }

type envelope struct {
	JobID         string          `json:"jobId"`
	AttemptID     string          `json:"attemptId"`
	Attempt       int             `json:"attempt"`
	AttemptNumber int             `json:"attemptNumber"`
	Payload       json.RawMessage `json:"payload"`
}

func decodeEnvelope(t *testing.T, b []byte) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return e
}

func TestDeliveryEnvelopeAndSignature(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, nil)
		id := b.enqueue(t, `{"order": {"id": 42}}`, nil)
		d := b.recv.next(t)

		env := decodeEnvelope(t, d.body)
		if env.JobID != id || env.Attempt != 1 || env.AttemptNumber != 1 || env.AttemptID == "" || string(env.Payload) != `{"order": {"id": 42}}` {
			t.Errorf("envelope = %+v", env)
		}
		if got := d.header.Get("Authorization"); got != "Bearer "+secret {
			t.Errorf("Authorization = %q", got)
		}
		if d.header.Get("Content-Type") != "application/json" || d.header.Get("webhook-id") != id {
			t.Errorf("headers = %v", d.header)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("the Standard Webhooks library rejects the signature: %v", err)
		}
		j := b.waitJob(t, id, "completed", state(job.StateCompleted))
		atts, _ := b.store.ListAttempts(context.Background(), id)
		if len(atts) != 1 || atts[0].StatusCode != 200 || atts[0].Outcome != "completed" || atts[0].ResponseExcerpt != `{"status":"ok"}` {
			t.Errorf("attempts = %+v", atts)
		}
		if j.Attempts != 1 {
			t.Errorf("attempts = %d", j.Attempts)
		}
	})
}

// TestRetryThenSuccess: 500, then 200 on the retry: the same jobId and
// webhook-id, attemptNumber 2, after the schedule's first delay.
func TestRetryThenSuccess(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, nil)
		b.recv.setAnswer(func(n int, _ delivered) (int, http.Header, string) {
			if n == 1 {
				return 500, nil, "boom"
			}
			return 200, nil, ""
		})
		start := b.clock.Now()
		id := b.enqueue(t, `{"n":1}`, nil)
		first := b.recv.next(t)
		j := b.waitJob(t, id, "retrying", state(job.StateRetrying))
		// The dispatched preset: the first retry 30 s after the failure.
		if got := j.RunAt.Sub(start); got != 30*time.Second {
			t.Errorf("retry scheduled %v after the failure, want 30s", got)
		}
		b.clock.Advance(30 * time.Second)
		b.worker.Kick()
		second := b.recv.next(t)
		e1, e2 := decodeEnvelope(t, first.body), decodeEnvelope(t, second.body)
		if e2.JobID != id || e2.AttemptNumber != 2 || e2.Attempt != 2 || e1.AttemptID == e2.AttemptID {
			t.Errorf("retry envelope = %+v (first %+v)", e2, e1)
		}
		if first.header.Get("webhook-id") != second.header.Get("webhook-id") {
			t.Errorf("webhook-id changed across attempts: %q, %q", first.header.Get("webhook-id"), second.header.Get("webhook-id"))
		}
		b.waitJob(t, id, "completed", state(job.StateCompleted))
		atts, _ := b.store.ListAttempts(context.Background(), id)
		if len(atts) != 2 || atts[0].StatusCode != 500 || atts[0].Outcome != "retry" || atts[1].StatusCode != 200 {
			t.Errorf("attempts = %+v", atts)
		}
	})
}

func TestReceiverSaysFailed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, nil)
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) {
			return 200, nil, `{"status": "failed", "error": "invalid payload"}`
		})
		id := b.enqueue(t, `{}`, nil)
		b.recv.next(t)
		j := b.waitJob(t, id, "dead", state(job.StateDead))
		if j.Attempts != 1 {
			t.Errorf("attempts = %d, want 1: the receiver said not to retry", j.Attempts)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			dead, _ := b.notes.snapshot() // told just after the outcome is stored
			if len(dead) == 1 && dead[0] == id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("operators were told of dead jobs %v, want [%s]", dead, id)
			}
		}
	})
}

// TestGoneDisablesEndpoint: 410 fails the job and disables the endpoint;
// its other jobs wait, without burning attempts, until it is enabled.
func TestGoneDisablesEndpoint(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) { e.MaxConcurrency = 1 })
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) { return 410, nil, "gone" })
		first := b.enqueue(t, `{"n":1}`, nil)
		b.recv.next(t)
		b.waitJob(t, first, "dead", state(job.StateDead))
		// The endpoint is disabled just after the job's outcome is stored.
		eventually(t, "the endpoint disabled after 410", func() bool {
			ep, _ := b.store.GetEndpoint(context.Background(), "ep")
			return !ep.Active() && ep.DisabledReason != ""
		})
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, disabled := b.notes.snapshot(); len(disabled) == 1 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("operators were told of disabled endpoints %v, want one", disabled)
			}
		}
		waiting := b.enqueue(t, `{"n":2}`, nil)
		time.Sleep(500 * time.Millisecond) // several poll intervals
		if j, _ := b.store.GetJob(context.Background(), waiting); j.State != job.StateAvailable || j.Attempts != 0 {
			t.Errorf("a job of a disabled endpoint = %s with %d attempts, want available with 0", j.State, j.Attempts)
		}
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) { return 200, nil, "" })
		if err := b.store.EnableEndpoint(context.Background(), "ep", b.clock.Now()); err != nil {
			t.Fatal(err)
		}
		b.worker.Kick()
		b.waitJob(t, waiting, "completed", state(job.StateCompleted))
	})
}

func TestRetryAfterHonoured(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, nil)
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) {
			return 429, http.Header{"Retry-After": {"120"}}, ""
		})
		start := b.clock.Now()
		id := b.enqueue(t, `{}`, nil)
		b.recv.next(t)
		j := b.waitJob(t, id, "retrying", state(job.StateRetrying))
		if got := j.RunAt.Sub(start); got != 120*time.Second {
			t.Errorf("retry at +%v, want +2m0s from Retry-After (the schedule says 30s)", got)
		}
	})
}

// TestBevySchedule follows the bevy preset under the test clock: 10 min,
// then 20, then 40 after each failure.
func TestBevySchedule(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) { e.Retry = job.RetrySpec{Preset: "bevy"} })
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) { return 503, nil, "" })
		id := b.enqueue(t, `{}`, nil)
		for i, want := range []time.Duration{10 * time.Minute, 20 * time.Minute, 40 * time.Minute} {
			b.recv.next(t)
			failedAt := b.clock.Now()
			j := b.waitJob(t, id, fmt.Sprintf("retrying after attempt %d", i+1), func(j job.Job) bool {
				return j.State == job.StateRetrying && j.Attempts == i+1
			})
			if got := j.RunAt.Sub(failedAt); got != want {
				t.Errorf("after attempt %d: retry in %v, want %v", i+1, got, want)
			}
			// Not a moment early.
			b.clock.Advance(want - time.Second)
			b.worker.Kick()
			select {
			case <-b.recv.arrived:
				t.Fatalf("attempt %d came before its time", i+2)
			case <-time.After(300 * time.Millisecond):
			}
			b.clock.Advance(time.Second)
			b.worker.Kick()
		}
	})
}

func TestScheduleEndsDead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) {
			e.Retry = job.RetrySpec{Schedule: []time.Duration{time.Minute}}
		})
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) { return 500, nil, "" })
		id := b.enqueue(t, `{}`, nil)
		b.recv.next(t)
		b.waitJob(t, id, "retrying", state(job.StateRetrying))
		b.clock.Advance(time.Minute)
		b.worker.Kick()
		b.recv.next(t)
		j := b.waitJob(t, id, "dead", state(job.StateDead))
		if j.Attempts != 2 || j.LastError == "" {
			t.Errorf("dead job = %+v", j)
		}
	})
}

func TestBulk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) {
			e.Bulk = &job.BulkSpec{MaxRecords: 3, MaxWait: 0}
			e.MaxConcurrency = 1
		})
		// Pause so that all seven jobs are ready before the first POST.
		ctx := context.Background()
		b.store.SetEndpointPaused(ctx, "ep", true, b.clock.Now())
		b.worker.Kick()
		var ids []string
		for i := range 7 {
			ids = append(ids, b.enqueue(t, fmt.Sprintf(`{"n":%d}`, i), nil))
		}
		var failOnce sync.Once
		b.recv.setAnswer(func(_ int, d delivered) (int, http.Header, string) {
			var batch struct{ Records []envelope }
			json.Unmarshal(d.body, &batch)
			body := "{}"
			failOnce.Do(func() { body = fmt.Sprintf(`{"failedJobIds": [%q]}`, batch.Records[0].JobID) })
			return 200, nil, body
		})
		b.store.SetEndpointPaused(ctx, "ep", false, b.clock.Now())
		b.worker.Kick()

		var sizes []int
		seen := map[string]int{}
		for range 3 {
			d := b.recv.next(t)
			var batch struct {
				BatchID string
				Records []envelope
			}
			if err := json.Unmarshal(d.body, &batch); err != nil || batch.BatchID == "" {
				t.Fatalf("bulk body %s: %v", d.body, err)
			}
			if d.header.Get("webhook-id") != batch.BatchID {
				t.Errorf("webhook-id %q, want the batch id %q", d.header.Get("webhook-id"), batch.BatchID)
			}
			sizes = append(sizes, len(batch.Records))
			for _, r := range batch.Records {
				seen[r.JobID]++
			}
		}
		if fmt.Sprint(sizes) != "[3 3 1]" {
			t.Errorf("batch sizes = %v, want [3 3 1]", sizes)
		}
		retried := ids[0]
		j := b.waitJob(t, retried, "retrying", state(job.StateRetrying))
		for _, id := range ids[1:] {
			b.waitJob(t, id, "completed", state(job.StateCompleted))
		}
		b.clock.Advance(30 * time.Second)
		b.worker.Kick()
		d := b.recv.next(t)
		var again struct{ Records []envelope }
		json.Unmarshal(d.body, &again)
		if len(again.Records) != 1 || again.Records[0].JobID != retried || again.Records[0].AttemptNumber != 2 {
			t.Errorf("retry batch = %+v, want only %s as attempt 2 (it was attempt %d)", again.Records, retried, j.Attempts)
		}
	})
}

// TestOrderingKey: jobs with one ordering key go one at a time in creation
// order, while another key's jobs run beside them.
func TestOrderingKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) { e.MaxConcurrency = 8 })
		ctx := context.Background()
		b.store.SetEndpointPaused(ctx, "ep", true, b.clock.Now())
		b.worker.Kick()
		var mu sync.Mutex
		inFlight := map[string]int{}
		order := map[string][]int{}
		overlap := map[string]bool{}
		release := make(chan struct{})
		b.recv.setAnswer(func(_ int, d delivered) (int, http.Header, string) {
			var p struct {
				Key string
				N   int
			}
			json.Unmarshal(decodeEnvelope(t, d.body).Payload, &p)
			mu.Lock()
			inFlight[p.Key]++
			if inFlight[p.Key] > 1 {
				overlap[p.Key] = true
			}
			order[p.Key] = append(order[p.Key], p.N)
			both := len(inFlight) == 2 && inFlight["A"] > 0 && inFlight["B"] > 0
			mu.Unlock()
			if both {
				close(release) // A and B were in flight together
			}
			select {
			case <-release:
			case <-time.After(200 * time.Millisecond):
			}
			mu.Lock()
			inFlight[p.Key]--
			if inFlight[p.Key] == 0 {
				delete(inFlight, p.Key)
			}
			mu.Unlock()
			return 200, nil, ""
		})
		var ids []string
		for i := range 4 {
			for _, key := range []string{"A", "B"} {
				ids = append(ids, b.enqueue(t, fmt.Sprintf(`{"key":%q,"n":%d}`, key, i), func(j *job.Job) { j.OrderingKey = key }))
			}
		}
		b.store.SetEndpointPaused(ctx, "ep", false, b.clock.Now())
		b.worker.Kick()
		for _, id := range ids {
			b.waitJob(t, id, "completed", state(job.StateCompleted))
		}
		mu.Lock()
		defer mu.Unlock()
		for _, key := range []string{"A", "B"} {
			if fmt.Sprint(order[key]) != "[0 1 2 3]" || overlap[key] {
				t.Errorf("key %s delivered in order %v, overlapping %v; want [0 1 2 3] one at a time", key, order[key], overlap[key])
			}
		}
		select {
		case <-release:
		default:
			t.Errorf("keys A and B were never delivered side by side")
		}
	})
}

// TestCoalesce: while a job waits, a newer update with its coalesce key
// replaces its payload: one delivery, the latest data.
func TestCoalesce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, nil)
		ctx := context.Background()
		b.store.SetEndpointPaused(ctx, "ep", true, b.clock.Now())
		b.worker.Kick()
		var ids []string
		for v := range 3 {
			ids = append(ids, b.enqueue(t, fmt.Sprintf(`{"record":7,"v":%d}`, v), func(j *job.Job) { j.CoalesceKey = "record-7" }))
		}
		if ids[0] != ids[1] || ids[1] != ids[2] {
			t.Fatalf("coalesced updates got different jobs: %v", ids)
		}
		b.store.SetEndpointPaused(ctx, "ep", false, b.clock.Now())
		b.worker.Kick()
		d := b.recv.next(t)
		if p := string(decodeEnvelope(t, d.body).Payload); p != `{"record":7,"v":2}` {
			t.Errorf("delivered payload %s, want the latest update", p)
		}
		b.waitJob(t, ids[0], "completed", state(job.StateCompleted))
		select {
		case d := <-b.recv.arrived:
			t.Errorf("a second delivery: %s", d.body)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// TestRescueExpiredLease: a job claimed by a worker that died is delivered
// once its lease has expired.
func TestRescueExpiredLease(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setupStopped(t, open, nil)
		ctx := context.Background()
		id := b.enqueue(t, `{}`, nil)
		now := b.clock.Now()
		claimed, err := b.store.ClaimJobs(ctx, job.Claim{Endpoint: "ep", LeaseID: "crashed", Now: now, LeaseUntil: now.Add(time.Minute), Max: 1})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		b.start(t)
		select {
		case <-b.recv.arrived:
			t.Fatalf("a job under a live lease was delivered")
		case <-time.After(300 * time.Millisecond):
		}
		b.clock.Advance(time.Minute)
		b.worker.Kick()
		d := b.recv.next(t)
		if env := decodeEnvelope(t, d.body); env.JobID != id || env.AttemptNumber != 2 {
			t.Errorf("rescued delivery = %+v, want %s as attempt 2", env, id)
		}
		b.waitJob(t, id, "completed", state(job.StateCompleted))
	})
}

// TestBlockedAddress: without an allow list, a delivery to a private
// address is refused at dial time and fails for good.
func TestBlockedAddress(t *testing.T) {
	t.Parallel()
	s := engines[0].open(t)
	defer s.Close()
	recv := newReceiver(t)
	ctx := context.Background()
	now := time.Now()
	s.UpsertEndpoints(ctx, []job.EndpointSpec{{Name: "ep", URL: recv.srv.URL, Secrets: []string{secret}, Timeout: time.Second}}, job.OriginConfig, now)
	w := worker.New(worker.Options{
		Store:  s,
		Client: delivery.NewClient(ssrf.New(nil).Control, nil, "t"),
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { cancel(); <-done }()
	st, _ := s.StoreEvent(ctx, job.NewEvent{
		Event: job.Event{ID: job.NewID("evt", now), Source: "s", ContentType: "application/json", Headers: map[string]string{}, Body: []byte("{}"), ReceivedAt: now},
		Jobs:  []job.Job{{ID: job.NewID("job", now), Endpoint: "ep", Payload: []byte("{}"), State: job.StateAvailable, RunAt: now, CreatedAt: now, UpdatedAt: now}},
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		atts, _ := s.ListAttempts(ctx, st.JobIDs[0])
		if len(atts) == 1 {
			if atts[0].ErrorClass != delivery.ClassBlockedAddress || atts[0].Outcome != "failed" {
				t.Errorf("attempt = %+v, want a blocked address", atts[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(recv.got); n != 0 {
		t.Errorf("the receiver on 127.0.0.1 got %d requests", n)
	}
}

// TestDisabledAfterFailingTooLong: an endpoint that fails without a success
// for longer than disable_after is disabled, and operators are told.
func TestDisabledAfterFailingTooLong(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) {
			e.DisableAfter = time.Hour
			e.Retry = job.RetrySpec{Schedule: []time.Duration{2 * time.Hour, 2 * time.Hour}}
		})
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) { return 503, nil, "" })
		id := b.enqueue(t, `{}`, nil)
		b.recv.next(t)
		b.waitJob(t, id, "retrying", state(job.StateRetrying))
		// Health is recorded just after the job's outcome.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			ep, _ := b.store.GetEndpoint(context.Background(), "ep")
			if !ep.Active() {
				t.Fatalf("disabled after one failure")
			}
			if !ep.FailingSince.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the failure was never recorded on the endpoint")
			}
		}
		b.clock.Advance(2 * time.Hour)
		b.worker.Kick()
		b.recv.next(t)
		b.waitJob(t, id, "retrying again", func(j job.Job) bool { return j.State == job.StateRetrying && j.Attempts == 2 })
		deadline := time.Now().Add(10 * time.Second)
		for {
			ep, _ := b.store.GetEndpoint(context.Background(), "ep")
			_, disabled := b.notes.snapshot() // operators are told just after
			if !ep.Active() && len(disabled) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("an endpoint failing for 2h with disable_after 1h: active %v, operators told %v", ep.Active(), disabled)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestConcurrencyLimit: no more than max_concurrency deliveries at once.
func TestConcurrencyLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) { e.MaxConcurrency = 2 })
		var mu sync.Mutex
		inFlight, most := 0, 0
		b.recv.setAnswer(func(int, delivered) (int, http.Header, string) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			return 200, nil, ""
		})
		var ids []string
		for i := range 8 {
			ids = append(ids, b.enqueue(t, fmt.Sprintf(`{"n":%d}`, i), nil))
		}
		for _, id := range ids {
			b.waitJob(t, id, "completed", state(job.StateCompleted))
		}
		if most != 2 {
			t.Errorf("at most %d deliveries were in flight, want exactly max_concurrency 2", most)
		}
	})
}

// TestRateLimit: the token bucket follows the worker's clock, so the test
// can count deliveries per (test) second exactly.
func TestRateLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) { e.RateLimit = &job.RateLimitSpec{RPS: 1, Burst: 2} })
		got := func() int {
			b.recv.mu.Lock()
			defer b.recv.mu.Unlock()
			return len(b.recv.got)
		}
		// count waits (on a loaded machine, up to 10 s) for want deliveries,
		// then a few poll intervals more: nothing more may come.
		count := func(want int) int {
			for deadline := time.Now().Add(10 * time.Second); got() < want && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(400 * time.Millisecond)
			return got()
		}
		// A lone job first: the runner draws tokens for all its free slots
		// and must give back those it did not use.
		b.enqueue(t, `{"n":0}`, nil)
		if n := count(1); n != 1 {
			t.Fatalf("%d deliveries of one job, want 1", n)
		}
		for i := 1; i < 5; i++ {
			b.enqueue(t, fmt.Sprintf(`{"n":%d}`, i), nil)
		}
		if n := count(2); n != 2 {
			t.Fatalf("%d deliveries with a burst of 2 and the clock stopped, want 2", n)
		}
		b.clock.Advance(time.Second)
		b.worker.Kick()
		if n := count(3); n != 3 {
			t.Errorf("%d deliveries one second later at 1/s, want 3", n)
		}
		b.clock.Advance(2 * time.Second)
		b.worker.Kick()
		if n := count(5); n != 5 {
			t.Errorf("%d deliveries two more seconds later, want 5", n)
		}
	})
}
