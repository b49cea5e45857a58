package worker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/metrics"
)

// Defaults of Options.
const (
	DefaultLeaseGrace   = 10 * time.Second
	DefaultPollInterval = 10 * time.Second
	// DefaultRefreshInterval is how soon an endpoint created elsewhere
	// gets a runner here.
	DefaultRefreshInterval = time.Second
)

// Notifier tells operators about what needs them. Calls must not block.
type Notifier interface {
	// JobDead reports a job that will not be delivered without a replay.
	JobDead(j job.Job, reason string)
	// EndpointDisabled reports an endpoint dispatchd stopped delivering to.
	EndpointDisabled(endpoint, reason string)
}

// Options configure a Worker.
type Options struct {
	Store  Store
	Client *delivery.Client
	// Notifier is told about dead jobs and disabled endpoints; nil for
	// none.
	Notifier Notifier
	Log      *slog.Logger
	// Now is the clock (time.Now outside tests). Run times, leases and
	// retry schedules follow it.
	Now func() time.Time
	// Rand returns a float in [0, 1) for retry jitter (rand.Float64 when
	// nil).
	Rand func() float64
	// ID names this worker in lease ids and logs.
	ID string
	// LeaseGrace is added to an endpoint's timeout (at most the timeout
	// itself) to make a claim's lease: a crashed worker's jobs wait the
	// lease out before another worker rescues them.
	LeaseGrace time.Duration
	// PollInterval is how long a runner sleeps without a wake-up before it
	// looks again (for jobs stored by processes that cannot notify).
	PollInterval time.Duration
	// RefreshInterval is how often endpoint definitions and states are
	// reloaded from the store.
	RefreshInterval time.Duration
	// Metrics counts attempts, retries, dead jobs and disabled endpoints
	// (nil: none).
	Metrics *metrics.Metrics
	// TracerProvider traces claims and deliveries (nil: no spans). The
	// Client should be traced with the same provider (WithTracing).
	TracerProvider trace.TracerProvider
}

// Worker runs the deliveries of every endpoint.
type Worker struct {
	o      Options
	tracer trace.Tracer

	mu      sync.Mutex
	runners map[string]*runner
	refresh chan struct{}
	wg      sync.WaitGroup
}

// New returns a Worker; Run starts it.
func New(o Options) *Worker {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.LeaseGrace <= 0 {
		o.LeaseGrace = DefaultLeaseGrace
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.ID == "" {
		o.ID = job.NewID("worker", o.Now())
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	return &Worker{o: o, runners: map[string]*runner{}, refresh: make(chan struct{}, 1),
		tracer: o.TracerProvider.Tracer("github.com/dispatchd/dispatchd/internal/worker")}
}

// Run delivers until ctx ends, then waits for the deliveries under way to
// finish (each is bounded by its endpoint's timeout) and returns.
func (w *Worker) Run(ctx context.Context) error {
	ticker := time.NewTicker(w.o.RefreshInterval)
	defer ticker.Stop()
	for {
		w.reload(ctx)
		select {
		case <-ctx.Done():
			w.wg.Wait()
			return nil
		case <-ticker.C:
		case <-w.refresh:
		}
	}
}

// Kick makes every runner look for due jobs now, and endpoints be
// reloaded: after a change made outside the worker (a job retried by hand,
// a clock moved in a test).
func (w *Worker) Kick() {
	w.requestReload()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.runners {
		r.poke()
	}
}

func (w *Worker) requestReload() {
	select {
	case w.refresh <- struct{}{}:
	default:
	}
}

// reload starts a runner for each new endpoint, hands changed definitions
// and states to the running ones, and stops the runners of endpoints that
// are gone.
func (w *Worker) reload(ctx context.Context) {
	eps, err := w.o.Store.ListEndpoints(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.o.Log.Warn("worker: cannot load endpoints; deliveries continue with what is known", "error", err)
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	for _, ep := range eps {
		seen[ep.Name] = true
		if r, ok := w.runners[ep.Name]; ok {
			r.update(ep)
			continue
		}
		r, err := newRunner(w, ep)
		if err != nil {
			w.o.Log.Error("worker: endpoint cannot be delivered to", "endpoint", ep.Name, "error", err)
			continue
		}
		w.runners[ep.Name] = r
		rctx, cancel := context.WithCancel(ctx)
		r.cancel = cancel
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			r.run(rctx)
		}()
	}
	for name, r := range w.runners {
		if !seen[name] {
			r.cancel()
			delete(w.runners, name)
		}
	}
}
