package metrics

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ScrapeTTL is how long one rendering of /metrics answers every scrape.
const ScrapeTTL = time.Second

// CachedHandler serves what h renders, rendered at most once per ttl
// however many scrapers come: the collectors (the Go runtime's, the
// process's, the queue's) and the text encoding then cost the same at one
// scrape a minute as at hundreds a second, and scrapers cannot take CPU
// from ingestion. Scrapers that arrive during a rendering wait for it.
// The answer is always the text exposition format, uncompressed: one
// cached form for every scraper, whatever it asks for.
func CachedHandler(h http.Handler, ttl time.Duration, now func() time.Time) http.Handler {
	c := &cachedHandler{next: h, ttl: ttl, now: now}
	return c
}

type cachedHandler struct {
	next http.Handler
	ttl  time.Duration
	now  func() time.Time

	mu         sync.Mutex
	renderedAt time.Time
	status     int
	header     http.Header
	body       []byte
}

func (c *cachedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, header, body := c.render(r)
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (c *cachedHandler) render(r *http.Request) (int, http.Header, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.body == nil || now.Sub(c.renderedAt) >= c.ttl || now.Before(c.renderedAt) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "/metrics", nil)
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		c.next.ServeHTTP(rec, req)
		c.status, c.header, c.body, c.renderedAt = rec.status, rec.header, rec.body.Bytes(), now
		if c.body == nil {
			c.body = []byte{}
		}
	}
	return c.status, c.header, c.body
}

// recorder is the ResponseWriter a rendering is captured with.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
