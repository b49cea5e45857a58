package specs

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/net/http/httpguts"

	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/retry"
	"github.com/dispatchd/dispatchd/internal/route"
)

// PayloadFormats are the values of an endpoint's payload_format.
var PayloadFormats = []string{job.PayloadEnvelope, job.PayloadStandardWebhooks}

// Endpoint checks an endpoint's spec and applies the defaults (timeout,
// concurrency, disable-after, payload limit, rate-limit burst, backoff
// factor) to it. Errors name the fields under path.
func Endpoint(e *job.EndpointSpec, path string) error {
	var ps problems
	checkEndpoint(e, path, ps.add)
	return ps.err()
}

func checkEndpoint(e *job.EndpointSpec, p string, add func(path, format string, args ...any)) {
	if u, err := url.Parse(e.URL); e.URL == "" {
		add(p+".url", "required")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		add(p+".url", "%q: want an absolute http:// or https:// URL", e.URL)
	} else if u.User != nil {
		add(p+".url", "credentials in the URL would be sent to every redirect and log; use secret")
	}

	hmacOn, bearerOn := !e.NoHMAC, !e.NoBearer
	switch {
	case len(e.Secrets) == 0 && (hmacOn || (bearerOn && e.Egress.OAuth2 == nil)):
		add(p+".secret", "required: it signs every delivery (Authorization: Bearer and webhook-signature)")
	case len(e.Secrets) > 2:
		add(p+".secrets", "at most 2 (current and previous)")
	}
	for i, sec := range e.Secrets {
		if strings.TrimSpace(sec) != sec || strings.ContainsFunc(sec, unicode.IsControl) {
			// It goes into headers: a stray newline would fail every delivery.
			add(fmt.Sprintf("%s.secrets[%d]", p, i), "has leading or trailing whitespace or a control character (a stray newline?)")
		} else if b64, ok := strings.CutPrefix(sec, "whsec_"); ok {
			if key, err := base64.StdEncoding.DecodeString(b64); err != nil || len(key) < 16 {
				add(fmt.Sprintf("%s.secrets[%d]", p, i), `a "whsec_" secret is followed by the base64 of at least 16 bytes`)
			}
		} else if len(sec) < 16 {
			add(fmt.Sprintf("%s.secrets[%d]", p, i), "too short: use at least 16 characters")
		}
	}

	switch {
	case e.Timeout == 0:
		e.Timeout = job.DefaultEndpointTimeout
	case e.Timeout < 0 || e.Timeout > job.MaxEndpointTimeout:
		add(p+".timeout", "%s: want more than 0 and at most %s", e.Timeout, shortDuration(job.MaxEndpointTimeout))
	}

	checkRetry(&e.Retry, p, add)

	if b := e.Bulk; b != nil {
		if b.MaxRecords < 1 || b.MaxRecords > job.MaxBulkRecords {
			add(p+".bulk.max_records", "%d: want 1 to %d", b.MaxRecords, job.MaxBulkRecords)
		}
		if b.MaxWait < 0 || b.MaxWait > job.MaxBulkWait {
			add(p+".bulk.max_wait", "%s: want 0 to %s", b.MaxWait, job.MaxBulkWait)
		}
	}

	if e.RetryClientErrors && e.RetryOnlyUnanswered {
		add(p+".retry_only_unanswered", "cannot be set with retry_client_errors: one retries client errors, the other no answer at all")
	}
	switch {
	case e.MaxConcurrency == 0:
		e.MaxConcurrency = job.DefaultMaxConcurrency
	case e.MaxConcurrency < 0 || e.MaxConcurrency > job.MaxMaxConcurrency:
		add(p+".max_concurrency", "%d: want 1 to %d", e.MaxConcurrency, job.MaxMaxConcurrency)
	}
	checkRateLimit(e.RateLimit, p, "deliveries", add)
	switch {
	case e.DisableAfter == 0:
		e.DisableAfter = job.DefaultDisableAfter
	case e.DisableAfter < 0:
		add(p+".disable_after", "must be positive")
	}
	checkSubscription(e, p, add)
	switch {
	case e.MaxPayloadBytes == 0:
		e.MaxPayloadBytes = job.DefaultMaxPayloadBytes
	case e.MaxPayloadBytes < 0 || e.MaxPayloadBytes > job.MaxMaxBodyBytes:
		add(p+".max_payload_bytes", "%d: want 1 to %d", e.MaxPayloadBytes, job.MaxMaxBodyBytes)
	}
	checkSigning(e, p, add)
	checkEgress(e, p, add)
}

// shortDuration writes 5m0s as 5m, as the file would.
func shortDuration(d time.Duration) string {
	s := d.String()
	s, _ = strings.CutSuffix(s, "0s")
	return s
}

