package specs

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

const secret = "0123456789abcdef"

func TestEndpointDefaults(t *testing.T) {
	e := job.EndpointSpec{
		Name: "orders", URL: "https://orders.example/hook", Secrets: []string{secret},
		Retry:     job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: time.Second, Window: time.Hour}},
		RateLimit: &job.RateLimitSpec{RPS: 2.5},
	}
	if err := Endpoint(&e, "spec"); err != nil {
		t.Fatal(err)
	}
	want := job.EndpointSpec{
		Name: "orders", URL: "https://orders.example/hook", Secrets: []string{secret},
		Timeout:         job.DefaultEndpointTimeout,
		Retry:           job.RetrySpec{Exponential: &job.ExponentialSpec{Initial: time.Second, Factor: 2, Window: time.Hour}},
		RateLimit:       &job.RateLimitSpec{RPS: 2.5, Burst: 3},
		MaxConcurrency:  job.DefaultMaxConcurrency,
		DisableAfter:    job.DefaultDisableAfter,
		MaxPayloadBytes: job.DefaultMaxPayloadBytes,
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("Endpoint applied (-want +got):\n%s", diff)
	}
	// Validating again changes nothing.
	again := e
	if err := Endpoint(&again, "spec"); err != nil || !cmp.Equal(e, again) {
		t.Errorf("second Endpoint = %v, changed: %s", err, cmp.Diff(e, again))
	}
}

