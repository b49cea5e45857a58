// Package metrics defines dispatchd's Prometheus metrics, served at
// GET /metrics.
//
// It uses the Prometheus client directly rather than the OpenTelemetry
// metrics SDK: the only consumer is a Prometheus scrape, the client's
// text exposition is the reference one, and one fewer translation layer
// keeps the hot path (every webhook, every delivery) cheap. Traces go
// through OpenTelemetry, where the cross-process context matters.
//
// Every method is safe on a nil *Metrics, so components built without
// metrics (tests) need no stand-in.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Metrics are dispatchd's counters, gauges and histograms.
type Metrics struct {
	webhooks       *prometheus.CounterVec
	ingestDuration *prometheus.HistogramVec
	batchSize      prometheus.Histogram
	attempts       *prometheus.CounterVec
	deliveryTime   *prometheus.HistogramVec
	retries        *prometheus.CounterVec
	dead           *prometheus.CounterVec
	disabled       *prometheus.CounterVec
}

// Webhook outcomes, the outcome label of dispatchd_webhooks_received_total.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeUnauthorized = "unauthorized"
	OutcomeTooLarge     = "too_large"
	OutcomeInvalid      = "invalid"
	OutcomeRateLimited  = "rate_limited"
	OutcomeUnknown      = "unknown_source"
	OutcomeUnavailable  = "unavailable"
)

// New registers the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatchd_webhooks_received_total",
			Help: "Webhooks received, by source and outcome (accepted, duplicate, unauthorized, too_large, invalid, rate_limited, unknown_source, unavailable).",
		}, []string{"source", "outcome"}),
		ingestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dispatchd_ingest_duration_seconds",
			Help:    "Time from a webhook reaching the ingest service to its answer (the commit included), by source.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"source"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dispatchd_commit_batch_size",
			Help:    "For each stored event, how many events shared its commit (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatchd_delivery_attempts_total",
			Help: "Delivery attempts (one per job), by endpoint, outcome (completed, retry, failed, gone) and error class.",
		}, []string{"endpoint", "outcome", "class"}),
		deliveryTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dispatchd_delivery_duration_seconds",
			Help:    "Duration of a delivery POST, from sending to the end of the (capped) response, by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatchd_retries_scheduled_total",
			Help: "Retries scheduled after a failed attempt, by endpoint.",
		}, []string{"endpoint"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatchd_jobs_dead_total",
			Help: "Jobs that went dead (failed for good or out of retries), by endpoint.",
		}, []string{"endpoint"}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatchd_endpoints_disabled_total",
			Help: "Endpoints disabled by dispatchd (410, or failing too long), by endpoint.",
		}, []string{"endpoint"}),
	}
	reg.MustRegister(m.webhooks, m.ingestDuration, m.batchSize, m.attempts, m.deliveryTime, m.retries, m.dead, m.disabled)
	return m
}

// WebhookOutcome maps an ingest result to its outcome label.
func WebhookOutcome(err error, duplicate bool) string {
	switch job.ErrorCode(err) {
	case "":
		if duplicate {
			return OutcomeDuplicate
		}
		return OutcomeAccepted
	case job.CodeUnauthenticated:
		return OutcomeUnauthorized
	case job.CodePayloadTooLarge:
		return OutcomeTooLarge
	case job.CodeRateLimited:
		return OutcomeRateLimited
	case job.CodeNotFound:
		return OutcomeUnknown
	case job.CodeUnavailable, job.CodeInternal:
		return OutcomeUnavailable
	}
	return OutcomeInvalid
}

// Webhook records one webhook's outcome and how long ingestion took. An
// unknown source is counted under source "" so that arbitrary names do not
// grow the label set.
func (m *Metrics) Webhook(source, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	if outcome == OutcomeUnknown {
		source = ""
	}
	m.webhooks.WithLabelValues(source, outcome).Inc()
	m.ingestDuration.WithLabelValues(source).Observe(took.Seconds())
}

// CommitBatch records the size of a commit.
func (m *Metrics) CommitBatch(size int) {
	if m == nil || size < 1 {
		return
	}
	m.batchSize.Observe(float64(size))
}

// Attempt records one job's delivery attempt.
func (m *Metrics) Attempt(endpoint, outcome, class string) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(endpoint, outcome, class).Inc()
}

// Delivery records the duration of one POST.
func (m *Metrics) Delivery(endpoint string, took time.Duration) {
	if m == nil {
		return
	}
	m.deliveryTime.WithLabelValues(endpoint).Observe(took.Seconds())
}

// RetryScheduled counts a retry.
func (m *Metrics) RetryScheduled(endpoint string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(endpoint).Inc()
}

// Dead counts a job gone dead.
func (m *Metrics) Dead(endpoint string) {
	if m == nil {
		return
	}
	m.dead.WithLabelValues(endpoint).Inc()
}

// EndpointDisabled counts an endpoint disabled by dispatchd.
func (m *Metrics) EndpointDisabled(endpoint string) {
	if m == nil {
		return
	}
	m.disabled.WithLabelValues(endpoint).Inc()
}

// QueueStatsTTL is how long one reading of the queue serves scrapes: a
// scrape does not cost a database query, however many scrapers there are
// and however often they come.
const QueueStatsTTL = 5 * time.Second

// QueueCollector reports the jobs waiting, by state, and the lag (how long
// the oldest ready job has waited past its run time), read from the store
// at most once per QueueStatsTTL: concurrent scrapes share one query.
type QueueCollector struct {
	store QueueStatser
	now   func() time.Time
	jobs  *prometheus.Desc
	lag   *prometheus.Desc
	up    *prometheus.Desc

	mu      sync.Mutex
	readAt  time.Time // zero: never read
	byState map[job.State]int64
	oldest  time.Time
	err     error
}

// QueueStatser is the slice of the store the collector reads.
type QueueStatser interface {
	QueueStats(ctx context.Context, now time.Time) (map[job.State]int64, time.Time, error)
}

// NewQueueCollector returns a collector over store.
func NewQueueCollector(store QueueStatser, now func() time.Time) *QueueCollector {
	return &QueueCollector{
		store: store,
		now:   now,
		jobs:  prometheus.NewDesc("dispatchd_jobs", "Jobs not yet finished, by state (queue depth), as read at most "+QueueStatsTTL.String()+" ago.", []string{"state"}, nil),
		lag:   prometheus.NewDesc("dispatchd_oldest_ready_job_age_seconds", "How long the oldest ready job has waited past its run time (0: none waiting).", nil, nil),
		up:    prometheus.NewDesc("dispatchd_store_up", "1 when the store answered the latest queue query.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.lag
	ch <- c.up
}

// stats returns the queue's reading, querying the store only when the
// cached one is older than QueueStatsTTL. The lock makes scrapes that
// arrive together wait for one query instead of each making theirs.
func (c *QueueCollector) stats(now time.Time) (map[job.State]int64, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= QueueStatsTTL || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.byState, c.oldest, c.err = c.store.QueueStats(ctx, now)
		cancel()
		c.readAt = now
	}
	return c.byState, c.oldest, c.err
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	byState, oldest, err := c.stats(now)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, s := range []job.State{job.StateScheduled, job.StateAvailable, job.StateRetrying, job.StateRunning} {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(byState[s]), string(s))
	}
	lag := 0.0
	if !oldest.IsZero() {
		lag = max(0, now.Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
}
