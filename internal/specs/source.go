package specs

import (
	"fmt"
	"mime"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// JSONTypes are the values a required field's type takes.
var JSONTypes = []string{"string", "number", "integer", "boolean", "object", "array", "null"}

// Source checks a source's spec, applies the defaults (body limit,
// content types, rate-limit burst) and returns the source's verifier,
// built once: hand it to whatever receives the source's webhooks. routeTo
// says whether a route may name an endpoint (nil for no, the error saying
// why). Errors name the fields under path.
func Source(s *job.SourceSpec, path string, routeTo func(endpoint string) error) (verify.Verifier, error) {
	var ps problems
	v := checkSource(s, path, routeTo, ps.add)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return v, nil
}

// VerifyConfig is how a source's spec authenticates its webhooks.
func VerifyConfig(s job.SourceSpec) verify.Config {
	return verify.Config{
		Scheme: verify.Scheme(s.Scheme), Secrets: s.Secrets, Header: s.Header,
		Algorithm: s.Algorithm, Encoding: s.Encoding, Prefix: s.Prefix, Tolerance: s.Tolerance,
		PublicKey: s.PublicKey, PreviousSecretExpiresAt: s.PreviousSecretExpiresAt,
	}
}

func checkSource(s *job.SourceSpec, p string, routeTo func(string) error, add func(path, format string, args ...any)) verify.Verifier {
	var v verify.Verifier
	if s.Scheme == "" {
		add(p+".verify.scheme", "required; one of %s (none accepts unauthenticated requests)", schemeList())
	} else {
		var err error
		if v, err = verify.New(VerifyConfig(*s)); err != nil {
			add(p+".verify", "%v", err)
		}
	}

	switch {
	case s.MaxBodyBytes == 0:
		s.MaxBodyBytes = job.DefaultMaxBodyBytes
	case s.MaxBodyBytes < 0 || s.MaxBodyBytes > job.MaxMaxBodyBytes:
		add(p+".max_body_bytes", "%d: want 1 to %d", s.MaxBodyBytes, job.MaxMaxBodyBytes)
	}
	checkRateLimit(s.RateLimit, p, "requests", add)
	checkRoutes(s, p, routeTo, add)

	for _, ref := range []struct {
		key string
		ref *job.ValueRef
	}{{"idempotency", s.DeliveryID}, {"coalesce_key", s.CoalesceKey}, {"ordering_key", s.OrderingKey}, {"event_type", s.EventType}} {
		switch r := ref.ref; {
		case r == nil:
		case (r.Header == "") == (r.JSON == ""):
			add(p+"."+ref.key, "set exactly one of header (a request header) or json (a JSON pointer such as /id)")
		case r.JSON != "" && pointerError(r.JSON) != nil:
			add(p+"."+ref.key+".json", "%q: %v, e.g. /id or /data/object/id", r.JSON, pointerError(r.JSON))
		case r.Header != "" && !httpguts.ValidHeaderFieldName(r.Header):
			add(p+"."+ref.key+".header", "%q is not a header name", r.Header)
		}
	}

	if len(s.ContentTypes) == 0 {
		s.ContentTypes = []string{job.DefaultContentType}
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
	if len(s.Required) > 0 && !slices.Contains(s.ContentTypes, job.DefaultContentType) {
		add(p+".required", "required fields need application/json among content_types")
	}
	return v
}

// checkRoutes checks the routes: bare names first, then the routes with
// rules, numbered in that order.
func checkRoutes(s *job.SourceSpec, p string, routeTo func(string) error, add func(path, format string, args ...any)) {
	checkEndpoint := func(rp, name string) {
		if routeTo == nil {
			return
		}
		if err := routeTo(name); err != nil {
			add(rp, "%v", err)
		}
	}
	for i, name := range s.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, i)
		if name == "" {
			add(rp, "set endpoint (a name) or subscribers: true")
			continue
		}
		checkEndpoint(rp, name)
	}
	for j, r := range s.RouteRules {
		rp := fmt.Sprintf("%s.routes[%d]", p, len(s.Routes)+j)
		switch {
		case r.Subscribers && r.Endpoint != "":
			add(rp, "set endpoint or subscribers: true, not both")
		case !r.Subscribers && r.Endpoint == "":
			add(rp, "set endpoint (a name) or subscribers: true")
		case r.Subscribers && r.Transform != "":
			add(rp+".transform", "a route to subscribers takes each subscription's transform; set it on the endpoints")
		case r.Endpoint != "":
			checkEndpoint(rp, r.Endpoint)
		}
		checkCEL(r.Filter, r.Transform, rp, add)
	}
}

func schemeList() string {
	var names []string
	for _, s := range verify.Schemes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
