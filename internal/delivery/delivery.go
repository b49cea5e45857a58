package delivery

import (
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Limits of one delivery.
const (
	// MaxResponseBytes is how much of a response body is read, after
	// decompression. It is enough for {"failedJobIds": […]} naming every
	// record of a full batch; the rest is never read.
	MaxResponseBytes = 64 << 10
	// ExcerptBytes is how much of the body is kept in Result.Excerpt.
	ExcerptBytes = 1 << 10
)

// Endpoint is what a delivery needs of its destination.
type Endpoint struct {
	// Name identifies the endpoint in messages; it is not sent.
	Name string
	// URL is the absolute http:// or https:// URL to POST to.
	URL string
	// Secrets holds the current secret first and, during a rotation, the
	// previous one. Secrets[0] goes in "Authorization: Bearer"; every secret
	// adds one "v1,<sig>" to webhook-signature. A secret "whsec_<base64>"
	// signs with the decoded bytes (Standard Webhooks); any other secret signs
	// with its raw bytes.
	Secrets []string
	// Timeout bounds the whole attempt: connect, TLS, headers and body.
	// Zero means job.DefaultEndpointTimeout.
	Timeout time.Duration
	// RetryClientErrors makes 3xx and 4xx other than 408/410/429 retryable
	// instead of failed for good, for receivers known to answer 4xx for
	// transient trouble.
	RetryClientErrors bool
	// NoHMAC drops the v1 (HMAC) signatures; NoBearer drops the
	// Authorization header that carries Secrets[0].
	NoHMAC, NoBearer bool
	// Ed25519Key, "whsk_<base64>", adds a v1a signature.
	Ed25519Key string
	// Egress is the endpoint's proxy, TLS, OAuth2 and static headers; the
	// client's defaults fill what it leaves empty.
	Egress job.EgressSpec
	// RetryOnlyUnanswered makes every answer of 400 and over final (410
	// still disables the endpoint): only a timeout or a connection error
	// is retried, as senders that treat any answer as acknowledged do.
	RetryOnlyUnanswered bool
}

// EndpointFromSpec is the delivery view of an endpoint at now (the secrets
// that sign then).
func EndpointFromSpec(spec job.EndpointSpec, now time.Time) Endpoint {
	return Endpoint{
		Name:                spec.Name,
		URL:                 spec.URL,
		Secrets:             spec.SigningSecrets(now),
		Timeout:             spec.Timeout,
		RetryClientErrors:   spec.RetryClientErrors,
		RetryOnlyUnanswered: spec.RetryOnlyUnanswered,
		NoHMAC:              spec.NoHMAC,
		NoBearer:            spec.NoBearer,
		Ed25519Key:          spec.Ed25519Key,
		Egress:              spec.Egress,
	}
}

// Record is one job in a delivery. It becomes the envelope
// {"jobId","attemptId","attempt","attemptNumber","payload"}, where
// "attempt" repeats "attemptNumber" because existing receivers read either.
type Record struct {
	// JobID is stable across attempts: receivers deduplicate on it.
	JobID string
	// AttemptID identifies this attempt of the job.
	AttemptID string
	// AttemptNumber counts attempts from 1.
	AttemptNumber int
	// Payload is the job's JSON, embedded as is. It must be valid JSON; the
	// caller guarantees it (an invalid one fails the delivery as
	// "bad_request"). Empty is sent as null.
	Payload json.RawMessage
	// PayloadEncoding is empty for a JSON payload, or EncodingBase64 when
	// Payload is a JSON string of the job's bytes in base64; the envelope
	// then says "payloadEncoding":"base64". RecordFor chooses.
	PayloadEncoding string
	// valid: RecordFor made Payload and checked it is JSON, so the POST
	// need not parse it a second time.
	valid bool
}

// Request is one POST: a single record, or a bulk batch.
type Request struct {
	// Endpoint is where the POST goes and how it is signed.
	Endpoint Endpoint
	// Records are the jobs carried: exactly one when BatchID is empty, 1 to
	// job.MaxBulkRecords otherwise.
	Records []Record
	// BatchID, when set, makes this a bulk POST whose body is
	// {"batchId": BatchID, "records": [envelopes…]} and whose webhook-id is
	// BatchID. Empty means the body is the single record's envelope and
	// webhook-id is its JobID.
	BatchID string
	// TraceParent is the W3C traceparent header to send, if not empty. A
	// value that cannot be a header (control characters) is dropped rather
	// than failing the delivery: tracing is not worth a lost job.
	TraceParent string
}

// Outcome is what the caller should do with the jobs of a delivery.
type Outcome int

// The outcomes of a delivery.
const (
	// Completed: the endpoint answered 2xx.
	Completed Outcome = iota + 1
	// Retry: 408, 429, 5xx, a timeout, or a connection, DNS or TLS error
	// (and 3xx/4xx when Endpoint.RetryClientErrors). Try again later.
	Retry
	// Failed for good: a 2xx whose JSON body is {"status":"failed"} (the
	// receiver's "don't retry"), a 3xx (redirects are never followed), any
	// other 4xx, an address the guard refused, or a request that could not
	// be built.
	Failed
	// Gone: the endpoint answered 410. The jobs failed for good and the
	// endpoint must be disabled.
	Gone
)

// String returns the outcome's lower-case name, for logs.
func (o Outcome) String() string {
	switch o {
	case Completed:
		return "completed"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	case Gone:
		return "gone"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Error classes: the stable words of Result.ErrorClass, for metrics and
// filters. Empty means the delivery completed.
const (
	ClassTimeout        = "timeout"         // the attempt ran out of time
	ClassCanceled       = "canceled"        // the caller's context was canceled (e.g. shutdown)
	ClassConnection     = "connection"      // could not connect, or the connection broke
	ClassDNS            = "dns"             // the endpoint's host name did not resolve
	ClassTLS            = "tls"             // the TLS handshake failed (certificate, protocol)
	ClassBlockedAddress = "blocked_address" // the address guard refused the resolved IP
	ClassHTTPStatus     = "http_status"     // the status code alone decided (4xx, 5xx, 410…)
	ClassReceiverFailed = "receiver_failed" // 2xx with {"status":"failed"}
	ClassRedirect       = "redirect"        // 3xx, which is never followed
	ClassBadRequest     = "bad_request"     // the request could not be built; nothing was sent
	ClassInsecureURL    = "insecure_url"    // https_only refused an http:// URL; nothing was sent
	ClassOAuth2         = "oauth2"          // no OAuth2 access token could be had; nothing was sent
)

// Result is what one delivery attempt produced.
type Result struct {
	// Outcome says what to do with the jobs.
	Outcome Outcome
	// StatusCode is the endpoint's status, 0 when there was no response.
	StatusCode int
	// ErrorClass is "" on success, else one of the Class… words.
	ErrorClass string
	// Error says in a sentence what happened. It never contains a secret.
	Error string
	// RetryAfter is the endpoint's Retry-After (delta-seconds, or an
	// HTTP-date relative to the client's clock), for any response that has
	// it; 0 when absent, invalid or in the past. The caller bounds it.
	RetryAfter time.Duration
	// Latency runs from sending the request to the end of reading the
	// (capped) body, or to the failure.
	Latency time.Duration
	// Excerpt is the first ExcerptBytes of the response body after
	// decompression, as valid UTF-8: invalid bytes and NUL become U+FFFD
	// (PostgreSQL text refuses NUL), and a rune cut by the limit is dropped.
	Excerpt string
	// FailedJobIDs is set for a bulk POST whose 2xx JSON body lists
	// "failedJobIds": those records are to be retried and the others are
	// complete. Ids not in the batch are ignored.
	FailedJobIDs []string
	// RequestHeaders are the headers of the request sent, with secret
	// values masked (SentHeaders); nil when nothing was sent.
	RequestHeaders map[string]string
	// Earlier are the tries of this attempt that got 401 and were made
	// again at once with another credential: the previous secret in
	// Authorization during a rotation, or a fresh OAuth2 token. They are
	// worth recording; the attempt's outcome is the last try's.
	Earlier []Result
}

// Client delivers requests over one shared pool of connections. It is safe
// for concurrent use.
type Client struct {
	base      *http.Transport // direct connections
	wrap      func(http.RoundTripper) http.RoundTripper
	clients   *sync.Map // *http.Transport → *http.Client, built with wrap
	control   func(network, address string, c syscall.RawConn) error
	pool      *egressPool
	defaults  job.EgressSpec
	allowed   func(netip.Addr) bool
	now       func() time.Time
	userAgent string
}

// WithTracing returns a copy of c whose requests are HTTP client spans
// under the span in each Deliver's context, and which sends their
// traceparent (replacing Request.TraceParent).
func (c *Client) WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) *Client {
	traced := *c
	traced.clients = &sync.Map{}
	traced.wrap = func(rt http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(prop),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		)
	}
	return &traced
}

// NewClient returns a Client with one pooled keep-alive HTTP client: HTTP/1.1
// and HTTP/2 (negotiated by TLS ALPN), TLS 1.2 or later, no proxy from the
// environment and no redirects followed.
//
// control, if not nil, is installed as the dialer's Control function, so it
// sees the resolved IP of every connection just before it is made; an error
// from it fails the delivery with ErrorClass "blocked_address". This is where
// the caller's SSRF guard goes. now is the clock for webhook-timestamp and
// Retry-After dates (nil means time.Now). userAgent, e.g. "dispatchd/dev", is
// sent as User-Agent ("dispatchd" when empty).
func NewClient(control func(network, address string, c syscall.RawConn) error, now func() time.Time, userAgent string) *Client {
	if now == nil {
		now = time.Now
	}
	if userAgent == "" {
		userAgent = "dispatchd"
	}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	if control != nil {
		// Wrapping the guard's error in our own type is how Deliver tells
		// a refused address from an ordinary dial failure: net and net/http
		// wrap it in several layers, but keep it reachable by errors.As.
		dialer.Control = func(network, address string, c syscall.RawConn) error {
			if err := control(network, address, c); err != nil {
				return &blockedError{address: address, err: err}
			}
			return nil
		}
	}
	transport := &http.Transport{
		// Proxy is deliberately nil: an HTTPS_PROXY in the environment
		// would move the dial, and with it the address check, to the proxy.
		Proxy:       nil,
		DialContext: dialer.DialContext,
		// A custom dialer and TLS config turn HTTP/2 off unless asked for.
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
		// Workers deliver to a handful of endpoints at high rates; the
		// default of 2 idle connections per host would redial constantly.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		// Headers are not capped by MaxResponseBytes; keep them modest too.
		MaxResponseHeaderBytes: 64 << 10,
		// Timeouts of the phases are left at zero: the context of each
		// attempt bounds all of them together.
	}
	return &Client{
		base:      transport,
		control:   control,
		pool:      &egressPool{},
		clients:   &sync.Map{},
		now:       now,
		userAgent: userAgent,
	}
}

// httpClient returns the client for a transport, traced if c is.
func (c *Client) httpClient(t *http.Transport) *http.Client {
	if hc, ok := c.clients.Load(t); ok {
		return hc.(*http.Client)
	}
	var rt http.RoundTripper = t
	if c.wrap != nil {
		rt = c.wrap(t)
	}
	hc, _ := c.clients.LoadOrStore(t, &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	})
	return hc.(*http.Client)
}

