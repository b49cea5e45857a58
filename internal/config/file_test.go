package config

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dispatchd/dispatchd/internal/job"
)

// lines joins YAML lines, so that line numbers in the tests can be read
// off the source.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// A valid endpoint secret: whsec_ and the base64 of 32 bytes.
const epSecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// orders is a valid endpoints section that sources in the tests route to.
var orders = lines(
	"endpoints:",
	"  - name: orders",
	"    url: https://orders.example/hook",
	"    secret: "+epSecret,
)

func TestParseFileExample(t *testing.T) {
	data, err := os.ReadFile("../../examples/dispatchd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Sources: []Source{
			{
				Name:         "demo",
				Verify:       Verify{Scheme: "bearer", Secret: "demo-secret-change-me"},
				MaxBodyBytes: 10240,
				RateLimit:    &RateLimit{RPS: 100, Burst: 200},
				Idempotency:  &Idempotency{Header: "webhook-id"},
				Required:     []RequiredField{{Pointer: "/type", Type: "string"}},
				Routes:       RouteNames("demo-receiver"),
			},
			{
				Name:   "standard",
				Verify: Verify{Scheme: "standard-webhooks", Secret: "whsec_ZGlzcGF0Y2hkLWRlbW8tc2VjcmV0LTMyLWJ5dGVzIQ=="},
				Routes: RouteNames("demo-receiver"),
			},
		},
		DefaultEndpoint: "demo-receiver",
		Endpoints: []Endpoint{{
			Name:    "demo-receiver",
			URL:     "http://127.0.0.1:9999/webhook",
			Secret:  "whsec_ZGVtby1lbmRwb2ludC1zaWduaW5nLWtleSE=",
			Timeout: Duration(30 * time.Second),
			Retry:   Retry{Preset: "dispatched"},
		}},
	}
	got, err := ParseFile(data, mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, ignoreSpecs); diff != "" {
		t.Errorf("ParseFile(examples/dispatchd.yaml) with defaults (-want +got):\n%s", diff)
	}
	if sp := got.Sources[1].Spec(); sp.MaxBodyBytes != job.DefaultMaxBodyBytes || !cmp.Equal(sp.ContentTypes, []string{"application/json"}) {
		t.Errorf("sources[1] spec = %+v, want the default body limit and content type", sp)
	}
	if sp := got.Endpoints[0].Spec(); sp.MaxConcurrency != job.DefaultMaxConcurrency || sp.DisableAfter != job.DefaultDisableAfter ||
		sp.MaxPayloadBytes != job.DefaultMaxPayloadBytes {
		t.Errorf("endpoints[0] spec = %+v, want the defaults", sp)
	}

	// The environment replaces the defaults.
	got, err = ParseFile(data, mapEnv(map[string]string{
		"DEMO_WEBHOOK_SECRET":     "a-real-secret-from-the-vault",
		"STANDARD_WEBHOOK_SECRET": epSecret,
		"DEMO_ENDPOINT_SECRET":    epSecret,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want.Sources[0].Verify.Secret = "a-real-secret-from-the-vault"
	want.Sources[1].Verify.Secret = epSecret
	want.Endpoints[0].Secret = epSecret
	if diff := cmp.Diff(want, got, ignoreSpecs); diff != "" {
		t.Errorf("ParseFile(examples/dispatchd.yaml) with secrets set (-want +got):\n%s", diff)
	}
	if got := got.Endpoints[0].Spec().Timeout; got != job.DefaultEndpointTimeout {
		t.Errorf("timeout = %v, want %v", got, job.DefaultEndpointTimeout)
	}
}

func TestParseFileEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# nothing declared yet\n", "---\n", "~\n", "{}\n", "sources: []\nendpoints:\n"} {
		got, err := ParseFile([]byte(in), mapEnv(nil))
		if err != nil {
			t.Errorf("ParseFile(%q) = %v", in, err)
			continue
		}
		if diff := cmp.Diff(&File{}, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ParseFile(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// TestParseFileDefaults checks the values validation fills in or
// normalises.
func TestParseFileDefaults(t *testing.T) {
	got, err := ParseFile([]byte(lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 0.5}",
		"    content_types: [Application/JSON, text/plain]",
		"    routes: [orders]",
		"  - name: b",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 2.5}",
		"    max_body_bytes: 0",
		"  - name: c",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 1e300}",
		"    max_body_bytes: 16777216",
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secrets: ["+epSecret+", an-older-secret-of-16+]",
		"    timeout: 0s",
		"    retry:",
		"      exponential: {initial: 1s, window: 48h}",
		"    bulk: {max_records: 5e2}", // a whole number written as a float
		"  - name: other",
		"    url: http://10.0.0.1:8080",
		"    secret: "+epSecret,
		"    timeout: 5m",
		"    retry: {schedule: [30s, 2m, 5m]}",
	)), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	wantSources := []job.SourceSpec{
		{
			Name: "a", Scheme: "none", MaxBodyBytes: job.DefaultMaxBodyBytes,
			RateLimit:    &job.RateLimitSpec{RPS: 0.5, Burst: 1},
			ContentTypes: []string{"application/json", "text/plain"},
			Routes:       []string{"orders"},
		},
		{
			Name: "b", Scheme: "none", MaxBodyBytes: job.DefaultMaxBodyBytes,
			RateLimit:    &job.RateLimitSpec{RPS: 2.5, Burst: 3},
			ContentTypes: []string{"application/json"},
		},
		{
			Name: "c", Scheme: "none", MaxBodyBytes: job.MaxMaxBodyBytes,
			RateLimit:    &job.RateLimitSpec{RPS: 1e300, Burst: math.MaxInt32},
			ContentTypes: []string{"application/json"},
		},
	}
	wantEndpoints := []job.EndpointSpec{
		{
			Name: "orders", URL: "https://orders.example/hook",
			Secrets: []string{epSecret, "an-older-secret-of-16+"},
			Timeout: job.DefaultEndpointTimeout,
			Retry: job.RetrySpec{Exponential: &job.ExponentialSpec{
				Initial: time.Second, Factor: 2, Window: 48 * time.Hour,
			}},
			Bulk:            &job.BulkSpec{MaxRecords: 500},
			MaxConcurrency:  job.DefaultMaxConcurrency,
			DisableAfter:    job.DefaultDisableAfter,
			MaxPayloadBytes: job.DefaultMaxPayloadBytes,
		},
		{
			Name: "other", URL: "http://10.0.0.1:8080", Secrets: []string{epSecret},
			Timeout:         5 * time.Minute,
			Retry:           job.RetrySpec{Schedule: []time.Duration{30 * time.Second, 2 * time.Minute, 5 * time.Minute}},
			MaxConcurrency:  job.DefaultMaxConcurrency,
			DisableAfter:    job.DefaultDisableAfter,
			MaxPayloadBytes: job.DefaultMaxPayloadBytes,
		},
	}
	var gotSources []job.SourceSpec
	for i := range got.Sources {
		gotSources = append(gotSources, got.Sources[i].Spec())
	}
	var gotEndpoints []job.EndpointSpec
	for i := range got.Endpoints {
		gotEndpoints = append(gotEndpoints, got.Endpoints[i].Spec())
	}
	if diff := cmp.Diff(wantSources, gotSources); diff != "" {
		t.Errorf("source specs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEndpoints, gotEndpoints); diff != "" {
		t.Errorf("endpoint specs (-want +got):\n%s", diff)
	}
}

// ignoreSpecs leaves out of a comparison of files what validation made of
// them; the tests check that through Spec.
var ignoreSpecs = cmpopts.IgnoreUnexported(Source{}, Endpoint{})

func TestParseFileExpand(t *testing.T) {
	env := mapEnv(map[string]string{
		"RATE":    "2.5",
		"BURST":   "7",
		"SECRET":  "from-the-environment",
		"NUMERIC": "0123456789012345",
		"NULLISH": "null",
		"NESTED":  "${SECRET}",
		"HOST":    "orders.example",
		"EMPTY":   "",
	})
	source := func(l ...string) string {
		return lines(append([]string{"sources:", "  - name: a"}, l...)...) + orders
	}
	for _, tc := range []struct {
		name, yaml string
		check      func(t *testing.T, f *File)
	}{
		{"string", source("    verify: {scheme: bearer, secret: \"${SECRET}\"}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "from-the-environment")
		}},
		{"plain scalar", source("    verify:", "      scheme: bearer", "      secret: ${SECRET}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "from-the-environment")
		}},
		{"inside text, several times", source("    verify:", "      scheme: bearer", "      secret: pre-${SECRET}-${SECRET}-post"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "pre-from-the-environment-from-the-environment-post")
		}},
		{"default when unset", source("    verify:", "      scheme: bearer", "      secret: ${UNSET:-a-default-secret}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "a-default-secret")
		}},
		{"default when empty", source("    verify:", "      scheme: bearer", "      secret: ${EMPTY:-a-default-secret}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "a-default-secret")
		}},
		{"default ignored when set", source("    verify:", "      scheme: bearer", "      secret: ${SECRET:-a-default-secret}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "from-the-environment")
		}},
		{"empty default", source("    verify:", "      scheme: bearer", "      secret: x${UNSET:-}-0123456789abcdef"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "x-0123456789abcdef")
		}},
		{"value that reads as a number stays a string", source("    verify:", "      scheme: bearer", "      secret: ${NUMERIC}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "0123456789012345")
		}},
		{"value that reads as null stays a string", source("    verify:", "      scheme: bearer", "      secret: ${NULLISH}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "null")
		}},
		{"values are not expanded twice", source("    verify:", "      scheme: bearer", "      secret: ${NESTED}"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "${SECRET}")
		}},
		{"into a number", source("    verify: {scheme: none}", "    rate_limit:", "      rps: ${RATE}", "      burst: ${BURST}"), func(t *testing.T, f *File) {
			if diff := cmp.Diff(&job.RateLimitSpec{RPS: 2.5, Burst: 7}, f.Sources[0].Spec().RateLimit); diff != "" {
				t.Errorf("rate_limit (-want +got):\n%s", diff)
			}
		}},
		{"quoted, into a number", source("    verify: {scheme: none}", `    rate_limit: {rps: "${RATE}", burst: '${BURST}'}`), func(t *testing.T, f *File) {
			if diff := cmp.Diff(&job.RateLimitSpec{RPS: 2.5, Burst: 7}, f.Sources[0].Spec().RateLimit); diff != "" {
				t.Errorf("rate_limit (-want +got):\n%s", diff)
			}
		}},
		{"default into a number", source("    verify: {scheme: none}", "    max_body_bytes: ${MAX_BODY:-2048}"), func(t *testing.T, f *File) {
			if got := f.Sources[0].Spec().MaxBodyBytes; got != 2048 {
				t.Errorf("max_body_bytes = %d, want 2048", got)
			}
		}},
		{"empty number takes the default", source("    verify: {scheme: none}", "    max_body_bytes: ${EMPTY:-}"), func(t *testing.T, f *File) {
			if got := f.Sources[0].Spec().MaxBodyBytes; got != job.DefaultMaxBodyBytes {
				t.Errorf("max_body_bytes = %d, want %d", got, job.DefaultMaxBodyBytes)
			}
		}},
		{"into a duration and a URL", lines(
			"endpoints:",
			"  - name: orders",
			"    url: https://${HOST}/hook",
			"    secret: "+epSecret,
			"    timeout: ${TIMEOUT:-10s}",
		), func(t *testing.T, f *File) {
			wantString(t, "url", f.Endpoints[0].URL, "https://orders.example/hook")
			if got := time.Duration(f.Endpoints[0].Timeout); got != 10*time.Second {
				t.Errorf("timeout = %v, want 10s", got)
			}
		}},
		{"empty duration takes the default", lines(
			"endpoints:",
			"  - name: orders",
			"    url: https://orders.example/hook",
			"    secret: "+epSecret,
			"    timeout: \"${EMPTY:-}${UNSET:-}\"",
		), func(t *testing.T, f *File) {
			if got := f.Endpoints[0].Spec().Timeout; got != job.DefaultEndpointTimeout {
				t.Errorf("timeout = %v, want %v", got, job.DefaultEndpointTimeout)
			}
		}},
		{"in a list", source("    verify: {scheme: bearer, secrets: [\"${SECRET}\", \"${OLD:-the-previous-secret}\"]}"), func(t *testing.T, f *File) {
			if diff := cmp.Diff([]string{"from-the-environment", "the-previous-secret"}, f.Sources[0].Verify.Secrets); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
		}},
		{"not a reference", source("    verify:", "      scheme: bearer", "      secret: $SECRET-${1X}-${A B}-$${"), func(t *testing.T, f *File) {
			wantString(t, "secret", f.Sources[0].Verify.Secret, "$SECRET-${1X}-${A B}-$${")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tc.yaml), env)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f)
		})
	}
}

