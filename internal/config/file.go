package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/jsonpointer"
	"github.com/dispatchd/dispatchd/internal/retry"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// Defaults of the declarative file.
const (
	DefaultMaxBodyBytes    = 10240
	MaxMaxBodyBytes        = 16 << 20 // a webhook store is no file upload service
	DefaultEndpointTimeout = 30 * time.Second
	MaxBulkRecords         = 500
	MaxBulkWait            = time.Minute // a batch waits in memory under a lease
	DefaultDisableAfter    = 5 * 24 * time.Hour
	DefaultMaxConcurrency  = 16
	// DefaultMaxPayloadBytes is the payload limit of dispatched jobs, as
	// the Dispatched service has it.
	DefaultMaxPayloadBytes = 10240
)

// File is the declarative configuration: sources that receive webhooks,
// endpoints that jobs are delivered to, and the routes between them.
type File struct {
	Sources []Source `yaml:"sources"`
	// DefaultEndpoint receives the jobs of Dispatched-compatible
	// /api/jobs/dispatch calls whose key names no endpoint.
	DefaultEndpoint string     `yaml:"default_endpoint"`
	Endpoints       []Endpoint `yaml:"endpoints"`
	// OperationalWebhook is where dispatchd tells operators that a job went
	// dead or an endpoint was disabled.
	OperationalWebhook *OperationalWebhook `yaml:"operational_webhook"`
	// Schedules are recurring jobs (schedules.go).
	Schedules []Schedule `yaml:"schedules"`
	// Delivery holds the egress defaults of every endpoint.
	Delivery *DeliveryDefaults `yaml:"delivery"`
	// EventTypes declares event types for the catalog, optionally with a
	// JSON Schema that events of the type must satisfy.
	EventTypes []EventType `yaml:"event_types"`
}

// DeliveryDefaults apply to every endpoint that does not set its own: a
// forward proxy, a CA bundle, and the https-only rule (also set by
// DISPATCHD_HTTPS_ONLY).
type DeliveryDefaults struct {
	Proxy     string `yaml:"proxy"`
	CAFile    string `yaml:"ca_file"`
	HTTPSOnly bool   `yaml:"https_only"`
}

// Egress returns the defaults as the delivery client takes them.
func (d *DeliveryDefaults) Egress() job.EgressSpec {
	if d == nil {
		return job.EgressSpec{}
	}
	return job.EgressSpec{Proxy: d.Proxy, CAFile: d.CAFile, HTTPSOnly: d.HTTPSOnly}
}

// OperationalWebhook is an operator's URL for dispatchd's own events,
// signed like any delivery.
type OperationalWebhook struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// Source is one inbound webhook URL: POST /v1/webhooks/{name}.
type Source struct {
	Name         string       `yaml:"name"`
	Verify       Verify       `yaml:"verify"`
	MaxBodyBytes int64        `yaml:"max_body_bytes"`
	RateLimit    *RateLimit   `yaml:"rate_limit"`
	Idempotency  *Idempotency `yaml:"idempotency"`
	// CoalesceKey: where in each webhook the key is that makes a newer
	// event replace the payload of a still-pending job (per endpoint).
	CoalesceKey *Idempotency `yaml:"coalesce_key"`
	// OrderingKey: where in each webhook the key is whose jobs are
	// delivered one at a time, in order (per endpoint).
	OrderingKey *Idempotency `yaml:"ordering_key"`
	// ContentTypes the source accepts. Default: application/json only, in
	// which case the body must be well-formed UTF-8 JSON. Listing other
	// types accepts their bodies as opaque bytes.
	ContentTypes []string `yaml:"content_types"`
	// Required fields of a JSON body.
	Required []RequiredField `yaml:"required"`
	// Routes are the endpoints that receive a job per event: names, or
	// items with a filter and transformation, or {subscribers: true}.
	Routes Routes `yaml:"routes"`
	// EventType is where each webhook's event type is; absent: the
	// scheme's default (github, stripe, standard-webhooks), else none.
	EventType *Idempotency `yaml:"event_type"`
}