// blockedError marks an error from the caller's address guard.
type blockedError struct {
	address string
	err     error
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("address %s refused: %v", e.address, e.err)
}

func (e *blockedError) Unwrap() error { return e.err }

// Deliver sends r and classifies the answer. It never returns an error:
// every failure is a Result.
//
// The attempt is bounded by the earlier of ctx's deadline and
// r.Endpoint.Timeout. At most MaxResponseBytes of the body are read; the
// rest is discarded by closing the connection rather than read.
func (c *Client) Deliver(ctx context.Context, r Request) Result {
	msgID, body, err := build(r)
	if err != nil {
		return Result{Outcome: Failed, ErrorClass: ClassBadRequest, Error: err.Error()}
	}

	timeout := r.Endpoint.Timeout
	if timeout <= 0 {
		timeout = job.DefaultEndpointTimeout
	}
	limit := timeout
	if dl, ok := ctx.Deadline(); ok {
		limit = max(min(limit, time.Until(dl)), 0)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ep := r.Endpoint
	egress := c.effective(ep.Egress)
	ts := c.now()
	sig, err := signatures(ep, msgID, ts, body)
	if err != nil {
		return Result{Outcome: Failed, ErrorClass: ClassBadRequest, Error: err.Error()}
	}
	if err := c.CheckURL(ctx, ep.URL, egress); err != nil {
		return Result{Outcome: Failed, ErrorClass: ClassInsecureURL, Error: err.Error()}
	}
	transport, err := c.transport(egress)
	if err != nil {
		var ee *egressError
		if errors.As(err, &ee) && ee.class == ClassBadRequest {
			return Result{Outcome: Failed, ErrorClass: ClassBadRequest, Error: err.Error()}
		}
		// A CA or certificate file that cannot be read may be fixed on
		// disk: retry rather than lose the job.
		return Result{Outcome: Retry, ErrorClass: ClassTLS, Error: err.Error()}
	}
	hc := c.httpClient(transport)
	if egress.Proxy != "" {
		u, _ := url.Parse(ep.URL) // build checked it
		if err := c.guardDestination(ctx, u); err != nil {
			var blocked *blockedError
			if errors.As(err, &blocked) {
				return Result{Outcome: Failed, ErrorClass: ClassBlockedAddress, Error: "delivery refused: " + blocked.Error()}
			}
			return transportFailure(ctx, err, limit)
		}
	}

	h := http.Header{}
	for k, v := range egress.Headers {
		if !reservedHeader(k) || (strings.EqualFold(k, "Authorization") && ep.NoBearer && egress.OAuth2 == nil) {
			h.Set(k, v)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	if r.TraceParent != "" && headerSafe(r.TraceParent) {
		h.Set("traceparent", r.TraceParent)
	}
	h.Set("User-Agent", c.userAgent)

	// The credentials to try, in order: a 401 moves to the next one at
	// once. During a rotation the current secret goes first and the
	// previous one second, so a receiver that knows only one of them
	// never fails a delivery; an OAuth2 token refused is refreshed once.
	var bearers []string
	var tokens *tokenCache
	switch {
	case egress.OAuth2 != nil:
		tokens = c.tokens(egress.OAuth2)
	case !ep.NoBearer:
		for _, s := range ep.Secrets {
			if s != "" && headerSafe(s) {
				bearers = append(bearers, s)
			}
		}
	}
	masks := secretsOf(ep)
	var earlier []Result
	var res Result
	for try := 0; ; try++ {
		var tok *oauth2.Token
		if tokens != nil {
			if tok, err = tokens.get(ctx, hc, c.tokenGuard(egress)); err != nil {
				res = transportFailure(ctx, err, limit)
				if res.Outcome != Failed {
					res.ErrorClass, res.Error = ClassOAuth2, oauthError(err)
				}
				break
			}
			h.Set("Authorization", "Bearer "+tok.AccessToken)
		} else if len(bearers) > 0 {
			h.Set("Authorization", "Bearer "+bearers[try])
		}
		res = c.post(ctx, hc, r, h, body, limit, masks, tok)
		if res.StatusCode != http.StatusUnauthorized || ctx.Err() != nil {
			break
		}
		if tokens != nil {
			if try > 0 {
				break
			}
			tokens.drop(tok)
		} else if try+1 >= len(bearers) {
			break
		}
		earlier = append(earlier, res)
	}
	res.Earlier = earlier
	return res
}

// post sends one try of a delivery and classifies the answer.
func (c *Client) post(ctx context.Context, hc *http.Client, r Request, h http.Header, body []byte, limit time.Duration, masks []string, tok *oauth2.Token) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		// build checked the URL; this is a belt for what it cannot foresee.
		return Result{Outcome: Failed, ErrorClass: ClassBadRequest, Error: "the request could not be built: " + err.Error()}
	}
	req.Header = h.Clone()
	sent := SentHeaders(req.Header)

	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		res := transportFailure(ctx, err, limit)
		res.Latency = time.Since(start)
		res.RequestHeaders = sent
		return res
	}
	defer resp.Body.Close() // without draining: see below

	// Reading one byte past the cap tells a body that fits (read to EOF, so
	// the connection goes back to the pool) from one that does not (closed
	// unread, which drops the connection instead of downloading the rest).
	got, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	latency := time.Since(start)
	if len(got) > MaxResponseBytes {
		got, readErr = got[:MaxResponseBytes], nil
	}

	res := classify(r, resp.StatusCode, resp.Header.Get("Location"), got)
	if tok != nil {
		masks = append(masks, tok.AccessToken)
	}
	// A receiver that echoes the request (a debugging endpoint, an error
	// page) must not put the endpoint's own secrets in the attempt log.
	res.Excerpt = excerpt(mask(got, masks))
	res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	res.Latency = latency
	res.RequestHeaders = sent
	if readErr != nil && resp.StatusCode/100 == 2 {
		// The status says yes, but the body could still have said
		// {"status":"failed"} or listed failed jobs: with the body cut short
		// the answer is unknown, and receivers deduplicate, so try again.
		broken := transportFailure(ctx, readErr, limit)
		res.Outcome = Retry
		res.ErrorClass = broken.ErrorClass
		res.Error = fmt.Sprintf("the endpoint answered %d but its body broke off: %s", resp.StatusCode, broken.Error)
		res.FailedJobIDs = nil
	}
	return res
}