func wantString(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestParseFileNilEnv(t *testing.T) {
	if _, err := ParseFile([]byte(orders), nil); err != nil {
		t.Errorf("ParseFile(orders, nil) = %v", err)
	}
	_, err := ParseFile([]byte("default_endpoint: ${X}\n"), nil)
	checkErr(t, err, "line 1", "default_endpoint", "X is not set")
}

func TestParseFileExpandNotKeys(t *testing.T) {
	_, err := ParseFile([]byte("${KEY}: 1\n"), mapEnv(map[string]string{"KEY": "sources"}))
	checkErr(t, err, "line 1", `unknown key "${KEY}"`)
}

// badFiles are files ParseFile must refuse, each with what its error must
// say: where (line or key path) and what is wrong. FuzzParseFile seeds its
// corpus with them.
var badFiles = []struct {
	name, yaml string
	want       []string
}{
	// Variables.
	{"unset variable", lines(
		"sources:",
		"  - name: a",
		"    verify:",
		"      scheme: bearer",
		"      secret: ${NOT_SET}",
	), []string{"line 5", "sources[0].verify.secret", "NOT_SET is not set", "${NOT_SET:-default}"}},
	{"unset variable in a list", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    routes: [orders, '${ROUTE}']",
	) + orders, []string{"line 4", "sources[0].routes[1]", "ROUTE is not set"}},
	{"empty variable", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: bearer, secret: '${EMPTY}'}",
	), []string{"line 3", "sources[0].verify.secret", "EMPTY is not set"}},

	// Unknown keys, keys twice and values of the wrong type.
	{"unknown top-level key", lines(
		"sources: []",
		"sourcs: []",
	), []string{"line 2", "top level", `unknown key "sourcs"`, "allowed keys: sources, default_endpoint, endpoints"}},
	{"unknown source key", lines(
		"sources:",
		"  - name: a",
		"    verfy: {scheme: none}",
	), []string{"line 3", "sources[0]", `unknown key "verfy"`, "allowed keys: name, verify, max_body_bytes, rate_limit, idempotency, coalesce_key, ordering_key, content_types, required, routes, event_type"}},
	{"unknown verify key", lines(
		"sources:",
		"  - name: a",
		"    verify:",
		"      scheme: stripe",
		"      secret: whsec_x",
		"      tolerence: 5m",
	), []string{"line 6", "sources[0].verify", `unknown key "tolerence"`, "tolerance"}},
	{"unknown retry key", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {presets: bevy}",
	), []string{"line 5", "endpoints[0].retry", `unknown key "presets"`, "allowed keys: preset, schedule, exponential"}},
	{"unknown bulk key", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    bulk:",
		"      max_records: 10",
		"      max_batch: 10",
	), []string{"line 7", "endpoints[0].bulk", `unknown key "max_batch"`}},
	{"key given twice", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    name: b",
	), []string{"line 4", "sources[0].name", "given twice", "line 2"}},
	{"bad duration", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    timeout: 30 seconds",
	), []string{"line 5", "endpoints[0].timeout", `"30 seconds" is not a duration`}},
	{"duration without unit", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {schedule: [30s, 120]}",
	), []string{"line 5", "endpoints[0].retry.schedule[1]", `"120" is not a duration`}},
	{"duration as a list", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    timeout: [30s]",
	), []string{"line 5", "endpoints[0].timeout", "not a duration"}},
	{"word for a number", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    max_body_bytes: lots",
	), []string{"line 4", "sources[0].max_body_bytes", `"lots" is not a whole number`}},
	{"fraction for a whole number", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    bulk: {max_records: 2.5}",
	), []string{"line 5", "endpoints[0].bulk.max_records", `"2.5" is not a whole number`}},
	{"whole number too large", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 1, burst: 1e30}",
	), []string{"line 4", "sources[0].rate_limit.burst", `"1e30" is not a whole number in range`}},
	{"word for a float", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: fast}",
	), []string{"line 4", "sources[0].rate_limit.rps", `"fast" is not a number`}},
	{"variable that is not a number", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit:",
		"      rps: ${WORD}",
	), []string{"line 5", "sources[0].rate_limit.rps", `"fast" is not a number`}},
	{"scalar for a mapping", lines(
		"sources:",
		"  - name: a",
		"    verify: bearer",
	), []string{"line 3", "sources[0].verify", "want a mapping", "scheme"}},
	{"scalar for a list", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    routes: orders",
	) + orders, []string{"line 4", "sources[0].routes", "want a list"}},
	{"list for a value", lines(
		"sources:",
		"  - name: [a, b]",
		"    verify: {scheme: none}",
	), []string{"line 2", "sources[0].name", "want a single value"}},
	{"mapping for the sources", lines(
		"sources:",
		"  name: a",
	), []string{"line 2", "sources", "want a list"}},
	{"top level is a list", lines(
		"- name: a",
	), []string{"line 1", "top level", "want a mapping"}},
	{"second document", lines(
		"sources: []",
		"---",
		"endpoints: []",
	), []string{"line 3", "second YAML document"}},
	{"YAML syntax", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none",
	), []string{"line"}},
	{"unquoted variable in a flow mapping", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: ${RATE}}",
	), []string{"line", "did not find expected", `must be quoted: "${VAR}"`}},

	// Sources.
	{"unknown scheme", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: hmak, secret: s}",
	), []string{"sources[0] (a).verify", `unknown scheme "hmak"`, "bearer, standard-webhooks"}},
	{"missing scheme", lines(
		"sources:",
		"  - name: a",
		"    verify: {secret: s}",
	), []string{"sources[0] (a).verify.scheme", "required", "none accepts unauthenticated requests"}},
	{"no verify at all", lines(
		"sources:",
		"  - name: a",
	), []string{"sources[0] (a).verify.scheme", "required"}},
	{"secret and secrets", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: bearer, secret: one, secrets: [two]}",
	), []string{"sources[0] (a).verify", "use secret or secrets, not both"}},
	{"three secrets", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: bearer, secrets: [one, two, three]}",
	), []string{"sources[0] (a).verify", "at most 2 secrets"}},
	{"secret missing", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: github}",
	), []string{"sources[0] (a).verify", `scheme "github" needs a secret`}},
	{"standard-webhooks secret without whsec_", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: standard-webhooks, secret: MDEyMzQ1Njc4OWFiY2RlZg==}",
	), []string{"sources[0] (a).verify", `"whsec_" followed by base64`}},
	{"standard-webhooks secret not base64", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: standard-webhooks, secret: whsec_not*base64}",
	), []string{"sources[0] (a).verify", `"whsec_" followed by base64`}},
	{"tolerance on a scheme without timestamps", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: bearer, secret: s, tolerance: 1m}",
	), []string{"sources[0] (a).verify", "tolerance is only used"}},
	{"route to an undeclared endpoint", lines(
		"sources:",
		"  - name: bevy",
		"    verify: {scheme: none}",
		"    routes: [orders, x]",
	) + orders, []string{`sources[0] (bevy).routes[1]: endpoint "x" is not declared under endpoints`}},
	{"duplicate source", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"  - name: a",
		"    verify: {scheme: none}",
	), []string{"sources[1] (a).name", `"a" is declared twice`}},
	{"source without a name", lines(
		"sources:",
		"  - verify: {scheme: none}",
	), []string{"sources[0].name: required"}},
	{"upper-case source name", lines(
		"sources:",
		"  - name: Bevy",
		"    verify: {scheme: none}",
	), []string{"sources[0] (Bevy).name", `"Bevy"`, "lower-case"}},
	{"slash in a source name", lines(
		"sources:",
		"  - name: a/b",
		"    verify: {scheme: none}",
	), []string{"sources[0] (a/b).name", "lower-case"}},
	{"source name too long", lines(
		"sources:",
		"  - name: "+strings.Repeat("a", 64),
		"    verify: {scheme: none}",
	), []string{".name", "at most 63"}},
	{"source name starting with -", lines(
		"sources:",
		"  - name: -a",
		"    verify: {scheme: none}",
	), []string{"sources[0] (-a).name", "starting with a letter or digit"}},
	{"max_body_bytes negative", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    max_body_bytes: -1",
	), []string{"sources[0] (a).max_body_bytes", "-1: want 1 to 16777216"}},
	{"max_body_bytes too large", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    max_body_bytes: 16777217",
	), []string{"sources[0] (a).max_body_bytes", "16777217: want 1 to 16777216"}},
	{"rps zero", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 0, burst: 5}",
	), []string{"sources[0] (a).rate_limit.rps", "positive"}},
	{"rps negative", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: -1}",
	), []string{"sources[0] (a).rate_limit.rps", "positive"}},
	{"rps not a number", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: .nan}",
	), []string{"sources[0] (a).rate_limit.rps", "positive"}},
	{"rps infinite", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: .inf}",
	), []string{"sources[0] (a).rate_limit.rps", "positive"}},
	{"burst negative", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 1, burst: -1}",
	), []string{"sources[0] (a).rate_limit.burst", "negative"}},
	{"idempotency header and json", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    idempotency: {header: webhook-id, json: /id}",
	), []string{"sources[0] (a).idempotency", "exactly one of header", "or json"}},
	{"idempotency neither", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    idempotency: {}",
	), []string{"sources[0] (a).idempotency", "exactly one of header"}},
	{"idempotency pointer without /", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    idempotency: {json: id}",
	), []string{"sources[0] (a).idempotency.json", `"id"`, "starts with /"}},
	{"idempotency pointer with a bad escape", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    idempotency: {json: /a~2b}",
	), []string{"sources[0] (a).idempotency.json", `"/a~2b"`, "~ is followed by 0"}},
	{"idempotency header not a token", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    idempotency: {header: 'webhook id'}",
	), []string{"sources[0] (a).idempotency.header", `"webhook id" is not a header name`}},
	{"idempotency header with punctuation", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    idempotency: {header: 'webhook-id,'}",
	), []string{"sources[0] (a).idempotency.header", "is not a header name"}},
	{"required pointer without /", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    required:",
		"      - {pointer: /ok}",
		"      - {pointer: data.id}",
	), []string{"sources[0] (a).required[1].pointer", `"data.id"`, "starts with /"}},
	{"required pointer ending in ~", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    required: [{pointer: /a~}]",
	), []string{"sources[0] (a).required[0].pointer", "~ is followed by 0"}},
	{"unknown required type", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    required: [{pointer: /id, type: str}]",
	), []string{"sources[0] (a).required[0].type", `"str"`, "one of string, number, integer, boolean, object, array, null"}},
	{"required fields without JSON", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    content_types: [text/plain, application/x-www-form-urlencoded]",
		"    required: [{pointer: /id}]",
	), []string{"sources[0] (a).required", "application/json among content_types"}},
	{"content type without subtype", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    content_types: [application/json, json]",
	), []string{"sources[0] (a).content_types[1]", `"json" is not a media type`}},
	{"content type with parameters", lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: none}",
		"    content_types: ['application/json; charset=utf-8']",
	), []string{"sources[0] (a).content_types[0]", "is not a media type"}},

	// Endpoints.
	{"endpoint URL not http", lines(
		"endpoints:",
		"  - name: orders",
		"    url: ftp://orders.example/hook",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (orders).url", `"ftp://orders.example/hook"`, "http:// or https://"}},
	{"endpoint URL relative", lines(
		"endpoints:",
		"  - name: orders",
		"    url: /hook",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (orders).url", "absolute http:// or https://"}},
	{"endpoint URL without host name", lines(
		"endpoints:",
		"  - name: orders",
		"    url: http://:8080/hook",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (orders).url", "absolute http:// or https://"}},
	{"endpoint URL unparsable", lines(
		"endpoints:",
		"  - name: orders",
		"    url: 'https://orders example/%zz'",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (orders).url", "absolute http:// or https://"}},
	{"endpoint URL with credentials", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://user:pass@orders.example/hook",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (orders).url", "credentials in the URL"}},
	{"endpoint URL missing", lines(
		"endpoints:",
		"  - name: orders",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (orders).url: required"}},
	{"endpoint secret missing", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
	), []string{"endpoints[0] (orders).secret", "required", "signs every delivery"}},
	{"endpoint secret too short", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: fifteen-chars-x",
	), []string{"endpoints[0] (orders).secrets[0]", "too short", "16 characters"}},
	{"endpoint whsec_ secret not base64", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: whsec_this-is-not-base64-at-all",
	), []string{"endpoints[0] (orders).secrets[0]", `"whsec_" secret is followed by the base64 of at least 16 bytes`}},
	{"endpoint whsec_ key too short", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: whsec_OGJ5dGVzISE=",
	), []string{"endpoints[0] (orders).secrets[0]", "at least 16 bytes"}},
	{"endpoint secret with a newline", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: |",
		"      a-secret-read-from-a-file",
	), []string{"endpoints[0] (orders).secrets[0]", "stray newline"}},
	{"endpoint whsec_ secret with a line break", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		`    secret: "whsec_MDEyMzQ1Njc4OWFi\nY2RlZjAxMjM0NTY3ODlhYmNkZWY="`,
	), []string{"endpoints[0] (orders).secrets[0]", "control character"}},
	{"endpoint secret and secrets", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    secrets: ["+epSecret+"]",
	), []string{"endpoints[0] (orders): use secret or secrets, not both"}},
	{"endpoint with three secrets", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secrets: ["+epSecret+", "+epSecret+", "+epSecret+"]",
	), []string{"endpoints[0] (orders).secrets", "at most 2"}},
	{"timeout too long", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    timeout: 6m",
	), []string{"endpoints[0] (orders).timeout", "6m0s", "at most 5m"}},
	{"timeout negative", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    timeout: -1s",
	), []string{"endpoints[0] (orders).timeout", "-1s", "more than 0"}},
	{"two retry kinds", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {preset: bevy, schedule: [1m]}",
	), []string{"endpoints[0] (orders).retry", "set one of preset, schedule or exponential"}},
	{"unknown preset", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {preset: fast}",
	), []string{"endpoints[0] (orders).retry.preset", `"fast"`, "bevy, dispatched, standard-webhooks"}},
	{"schedule step not positive", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {schedule: [1m, 0s]}",
	), []string{"endpoints[0] (orders).retry.schedule[1]", "positive"}},
	{"exponential without initial and window", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {exponential: {factor: 3}}",
	), []string{"endpoints[0] (orders).retry.exponential.initial", "endpoints[0] (orders).retry.exponential.window"}},
	{"exponential factor out of range", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {exponential: {initial: 1s, window: 1h, factor: 11, max: -1s}}",
	), []string{"endpoints[0] (orders).retry.exponential.factor", "11: want 1 to 10", "retry.exponential.max"}},
	{"exponential factor not a number", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    retry: {exponential: {initial: 1s, window: 1h, factor: .nan}}",
	), []string{"endpoints[0] (orders).retry.exponential.factor", "want 1 to 10"}},
	{"bulk max_records 0", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    bulk: {max_records: 0, max_wait: 1s}",
	), []string{"endpoints[0] (orders).bulk.max_records", "0: want 1 to 500"}},
	{"bulk max_records 501", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    bulk: {max_records: 501}",
	), []string{"endpoints[0] (orders).bulk.max_records", "501: want 1 to 500"}},
	{"bulk max_wait negative", lines(
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    bulk: {max_records: 5, max_wait: -1s}",
	), []string{"endpoints[0] (orders).bulk.max_wait", "want 0 to 1m0s"}},
	{"duplicate endpoint", orders + lines(
		"  - name: orders",
		"    url: https://other.example/hook",
		"    secret: "+epSecret,
	), []string{"endpoints[1] (orders).name", `"orders" is declared twice`}},
	{"endpoint without a name", lines(
		"endpoints:",
		"  - url: https://orders.example/hook",
		"    secret: "+epSecret,
	), []string{"endpoints[0].name: required"}},
	{"endpoint name with a space", lines(
		"endpoints:",
		"  - name: my orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
	), []string{"endpoints[0] (my orders).name", "lower-case"}},
	{"retry_only_unanswered with retry_client_errors", orders + lines(
		"    retry_client_errors: true",
		"    retry_only_unanswered: true",
	), []string{"endpoints[0] (orders).retry_only_unanswered", "cannot be set with retry_client_errors"}},
	{"default_endpoint undeclared", "default_endpoint: ghost\n" + orders,
		[]string{`default_endpoint: endpoint "ghost" is not declared under endpoints`}},
}