func checkRetry(r *job.RetrySpec, p string, add func(path, format string, args ...any)) {
	set := 0
	for _, b := range []bool{r.Preset != "", len(r.Schedule) > 0, r.Exponential != nil} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		add(p+".retry", "set one of preset, schedule or exponential")
	case r.Preset != "" && !slices.Contains(retry.Presets, r.Preset):
		add(p+".retry.preset", "%q: one of %s", r.Preset, strings.Join(retry.Presets, ", "))
	}
	for i, d := range r.Schedule {
		if d <= 0 {
			add(fmt.Sprintf("%s.retry.schedule[%d]", p, i), "must be positive")
		}
	}
	if x := r.Exponential; x != nil {
		if x.Initial <= 0 {
			add(p+".retry.exponential.initial", "required, positive")
		}
		if x.Factor == 0 {
			x.Factor = 2
		} else if !(x.Factor >= 1 && x.Factor <= 10) { // NaN too
			add(p+".retry.exponential.factor", "%g: want 1 to 10", x.Factor)
		}
		if x.Window <= 0 {
			add(p+".retry.exponential.window", "required: how long after the first attempt retries stop, e.g. 48h")
		}
		if x.Max < 0 {
			add(p+".retry.exponential.max", "must not be negative")
		}
	}
}

// checkRateLimit checks a token bucket; a burst of 0 becomes a second's
// worth of tokens. what names the unit in messages.
func checkRateLimit(rl *job.RateLimitSpec, p, what string, add func(path, format string, args ...any)) {
	if rl == nil {
		return
	}
	switch {
	case !(rl.RPS > 0) || math.IsInf(rl.RPS, 0): // NaN too
		add(p+".rate_limit.rps", "must be a positive number of %s a second", what)
	case rl.Burst < 0:
		add(p+".rate_limit.burst", "must not be negative")
	case rl.Burst == 0:
		// Capped: converting a float beyond the int range is undefined.
		rl.Burst = int(max(1, min(math.Ceil(rl.RPS), math.MaxInt32)))
	}
}

func checkSubscription(e *job.EndpointSpec, p string, add func(path, format string, args ...any)) {
	for i, pat := range e.EventTypes {
		if err := route.CheckPattern(pat); err != nil {
			add(fmt.Sprintf("%s.event_types[%d]", p, i), "%v", err)
		}
	}
	checkCEL(e.Filter, e.Transform, p, add)
	if (e.Filter != "" || e.Transform != "") && len(e.EventTypes) == 0 {
		add(p, "filter and transform apply to the subscription: set event_types too")
	}
	switch e.PayloadFormat {
	case "", job.PayloadEnvelope, job.PayloadStandardWebhooks: // "": envelope, and the spec stays as it was
	default:
		add(p+".payload_format", "%q: one of %s", e.PayloadFormat, strings.Join(PayloadFormats, ", "))
	}
}

// checkCEL compiles a filter and a transformation (either may be empty).
func checkCEL(filter, transform, p string, add func(path, format string, args ...any)) {
	if filter != "" {
		if _, err := route.CompileFilter(filter); err != nil {
			add(p+".filter", "%v", err)
		}
	}
	if transform != "" {
		if _, err := route.CompileTransform(transform); err != nil {
			add(p+".transform", "%v", err)
		}
	}
}

// checkSigning checks the signing keys beside the secrets.
func checkSigning(e *job.EndpointSpec, p string, add func(path, format string, args ...any)) {
	if e.Ed25519Key != "" {
		if _, err := delivery.ParseSigningKey(e.Ed25519Key); err != nil {
			add(p+".ed25519_key", "%v", err)
		}
	}
	if e.NoHMAC && e.Ed25519Key == "" {
		add(p+".hmac", "false needs an ed25519_key: otherwise nothing signs the deliveries")
	}
}

// checkEgress checks the proxy, TLS files, OAuth2 client and static
// headers of an endpoint.
func checkEgress(e *job.EndpointSpec, p string, add func(path, format string, args ...any)) {
	g := e.Egress
	if g.Proxy != "" {
		if _, err := delivery.ParseProxy(g.Proxy); err != nil {
			add(p+".proxy", "%v", err)
		}
	}
	if (g.ClientCertFile == "") != (g.ClientKeyFile == "") {
		add(p+".tls", "client_cert_file and client_key_file go together")
	}
	for key, f := range map[string]string{"client_cert_file": g.ClientCertFile, "client_key_file": g.ClientKeyFile, "ca_file": g.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			add(p+".tls."+key, "%v", err)
		}
	}
	if o := g.OAuth2; o != nil {
		if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			add(p+".oauth2.token_url", "%q: want an absolute http:// or https:// URL", o.TokenURL)
		}
		if o.ClientID == "" {
			add(p+".oauth2.client_id", "required")
		}
		if o.ClientSecret == "" {
			add(p+".oauth2.client_secret", "required")
		}
	}
	for name, v := range g.Headers {
		hp := p + ".headers." + name
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			add(hp, "%q is not a header name", name)
		case strings.EqualFold(name, "Authorization") && (!e.NoBearer || g.OAuth2 != nil):
			add(hp, "Authorization is set by dispatchd; use bearer: false (and no oauth2) to send your own")
		case !strings.EqualFold(name, "Authorization") && delivery.ReservedHeader(name):
			add(hp, "%s is set by dispatchd and cannot be replaced", name)
		case strings.ContainsFunc(v, unicode.IsControl):
			add(hp, "the value has a control character")
		}
	}
}
