package delivery

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

// The headers kept for the attempt log carry no secret: not the bearer,
// not a static header's value, not the signature, and the Retry-After of
// a 503 is read.
func TestSentHeadersAndRetryAfter(t *testing.T) {
	srv, got := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	req := Request{
		Endpoint: Endpoint{Name: "orders", URL: srv.URL, Secrets: []string{whsecA, whsecB},
			Egress: job.EgressSpec{Headers: map[string]string{"X-Api-Key": "static-api-key-123"}}},
		Records: []Record{{JobID: "job_01", AttemptID: "att_01", AttemptNumber: 1, Payload: []byte(`{}`)}},
	}
	res := newTestClient().Deliver(t.Context(), req)
	r := <-got
	if r.header.Get("X-Api-Key") != "static-api-key-123" {
		t.Fatalf("the static header was not sent: %v", r.header)
	}
	if res.StatusCode != 503 || res.RetryAfter.Seconds() != 120 {
		t.Errorf("status %d, Retry-After %v; want 503 and 2m0s", res.StatusCode, res.RetryAfter)
	}
	want := map[string]string{
		"Authorization":     "Bearer ***",
		"Content-Type":      "application/json",
		"User-Agent":        testUserAgent,
		"Webhook-Id":        "job_01",
		"Webhook-Signature": "v1,*** v1,***", // one entry per secret during a rotation
		"Webhook-Timestamp": "1772366400",
		"X-Api-Key":         "***",
	}
	if diff := cmp.Diff(want, res.RequestHeaders); diff != "" {
		t.Errorf("RequestHeaders (-want +got):\n%s", diff)
	}
	for name, v := range res.RequestHeaders {
		for _, secret := range []string{whsecA, whsecB, "static-api-key-123", r.header.Get("Webhook-Signature")} {
			if strings.Contains(v, secret) {
				t.Errorf("%s: %q holds a secret", name, v)
			}
		}
	}
}

// A request that could not be built sent nothing: no headers to show.
func TestNoHeadersWhenNothingSent(t *testing.T) {
	res := newTestClient().Deliver(t.Context(), Request{Endpoint: Endpoint{Name: "x", URL: "ftp://nowhere", Secrets: []string{whsecA}},
		Records: []Record{{JobID: "job_01", AttemptID: "att_01", AttemptNumber: 1, Payload: []byte(`{}`)}}})
	if res.ErrorClass != ClassBadRequest || res.RequestHeaders != nil {
		t.Errorf("result = %+v, want a bad request with no headers", res)
	}
}
