package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/jsonpointer"
	"github.com/dispatchd/dispatchd/internal/retry"
	"github.com/dispatchd/dispatchd/internal/specs"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// Fuzz targets assert properties, not only the absence of panics: what
// parseDotEnv accepts writes back and reads the same; what ParseFile
// accepts satisfies every rule validation states; ${VAR} expansion agrees
// with a reference implementation.

func FuzzParseDotEnv(f *testing.F) {
	for _, s := range []string{
		"",
		"A=1\n",
		"# comment\n\nexport A=1\nB = ' two '\nC=\"three\"\r\n",
		"A=\"unterminated\nB='\n",
		"\uFEFFA=1\n",
		"A=x=y # not a comment\n",
		"export =1\n",
		"export export=1\n",
		"1A=1\n",
		"A\tB=1\n",
		"A=\"\"\"\n",
		"A=1\rB=2\n",
		"=\n",
		"JUSTAWORD",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseDotEnv(strings.NewReader(in))
		if err != nil {
			if got != nil {
				t.Fatalf("parseDotEnv returned %v with error %v", got, err)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not start with its line number", err)
			}
			return
		}
		for k, v := range got {
			if !envName.MatchString(k) {
				t.Fatalf("accepted key %q, which is not a variable name", k)
			}
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("value of %s holds a line break: %q", k, v)
			}
		}

		// Every value written back in double quotes reads the same.
		var quoted, plain strings.Builder
		plainMap := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			v := got[k]
			quoted.WriteString("export " + k + "=\"" + v + "\"\n")
			// Unquoted, a value keeps its form unless it has surrounding
			// spaces or is wrapped in a pair of quotes itself.
			if strings.TrimSpace(v) == v && !(len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]) {
				plain.WriteString(k + "=" + v + "\n")
				plainMap[k] = v
			}
		}
		for _, tc := range []struct {
			name, text string
			want       map[string]string
		}{{"quoted", quoted.String(), got}, {"plain", plain.String(), plainMap}} {
			again, err := parseDotEnv(strings.NewReader(tc.text))
			if err != nil {
				t.Fatalf("%s write-back %q: %v", tc.name, tc.text, err)
			}
			if diff := cmp.Diff(tc.want, again); diff != "" {
				t.Fatalf("%s write-back %q (-want +got):\n%s", tc.name, tc.text, diff)
			}
		}
	})
}

// parseURL checks an endpoint URL as validation promises: absolute
// http or https, a host name, no credentials.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q", u.Scheme)
	case u.Hostname() == "":
		return nil, errors.New("no host name")
	case u.User != nil:
		return nil, errors.New("credentials")
	}
	return u, nil
}

// fuzzEnv is the environment of FuzzParseFile.
var fuzzEnv = mapEnv(map[string]string{
	"WORD":   "fast",
	"RATE":   "5",
	"SECRET": "from-the-environment",
	"WHSEC":  epSecret,
	"EMPTY":  "",
})

