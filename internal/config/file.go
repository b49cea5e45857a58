package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/specs"
	"github.com/dispatchd/dispatchd/internal/verify"
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

	// spec and verifier are what validation made of the source.
	spec     job.SourceSpec
	verifier verify.Verifier
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

	// spec is what validation made of the endpoint.
	spec job.EndpointSpec
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
		if err := job.CheckName(e.Name); err != nil {
			add(p+".name", "%v", err)
		} else if endpoints[e.Name] {
			add(p+".name", "%q is declared twice", e.Name)
		}
		endpoints[e.Name] = true
		errs = append(errs, e.validate(p)...)
	}

	sources := map[string]bool{}
	for i := range f.Sources {
		s := &f.Sources[i]
		p := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" {
			p += " (" + s.Name + ")"
		}
		if err := job.CheckName(s.Name); err != nil {
			add(p+".name", "%v", err)
		} else if sources[s.Name] {
			add(p+".name", "%q is declared twice", s.Name)
		}
		sources[s.Name] = true
		errs = append(errs, s.validate(p, endpoints)...)
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

// joined returns the errors err joins, so that the file's errors stay one
// flat list.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

func (s *Source) validate(p string, endpoints map[string]bool) []error {
	var errs []error
	if len(s.Verify.Secrets) > 0 && s.Verify.Secret != "" {
		errs = append(errs, fmt.Errorf("%s.verify: use secret or secrets, not both", p))
	}
	sp := s.toSpec()
	v, err := specs.Source(&sp, p, func(name string) error {
		if !endpoints[name] {
			return fmt.Errorf("endpoint %q is not declared under endpoints", name)
		}
		return nil
	})
	s.spec, s.verifier = sp, v
	return append(errs, joined(err)...)
}

// Spec returns the source as the domain stores it, defaults applied. Call
// it on a validated file.
func (s *Source) Spec() job.SourceSpec { return s.spec }

// Verifier returns the verifier that validating the source built; hand it
// on rather than build another.
func (s *Source) Verifier() verify.Verifier { return s.verifier }

// toSpec writes the file's source in the domain's shape, as it is.
func (s *Source) toSpec() job.SourceSpec {
	secrets := s.Verify.Secrets
	if s.Verify.Secret != "" {
		secrets = []string{s.Verify.Secret}
	}
	sp := job.SourceSpec{
		Name:         s.Name,
		Scheme:       s.Verify.Scheme,
		Secrets:      secrets,
		Header:       s.Verify.Header,
		Algorithm:    s.Verify.Algorithm,
		Encoding:     s.Verify.Encoding,
		Prefix:       s.Verify.Prefix,
		Tolerance:    time.Duration(s.Verify.Tolerance),
		PublicKey:    s.Verify.PublicKey,
		MaxBodyBytes: s.MaxBodyBytes,
		DeliveryID:   valueRef(s.Idempotency),
		CoalesceKey:  valueRef(s.CoalesceKey),
		OrderingKey:  valueRef(s.OrderingKey),
		ContentTypes: slices.Clone(s.ContentTypes),
		EventType:    valueRef(s.EventType),
	}
	sp.Routes, sp.RouteRules = s.Routes.split()
	if rl := s.RateLimit; rl != nil {
		sp.RateLimit = &job.RateLimitSpec{RPS: rl.RPS, Burst: rl.Burst}
	}
	for _, r := range s.Required {
		sp.Required = append(sp.Required, job.RequiredField{Pointer: r.Pointer, Type: r.Type})
	}
	return sp
}

func valueRef(r *Idempotency) *job.ValueRef {
	if r == nil {
		return nil
	}
	return &job.ValueRef{Header: r.Header, JSON: r.JSON}
}

func (e *Endpoint) validate(p string) []error {
	var errs []error
	if e.Secret != "" && len(e.Secrets) > 0 {
		errs = append(errs, fmt.Errorf("%s: use secret or secrets, not both", p))
	}
	sp := e.toSpec()
	err := specs.Endpoint(&sp, p)
	e.spec = sp
	return append(errs, joined(err)...)
}

// Spec returns the endpoint as the domain stores it, defaults applied.
// Call it on a validated file.
func (e *Endpoint) Spec() job.EndpointSpec { return e.spec }

// toSpec writes the file's endpoint in the domain's shape, as it is.
func (e *Endpoint) toSpec() job.EndpointSpec {
	secrets := e.Secrets
	if e.Secret != "" {
		secrets = []string{e.Secret}
	}
	sp := job.EndpointSpec{
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
		sp.Egress.ClientCertFile, sp.Egress.ClientKeyFile, sp.Egress.CAFile = t.ClientCertFile, t.ClientKeyFile, t.CAFile
	}
	if o := e.OAuth2; o != nil {
		sp.Egress.OAuth2 = &job.OAuth2Spec{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes}
	}
	for _, d := range e.Retry.Schedule {
		sp.Retry.Schedule = append(sp.Retry.Schedule, time.Duration(d))
	}
	if x := e.Retry.Exponential; x != nil {
		sp.Retry.Exponential = &job.ExponentialSpec{
			Initial: time.Duration(x.Initial), Factor: x.Factor, Max: time.Duration(x.Max), Window: time.Duration(x.Window),
		}
	}
	if b := e.Bulk; b != nil {
		sp.Bulk = &job.BulkSpec{MaxRecords: b.MaxRecords, MaxWait: time.Duration(b.MaxWait)}
	}
	if rl := e.RateLimit; rl != nil {
		sp.RateLimit = &job.RateLimitSpec{RPS: rl.RPS, Burst: rl.Burst}
	}
	return sp
}
