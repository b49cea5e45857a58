package delivery

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Fuzz targets assert properties, not only the absence of panics.

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", " 7 ", "-1", "+1", "1e3", "99999999999999999999",
		"Sun, 01 Mar 2026 12:01:30 GMT", "Sunday, 01-Mar-26 14:00:00 GMT", "Sun Mar  1 12:00:45 2026", "soon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := parseRetryAfter(v, testNow)
		if got < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", v, got)
		}
		if again := parseRetryAfter(" "+v+"\t", testNow); again != got {
			t.Fatalf("surrounding whitespace changed %q from %v to %v", v, got, again)
		}
		// delta-seconds: exactly the number, or saturated.
		trimmed := strings.Trim(v, " \t")
		if trimmed != "" && strings.Trim(trimmed, "0123456789") == "" {
			n, err := strconv.ParseUint(trimmed, 10, 64)
			switch {
			case err == nil && n <= uint64(maxDuration/time.Second):
				if got != time.Duration(n)*time.Second {
					t.Fatalf("parseRetryAfter(%q) = %v, want %ds", v, got, n)
				}
			case got != maxDuration:
				t.Fatalf("parseRetryAfter(%q) = %v, want saturation", v, got)
			}
			return
		}
		// A date: the time until it, never before now.
		if when, err := http.ParseTime(trimmed); err == nil {
			if want := max(when.Sub(testNow), 0); got != want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", v, got, want)
			}
			return
		}
		if got != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v for neither seconds nor a date, want 0", v, got)
		}
	})
}