// Verify is how a source's requests are authenticated.
type Verify struct {
	Scheme string `yaml:"scheme"`
	// Secret is the current secret; Secrets may list the current and the
	// previous one during a rotation. Use one or the other.
	Secret    string   `yaml:"secret"`
	Secrets   []string `yaml:"secrets"`
	Header    string   `yaml:"header"`
	Algorithm string   `yaml:"algorithm"`
	Encoding  string   `yaml:"encoding"`
	Prefix    string   `yaml:"prefix"`
	Tolerance Duration `yaml:"tolerance"`
	// PublicKey, "whpk_<base64>", verifies standard-webhooks v1a
	// (ed25519) signatures beside or instead of secret.
	PublicKey string `yaml:"public_key"`
}

// RateLimit is a token bucket: RPS tokens a second, up to Burst at once.
type RateLimit struct {
	RPS   float64 `yaml:"rps"`
	Burst int     `yaml:"burst"`
}

// Idempotency says where a value of each webhook is: a header or a JSON
// pointer into the body. For the delivery id (idempotency), absent means
// the scheme's own id (webhook-id, X-GitHub-Delivery, the Stripe event id);
// sources of other schemes then do not deduplicate.
type Idempotency struct {
	Header string `yaml:"header"`
	JSON   string `yaml:"json"`
}

// RequiredField is a JSON pointer (RFC 6901) that must be present in the
// body, with an optional JSON type.
type RequiredField struct {
	Pointer string `yaml:"pointer"`
	// Type is string, number, integer, boolean, object, array or null;
	// empty accepts any.
	Type string `yaml:"type"`
}

// JSONTypes are the values RequiredField.Type takes.
var JSONTypes = []string{"string", "number", "integer", "boolean", "object", "array", "null"}

// Endpoint is an HTTP destination of jobs.
type Endpoint struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret signs deliveries; Secrets may hold the previous one too during
	// a rotation.
	Secret  string   `yaml:"secret"`
	Secrets []string `yaml:"secrets"`
	Timeout Duration `yaml:"timeout"`
	Retry   Retry    `yaml:"retry"`
	Bulk    *Bulk    `yaml:"bulk"`
	// MaxConcurrency bounds the deliveries in flight per process.
	MaxConcurrency int        `yaml:"max_concurrency"`
	RateLimit      *RateLimit `yaml:"rate_limit"`
	// RetryClientErrors retries 3xx and 4xx answers (but 410) instead of
	// failing the job for good.
	RetryClientErrors bool `yaml:"retry_client_errors"`
	// RetryOnlyUnanswered makes every answer of 400 and over final: only a
	// timeout or a connection error is retried.
	RetryOnlyUnanswered bool `yaml:"retry_only_unanswered"`
	// DisableAfter disables the endpoint when it has failed without a
	// success for this long.
	DisableAfter Duration `yaml:"disable_after"`
	// MaxPayloadBytes bounds the payload of a job dispatched through the
	// API for this endpoint.
	MaxPayloadBytes int `yaml:"max_payload_bytes"`

	// Ed25519Key, "whsk_<base64>", adds a v1a signature.
	Ed25519Key string `yaml:"ed25519_key"`
	// HMAC false drops the v1 signatures; Bearer false drops the
	// Authorization header that carries the secret. Absent means true.
	HMAC   *bool `yaml:"hmac"`
	Bearer *bool `yaml:"bearer"`
	// Proxy is a forward proxy, http://user:pass@host:port.
	Proxy string `yaml:"proxy"`
	// TLS: a client certificate for mTLS, a CA bundle for private
	// endpoints.
	TLS *EndpointTLS `yaml:"tls"`
	// OAuth2 client credentials: the token goes in Authorization.
	OAuth2 *OAuth2 `yaml:"oauth2"`
	// Headers are static headers sent with every delivery.
	Headers map[string]string `yaml:"headers"`
	// HTTPSOnly refuses http:// URLs (but to networks allowed as private).
	HTTPSOnly bool `yaml:"https_only"`

	// EventTypes subscribe the endpoint to published events (and to
	// sources routing to subscribers): patterns such as order.* .
	EventTypes []string `yaml:"event_types"`
	// Filter and Transform are CEL expressions for the subscription.
	Filter    string `yaml:"filter"`
	Transform string `yaml:"transform"`
	// PayloadFormat is envelope (default) or standard-webhooks.
	PayloadFormat string `yaml:"payload_format"`
}

