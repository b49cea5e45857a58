package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/retry"
	"github.com/dispatchd/dispatchd/internal/telemetry"
)

// claimBatchWait bounds how long a busy runner waits for more free slots
// before it claims: under load slots free up one by one, and a claim for
// each alone would cost a transaction (and an fsync) per job.
const claimBatchWait = 2 * time.Millisecond

// maxClaimJobs bounds the jobs one claim leases. A bulk endpoint's claim
// could otherwise take max_concurrency × max_records jobs (6 400 at 64 ×
// 100) in one transaction: 0.4 s during which SQLite's single writer
// took no webhook and no finish (measured).
const maxClaimJobs = 1000

// idleRecheck is how soon a runner looks again when due jobs could not be
// claimed: their ordering key's previous job is still running, or another
// process took them.
const idleRecheck = time.Second

// runner delivers the jobs of one endpoint.
type runner struct {
	w      *Worker
	name   string
	cancel context.CancelFunc

	mu       sync.Mutex
	ep       job.Endpoint
	policy   retry.Policy
	inflight int
	// failing mirrors the store's failing_since, so that a run of
	// successes does not write to the store each time.
	failing bool

	// poked wakes the runner: a delivery ended, the endpoint changed, or
	// Kick was called.
	poked chan struct{}
	// lastClaim is when the runner last claimed (real time).
	lastClaim time.Time
	// deliveries counts the deliveries under way, for shutdown.
	deliveries sync.WaitGroup
}

func newRunner(w *Worker, ep job.Endpoint) (*runner, error) {
	r := &runner{w: w, name: ep.Name, poked: make(chan struct{}, 1)}
	if err := r.apply(ep); err != nil {
		return nil, err
	}
	return r, nil
}

// apply installs a definition; the caller holds mu or owns r alone.
func (r *runner) apply(ep job.Endpoint) error {
	policy, err := retry.FromSpec(ep.Retry)
	if err != nil {
		return fmt.Errorf("retry policy: %w", err)
	}
	r.ep, r.policy = ep, policy
	r.failing = !ep.FailingSince.IsZero()
	return nil
}

// update hands the runner the endpoint as the store has it now.
func (r *runner) update(ep job.Endpoint) {
	r.mu.Lock()
	err := r.apply(ep)
	r.mu.Unlock()
	if err != nil {
		r.w.o.Log.Error("worker: endpoint update ignored", "endpoint", r.name, "error", err)
		return
	}
	r.poke()
}

func (r *runner) poke() {
	select {
	case r.poked <- struct{}{}:
	default:
	}
}

func (r *runner) concurrency() int { return concurrencyOf(r.ep) }

func (r *runner) timeout() time.Duration { return timeoutOf(r.ep) }

func concurrencyOf(ep job.Endpoint) int {
	if ep.MaxConcurrency > 0 {
		return ep.MaxConcurrency
	}
	return job.DefaultMaxConcurrency
}

func timeoutOf(ep job.Endpoint) time.Duration {
	if ep.Timeout > 0 {
		return ep.Timeout
	}
	return job.DefaultEndpointTimeout
}

// run claims and delivers until ctx ends, then waits for the deliveries
// under way.
func (r *runner) run(ctx context.Context) {
	wake, unsubscribe := r.w.o.Store.Subscribe(r.name)
	defer unsubscribe()
	defer r.deliveries.Wait()
	for ctx.Err() == nil {
		r.wait(ctx, wake, r.step(ctx))
	}
}