// signatures returns the webhook-signature value: v1 entries unless
// NoHMAC, and a v1a entry when the endpoint has an ed25519 key.
func signatures(ep Endpoint, msgID string, ts time.Time, body []byte) (string, error) {
	var entries []string
	if !ep.NoHMAC {
		if v1 := Sign(ep.Secrets, msgID, ts, body); v1 != "" {
			entries = append(entries, v1)
		}
	}
	if ep.Ed25519Key != "" {
		key, err := ParseSigningKey(ep.Ed25519Key)
		if err != nil {
			return "", fmt.Errorf("endpoint %q: ed25519_key: %v", ep.Name, err)
		}
		entries = append(entries, SignV1a(key, msgID, ts, body))
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("endpoint %q has nothing to sign with (hmac: false and no ed25519_key)", ep.Name)
	}
	return strings.Join(entries, " "), nil
}

// reservedHeader reports whether a static header would replace one that
// dispatchd sets: signatures, credentials, framing and tracing.
func reservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "authorization", "content-type", "content-length", "content-encoding", "transfer-encoding", "host",
		"webhook-id", "webhook-timestamp", "webhook-signature", "traceparent", "tracestate", "user-agent", "connection":
		return true
	}
	return false
}

// ReservedHeader reports whether name cannot be a static header of an
// endpoint (Authorization is allowed with bearer: false and no OAuth2;
// the caller checks that).
func ReservedHeader(name string) bool { return reservedHeader(name) }