// EndpointTLS are an endpoint's TLS files, all PEM.
type EndpointTLS struct {
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	CAFile         string `yaml:"ca_file"`
}

// OAuth2 is an OAuth2 client-credentials grant.
type OAuth2 struct {
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
}

// Retry is an endpoint's retry schedule: a preset, an explicit schedule or
// exponential backoff.
type Retry struct {
	Preset      string       `yaml:"preset"`
	Schedule    []Duration   `yaml:"schedule"`
	Exponential *Exponential `yaml:"exponential"`
}

// RetryPresets are the named schedules.
var RetryPresets = retry.Presets

// Exponential backoff: Initial, multiplied by Factor after each attempt,
// capped at Max, until Window has passed since the first attempt.
type Exponential struct {
	Initial Duration `yaml:"initial"`
	Factor  float64  `yaml:"factor"`
	Max     Duration `yaml:"max"`
	Window  Duration `yaml:"window"`
}

// Bulk batches up to MaxRecords ready jobs into one POST, waiting at most
// MaxWait for a batch to fill.
type Bulk struct {
	MaxRecords int      `yaml:"max_records"`
	MaxWait    Duration `yaml:"max_wait"`
}

// Duration is a time.Duration written as "30s", "10m", "48h".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

func parseDuration(n *yaml.Node) (Duration, error) {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("%q is not a duration such as 30s, 10m or 48h", n.Value)
	}
	return Duration(v), nil
}

// ParseFile decodes and validates a declarative file, one YAML document.
// ${VAR} and ${VAR:-default} in values expand from env (nil reads as an
// empty environment); an unset variable without a default is an error.
func ParseFile(data []byte, env Env) (*File, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
		return &File{}, nil // an empty file declares nothing
	case err != nil && bytes.Contains(data, []byte("${")):
		// { and } end a flow mapping: {rps: ${RATE}} does not parse.
		return nil, fmt.Errorf("%w (a ${VAR} inside {…} or […] must be quoted: \"${VAR}\")", err)
	case err != nil:
		return nil, err
	}
	// A second document would be silently ignored by Decode.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		return nil, fmt.Errorf("line %d: a second YAML document after ---; declare everything in one", next.Content[0].Line)
	}
	f := &File{}
	if len(root.Content) == 0 {
		return f, nil
	}
	doc := root.Content[0]
	expanded := map[*yaml.Node]bool{}
	if err := expandNode(doc, "", env, expanded); err != nil {
		return nil, err
	}
	c := checker{expanded: expanded, visited: map[visit]bool{}}
	c.check(doc, reflect.TypeOf(File{}), "")
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	if err := doc.Decode(f); err != nil {
		return nil, err
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandNode replaces ${VAR} in every scalar value (never in keys), before
// the values are typed, so "rps: ${RATE}" works too. It records the scalars
// it changed in expanded: the checker gives them the type of their field.
func expandNode(n *yaml.Node, path string, env Env, expanded map[*yaml.Node]bool) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		var missing string
		n.Value = varRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := varRef.FindStringSubmatch(ref)
			if v := env(m[1]); v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			if missing == "" {
				missing = m[1]
			}
			return ""
		})
		if missing != "" {
			return fmt.Errorf("line %d: %s: environment variable %s is not set (use ${%s:-default} for a default)", n.Line, path, missing, missing)
		}
		expanded[n] = true
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expandNode(n.Content[i+1], join(path, n.Content[i].Value), env, expanded); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, elemPath(path, i), env, expanded); err != nil {
				return err
			}
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := expandNode(c, path, env, expanded); err != nil {
				return err
			}
		}
	}
	// An alias's target is expanded where the anchor is.
	return nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checker walks the document along the type it decodes into, so that each