// step claims and starts what it can, and returns how long to sleep before
// the next step (unless woken earlier).
func (r *runner) step(ctx context.Context) time.Duration {
	o := r.w.o
	r.mu.Lock()
	ep, policy := r.ep, r.policy
	limit := r.concurrency()
	free := limit - r.inflight
	timeout := r.timeout()
	r.mu.Unlock()

	if !ep.Active() || free <= 0 {
		// Paused, disabled or busy: a reload or a finished delivery wakes
		// the runner.
		return o.PollInterval
	}
	if threshold := max(1, limit/4); free < threshold {
		if since := time.Since(r.lastClaim); since < claimBatchWait {
			return claimBatchWait - since
		}
	}
	next, ok, err := o.Store.NextDue(ctx, r.name)
	if err != nil {
		if ctx.Err() == nil {
			o.Log.Warn("worker: cannot look for due jobs", "endpoint", r.name, "error", err)
		}
		return idleRecheck
	}
	now := o.Now()
	if !ok {
		return o.PollInterval
	}
	if wait := next.Sub(now); wait > 0 {
		return min(wait, o.PollInterval)
	}
	if ep.Bulk != nil {
		// A batch waits for more records until its oldest job has waited
		// MaxWait.
		if fill := next.Add(ep.Bulk.MaxWait).Sub(now); fill > 0 {
			return fill
		}
	}

	// Jobs are due. One claim reads the endpoint as it is now (so that a
	// pause, a new secret or new limits made through the API, in any
	// process, apply to it), draws the rate-limit tokens of the POSTs it
	// will make (the bucket is in the database: every worker process draws
	// from it, and a POST takes one token, a bulk POST too) and leases the
	// jobs, in one transaction.
	var planErr error
	batch := 1
	plan := func(fresh job.Endpoint) (posts, perPost int, lease time.Duration) {
		if _, planErr = retry.FromSpec(fresh.Retry); planErr != nil {
			return 0, 0, 0
		}
		if fresh.Bulk != nil {
			batch = max(1, min(fresh.Bulk.MaxRecords, job.MaxBulkRecords))
		}
		r.mu.Lock()
		free := concurrencyOf(fresh) - r.inflight
		r.mu.Unlock()
		// One claim leases at most maxClaimJobs (and at least one POST's
		// worth): it holds the writer while it runs (SQLite's only one), and
		// the POSTs of a smaller claim start sooner while the next one runs.
		free = min(free, max(1, maxClaimJobs/batch))
		// A lease outlasts the attempt by a grace period; a short timeout
		// gets a short grace, so a crashed worker's jobs wait about twice
		// the timeout at most before they are rescued.
		timeout := timeoutOf(fresh)
		return free, batch, timeout + min(o.LeaseGrace, timeout)
	}
	// A claim serves jobs of many webhooks: it is a trace of its own, and
	// each delivery links to it.
	claimCtx, claimSpan := r.w.tracer.Start(ctx, "worker.claim", trace.WithNewRoot(),
		trace.WithAttributes(telemetry.AttrEndpoint.String(r.name)))
	r.lastClaim = time.Now()
	got, err := o.Store.ClaimDue(claimCtx, job.DueClaim{
		Endpoint: r.name,
		LeaseID:  o.ID + "/" + job.NewID("lease", now),
		Now:      now,
		Plan:     plan,
	})
	claimed := got.Jobs
	claimSpan.SetAttributes(telemetry.AttrClaimed.Int(len(claimed)))
	if err != nil {
		claimSpan.SetStatus(codes.Error, "claim failed")
	}
	claimSpan.End()
	if err == nil {
		r.mu.Lock()
		if err = r.apply(got.Endpoint); err == nil {
			ep, policy = r.ep, r.policy
			timeout = r.timeout()
		}
		r.mu.Unlock()
		if err == nil {
			err = planErr
		}
		if err != nil {
			o.Log.Error("worker: endpoint cannot be delivered to", "endpoint", r.name, "error", err)
			return o.PollInterval
		}
	}
	grace := min(o.LeaseGrace, timeout)
	if err != nil {
		if ctx.Err() == nil {
			o.Log.Warn("worker: cannot claim jobs", "endpoint", r.name, "error", err)
		}
		return idleRecheck
	}
	if len(claimed) == 0 {
		if !ep.Active() {
			return o.PollInterval
		}
		if got.RateWait > 0 {
			return max(got.RateWait, 10*time.Millisecond)
		}
		return idleRecheck
	}
	claimLink := trace.Link{SpanContext: claimSpan.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("dispatchd.link", "claim")}}
	// The attempt must end before the lease does, so that no other worker
	// can rescue a job still being delivered here. Deadlines are real time
	// (Now may be a test's clock).
	deadline := time.Now().Add(timeout + grace - min(grace/2, 5*time.Second))
	for chunk := range slices.Chunk(claimed, batch) {
		batchID := ""
		if ep.Bulk != nil {
			batchID = job.NewID("batch", now)
		}
		r.mu.Lock()
		r.inflight++
		r.mu.Unlock()
		r.deliveries.Add(1)
		go func() {
			defer r.deliveries.Done()
			var once sync.Once
			release := func() { once.Do(r.release) }
			defer release()
			r.deliver(ctx, ep, policy, chunk, batchID, deadline, claimLink, release)
			// The outcome is committed: the next job of an ordering key
			// may be claimed now (the slot was freed before, at the
			// end of the POST, when it could not be).
			r.poke()
		}()
	}
	return 0
}