// secretsOf lists the endpoint's own secrets, as they could appear in a
// response: each secret, the base64 part of a whsec_ one, the ed25519 key
// and the OAuth2 client secret.
func secretsOf(ep Endpoint) []string {
	var out []string
	for _, s := range ep.Secrets {
		out = append(out, s)
		if b64, ok := strings.CutPrefix(s, "whsec_"); ok {
			out = append(out, b64)
		}
	}
	if ep.Ed25519Key != "" {
		out = append(out, ep.Ed25519Key, strings.TrimPrefix(ep.Ed25519Key, SecretKeyPrefix))
	}
	if o := ep.Egress.OAuth2; o != nil {
		out = append(out, o.ClientSecret)
	}
	return out
}

// maskText replaces what masks mask.
const maskText = "[masked]"

// mask returns body with every occurrence of a secret replaced. Secrets
// shorter than 8 bytes are left alone: they would mask ordinary text, and
// validation refuses them anyway.
func mask(body []byte, secrets []string) []byte {
	for _, s := range secrets {
		if len(s) >= 8 && bytes.Contains(body, []byte(s)) {
			body = bytes.ReplaceAll(body, []byte(s), []byte(maskText))
		}
	}
	return body
}

// build checks r and returns the webhook-id and the body to send. Its errors
// are sentences for Result.Error and never contain a secret.
func build(r Request) (msgID string, body []byte, err error) {
	ep := r.Endpoint
	u, err := url.Parse(ep.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("endpoint %q: URL %q is not an absolute http:// or https:// URL", ep.Name, ep.URL)
	}
	needSecret := !ep.NoHMAC || (!ep.NoBearer && ep.Egress.OAuth2 == nil)
	switch {
	case needSecret && (len(ep.Secrets) == 0 || ep.Secrets[0] == ""):
		return "", nil, fmt.Errorf("endpoint %q has no secret to sign with", ep.Name)
	case len(ep.Secrets) > 0 && !headerSafe(ep.Secrets[0]):
		return "", nil, fmt.Errorf("endpoint %q: its secret contains a control character and cannot go in a header", ep.Name)
	}
	switch {
	case len(r.Records) == 0:
		return "", nil, errors.New("no records to deliver")
	case r.BatchID == "" && len(r.Records) > 1:
		return "", nil, fmt.Errorf("%d records without a batch id: only a bulk POST carries more than one", len(r.Records))
	case len(r.Records) > job.MaxBulkRecords:
		return "", nil, fmt.Errorf("%d records: a bulk POST carries at most %d", len(r.Records), job.MaxBulkRecords)
	}
	msgID = r.BatchID
	if msgID == "" {
		msgID = r.Records[0].JobID
	}
	if msgID == "" || !headerSafe(msgID) {
		return "", nil, fmt.Errorf("message id %q cannot be a webhook-id", msgID)
	}
	for _, rec := range r.Records {
		if len(rec.Payload) > 0 && !rec.valid && !json.Valid(rec.Payload) {
			return "", nil, fmt.Errorf("job %q: payload is not valid JSON", rec.JobID)
		}
	}

	if r.BatchID == "" {
		return msgID, appendEnvelope(nil, r.Records[0]), nil
	}
	body = append(body, `{"batchId":`...)
	body = appendString(body, r.BatchID)
	body = append(body, `,"records":[`...)
	for i, rec := range r.Records {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendEnvelope(body, rec)
	}
	return msgID, append(body, "]}"...), nil
}

// appendEnvelope appends rec's envelope to b. It is written by hand rather
// than with json.Marshal so the payload goes out byte for byte as the job
// holds it: encoding/json would compact it and escape "<", ">" and "&".
func appendEnvelope(b []byte, rec Record) []byte {
	b = append(b, `{"jobId":`...)
	b = appendString(b, rec.JobID)
	b = append(b, `,"attemptId":`...)
	b = appendString(b, rec.AttemptID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(rec.AttemptNumber), 10)
	b = append(b, `,"attemptNumber":`...)
	b = strconv.AppendInt(b, int64(rec.AttemptNumber), 10)
	if rec.PayloadEncoding != "" {
		b = append(b, `,"payloadEncoding":`...)
		b = appendString(b, rec.PayloadEncoding)
	}
	b = append(b, `,"payload":`...)
	if len(rec.Payload) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, rec.Payload...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// headerSafe reports whether s can be a header value as is: net/http
// refuses control characters, and would do so only after the dial, looking
// like a connection error.
func headerSafe(s string) bool {
	for i := range len(s) {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}