func FuzzParseFile(f *testing.F) {
	if data, err := os.ReadFile("../../examples/dispatchd.yaml"); err == nil {
		f.Add(data)
	} else {
		f.Fatal(err)
	}
	for _, tc := range badFiles {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte(orders + lines(
		"  - <<: *x",
		"    name: b",
	)))
	f.Add([]byte(lines(
		"sources:",
		"  - name: a",
		"    verify: {scheme: bearer, secret: '${SECRET}'}",
		"    rate_limit:",
		"      rps: ${RATE}",
		"    idempotency: {json: /data/id~1x}",
		"    required: [{pointer: /a, type: integer}]",
		"    content_types: [APPLICATION/JSON]",
		"    routes: [e]",
		"endpoints:",
		"  - &e",
		"    name: e",
		"    url: http://[::1]:80/",
		"    secrets: ['${WHSEC}', '0123456789abcdef']",
		"    retry: {exponential: {initial: 1s, window: 1h, max: 1m, factor: 1.5}}",
		"    bulk: {max_records: 1, max_wait: 0s}",
		"  - <<: *e",
		"    name: f",
		"default_endpoint: f",
	)))

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data, fuzzEnv)
		if err != nil {
			if file != nil {
				t.Fatalf("ParseFile returned a file with error %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkValid(t, file)

		// Parsing is deterministic, and validation has nothing left to do
		// or to change on a parsed file.
		again, err := ParseFile(data, fuzzEnv)
		if err != nil {
			t.Fatalf("second ParseFile: %v", err)
		}
		if err := again.validate(); err != nil {
			t.Fatalf("validate on a parsed file: %v", err)
		}
		if diff := cmp.Diff(file, again, ignoreSpecs); diff != "" {
			t.Fatalf("validate changed a parsed file (-first +validated again):\n%s", diff)
		}
		for i := range file.Sources {
			if diff := cmp.Diff(file.Sources[i].Spec(), again.Sources[i].Spec()); diff != "" {
				t.Fatalf("sources[%d]: validating again changed the spec (-first +again):\n%s", i, diff)
			}
		}
		for i := range file.Endpoints {
			if diff := cmp.Diff(file.Endpoints[i].Spec(), again.Endpoints[i].Spec()); diff != "" {
				t.Fatalf("endpoints[%d]: validating again changed the spec (-first +again):\n%s", i, diff)
			}
		}
	})
}