func (r *runner) release() {
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
	r.poke()
}

// wait sleeps for d, or until a wake-up.
func (r *runner) wait(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-r.poked:
	case <-t.C:
	}
}

// deliver sends one POST for jobs and finishes them. The attempt ends by
// deadline, before the lease does. Shutdown does not cut a delivery short:
// its outcome is recorded. posted is called when the POST has ended: the
// endpoint's concurrency counts requests in flight, and the slot is free
// for the next job while the outcome is being committed (the jobs stay
// leased until then, so none is claimed twice and an ordering key's next
// job still waits for this one's finish).
func (r *runner) deliver(ctx context.Context, ep job.Endpoint, policy retry.Policy, jobs []job.Job, batchID string, deadline time.Time, claim trace.Link, posted func()) {
	o := r.w.o
	dctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	dctx, span := r.startDeliverySpan(dctx, ep, jobs, batchID, claim)
	defer span.End()

	records := make([]delivery.Record, len(jobs))
	attemptIDs := make([]string, len(jobs))
	started := o.Now()
	for i, j := range jobs {
		attemptIDs[i] = job.NewID("att", started)
		records[i] = delivery.RecordFor(j.ID, attemptIDs[i], j.Attempts, j.Payload)
	}
	res := o.Client.Deliver(dctx, delivery.Request{
		Endpoint:    delivery.EndpointFromSpec(ep.EndpointSpec, o.Now()),
		Records:     records,
		BatchID:     batchID,
		TraceParent: telemetry.TraceParent(dctx),
	})
	posted()
	now := o.Now()
	o.Metrics.Delivery(ep.Name, res.Latency)
	span.SetAttributes(attribute.String("dispatchd.outcome", res.Outcome.String()))
	if res.StatusCode != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	}
	if res.Outcome != delivery.Completed {
		span.SetAttributes(attribute.String("error.type", res.ErrorClass))
		span.SetStatus(codes.Error, res.ErrorClass)
	}

	failedInBatch := map[string]bool{}
	for _, id := range res.FailedJobIDs {
		failedInBatch[id] = true
	}
	finishes := make([]job.Finish, len(jobs))
	var dead []int
	for i, j := range jobs {
		outcome, errText := res.Outcome, res.Error
		if outcome == delivery.Completed && failedInBatch[j.ID] {
			outcome, errText = delivery.Retry, "the receiver listed the job in failedJobIds"
		}
		// Tries before the last one start first: the attempt log lists
		// an attempt's tries by start time.
		earlier, lastStart := earlierAttempts(j, batchID, started, res.Earlier)
		f := job.Finish{
			JobID:     j.ID,
			LeaseID:   j.LeaseID,
			LastError: errText,
			Now:       now,
			Attempt: job.Attempt{
				ID:              attemptIDs[i],
				JobID:           j.ID,
				Number:          j.Attempts,
				BatchID:         batchID,
				StartedAt:       lastStart,
				Latency:         res.Latency,
				StatusCode:      res.StatusCode,
				Outcome:         outcome.String(),
				ErrorClass:      res.ErrorClass,
				Error:           errText,
				ResponseExcerpt: res.Excerpt,
				Endpoint:        j.Endpoint,
				RequestHeaders:  res.RequestHeaders,
				RetryAfter:      res.RetryAfter,
			},
			Earlier: earlier,
		}
		switch outcome {
		case delivery.Completed:
			f.State = job.StateCompleted
		case delivery.Retry:
			first := j.FirstAttemptAt
			if first.IsZero() {
				first = started
			}
			policy := policy
			if j.Retry != nil {
				policy = r.jobPolicy(ep, *j.Retry, policy)
			}
			if at, ok := policy.Next(j.Attempts, first, now, res.RetryAfter, o.Rand); ok {
				f.State, f.RunAt = job.StateRetrying, at
			} else {
				f.State = job.StateDead
				f.LastError = fmt.Sprintf("retries exhausted (%s): %s", policy, errText)
			}
		default: // Failed, Gone
			f.State = job.StateDead
		}
		if f.State == job.StateDead {
			dead = append(dead, i)
		}
		finishes[i] = f
	}

	// Finishing must not be cut short by shutdown either.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	held, err := o.Store.FinishJobs(fctx, finishes)
	if err != nil {
		// The leases will expire and the jobs be delivered again: at least
		// once, never lost.
		o.Log.Error("worker: cannot record delivery outcomes; the jobs will be retried when their leases expire",
			"endpoint", ep.Name, "jobs", len(jobs), "error", err)
		return
	}
	traceID := span.SpanContext().TraceID().String()
	for i, j := range jobs {
		level := slog.LevelDebug // a success is routine
		switch {
		case !held[i]:
			level = slog.LevelWarn
		case finishes[i].State == job.StateRetrying:
			level = slog.LevelInfo
		case finishes[i].State == job.StateDead:
			level = slog.LevelWarn
		}
		if !o.Log.Enabled(fctx, level) {
			continue // most often a success at the default level: nothing to format
		}
		log := o.Log.With("job_id", j.ID, "endpoint", ep.Name, "attempt", j.Attempts, "attempt_number", j.Attempts,
			"outcome", finishes[i].Attempt.Outcome, "trace_id", traceID)
		if !held[i] {
			log.Warn("worker: lease lost before the outcome was recorded; another worker owns the job now")
			continue
		}
		log.Log(fctx, level, "worker: delivery attempt", "status", res.StatusCode, "state", finishes[i].State,
			"latency_ms", float64(res.Latency.Microseconds())/1000, "error_class", res.ErrorClass, "error", finishes[i].LastError)
	}
	for i, f := range finishes {
		if !held[i] {
			continue
		}
		o.Metrics.Attempt(ep.Name, f.Attempt.Outcome, f.Attempt.ErrorClass)
		switch f.State {
		case job.StateRetrying:
			o.Metrics.RetryScheduled(ep.Name)
		case job.StateDead:
			o.Metrics.Dead(ep.Name)
		}
	}
	for _, i := range dead {
		if held[i] && o.Notifier != nil {
			j := jobs[i]
			j.State, j.LastError = job.StateDead, finishes[i].LastError
			o.Notifier.JobDead(j, finishes[i].LastError)
		}
	}
	r.recordHealth(fctx, ep, res, now)
}

