package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencies holds one measurement's latencies. A sorted slice is exact
// and small enough: a round of 5 s at 20 000 req/s is 100 000 values.
type latencies struct {
	d      []time.Duration
	sorted bool
}

func (l *latencies) add(d time.Duration) {
	l.d = append(l.d, d)
	l.sorted = false
}

func (l *latencies) merge(o *latencies) {
	l.d = append(l.d, o.d...)
	l.sorted = false
}

func (l *latencies) count() int { return len(l.d) }

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// latency that at least q of the values do not exceed. 0 when empty.
func (l *latencies) quantile(q float64) time.Duration {
	n := len(l.d)
	if n == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.d)
		l.sorted = true
	}
	i := int(math.Ceil(q*float64(n))) - 1
	return l.d[min(max(i, 0), n-1)]
}

// result is what one load run measured.
type result struct {
	ok       int         // answers with the expected status, in the window
	bad      map[int]int // other statuses, in the window
	badBody  string      // the body of the first unexpected answer
	errors   int         // requests without an answer (transport errors, timeouts)
	firstErr string
	lat      latencies
	elapsed  time.Duration // length of the measured window

	// Open loop only.
	sent    int           // sends scheduled in the window
	behind  int           // sends that started later than lateAfter past their time
	maxLate time.Duration // the latest start
}

func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

func (r *result) badCount() int {
	n := 0
	for _, c := range r.bad {
		n += c
	}
	return n
}

// record counts one answer (status 0 and err set: no answer).
func (r *result) record(want, status int, body []byte, err error, took time.Duration) {
	switch {
	case err != nil:
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	case status == want:
		r.ok++
	default:
		if r.bad == nil {
			r.bad = map[int]int{}
		}
		r.bad[status]++
		if r.badBody == "" {
			r.badBody = fmt.Sprintf("%d %s", status, truncate(string(body), 200))
		}
	}
	r.lat.add(took)
}