// checkValid fails unless f keeps every rule validation states.
func checkValid(t *testing.T, f *File) {
	t.Helper()
	endpoints := map[string]bool{}
	for i, e := range f.Endpoints {
		if job.CheckName(e.Name) != nil || endpoints[e.Name] {
			t.Fatalf("endpoints[%d]: name %q invalid or declared twice", i, e.Name)
		}
		endpoints[e.Name] = true
		if _, err := parseURL(e.URL); err != nil {
			t.Fatalf("endpoints[%d]: url %q: %v", i, e.URL, err)
		}
		if e.Secret != "" && len(e.Secrets) > 0 {
			t.Fatalf("endpoints[%d]: secret and secrets", i)
		}
		sp := e.Spec()
		secrets := sp.Secrets
		if len(secrets) < 1 || len(secrets) > 2 {
			t.Fatalf("endpoints[%d]: %d secrets", i, len(secrets))
		}
		for _, s := range secrets {
			if len(s) < 16 || strings.TrimSpace(s) != s || strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("endpoints[%d]: secret %q accepted", i, s)
			}
		}
		if d := sp.Timeout; d <= 0 || d > 5*time.Minute {
			t.Fatalf("endpoints[%d]: timeout %v", i, d)
		}
		kinds := 0
		for _, b := range []bool{sp.Retry.Preset != "", len(sp.Retry.Schedule) > 0, sp.Retry.Exponential != nil} {
			if b {
				kinds++
			}
		}
		if kinds > 1 || (sp.Retry.Preset != "" && !slices.Contains(retry.Presets, sp.Retry.Preset)) {
			t.Fatalf("endpoints[%d]: retry %+v", i, sp.Retry)
		}
		for _, d := range sp.Retry.Schedule {
			if d <= 0 {
				t.Fatalf("endpoints[%d]: schedule step %v", i, d)
			}
		}
		if x := sp.Retry.Exponential; x != nil && (x.Initial <= 0 || x.Window <= 0 || x.Max < 0 || !(x.Factor >= 1 && x.Factor <= 10)) {
			t.Fatalf("endpoints[%d]: exponential %+v", i, *x)
		}
		if b := sp.Bulk; b != nil && (b.MaxRecords < 1 || b.MaxRecords > job.MaxBulkRecords || b.MaxWait < 0) {
			t.Fatalf("endpoints[%d]: bulk %+v", i, *b)
		}
	}

	sources := map[string]bool{}
	for i, s := range f.Sources {
		if job.CheckName(s.Name) != nil || sources[s.Name] {
			t.Fatalf("sources[%d]: name %q invalid or declared twice", i, s.Name)
		}
		sources[s.Name] = true
		sp := s.Spec()
		if sp.MaxBodyBytes < 1 || sp.MaxBodyBytes > job.MaxMaxBodyBytes {
			t.Fatalf("sources[%d]: max_body_bytes %d", i, sp.MaxBodyBytes)
		}
		if len(sp.ContentTypes) == 0 {
			t.Fatalf("sources[%d]: no content types", i)
		}
		for _, ct := range sp.ContentTypes {
			if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != ct || len(params) > 0 || !strings.Contains(ct, "/") {
				t.Fatalf("sources[%d]: content type %q", i, ct)
			}
		}
		if len(sp.Required) > 0 && !slices.Contains(sp.ContentTypes, "application/json") {
			t.Fatalf("sources[%d]: required fields without application/json", i)
		}
		for _, r := range sp.Required {
			if !fieldPointer(r.Pointer) || (r.Type != "" && !slices.Contains(specs.JSONTypes, r.Type)) {
				t.Fatalf("sources[%d]: required %+v", i, r)
			}
		}
		if s.Verifier() == nil {
			t.Fatalf("sources[%d]: validated without a verifier", i)
		}
		if _, err := verify.New(specs.VerifyConfig(sp)); err != nil {
			t.Fatalf("sources[%d]: verify.New: %v", i, err)
		}
		if s.Verify.Secret != "" && len(s.Verify.Secrets) > 0 {
			t.Fatalf("sources[%d]: secret and secrets", i)
		}
		if rl := sp.RateLimit; rl != nil && (!(rl.RPS > 0) || math.IsInf(rl.RPS, 0) || rl.Burst < 1) {
			t.Fatalf("sources[%d]: rate limit %+v", i, *rl)
		}
		if id := sp.DeliveryID; id != nil {
			if (id.Header == "") == (id.JSON == "") ||
				(id.JSON != "" && !fieldPointer(id.JSON)) ||
				(id.Header != "" && !httpguts.ValidHeaderFieldName(id.Header)) {
				t.Fatalf("sources[%d]: idempotency %+v", i, *id)
			}
		}
		for j, r := range s.Routes {
			if !r.Subscribers && !endpoints[r.Endpoint] {
				t.Fatalf("sources[%d].routes[%d]: %q is not a declared endpoint", i, j, r.Endpoint)
			}
		}
	}
	if f.DefaultEndpoint != "" && !endpoints[f.DefaultEndpoint] {
		t.Fatalf("default_endpoint %q is not declared", f.DefaultEndpoint)
	}
}

// fieldPointer reports whether p is a JSON pointer to a field of a body.
func fieldPointer(p string) bool {
	_, err := jsonpointer.Parse(p)
	return p != "" && err == nil
}

