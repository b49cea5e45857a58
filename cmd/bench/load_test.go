package main

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/verify"
)

func TestQuantile(t *testing.T) {
	var l latencies
	if got := l.quantile(0.5); got != 0 {
		t.Errorf("empty: quantile(0.5) = %v, want 0", got)
	}
	// 1 ms … 1000 ms, added out of order.
	for i := 1000; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.001, 1 * time.Millisecond},
		{0.5, 500 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{0.999, 999 * time.Millisecond},
		{1, 1000 * time.Millisecond},
	} {
		if got := l.quantile(tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Nearest rank: with 3 values the median is the 2nd, p99 the 3rd.
	var small latencies
	for _, d := range []time.Duration{30, 10, 20} {
		small.add(d)
	}
	if got := small.quantile(0.5); got != 20 {
		t.Errorf("quantile(0.5) of {10,20,30} = %v, want 20", got)
	}
	if got := small.quantile(0.99); got != 30 {
		t.Errorf("quantile(0.99) of {10,20,30} = %v, want 30", got)
	}
	// Adding after a quantile sorts again.
	small.add(5)
	if got := small.quantile(0.25); got != 5 {
		t.Errorf("quantile(0.25) after add(5) = %v, want 5", got)
	}
}

func TestScheduleDue(t *testing.T) {
	start := time.Unix(1000, 0)
	s := newSchedule(start, 3000, 100) // every 333.33… µs
	for _, tc := range []struct {
		after time.Duration
		want  int
	}{
		{-time.Millisecond, 0},
		{0, 1}, // send 0 is due at start
		{333 * time.Microsecond, 1},
		{334 * time.Microsecond, 2},
		{time.Millisecond, 4}, // sends 0-3: the 4th is due at exactly 1 ms
		{10 * time.Millisecond, 31},
		{time.Hour, 100}, // never more than total
	} {
		if got := s.due(start.Add(tc.after)); got != tc.want {
			t.Errorf("due(start+%v) = %d, want %d", tc.after, got, tc.want)
		}
	}
	// due and at agree everywhere: send due-1 is due, send due is not yet.
	for ns := time.Duration(0); ns < 30*time.Millisecond; ns += 7919 * time.Nanosecond {
		now := start.Add(ns)
		n := s.due(now)
		if n > 0 && s.at(n-1).After(now) {
			t.Fatalf("at %v: due %d but send %d is at %v", ns, n, n-1, s.at(n-1).Sub(start))
		}
		if n < s.total && !s.at(n).After(now) {
			t.Fatalf("at %v: due %d but send %d is already due (%v)", ns, n, n, s.at(n).Sub(start))
		}
	}
}

func TestOpenStats(t *testing.T) {
	base := time.Unix(1000, 0)
	o := openStats{want: 200, lateAfter: time.Millisecond}
	ms := func(n float64) time.Time { return base.Add(time.Duration(n * float64(time.Millisecond))) }
	// On time, answered after 2 ms.
	o.add(ms(0), ms(0.1), ms(2), 200, nil, nil)
	// Started 5 ms late, answered 1 ms later: latency counts from the
	// schedule, 6 ms.
	o.add(ms(1), ms(6), ms(7), 200, nil, nil)
	// Exactly at the limit: not behind.
	o.add(ms(2), ms(3), ms(4), 200, nil, nil)
	// A 503 is counted as such, with its latency.
	o.add(ms(3), ms(3), ms(13), 503, []byte(`{"code":"unavailable"}`), nil)
	// No answer: an error, no latency.
	o.add(ms(4), ms(9), ms(40), 0, nil, http.ErrHandlerTimeout)

	if o.sent != 5 || o.behind != 2 || o.maxLate != 5*time.Millisecond {
		t.Errorf("sent %d behind %d maxLate %v, want 5, 2, 5ms", o.sent, o.behind, o.maxLate)
	}
	if o.ok != 3 || o.badCount() != 1 || o.bad[503] != 1 || o.errors != 1 {
		t.Errorf("ok %d bad %v errors %d, want 3, {503:1}, 1", o.ok, o.bad, o.errors)
	}
	if o.badBody != `503 {"code":"unavailable"}` {
		t.Errorf("badBody = %q", o.badBody)
	}
	if got := o.lat.count(); got != 4 {
		t.Fatalf("%d latencies, want 4 (not the unanswered send)", got)
	}
	if got := o.lat.quantile(1); got != 10*time.Millisecond {
		t.Errorf("max latency %v, want 10ms", got)
	}
	if got := o.lat.quantile(0.5); got != 2*time.Millisecond {
		t.Errorf("median latency %v, want 2ms", got)
	}
}

// The bench's signatures must be what dispatchd accepts.
func TestSignerVerifies(t *testing.T) {
	s := newSigner()
	v, err := verify.New(verify.Config{Scheme: verify.StandardWebhooks, Secrets: []string{s.secret}})
	if err != nil {
		t.Fatal(err)
	}
	body := webhookBody()
	if len(body) != 1024 {
		t.Errorf("webhook body is %d bytes, want 1024", len(body))
	}
	req, err := webhooks("http://127.0.0.1:1/v1/webhooks/bench", s)(t.Context(), 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(req.Body)
	if err := v.Verify(req.Header, got.Bytes(), time.Now()); err != nil {
		t.Errorf("dispatchd's verifier refuses the bench's signature: %v", err)
	}
	other, _ := webhooks("http://127.0.0.1:1/", s)(t.Context(), 3, 7)
	if req.Header.Get("webhook-id") == other.Header.Get("webhook-id") {
		t.Errorf("two runs sent the same webhook-id %q", req.Header.Get("webhook-id"))
	}
}

func TestFmtRatio(t *testing.T) {
	for _, c := range []struct {
		v, target float64
		want      string
	}{
		{0.899, 0.9, "0.899 ×"}, // two decimals would say 0.90, a target met
		{0.9, 0.9, "0.90 ×"},
		{0.904, 0.9, "0.904 ×"},
		{0.91, 0.9, "0.91 ×"},
		{0.13, 0.25, "0.13 ×"},
		{0.2496, 0.25, "0.2496 ×"},
	} {
		if got := fmtRatio(c.v, c.target); got != c.want {
			t.Errorf("fmtRatio(%v, %v) = %q, want %q", c.v, c.target, got, c.want)
		}
	}
}