// error names the key path and not only the line: unknown keys (a misspelt
// key silently ignored is a setting silently not applied), keys given
// twice, a list or a mapping where the other belongs, and values of the
// wrong type. Decode reports most of these by line only.
type checker struct {
	expanded map[*yaml.Node]bool
	visited  map[visit]bool // alias targets already checked
	errs     []error
}

type visit struct {
	n *yaml.Node
	t reflect.Type
}

func (c *checker) fail(n *yaml.Node, path, format string, args ...any) {
	if path == "" {
		path = "top level"
	}
	c.errs = append(c.errs, fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, args...)))
}

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		// Check the target once per type: aliases of aliases would
		// otherwise take exponential time, and may form a cycle.
		if n.Alias == nil || c.visited[visit{n.Alias, t}] {
			return
		}
		c.visited[visit{n.Alias, t}] = true
		c.check(n.Alias, t, path)
		return
	}
	// An expanded value is data, not YAML: it takes the type of its field,
	// quoted or not, so "${RATE}" fills a number and ${SECRET} stays a
	// string even if it reads as a number, true or null. Empty, it is
	// absent, as if the key were not there.
	if c.expanded[n] && n.Style&yaml.TaggedStyle == 0 {
		if t.Kind() == reflect.String {
			n.Tag = "!!str"
		} else {
			n.Tag = ""
			n.Style &^= yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
		}
	}
	if isNull(n) {
		return // absent: the zero value
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		if t == reflect.TypeOf(Duration(0)) {
			if _, err := parseDuration(n); err != nil {
				c.fail(n, path, "%v", err)
			}
		}
	case t.Kind() == reflect.Struct:
		c.checkStruct(n, t, path)
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "want a mapping such as {Name: value}")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, path, "want a list, such as [a, b] or lines starting with -")
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), elemPath(path, i))
		}
	default:
		c.checkScalar(n, t, path)
	}
}

func (c *checker) checkStruct(n *yaml.Node, t reflect.Type, path string) {
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type
			names = append(names, tag)
		}
	}
	if n.Kind != yaml.MappingNode {
		c.fail(n, path, "want a mapping with the keys %s", strings.Join(names, ", "))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.ShortTag() == "!!merge" {
			// <<: *anchor or <<: [*a, *b] merges mappings into this one.
			targets := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				targets = val.Content
			}
			for _, m := range targets {
				c.check(m, t, path)
			}
			continue
		}
		ft, ok := fields[key.Value]
		if !ok || key.Kind != yaml.ScalarNode {
			c.fail(key, path, "unknown key %q; allowed keys: %s", key.Value, strings.Join(names, ", "))
			continue
		}
		if line, dup := seen[key.Value]; dup {
			c.fail(key, join(path, key.Value), "given twice (first at line %d)", line)
			continue
		}
		seen[key.Value] = key.Line
		c.check(val, ft, join(path, key.Value))
	}
}

