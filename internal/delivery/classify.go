package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// classify turns a response into a Result (all but RetryAfter and Latency).
// body is what was read of the response, at most MaxResponseBytes.
func classify(r Request, status int, location string, body []byte) Result {
	res := Result{StatusCode: status, Excerpt: excerpt(body)}
	answered := fmt.Sprintf("the endpoint answered %d", status)
	if text := http.StatusText(status); text != "" {
		answered += " " + text
	}
	clientError := func(class, msg string) {
		res.ErrorClass, res.Error = class, msg
		if r.Endpoint.RetryClientErrors {
			res.Outcome = Retry
			res.Error += "; retrying, as the endpoint's policy asks"
		} else {
			res.Outcome = Failed
		}
	}

	switch {
	case r.Endpoint.RetryOnlyUnanswered && status >= 400 && status != http.StatusGone:
		res.Outcome, res.ErrorClass = Failed, ClassHTTPStatus
		res.Error = answered + "; not retried: the endpoint retries only when no answer came (retry_only_unanswered)"
	case status >= 200 && status <= 299:
		top := jsonObject(body)
		if s, ok := top["status"]; ok && isFailed(s) {
			res.Outcome, res.ErrorClass = Failed, ClassReceiverFailed
			res.Error = answered + ` with {"status":"failed"}: the receiver asked not to retry`
			return res
		}
		res.Outcome = Completed
		if r.BatchID != "" {
			res.FailedJobIDs = failedJobIDs(top["failedJobIds"], r.Records)
		}
	case status == http.StatusGone:
		res.Outcome, res.ErrorClass = Gone, ClassHTTPStatus
		res.Error = answered + ": the endpoint is to be disabled"
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		res.Outcome, res.ErrorClass, res.Error = Retry, ClassHTTPStatus, answered
	case status >= 300 && status <= 399:
		msg := answered + ", a redirect, which is never followed"
		if location != "" {
			msg += fmt.Sprintf(" (Location: %.200q)", location)
		}
		clientError(ClassRedirect, msg)
	case status >= 400 && status <= 499:
		clientError(ClassHTTPStatus, answered)
	default:
		// 5xx, and status codes HTTP does not define: the endpoint is not
		// well, so try again rather than lose the jobs.
		res.Outcome, res.ErrorClass, res.Error = Retry, ClassHTTPStatus, answered
	}
	return res
}

// jsonObject returns the top-level members of body if it is a JSON object,
// else nil. Keys are matched exactly: encoding/json's struct decoding would
// also take "Status" or "STATUS".
func jsonObject(body []byte) map[string]json.RawMessage {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	return top
}

// isFailed reports whether v is the JSON string "failed", in any case.
func isFailed(v json.RawMessage) bool {
	var s string
	return json.Unmarshal(v, &s) == nil && strings.EqualFold(s, "failed")
}

// failedJobIDs returns the strings of the JSON array v that name records of
// the batch, once each, in the receiver's order. Anything else is ignored:
// an id the batch did not carry cannot be retried by this batch.
func failedJobIDs(v json.RawMessage, records []Record) []string {
	var items []json.RawMessage
	if len(v) == 0 || json.Unmarshal(v, &items) != nil {
		return nil
	}
	inBatch := make(map[string]bool, len(records))
	for _, rec := range records {
		inBatch[rec.JobID] = true
	}
	var ids []string
	for _, item := range items {
		var id string
		if json.Unmarshal(item, &id) != nil || !inBatch[id] {
			continue
		}
		inBatch[id] = false // listed once
		ids = append(ids, id)
	}
	return ids
}

// excerpt returns the first ExcerptBytes of body as valid UTF-8. A rune cut
// by the limit is dropped rather than shown as a replacement character;
// invalid bytes and NUL become U+FFFD, since PostgreSQL text refuses NUL.
func excerpt(body []byte) string {
	b := body
	if len(b) > ExcerptBytes {
		b = b[:ExcerptBytes]
		// Step back to the start of the last rune; drop it if it is
		// incomplete only because of the cut.
		for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
			if utf8.RuneStart(b[len(b)-i]) {
				if !utf8.FullRune(b[len(b)-i:]) && utf8.FullRune(body[len(b)-i:]) {
					b = b[:len(b)-i]
				}
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// maxDuration is the longest time.Duration; Retry-After saturates there
// instead of overflowing into the past.
const maxDuration = time.Duration(math.MaxInt64)

// parseRetryAfter reads a Retry-After value, delta-seconds or an HTTP-date
// (RFC 9110, section 10.2.3), as a duration from now. It returns 0 for an
// empty, invalid or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.Trim(v, " \t")
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(maxDuration/time.Second) {
			return maxDuration // out of range means "very long"; the caller bounds it
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0)
}

// transportFailure turns an error from sending the request or reading the
// body into a Result. ctx is the attempt's context and limit the time it
// was given, for the message.
func transportFailure(ctx context.Context, err error, limit time.Duration) Result {
	// Report the cause, not the url.Error around it: its message repeats
	// the URL, which the caller already knows and logs with care.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	fail := func(o Outcome, class, format string, args ...any) Result {
		return Result{Outcome: o, ErrorClass: class, Error: fmt.Sprintf(format, args...)}
	}

	var blocked *blockedError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &blocked):
		return fail(Failed, ClassBlockedAddress, "the endpoint's %s is not an allowed destination: %v", blocked.address, blocked.err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fail(Retry, ClassTimeout, "the attempt ran out of its %s before the endpoint answered in full", limit.Round(time.Millisecond))
	case ctx.Err() != nil:
		return fail(Retry, ClassCanceled, "the attempt was canceled before the endpoint answered in full")
	case errors.As(err, &dnsErr):
		return fail(Retry, ClassDNS, "the endpoint's host name did not resolve: %v", err)
	case isTLSError(err):
		return fail(Retry, ClassTLS, "the TLS handshake with the endpoint failed: %v", err)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fail(Retry, ClassTimeout, "the connection to the endpoint timed out: %v", err)
	default:
		return fail(Retry, ClassConnection, "the connection to the endpoint failed: %v", err)
	}
}

// isTLSError reports whether err comes from the TLS handshake: a
// certificate that does not verify, a peer that does not speak TLS, or an
// alert from the peer.
func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert),
		errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return true
	case errors.Is(err, http.ErrSchemeMismatch):
		// net/http's name for the RecordHeaderError of a plain HTTP server
		// behind an https:// URL.
		return true
	case errors.As(err, &op) && op.Op == "remote error":
		// crypto/tls reports an alert from the peer this way, with an
		// unexported error type inside.
		return true
	}
	return false
}