func FuzzClassify(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{200, ""}, {200, `{"status":"failed"}`}, {200, `{"status":"Failed"}`}, {204, "x"},
		{200, `{"failedJobIds":["a","zz","b",1]}`}, {207, `{"failedJobIds":["c","c"]}`},
		{301, ""}, {400, "\xff\x00"}, {408, ""}, {410, ""}, {429, ""}, {500, "oops"}, {599, ""},
		{100, ""}, {999, ""}, {299, `{"status":"failed","failedJobIds":["a"]}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body), "http://x/", false, true)
		f.Add(s.status, []byte(s.body), "", true, false)
	}
	batchIDs := []string{"a", "b", "c"}
	f.Fuzz(func(t *testing.T, status int, body []byte, location string, retryClientErrors, bulk bool) {
		// net/http accepts any three-digit status from a server.
		status = 100 + (status%900+900)%900
		if len(body) > MaxResponseBytes {
			body = body[:MaxResponseBytes]
		}
		r := Request{Endpoint: Endpoint{RetryClientErrors: retryClientErrors}}
		for _, id := range batchIDs {
			r.Records = append(r.Records, Record{JobID: id})
		}
		if bulk {
			r.BatchID = "batch"
		} else {
			r.Records = r.Records[:1]
		}

		res := classify(r, status, location, body)

		if res.StatusCode != status {
			t.Fatalf("StatusCode = %d, want %d", res.StatusCode, status)
		}
		if (res.Outcome == Completed) != (res.ErrorClass == "") || (res.Outcome == Completed) != (res.Error == "") {
			t.Fatalf("outcome %v with class %q and error %q: want both empty exactly when completed", res.Outcome, res.ErrorClass, res.Error)
		}
		var want []Outcome // the outcomes allowed for this status
		switch {
		case status/100 == 2:
			want = []Outcome{Completed, Failed}
			if res.Outcome == Failed && res.ErrorClass != ClassReceiverFailed {
				t.Fatalf("2xx failed with class %q", res.ErrorClass)
			}
		case status == 410:
			want = []Outcome{Gone}
		case status == 408, status == 429, status/100 == 5:
			want = []Outcome{Retry}
		case status/100 == 3, status/100 == 4:
			want = []Outcome{Failed}
			if retryClientErrors {
				want = []Outcome{Retry}
			}
		default:
			want = []Outcome{Retry}
		}
		if !slices.Contains(want, res.Outcome) {
			t.Fatalf("status %d (retryClientErrors=%v, body %q) gave %v, want one of %v", status, retryClientErrors, body, res.Outcome, want)
		}

		if len(res.FailedJobIDs) > 0 && (!bulk || res.Outcome != Completed) {
			t.Fatalf("FailedJobIDs %q on a non-bulk or non-completed result", res.FailedJobIDs)
		}
		seen := map[string]bool{}
		for _, id := range res.FailedJobIDs {
			if !slices.Contains(batchIDs, id) || seen[id] {
				t.Fatalf("FailedJobIDs %q: %q is not in the batch or repeats", res.FailedJobIDs, id)
			}
			seen[id] = true
		}

		if !utf8.ValidString(res.Excerpt) || strings.Contains(res.Excerpt, "\x00") {
			t.Fatalf("Excerpt %q is not valid UTF-8 without NUL", res.Excerpt)
		}
		// Each kept byte becomes at most one 3-byte U+FFFD.
		if len(res.Excerpt) > 3*ExcerptBytes {
			t.Fatalf("Excerpt is %d bytes", len(res.Excerpt))
		}
		clean := len(body) <= ExcerptBytes && utf8.Valid(body) && !strings.Contains(string(body), "\x00")
		if clean && res.Excerpt != string(body) {
			t.Fatalf("Excerpt %q of a clean short body %q differs", res.Excerpt, body)
		}
		if len(body) >= ExcerptBytes && utf8.Valid(body) && !strings.Contains(string(body), "\x00") &&
			(len(res.Excerpt) < ExcerptBytes-utf8.UTFMax+1 || !strings.HasPrefix(string(body), res.Excerpt)) {
			t.Fatalf("Excerpt of a long clean body is %d bytes, or not its prefix", len(res.Excerpt))
		}
	})
}

// FuzzSign checks Sign against the Standard Webhooks library over any
// secret, id, time and body, and that a one-bit change to the body breaks
// the signature.
func FuzzSign(f *testing.F) {
	f.Add(whsecA, "job_01", int64(1772366400), []byte(`{"hello":"world"}`), uint(3))
	f.Add(rawSecret, "batch.with.dots", int64(-1), []byte{}, uint(0))
	f.Add("whsec_", "m", int64(0), []byte("x"), uint(1))
	f.Add("whsec_@@", "m", int64(1<<40), []byte("x"), uint(9))
	f.Fuzz(func(t *testing.T, secret, msgID string, unix int64, body []byte, flip uint) {
		if secret == "" || msgID == "" {
			return // Sign skips an empty secret; the library requires an id
		}
		ts := time.Unix(unix, 0)
		sig := Sign([]string{secret}, msgID, ts, body)

		var lib *standardwebhooks.Webhook
		enc, ok := strings.CutPrefix(secret, "whsec_")
		if key, err := base64.StdEncoding.DecodeString(enc); ok && err == nil && len(key) > 0 {
			lib, _ = standardwebhooks.NewWebhook(secret)
		} else {
			lib, _ = standardwebhooks.NewWebhookRaw([]byte(secret))
		}
		h := http.Header{}
		h.Set("webhook-id", msgID)
		h.Set("webhook-timestamp", strconv.FormatInt(unix, 10))
		h.Set("webhook-signature", sig)
		if err := lib.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Fatalf("library rejects Sign(%q, %q, %d, %q) = %q: %v", secret, msgID, unix, body, sig, err)
		}

		changed := append([]byte(nil), body...)
		if len(changed) == 0 {
			changed = []byte{0}
		} else {
			changed[flip%uint(len(changed))] ^= 1 << (flip % 8)
		}
		if err := lib.VerifyIgnoringTimestamp(changed, h); err == nil {
			t.Fatalf("a changed body %q verified against the signature of %q", changed, body)
		}
	})
}