// checkScalar checks a value of a basic type by decoding it.
func (c *checker) checkScalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		c.fail(n, path, "want a single value, not a list or a mapping")
		return
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil && t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && n.ShortTag() == "!!float" {
		// Decode truncates 2.5 to 2 without a word.
		var f float64
		if n.Decode(&f) != nil || f != math.Trunc(f) {
			err = errors.New("not a whole number")
		}
	}
	if err != nil {
		want := "a string"
		switch t.Kind() {
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "a whole number in range"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		}
		c.fail(n, path, "%q is not %s", n.Value, want)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// elemPath is the path of element i of the list at path.
func elemPath(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// names are used in URLs (/v1/webhooks/{source}) and logs.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (f *File) validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}

	endpoints := map[string]bool{}
	for i := range f.Endpoints {
		e := &f.Endpoints[i]
		p := fmt.Sprintf("endpoints[%d]", i)
		if e.Name != "" {
			p += " (" + e.Name + ")"
		}
		switch {
		case e.Name == "":
			add(p+".name", "required")
		case !namePattern.MatchString(e.Name):
			add(p+".name", "%q: use lower-case letters, digits, - and _ (at most 63, starting with a letter or digit)", e.Name)
		case endpoints[e.Name]:
			add(p+".name", "%q is declared twice", e.Name)
		}
		endpoints[e.Name] = true
		e.validate(p, add)
	}

	sources := map[string]bool{}
	for i := range f.Sources {
		s := &f.Sources[i]
		p := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" {
			p += " (" + s.Name + ")"
		}
		switch {
		case s.Name == "":
			add(p+".name", "required")
		case !namePattern.MatchString(s.Name):
			add(p+".name", "%q: use lower-case letters, digits, - and _ (at most 63, starting with a letter or digit)", s.Name)
		case sources[s.Name]:
			add(p+".name", "%q is declared twice", s.Name)
		}
		sources[s.Name] = true
		s.validate(p, add)
		for j, r := range s.Routes {
			if r.Endpoint != "" && !endpoints[r.Endpoint] {
				add(fmt.Sprintf("%s.routes[%d]", p, j), "endpoint %q is not declared under endpoints", r.Endpoint)
			}
		}
	}
	if o := f.OperationalWebhook; o != nil {
		if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			add("operational_webhook.url", "%q: want an absolute http:// or https:// URL", o.URL)
		}
		if len(o.Secret) < 16 {
			add("operational_webhook.secret", "required, at least 16 characters: it signs the notifications")
		}
	}
	f.Delivery.validate(add)
	f.validateSchedules(endpoints, add)
	f.validateEventTypes(add)
	if f.DefaultEndpoint != "" && !endpoints[f.DefaultEndpoint] {
		add("default_endpoint", "endpoint %q is not declared under endpoints", f.DefaultEndpoint)
	}
	return errors.Join(errs...)
}

func (s *Source) validate(p string, add func(path, format string, args ...any)) {
	if len(s.Verify.Secrets) > 0 && s.Verify.Secret != "" {
		add(p+".verify", "use secret or secrets, not both")
	}
	if s.Verify.Scheme == "" {
		add(p+".verify.scheme", "required; one of %s (none accepts unauthenticated requests)", schemeList())
	} else if _, err := verify.New(s.VerifyConfig()); err != nil {
		add(p+".verify", "%v", err)
	}

	switch {
	case s.MaxBodyBytes == 0:
		s.MaxBodyBytes = DefaultMaxBodyBytes
	case s.MaxBodyBytes < 0 || s.MaxBodyBytes > MaxMaxBodyBytes:
		add(p+".max_body_bytes", "%d: want 1 to %d", s.MaxBodyBytes, MaxMaxBodyBytes)
	}

	if rl := s.RateLimit; rl != nil {
		switch {
		case rl.RPS <= 0 || math.IsInf(rl.RPS, 0) || math.IsNaN(rl.RPS):
			add(p+".rate_limit.rps", "must be a positive number of requests a second")
		case rl.Burst < 0:
			add(p+".rate_limit.burst", "must not be negative")
		case rl.Burst == 0:
			// Capped: converting a float beyond the int range is undefined.
			rl.Burst = int(max(1, min(math.Ceil(rl.RPS), math.MaxInt32)))
		}
	}

	s.validateRoutes(p, add)
	for key, ref := range map[string]*Idempotency{"idempotency": s.Idempotency, "coalesce_key": s.CoalesceKey, "ordering_key": s.OrderingKey, "event_type": s.EventType} {
		switch {
		case ref == nil:
		case (ref.Header == "") == (ref.JSON == ""):
			add(p+"."+key, "set exactly one of header (a request header) or json (a JSON pointer such as /id)")
		case ref.JSON != "" && pointerError(ref.JSON) != nil:
			add(p+"."+key+".json", "%q: %v, e.g. /id or /data/object/id", ref.JSON, pointerError(ref.JSON))
		case ref.Header != "" && !validHeaderName(ref.Header):
			add(p+"."+key+".header", "%q is not a header name", ref.Header)
		}
	}

	if len(s.ContentTypes) == 0 {
		s.ContentTypes = []string{"application/json"}
	}
	for i, ct := range s.ContentTypes {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || len(params) > 0 || !strings.Contains(mt, "/") {
			add(fmt.Sprintf("%s.content_types[%d]", p, i), "%q is not a media type such as application/json", ct)
			continue
		}
		s.ContentTypes[i] = mt
	}

	for i, r := range s.Required {
		rp := fmt.Sprintf("%s.required[%d]", p, i)
		if err := pointerError(r.Pointer); err != nil {
			add(rp+".pointer", "%q: %v, e.g. /data/id", r.Pointer, err)
		}
		if r.Type != "" && !slices.Contains(JSONTypes, r.Type) {
			add(rp+".type", "%q: one of %s", r.Type, strings.Join(JSONTypes, ", "))
		}
	}
	if len(s.Required) > 0 && !slices.Contains(s.ContentTypes, "application/json") {
		add(p+".required", "required fields need application/json among content_types")
	}
}