// FuzzExpand checks ${VAR} and ${VAR:-default} against refExpand, through
// ParseFile: into a string (the secret of a source) and into a number
// (rps, quoted and not).
func FuzzExpand(f *testing.F) {
	for _, s := range [][2]string{
		{"${V}", "a-secret-value"},
		{"pre-${V}-post", "x"},
		{"${V:-a-default-value}", ""},
		{"${UNSET:-a-default-value}", "x"},
		{"${UNSET}", "x"},
		{"${V}${V}${W}", "0123456789"},
		{"${V:-}", "${V}"},
		{"${A:-${V}}", "nested"},
		{"$${V}", " padded "},
		{"${1V}${V", "null"},
		{"${V}", "2.5"},
		{"${V}", "1e3"},
		{"${V}", "true"},
		{"${V}", "~"},
	} {
		f.Add(s[0], s[1])
	}
	numeric := regexp.MustCompile(`^[1-9][0-9]{0,8}(\.[0-9]{1,6})?$`)
	f.Fuzz(func(t *testing.T, tmpl, val string) {
		if !utf8.ValidString(tmpl) || !utf8.ValidString(val) {
			return // YAML holds text
		}
		envMap := map[string]string{"V": val, "W": "w-value"}
		env := mapEnv(envMap)

		// Into a string. yaml.Marshal quotes tmpl as YAML needs.
		doc := map[string]any{"sources": []any{map[string]any{
			"name":   "a",
			"verify": map[string]any{"scheme": "bearer", "secret": tmpl},
		}}}
		data, err := yaml.Marshal(doc)
		if err != nil {
			return
		}
		var plainDoc struct {
			Sources []struct{ Verify struct{ Secret string } }
		}
		if err := yaml.Unmarshal(data, &plainDoc); err != nil || plainDoc.Sources[0].Verify.Secret != tmpl {
			return // YAML itself does not round-trip this text
		}
		want, missing := refExpand(tmpl, env)
		file, err := ParseFile(data, env)
		switch {
		case missing != "":
			if err == nil {
				t.Fatalf("%q with V=%q: no error, but %s is unset", tmpl, val, missing)
			}
			for _, w := range []string{"environment variable " + missing + " is not set", "sources[0].verify.secret"} {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%q: error %q does not mention %q", tmpl, err, w)
				}
			}
		case err == nil:
			if got := file.Sources[0].Verify.Secret; got != want {
				t.Fatalf("%q with V=%q: secret %q, want %q", tmpl, val, got, want)
			}
		case want != "" && strings.TrimSpace(want) == want:
			t.Fatalf("%q with V=%q expands to the valid secret %q, but: %v", tmpl, val, want, err)
		}

		// Into a number, quoted or not.
		for _, rps := range []string{`"${V}"`, "${V}", "'${V}'"} {
			data := []byte(lines(
				"sources:",
				"  - name: a",
				"    verify: {scheme: none}",
				"    rate_limit:",
				"      rps: "+rps,
			))
			file, err := ParseFile(data, env)
			if err != nil {
				if numeric.MatchString(val) {
					t.Fatalf("rps: %s with V=%q: %v", rps, val, err)
				}
				continue
			}
			got := file.Sources[0].RateLimit.RPS
			if !(got > 0) || math.IsInf(got, 0) {
				t.Fatalf("rps: %s with V=%q: accepted %v", rps, val, got)
			}
			if numeric.MatchString(val) {
				if want, _ := strconv.ParseFloat(val, 64); got != want {
					t.Fatalf("rps: %s with V=%q: %v, want %v", rps, val, got, want)
				}
			}
		}
	})
}

// refExpand is the expansion the package documents, written without a
// regular expression: ${NAME} is the variable's value; ${NAME:-default} is
// the default when the variable is empty or unset; text that is not such a
// reference stays as it is, and a value is never expanded again. missing is
// the first unset variable without a default.
func refExpand(s string, env Env) (out, missing string) {
	var b strings.Builder
	for i := 0; i < len(s); {
		name, def, hasDef, n := parseRef(s[i:])
		if n == 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		i += n
		switch v := env(name); {
		case v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case missing == "":
			missing = name
		}
	}
	return b.String(), missing
}

// parseRef reads a reference at the start of s; n is its length, 0 if s
// does not start with one.
func parseRef(s string) (name, def string, hasDef bool, n int) {
	if !strings.HasPrefix(s, "${") {
		return "", "", false, 0
	}
	j := 2
	for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || j > 2 && '0' <= s[j] && s[j] <= '9') {
		j++
	}
	if j == 2 || j == len(s) {
		return "", "", false, 0
	}
	name = s[2:j]
	if s[j] == '}' {
		return name, "", false, j + 1
	}
	if !strings.HasPrefix(s[j:], ":-") {
		return "", "", false, 0
	}
	end := strings.IndexByte(s[j+2:], '}')
	if end < 0 {
		return "", "", false, 0
	}
	return name, s[j+2 : j+2+end], true, j + 2 + end + 1
}