// startDeliverySpan starts the span of one POST. It continues the trace of
// the webhook (or API call) that created the first job, so that the whole
// story of a webhook is one trace however late the delivery; and it links
// to that span — marking the hop as asynchronous — to the creating span of
// every other job of a bulk batch, and to the claim.
func (r *runner) startDeliverySpan(ctx context.Context, ep job.Endpoint, jobs []job.Job, batchID string, claim trace.Link) (context.Context, trace.Span) {
	links := []trace.Link{claim}
	for _, j := range jobs {
		if sc := telemetry.SpanContext(j.TraceParent); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("dispatchd.link", "created_by")}})
		}
	}
	if sc := telemetry.SpanContext(jobs[0].TraceParent); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	attrs := []attribute.KeyValue{
		telemetry.AttrEndpoint.String(ep.Name),
		attribute.String("messaging.system", "dispatchd"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", ep.Name),
		attribute.Int("messaging.batch.message_count", len(jobs)),
	}
	if batchID == "" {
		attrs = append(attrs, telemetry.AttrJobID.String(jobs[0].ID), telemetry.AttrAttemptNumber.Int(jobs[0].Attempts),
			attribute.String("messaging.message.id", jobs[0].ID))
	} else {
		attrs = append(attrs, attribute.String("dispatchd.batch_id", batchID))
	}
	return r.w.tracer.Start(ctx, "deliver", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...), trace.WithAttributes(attrs...))
}