// ValidName reports whether name can name a source or an endpoint.
func ValidName(name string) error {
	if name == "" {
		return errors.New("required")
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q: use lower-case letters, digits, - and _ (at most 63, starting with a letter or digit)", name)
	}
	return nil
}

// ValidateEndpoint checks an endpoint defined through the API by the rules
// of the file, and applies the same defaults. Errors name the fields under
// prefix (e.g. "spec.url").
func ValidateEndpoint(e *Endpoint, prefix string) error {
	var errs []error
	e.validate(prefix, func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	})
	return errors.Join(errs...)
}

// ValidateSource checks a source defined through the API by the rules of
// the file, and applies the same defaults; routes must name endpoints that
// exist. Errors name the fields under prefix.
func ValidateSource(s *Source, prefix string, endpointExists func(string) bool) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	s.validate(prefix, add)
	for i, r := range s.Routes {
		if r.Endpoint != "" && !endpointExists(r.Endpoint) {
			add(fmt.Sprintf("%s.routes[%d]", prefix, i), "endpoint %q does not exist", r.Endpoint)
		}
	}
	return errors.Join(errs...)
}

// Spec returns the source as the domain stores it. Call it on a validated
// file (defaults applied).
func (s *Source) Spec() job.SourceSpec {
	v := s.VerifyConfig()
	spec := job.SourceSpec{
		Name:         s.Name,
		Scheme:       string(v.Scheme),
		Secrets:      v.Secrets,
		Header:       v.Header,
		Algorithm:    v.Algorithm,
		Encoding:     v.Encoding,
		Prefix:       v.Prefix,
		Tolerance:    v.Tolerance,
		PublicKey:    v.PublicKey,
		MaxBodyBytes: s.MaxBodyBytes,
		DeliveryID:   valueRef(s.Idempotency),
		CoalesceKey:  valueRef(s.CoalesceKey),
		OrderingKey:  valueRef(s.OrderingKey),
		ContentTypes: s.ContentTypes,
		EventType:    valueRef(s.EventType),
	}
	spec.Routes, spec.RouteRules = s.Routes.split()
	if rl := s.RateLimit; rl != nil {
		spec.RateLimit = &job.RateLimitSpec{RPS: rl.RPS, Burst: rl.Burst}
	}
	for _, r := range s.Required {
		spec.Required = append(spec.Required, job.RequiredField{Pointer: r.Pointer, Type: r.Type})
	}
	return spec
}