func TestEndpointErrors(t *testing.T) {
	valid := func() job.EndpointSpec {
		return job.EndpointSpec{URL: "https://orders.example/hook", Secrets: []string{secret}}
	}
	for _, tc := range []struct {
		name   string
		change func(*job.EndpointSpec)
		want   string
	}{
		{"no url", func(e *job.EndpointSpec) { e.URL = "" }, "spec.url: required"},
		{"credentials in the url", func(e *job.EndpointSpec) { e.URL = "https://u:p@x.example" }, "spec.url: credentials in the URL"},
		{"no secret", func(e *job.EndpointSpec) { e.Secrets = nil }, "spec.secret: required"},
		{"short secret", func(e *job.EndpointSpec) { e.Secrets = []string{"short"} }, "spec.secrets[0]: too short"},
		{"stray newline", func(e *job.EndpointSpec) { e.Secrets = []string{secret + "\n"} }, "spec.secrets[0]: has leading or trailing whitespace"},
		{"timeout too long", func(e *job.EndpointSpec) { e.Timeout = 10 * time.Minute }, "spec.timeout: 10m0s: want more than 0 and at most 5m"},
		{"two retry kinds", func(e *job.EndpointSpec) {
			e.Retry = job.RetrySpec{Preset: "dispatched", Schedule: []time.Duration{time.Second}}
		}, "spec.retry: set one of preset, schedule or exponential"},
		{"big bulk", func(e *job.EndpointSpec) { e.Bulk = &job.BulkSpec{MaxRecords: job.MaxBulkRecords + 1} }, "spec.bulk.max_records: 501: want 1 to 500"},
		{"concurrency", func(e *job.EndpointSpec) { e.MaxConcurrency = -1 }, "spec.max_concurrency: -1: want 1 to 1000"},
		{"rate", func(e *job.EndpointSpec) { e.RateLimit = &job.RateLimitSpec{RPS: math.NaN()} }, "spec.rate_limit.rps: must be a positive number of deliveries a second"},
		{"hmac off without a key", func(e *job.EndpointSpec) { e.NoHMAC = true }, "spec.hmac: false needs an ed25519_key"},
		{"reserved header", func(e *job.EndpointSpec) { e.Egress.Headers = map[string]string{"Content-Type": "x"} }, "spec.headers.Content-Type: Content-Type is set by dispatchd"},
		{"missing tls file", func(e *job.EndpointSpec) { e.Egress.CAFile = "/nonexistent/ca.pem" }, "spec.tls.ca_file:"},
		{"filter without event types", func(e *job.EndpointSpec) { e.Filter = "true" }, "spec: filter and transform apply to the subscription"},
		{"payload format", func(e *job.EndpointSpec) { e.PayloadFormat = "xml" }, `spec.payload_format: "xml": one of envelope, standard-webhooks`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.change(&e)
			err := Endpoint(&e, "spec")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Endpoint = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSource(t *testing.T) {
	known := func(name string) error {
		if name != "orders" {
			return fmt.Errorf("endpoint %q does not exist", name)
		}
		return nil
	}
	s := job.SourceSpec{
		Name: "shop", Scheme: "bearer", Secrets: []string{secret},
		ContentTypes: []string{"Application/JSON"}, Routes: []string{"orders"},
		RateLimit: &job.RateLimitSpec{RPS: 0.5},
	}
	v, err := Source(&s, "spec", known)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxBodyBytes != job.DefaultMaxBodyBytes || !cmp.Equal(s.ContentTypes, []string{"application/json"}) || s.RateLimit.Burst != 1 {
		t.Errorf("defaults not applied: %+v", s)
	}
	// The verifier it returns is the source's own.
	if err := v.Verify(http.Header{"Authorization": {"Bearer " + secret}}, nil, time.Now()); err != nil {
		t.Errorf("the built verifier refuses the source's secret: %v", err)
	}

	for _, tc := range []struct {
		name   string
		change func(*job.SourceSpec)
		want   string
	}{
		{"no scheme", func(s *job.SourceSpec) { s.Scheme = "" }, "spec.verify.scheme: required; one of none, bearer"},
		{"unknown scheme", func(s *job.SourceSpec) { s.Scheme = "nope" }, `spec.verify: unknown scheme "nope"`},
		{"body limit", func(s *job.SourceSpec) { s.MaxBodyBytes = job.MaxMaxBodyBytes + 1 }, "spec.max_body_bytes: 16777217: want 1 to 16777216"},
		{"unknown endpoint", func(s *job.SourceSpec) { s.Routes = []string{"ghost"} }, `spec.routes[0]: endpoint "ghost" does not exist`},
		{"rules are numbered after the names", func(s *job.SourceSpec) {
			s.Routes = []string{"orders"}
			s.RouteRules = []job.RouteRule{{Subscribers: true, Endpoint: "orders"}}
		}, "spec.routes[1]: set endpoint or subscribers: true, not both"},
		{"both header and json", func(s *job.SourceSpec) { s.DeliveryID = &job.ValueRef{Header: "X-Id", JSON: "/id"} }, "spec.idempotency: set exactly one of header"},
		{"bad pointer", func(s *job.SourceSpec) { s.OrderingKey = &job.ValueRef{JSON: "id"} }, `spec.ordering_key.json: "id"`},
		{"required without json", func(s *job.SourceSpec) {
			s.ContentTypes = []string{"text/plain"}
			s.Required = []job.RequiredField{{Pointer: "/id"}}
		}, "spec.required: required fields need application/json"},
		{"media type", func(s *job.SourceSpec) { s.ContentTypes = []string{"json"} }, `spec.content_types[0]: "json" is not a media type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := job.SourceSpec{Name: "shop", Scheme: "bearer", Secrets: []string{secret}}
			tc.change(&s)
			v, err := Source(&s, "spec", known)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Source = %v, want an error containing %q", err, tc.want)
			}
			if v != nil {
				t.Error("Source returned a verifier with its error")
			}
		})
	}
}

// TestSourceErrorsTogether: every problem is reported, each its own error.
func TestSourceErrorsTogether(t *testing.T) {
	s := job.SourceSpec{Scheme: "nope", MaxBodyBytes: -1, ContentTypes: []string{"json"}}
	_, err := Source(&s, "sources[0]", nil)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("Source = %v, want 3 joined errors", err)
	}
}
