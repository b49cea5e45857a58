// Package opsnotify sends dispatchd's operational webhooks: a job went dead,
// an endpoint was disabled. They go to the operator's URL, signed like any
// delivery (Authorization: Bearer and Standard Webhooks headers), from a
// small queue so that the worker never waits for them.
//
// They are best effort: a few attempts, then the event is counted as
// failed and logged. The job and endpoint states they report are durable in
// the store either way.
package opsnotify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
)

// Event types.
const (
	TypeJobDead          = "job.dead"
	TypeEndpointDisabled = "endpoint.disabled"
)

const (
	queueSize = 1024
	attempts  = 3
	timeout   = 10 * time.Second
)

// Event is the body of an operational webhook.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// JobDeadData is the data of a job.dead event.
type JobDeadData struct {
	JobID    string `json:"jobId"`
	Endpoint string `json:"endpoint"`
	EventID  string `json:"eventId,omitempty"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
}

// EndpointDisabledData is the data of an endpoint.disabled event.
type EndpointDisabledData struct {
	Endpoint string `json:"endpoint"`
	Reason   string `json:"reason"`
}

// Sender queues and sends operational webhooks. It implements
// worker.Notifier.
type Sender struct {
	url, secret string
	client      *http.Client
	now         func() time.Time
	log         *slog.Logger
	queue       chan Event
	sent        *prometheus.CounterVec
	backoff     time.Duration
}

// New returns a Sender posting to url, signed with secret, counting what it
// does in dispatchd_operational_webhooks_total{type,result} on reg. Run
// sends the queue.
//
// Whatever client is given, redirects are not followed; NewHTTPClient
// makes one behind the SSRF guard.
func New(url, secret string, client *http.Client, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) *Sender {
	noFollow := *client
	noFollow.CheckRedirect = noRedirect
	client = &noFollow
	s := &Sender{
		url: url, secret: secret, client: client, now: now, log: log,
		queue:   make(chan Event, queueSize),
		backoff: time.Second,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatchd_operational_webhooks_total",
			Help: "Operational webhooks (job.dead, endpoint.disabled) by result: sent, failed (after retries) or dropped (queue full).",
		}, []string{"type", "result"}),
	}
	if reg != nil {
		reg.MustRegister(s.sent)
	}
	// Every series exists from the start, at 0: a rate or an alert on it
	// works before the first notice.
	for _, typ := range []string{TypeJobDead, TypeEndpointDisabled} {
		for _, result := range []string{"sent", "failed", "dropped"} {
			s.sent.WithLabelValues(typ, result)
		}
	}
	return s
}

// JobDead implements worker.Notifier.
func (s *Sender) JobDead(j job.Job, reason string) {
	s.enqueue(TypeJobDead, JobDeadData{JobID: j.ID, Endpoint: j.Endpoint, EventID: j.EventID, Attempts: j.Attempts, Reason: reason})
}

// EndpointDisabled implements worker.Notifier.
func (s *Sender) EndpointDisabled(endpoint, reason string) {
	s.enqueue(TypeEndpointDisabled, EndpointDisabledData{Endpoint: endpoint, Reason: reason})
}

func (s *Sender) enqueue(typ string, data any) {
	now := s.now()
	e := Event{ID: job.NewID("opn", now), Type: typ, Timestamp: now.UTC(), Data: data}
	select {
	case s.queue <- e:
	default:
		s.sent.WithLabelValues(typ, "dropped").Inc()
		s.log.Error("operational webhook dropped: the queue is full", "type", typ, "data", data)
	}
}

// Run sends queued events until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-s.queue:
			s.send(ctx, e)
		}
	}
}

func (s *Sender) send(ctx context.Context, e Event) {
	body, err := json.Marshal(e)
	if err != nil {
		s.log.Error("operational webhook not encodable", "type", e.Type, "error", err)
		return
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.backoff << (i - 1)):
			}
		}
		if lastErr = s.post(ctx, e.ID, body); lastErr == nil {
			s.sent.WithLabelValues(e.Type, "sent").Inc()
			return
		}
	}
	s.sent.WithLabelValues(e.Type, "failed").Inc()
	s.log.Error("operational webhook not delivered", "type", e.Type, "url", s.url, "error", lastErr, "event", string(body))
}

func (s *Sender) post(ctx context.Context, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := s.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.secret)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
	req.Header.Set("webhook-signature", delivery.Sign([]string{s.secret}, id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