func valueRef(r *Idempotency) *job.ValueRef {
	if r == nil {
		return nil
	}
	return &job.ValueRef{Header: r.Header, JSON: r.JSON}
}

// VerifyConfig returns the source's verification settings.
func (s *Source) VerifyConfig() verify.Config {
	secrets := s.Verify.Secrets
	if s.Verify.Secret != "" {
		secrets = []string{s.Verify.Secret}
	}
	return verify.Config{
		Scheme:    verify.Scheme(s.Verify.Scheme),
		Secrets:   secrets,
		Header:    s.Verify.Header,
		Algorithm: s.Verify.Algorithm,
		Encoding:  s.Verify.Encoding,
		Prefix:    s.Verify.Prefix,
		Tolerance: time.Duration(s.Verify.Tolerance),
		PublicKey: s.Verify.PublicKey,
	}
}

func (e *Endpoint) validate(p string, add func(path, format string, args ...any)) {
	if u, err := url.Parse(e.URL); e.URL == "" {
		add(p+".url", "required")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		add(p+".url", "%q: want an absolute http:// or https:// URL", e.URL)
	} else if u.User != nil {
		add(p+".url", "credentials in the URL would be sent to every redirect and log; use secret")
	}

	secrets := e.Secrets
	switch {
	case e.Secret != "" && len(e.Secrets) > 0:
		add(p, "use secret or secrets, not both")
	case e.Secret != "":
		secrets = []string{e.Secret}
	}
	hmacOn, bearerOn := e.HMAC == nil || *e.HMAC, e.Bearer == nil || *e.Bearer
	switch {
	case len(secrets) == 0 && (hmacOn || (bearerOn && e.OAuth2 == nil)):
		add(p+".secret", "required: it signs every delivery (Authorization: Bearer and webhook-signature)")
	case len(secrets) > 2:
		add(p+".secrets", "at most 2 (current and previous)")
	}
	for i, sec := range secrets {
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
		e.Timeout = Duration(DefaultEndpointTimeout)
	case e.Timeout < 0 || time.Duration(e.Timeout) > 5*time.Minute:
		add(p+".timeout", "%s: want more than 0 and at most 5m", time.Duration(e.Timeout))
	}

	r := e.Retry
	set := 0
	for _, b := range []bool{r.Preset != "", len(r.Schedule) > 0, r.Exponential != nil} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		add(p+".retry", "set one of preset, schedule or exponential")
	case r.Preset != "" && !slices.Contains(RetryPresets, r.Preset):
		add(p+".retry.preset", "%q: one of %s", r.Preset, strings.Join(RetryPresets, ", "))
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

	if b := e.Bulk; b != nil {
		if b.MaxRecords < 1 || b.MaxRecords > MaxBulkRecords {
			add(p+".bulk.max_records", "%d: want 1 to %d", b.MaxRecords, MaxBulkRecords)
		}
		if b.MaxWait < 0 || time.Duration(b.MaxWait) > MaxBulkWait {
			add(p+".bulk.max_wait", "%s: want 0 to %s", time.Duration(b.MaxWait), MaxBulkWait)
		}
	}

	if e.RetryClientErrors && e.RetryOnlyUnanswered {
		add(p+".retry_only_unanswered", "cannot be set with retry_client_errors: one retries client errors, the other no answer at all")
	}
	switch {
	case e.MaxConcurrency == 0:
		e.MaxConcurrency = DefaultMaxConcurrency
	case e.MaxConcurrency < 0 || e.MaxConcurrency > 1000:
		add(p+".max_concurrency", "%d: want 1 to 1000", e.MaxConcurrency)
	}
	if rl := e.RateLimit; rl != nil {
		switch {
		case !(rl.RPS > 0) || math.IsInf(rl.RPS, 0):
			add(p+".rate_limit.rps", "must be a positive number of deliveries a second")
		case rl.Burst < 0:
			add(p+".rate_limit.burst", "must not be negative")
		case rl.Burst == 0:
			rl.Burst = int(max(1, min(math.Ceil(rl.RPS), math.MaxInt32)))
		}
	}
	switch {
	case e.DisableAfter == 0:
		e.DisableAfter = Duration(DefaultDisableAfter)
	case e.DisableAfter < 0:
		add(p+".disable_after", "must be positive")
	}
	e.validateSubscription(p, add)
	switch {
	case e.MaxPayloadBytes == 0:
		e.MaxPayloadBytes = DefaultMaxPayloadBytes
	case e.MaxPayloadBytes < 0 || e.MaxPayloadBytes > MaxMaxBodyBytes:
		add(p+".max_payload_bytes", "%d: want 1 to %d", e.MaxPayloadBytes, MaxMaxBodyBytes)
	}
	e.validateSigning(p, add, hmacOn)
	e.validateEgress(p, add)
}