// TestParseFileRetryOnlyUnanswered: the outcome policy of senders that
// treat every answer as acknowledged reaches the endpoint's spec.
func TestParseFileRetryOnlyUnanswered(t *testing.T) {
	f, err := ParseFile([]byte(orders+"    retry_only_unanswered: true\n"), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if spec := f.Endpoints[0].Spec(); !spec.RetryOnlyUnanswered || spec.RetryClientErrors {
		t.Errorf("spec = %+v, want RetryOnlyUnanswered only", spec)
	}
}

func TestParseFileErrors(t *testing.T) {
	env := mapEnv(map[string]string{"WORD": "fast", "RATE": "5"})
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tc.yaml), env)
			checkErr(t, err, tc.want...)
			if f != nil {
				t.Errorf("ParseFile returned %+v with its error", f)
			}
		})
	}
}

// TestParseFileManyErrors: validation reports every problem, not only the
// first, so that one run fixes a whole file.
func TestParseFileManyErrors(t *testing.T) {
	_, err := ParseFile([]byte(lines(
		"sources:",
		"  - name: Bad",
		"    verify: {scheme: nope}",
		"    max_body_bytes: -5",
		"    routes: [ghost]",
		"  - name: b",
		"    verify: {scheme: none}",
		"    rate_limit: {rps: 0}",
		"default_endpoint: missing",
		"endpoints:",
		"  - name: e",
		"    url: ftp://x",
		"    timeout: 10m",
		"    bulk: {max_records: 0}",
	)), mapEnv(nil))
	want := []string{
		`endpoints[0] (e).url: "ftp://x": want an absolute http:// or https:// URL`,
		"endpoints[0] (e).secret: required: it signs every delivery (Authorization: Bearer and webhook-signature)",
		"endpoints[0] (e).timeout: 10m0s: want more than 0 and at most 5m",
		"endpoints[0] (e).bulk.max_records: 0: want 1 to 500",
		`sources[0] (Bad).name: "Bad": use lower-case letters, digits, - and _ (at most 63, starting with a letter or digit)`,
		`sources[0] (Bad).verify: unknown scheme "nope"; one of: none, bearer, standard-webhooks, github, stripe, hmac, basic`,
		"sources[0] (Bad).max_body_bytes: -5: want 1 to 16777216",
		`sources[0] (Bad).routes[0]: endpoint "ghost" is not declared under endpoints`,
		"sources[1] (b).rate_limit.rps: must be a positive number of requests a second",
		`default_endpoint: endpoint "missing" is not declared under endpoints`,
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("ParseFile = %v, want errors joined with errors.Join", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestParseFileKeyErrorsTogether: unknown keys and values of the wrong
// type are all reported too, each with its line.
func TestParseFileKeyErrorsTogether(t *testing.T) {
	_, err := ParseFile([]byte(lines(
		"sources:",
		"  - name: a",
		"    verfy: {scheme: none}",
		"    max_body_bytes: big",
		"endpoints:",
		"  - name: e",
		"    timeout: soon",
		"    urll: https://e.example",
	)), mapEnv(nil))
	checkErr(t, err,
		`line 3: sources[0]: unknown key "verfy"`,
		`line 4: sources[0].max_body_bytes: "big" is not a whole number`,
		`line 7: endpoints[0].timeout: "soon" is not a duration`,
		`line 8: endpoints[0]: unknown key "urll"`,
	)
}

// TestParseFileAnchors: YAML anchors, aliases and merge keys work, and what
// they bring in is checked like the rest.
func TestParseFileAnchors(t *testing.T) {
	f, err := ParseFile([]byte(lines(
		"sources:",
		"  - name: a",
		"    verify: &verify {scheme: bearer, secret: shared-secret}",
		"    routes: &routes [orders, audit]",
		"  - name: b",
		"    verify: *verify",
		"    routes: *routes",
		"endpoints:",
		"  - &endpoint",
		"    name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    timeout: 10s",
		"  - <<: *endpoint",
		"    name: audit",
		"    url: https://audit.example/hook",
	)), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range f.Sources {
		if s.Verify.Secret != "shared-secret" || len(s.Routes) != 2 {
			t.Errorf("sources[%d] = %+v, want the shared verify and routes", i, s)
		}
	}
	want := Endpoint{
		Name: "audit", URL: "https://audit.example/hook", Secret: epSecret, Timeout: Duration(10 * time.Second),
	}
	if diff := cmp.Diff(want, f.Endpoints[1], ignoreSpecs); diff != "" {
		t.Errorf("merged endpoint (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key in a merged mapping", lines(
			"endpoints:",
			"  - <<: {name: a, url: 'https://a.example', secret: "+epSecret+", retries: 3}",
		), []string{"line 2", "endpoints[0]", `unknown key "retries"`}},
		{"alias of the wrong shape", lines(
			"sources:",
			"  - name: a",
			"    verify: {scheme: none}",
			"    routes: &r [x]",
			"  - name: b",
			"    verify: *r",
		), []string{"sources[1].verify", "want a mapping"}},
		{"alias of a bad duration", lines(
			"endpoints:",
			"  - name: a",
			"    url: https://a.example",
			"    secret: "+epSecret,
			"    retry: {schedule: [&d 1 minute]}",
			"    timeout: *d",
		), []string{"line 5", `"1 minute" is not a duration`}},
		{"alias cycle", lines(
			"sources: &s [*s]",
		), []string{"sources[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.yaml), mapEnv(nil))
			checkErr(t, err, tc.want...)
		})
	}
}

// TestParseFileSecondDocumentMarker: a trailing --- with nothing after it
// declares nothing more and is accepted.
func TestParseFileSecondDocumentMarker(t *testing.T) {
	f, err := ParseFile([]byte(orders+"---\n"), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Endpoints) != 1 {
		t.Errorf("got %d endpoints, want 1", len(f.Endpoints))
	}
}

// TestSourceSpecSecrets: secret wins over secrets (validation refuses
// both), and every verify field is passed on.
func TestSourceSpecSecrets(t *testing.T) {
	s := Source{Verify: Verify{
		Scheme: "hmac", Secret: "s1", Header: "X-Sig", Algorithm: "sha1", Encoding: "base64", Prefix: "sha1=",
	}}
	got := s.toSpec()
	if got.Scheme != "hmac" || len(got.Secrets) != 1 || got.Secrets[0] != "s1" || got.Header != "X-Sig" ||
		got.Algorithm != "sha1" || got.Encoding != "base64" || got.Prefix != "sha1=" {
		t.Errorf("toSpec() = %+v", got)
	}
	s.Verify.Secret, s.Verify.Secrets, s.Verify.Tolerance = "", []string{"a", "b"}, Duration(time.Minute)
	if got := s.toSpec(); !cmp.Equal(got.Secrets, []string{"a", "b"}) || got.Tolerance != time.Minute {
		t.Errorf("toSpec() secrets, tolerance = %q, %v, want [a b], 1m", got.Secrets, got.Tolerance)
	}
}