func (r *result) merge(o *result) {
	r.ok += o.ok
	r.errors += o.errors
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	for s, n := range o.bad {
		if r.bad == nil {
			r.bad = map[int]int{}
		}
		r.bad[s] += n
	}
	if r.badBody == "" {
		r.badBody = o.badBody
	}
	r.lat.merge(&o.lat)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// newTransport is a keep-alive HTTP/1.1 transport to loopback that keeps
// up to idle connections per host.
func newTransport(idle int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// do sends req and reads the whole answer, so that the connection is
// reused. It returns the status and the first KiB of the body.
func do(client *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// requestFunc builds request number seq of client number client.
type requestFunc func(ctx context.Context, client, seq int) (*http.Request, error)

// closedLoop is conns clients, each with a keep-alive connection of its
// own, each sending its next request as soon as the previous one is
// answered. It runs for warmup, then measures for duration: answers
// arriving in the window are counted and their latencies recorded.
// With total > 0 it sends total requests instead, counting them all.
type closedLoop struct {
	conns    int
	warmup   time.Duration
	duration time.Duration
	total    int
	want     int // the expected status
	request  requestFunc
	// measuring, if set, is called when the window opens.
	measuring func()
}

func (c closedLoop) run(ctx context.Context) result {
	start := time.Now()
	from, end := start.Add(c.warmup), start.Add(c.warmup+c.duration)
	if c.total > 0 {
		from, end = start, start.Add(24*time.Hour)
	}
	if c.measuring != nil {
		t := time.AfterFunc(time.Until(from), c.measuring)
		defer t.Stop()
	}
	var next atomic.Int64
	results := make([]result, c.conns)
	var wg sync.WaitGroup
	for i := range c.conns {
		wg.Go(func() {
			tr := newTransport(1)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			res := &results[i]
			for seq := 0; ctx.Err() == nil; seq++ {
				if c.total > 0 && next.Add(1) > int64(c.total) {
					return
				}
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				req, err := c.request(ctx, i, seq)
				if err != nil {
					res.record(c.want, 0, nil, err, 0)
					return
				}
				status, body, err := do(client, req)
				t1 := time.Now()
				if ctx.Err() != nil {
					return
				}
				if t1.Before(from) || t1.After(end) {
					continue // warm-up, or past the window
				}
				res.record(c.want, status, body, err, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	var total result
	for i := range results {
		total.merge(&results[i])
	}
	total.elapsed = c.duration
	if c.total > 0 {
		total.elapsed = time.Since(start)
	}
	return total
}

// schedule is the clock of an open loop: send i is due at start + i/rate.
type schedule struct {
	start    time.Time
	interval float64 // nanoseconds between sends
	total    int
}

func newSchedule(start time.Time, rate float64, total int) schedule {
	return schedule{start: start, interval: float64(time.Second) / rate, total: total}
}

// at is when send i is due.
func (s schedule) at(i int) time.Time {
	return s.start.Add(time.Duration(float64(i) * s.interval))
}

// due is how many sends are due at now: sends 0…due-1 are.
func (s schedule) due(now time.Time) int {
	el := now.Sub(s.start)
	if el < 0 {
		return 0
	}
	n := int(float64(el)/s.interval) + 1
	// Guard the float division against rounding either way.
	for n > 0 && s.at(n-1).After(now) {
		n--
	}
	for n < s.total && !s.at(n).After(now) {
		n++
	}
	return min(n, s.total)
}

// openStats accounts for the sends of an open loop. Latency runs from the
// time a send was scheduled, not from when it went out, so a generator or
// a server that falls behind shows in the figures instead of hiding.
type openStats struct {
	result
	want      int
	lateAfter time.Duration
}

func (o *openStats) add(scheduled, started, done time.Time, status int, body []byte, err error) {
	o.sent++
	late := started.Sub(scheduled)
	if late > o.lateAfter {
		o.behind++
	}
	o.maxLate = max(o.maxLate, late)
	o.record(o.want, status, body, err, done.Sub(scheduled))
}

// openLoop sends at a fixed rate, as scheduled by the clock. Sends go to
// a pool of workers, each with a keep-alive connection of its own, so that
// a slow answer does not delay the next send while a worker is free; the
// pool is large (rate × 100 ms, at least 64) and a send that still starts
// late is counted as behind schedule — its latency, counted from the
// schedule, shows the wait. (A goroutine and a dial per send would not do:
// under load, dialling itself becomes the bottleneck and the queue.)
type openLoop struct {
	rate     float64
	warmup   time.Duration
	duration time.Duration
	want     int
	request  requestFunc
	// lateAfter is how late a send may start before it counts as behind
	// schedule.
	lateAfter time.Duration
	// workers is the size of the pool (0: rate × 100 ms, at least 64).
	workers int
}

func (o openLoop) run(ctx context.Context) result {
	workers := o.workers
	if workers <= 0 {
		workers = max(64, int(o.rate/10))
	}
	total := int((o.warmup + o.duration).Seconds() * o.rate)
	s := newSchedule(time.Now().Add(5*time.Millisecond), o.rate, total)
	from := s.start.Add(o.warmup)

	type send struct {
		seq       int
		scheduled time.Time
	}
	sends := make(chan send, total) // the scheduler never waits for a worker
	var mu sync.Mutex
	stats := openStats{want: o.want, lateAfter: o.lateAfter}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			tr := newTransport(1)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for sd := range sends {
				if ctx.Err() != nil {
					continue
				}
				started := time.Now()
				req, err := o.request(ctx, 0, sd.seq)
				var status int
				var body []byte
				if err == nil {
					status, body, err = do(client, req)
				}
				done := time.Now()
				if sd.scheduled.Before(from) || ctx.Err() != nil {
					continue // warm-up
				}
				mu.Lock()
				stats.add(sd.scheduled, started, done, status, body, err)
				mu.Unlock()
			}
		})
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < total && ctx.Err() == nil; {
		for n := s.due(time.Now()); i < n; i++ {
			sends <- send{i, s.at(i)}
		}
		if i < total {
			timer.Reset(time.Until(s.at(i)))
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
	}
	close(sends)
	wg.Wait()
	stats.elapsed = o.duration
	return stats.result
}

// signer signs webhooks the Standard Webhooks way: HMAC-SHA256 over
// "id.timestamp.body" with the decoded bytes of a whsec_ secret.
type signer struct {
	secret string // whsec_<base64>
	key    []byte
}

func newSigner() signer {
	key := make([]byte, 32)
	rand.Read(key)
	return signer{secret: "whsec_" + base64.StdEncoding.EncodeToString(key), key: key}
}

func (s signer) sign(h http.Header, id string, ts time.Time, body []byte) {
	unix := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id + "." + unix + "."))
	mac.Write(body)
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", unix)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// webhookBody is a 1 KiB JSON webhook.
func webhookBody() []byte {
	const size = 1024
	head := `{"type":"bench.event","data":{"customer":"cus_42","pad":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// webhooks returns a requestFunc of signed 1 KiB webhooks to url, each with
// a webhook-id of its own.
func webhooks(url string, s signer) requestFunc {
	body := webhookBody()
	run := randomHex(6) // ids are unique across runs against one store
	return func(ctx context.Context, client, seq int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		s.sign(req.Header, "msg_"+run+"_"+strconv.Itoa(client)+"_"+strconv.Itoa(seq), time.Now(), body)
		return req, nil
	}
}

// envelopes returns a requestFunc of delivery-shaped POSTs to url: the
// envelope dispatchd sends, around the same 1 KiB payload, each with a job
// id of its own. It is what the plain client reference sends.
func envelopes(url string) requestFunc {
	payload := webhookBody()
	run := randomHex(6)
	return func(ctx context.Context, client, seq int) (*http.Request, error) {
		id := "job_" + run + "_" + strconv.Itoa(client) + "_" + strconv.Itoa(seq)
		body := make([]byte, 0, len(payload)+128)
		body = append(body, `{"jobId":"`+id+`","attemptId":"att_`+id+`","attempt":1,"attemptNumber":1,"payload":`...)
		body = append(body, payload...)
		body = append(body, '}')
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		return req, nil
	}
}