// jobPolicy is a job's own retry policy: its schedule if it names one, else
// the endpoint's, capped by its max retries.
func (r *runner) jobPolicy(ep job.Endpoint, override job.RetrySpec, endpoint retry.Policy) retry.Policy {
	spec := override
	if spec.Preset == "" && len(spec.Schedule) == 0 && spec.Exponential == nil {
		spec = ep.Retry
		spec.MaxRetries = override.MaxRetries
	}
	p, err := retry.FromSpec(spec)
	if err != nil {
		r.w.o.Log.Warn("worker: a job's retry override is invalid; the endpoint's applies", "endpoint", ep.Name, "error", err)
		return endpoint
	}
	return p
}

// recordHealth keeps the endpoint's failing-since time and disables it
// when it answered 410 or has failed for longer than its limit. Its jobs
// then wait instead of burning attempts.
func (r *runner) recordHealth(ctx context.Context, ep job.Endpoint, res delivery.Result, now time.Time) {
	o := r.w.o
	if res.Outcome == delivery.Gone {
		r.disable(ctx, ep, fmt.Sprintf("the endpoint answered 410 Gone at %s", now.UTC().Format(time.RFC3339)), now)
		return
	}
	ok := res.Outcome == delivery.Completed
	r.mu.Lock()
	changed := ok == r.failing
	r.failing = !ok
	r.mu.Unlock()
	if ok && !changed {
		return // healthy and known to be: nothing to write
	}
	since, err := o.Store.RecordEndpointHealth(ctx, ep.Name, ok, now)
	if err != nil {
		o.Log.Warn("worker: cannot record endpoint health", "endpoint", ep.Name, "error", err)
		return
	}
	limit := ep.DisableAfter
	if limit <= 0 {
		limit = job.DefaultDisableAfter
	}
	if !ok && now.Sub(since) >= limit {
		r.disable(ctx, ep, fmt.Sprintf("every delivery has failed since %s (limit %s); last: %s",
			since.UTC().Format(time.RFC3339), limit, res.Error), now)
	}
}

func (r *runner) disable(ctx context.Context, ep job.Endpoint, reason string, now time.Time) {
	o := r.w.o
	changed, err := o.Store.DisableEndpoint(ctx, ep.Name, reason, now)
	if err != nil {
		o.Log.Error("worker: cannot disable endpoint", "endpoint", ep.Name, "error", err)
		return
	}
	if !changed {
		return
	}
	o.Log.Warn("worker: endpoint disabled; its jobs wait until it is enabled again", "endpoint", ep.Name, "reason", reason)
	o.Metrics.EndpointDisabled(ep.Name)
	if o.Notifier != nil {
		o.Notifier.EndpointDisabled(ep.Name, reason)
	}
	r.w.requestReload()
}

// earlierAttempts records the tries of one attempt that got 401 and were
// made again at once with the previous secret or a fresh OAuth2 token, so
// that the attempt log shows what the receiver refused. It returns them
// and when the last try started.
func earlierAttempts(j job.Job, batchID string, started time.Time, tries []delivery.Result) ([]job.Attempt, time.Time) {
	var out []job.Attempt
	at := started
	for _, t := range tries {
		out = append(out, job.Attempt{
			ID:              job.NewID("att", at),
			JobID:           j.ID,
			Number:          j.Attempts,
			BatchID:         batchID,
			StartedAt:       at,
			Latency:         t.Latency,
			StatusCode:      t.StatusCode,
			Outcome:         delivery.Retry.String(),
			ErrorClass:      t.ErrorClass,
			Error:           t.Error + "; tried again at once with the next credential",
			ResponseExcerpt: t.Excerpt,
			Endpoint:        j.Endpoint,
			RequestHeaders:  t.RequestHeaders,
			RetryAfter:      t.RetryAfter,
		})
		// Stored times have microseconds: keep the tries apart.
		at = at.Add(max(t.Latency, time.Millisecond))
	}
	return out, at
}