// Spec returns the endpoint as the domain stores it. Call it on a
// validated file (defaults applied).
func (e *Endpoint) Spec() job.EndpointSpec {
	secrets := e.Secrets
	if e.Secret != "" {
		secrets = []string{e.Secret}
	}
	spec := job.EndpointSpec{
		Name:                e.Name,
		URL:                 e.URL,
		Secrets:             secrets,
		Timeout:             time.Duration(e.Timeout),
		Retry:               job.RetrySpec{Preset: e.Retry.Preset},
		MaxConcurrency:      e.MaxConcurrency,
		RetryClientErrors:   e.RetryClientErrors,
		RetryOnlyUnanswered: e.RetryOnlyUnanswered,
		DisableAfter:        time.Duration(e.DisableAfter),
		MaxPayloadBytes:     e.MaxPayloadBytes,
		EventTypes:          e.EventTypes,
		Filter:              e.Filter,
		Transform:           e.Transform,
		PayloadFormat:       e.PayloadFormat,
		Ed25519Key:          e.Ed25519Key,
		NoHMAC:              e.HMAC != nil && !*e.HMAC,
		NoBearer:            e.Bearer != nil && !*e.Bearer,
		Egress: job.EgressSpec{
			Proxy:     e.Proxy,
			Headers:   e.Headers,
			HTTPSOnly: e.HTTPSOnly,
		},
	}
	if t := e.TLS; t != nil {
		spec.Egress.ClientCertFile, spec.Egress.ClientKeyFile, spec.Egress.CAFile = t.ClientCertFile, t.ClientKeyFile, t.CAFile
	}
	if o := e.OAuth2; o != nil {
		spec.Egress.OAuth2 = &job.OAuth2Spec{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes}
	}
	for _, d := range e.Retry.Schedule {
		spec.Retry.Schedule = append(spec.Retry.Schedule, time.Duration(d))
	}
	if x := e.Retry.Exponential; x != nil {
		spec.Retry.Exponential = &job.ExponentialSpec{
			Initial: time.Duration(x.Initial), Factor: x.Factor, Max: time.Duration(x.Max), Window: time.Duration(x.Window),
		}
	}
	if b := e.Bulk; b != nil {
		spec.Bulk = &job.BulkSpec{MaxRecords: b.MaxRecords, MaxWait: time.Duration(b.MaxWait)}
	}
	if rl := e.RateLimit; rl != nil {
		spec.RateLimit = &job.RateLimitSpec{RPS: rl.RPS, Burst: rl.Burst}
	}
	return spec
}

func schemeList() string {
	var names []string
	for _, s := range verify.Schemes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// validHeaderName reports whether h is a header field name: an RFC 9110
// token.
func validHeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return h != ""
}

// pointerError says what is wrong with a JSON pointer to a field of the
// body (the whole body, "", is not a field).
func pointerError(p string) error {
	if p == "" {
		return errors.New("a JSON pointer starts with /")
	}
	_, err := jsonpointer.Parse(p)
	return err
}
