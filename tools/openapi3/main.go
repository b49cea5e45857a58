// Command openapi3 turns the Swagger 2.0 document protoc-gen-openapiv2
// writes into the OpenAPI 3 document dispatchd serves at /openapi.json.
//
// The conversion itself is kin-openapi's openapi2conv; the rest corrects
// what the proto-derived document gets wrong about the HTTP face, so that
// a client generated from it works:
//
//   - the webhook route takes the provider's raw body (any content type)
//     and headers, not the {body, headers} message the gateway fills;
//   - errors are {code: string, message}, written by the gateway, not
//     google.rpc.Status with an integer code;
//   - API routes need a bearer API key; webhooks authenticate by source;
//   - a real title, a version the server replaces with its build's, and a
//     server.
//
// make generate runs it; the result is checked fresh with the rest of gen/.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// errorCodes are the values of the code field of an error body, as
// internal/job and internal/gateway write them. A test in the main module
// checks this list against job's codes.
var errorCodes = []any{
	"invalid_argument", "payload_too_large", "unauthenticated", "not_found",
	"already_exists", "failed_precondition", "permission_denied",
	"rate_limited", "unavailable", "internal", "method_not_allowed",
}

// versionPlaceholder is info.version in the generated file; the server
// replaces it with its build's version when it serves the document.
const versionPlaceholder = "dev"

func main() {
	in := flag.String("in", "", "Swagger 2.0 input (protoc-gen-openapiv2's)")
	out := flag.String("out", "", "OpenAPI 3 output (JSON)")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi3:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var v2 openapi2.T
	if err := json.Unmarshal(raw, &v2); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := correct(doc); err != nil {
		return err
	}
	b, err := doc.MarshalJSON()
	if err != nil {
		return err
	}
	// Through a generic value: stable key order, reviewable diffs.
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	trimDescriptions(generic)
	pruneSchemas(generic.(map[string]any))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		return err
	}
	// Validate what is written, loaded back so that every reference resolves.
	loader := openapi3.NewLoader()
	written, err := loader.LoadFromData(buf.Bytes())
	if err != nil {
		return fmt.Errorf("load the corrected document: %w", err)
	}
	if err := written.Validate(loader.Context); err != nil {
		return fmt.Errorf("the corrected document is not valid OpenAPI 3: %w", err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// trimDescriptions trims the space protoc-gen-openapiv2 leaves around
// descriptions (an enum's list starts with " - "): it reads badly and
// YAML writers turn it into block scalars some parsers refuse.
func trimDescriptions(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "description" {
				v[k] = strings.TrimSpace(s)
				continue
			}
			trimDescriptions(e)
		}
	case []any:
		for _, e := range v {
			trimDescriptions(e)
		}
	}
}

// pruneSchemas removes the schemas nothing refers to (google.protobuf's
// NullValue, the messages gRPC answers that REST replaces with a field of
// theirs): a generator would make types for nothing (oapi-codegen prunes
// them, and its copy of the document would differ from the served one).
func pruneSchemas(doc map[string]any) {
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	const prefix = "#/components/schemas/"
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if ref, ok := e.(string); ok && k == "$ref" && strings.HasPrefix(ref, prefix) {
					name := strings.TrimPrefix(ref, prefix)
					if !used[name] {
						used[name] = true
						walk(schemas[name])
					}
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for k, v := range doc {
		if k != "components" {
			walk(v)
		}
	}
	for k, v := range components {
		if k != "schemas" {
			walk(v)
		}
	}
	for name := range schemas {
		if !used[name] {
			delete(schemas, name)
		}
	}
}

func correct(doc *openapi3.T) error {
	doc.OpenAPI = "3.0.3"
	doc.Info = &openapi3.Info{
		Title:   "dispatchd API",
		Version: versionPlaceholder,
		Description: "Webhooks in, signed deliveries out. Every route but `POST /v1/webhooks/{source}` " +
			"needs an API key: `Authorization: Bearer disp_k1_…` (`dispatchd keys create`). " +
			"Every error is `{\"code\": \"…\", \"message\": \"…\"}`; the message says what to fix. " +
			"The same methods are served over gRPC (the `dispatchd.v1` services, with reflection).",
	}
	doc.Servers = openapi3.Servers{{URL: "http://127.0.0.1:8080", Description: "the default --http-addr"}}
	doc.Components.SecuritySchemes = openapi3.SecuritySchemes{
		"apiKey": &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
			Type:         "http",
			Scheme:       "bearer",
			BearerFormat: "disp_k1_…",
			Description:  "An API key made with `dispatchd keys create` or KeyService.CreateKey, or the bootstrap DISPATCHD_API_KEY.",
		}},
	}
	doc.Security = openapi3.SecurityRequirements{{"apiKey": []string{}}}

	doc.Components.Schemas["Error"] = &openapi3.SchemaRef{Value: &openapi3.Schema{
		Type:        &openapi3.Types{openapi3.TypeObject},
		Description: "Every error the HTTP face returns.",
		Required:    []string{"code", "message"},
		Properties: openapi3.Schemas{
			"code": &openapi3.SchemaRef{Value: &openapi3.Schema{
				Type:        &openapi3.Types{openapi3.TypeString},
				Enum:        errorCodes,
				Description: "Stable and machine-readable; gRPC callers get it upper-cased as the ErrorInfo reason.",
			}},
			"message": &openapi3.SchemaRef{Value: &openapi3.Schema{
				Type:        &openapi3.Types{openapi3.TypeString},
				Description: "What went wrong and what to fix, naming the field.",
			}},
		},
	}}
	delete(doc.Components.Schemas, "rpcStatus")
	delete(doc.Components.Schemas, "protobufAny")
	errorResponse := func(desc string) *openapi3.ResponseRef {
		return &openapi3.ResponseRef{Value: &openapi3.Response{
			Description: &desc,
			Content:     openapi3.NewContentWithJSONSchemaRef(&openapi3.SchemaRef{Ref: "#/components/schemas/Error"}),
		}}
	}
	doc.Components.Responses = openapi3.ResponseBodies{
		"Error": errorResponse("An error: `code` says which, `message` what to fix."),
	}
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses == nil {
				return fmt.Errorf("%s %s: no responses", method, path)
			}
			// "JobService_GetJob" → "GetJob": the method names are unique
			// across the services, and generated clients read better.
			_, name, ok := strings.Cut(op.OperationID, "_")
			if !ok || seen[name] {
				return fmt.Errorf("%s %s: operationId %q is not Service_Method or its method is not unique", method, path, op.OperationID)
			}
			seen[name] = true
			op.OperationID = name
			op.Responses.Set("default", &openapi3.ResponseRef{Ref: "#/components/responses/Error"})
		}
	}

	// The protos say "Required." in a field's comment (proto3 has no
	// required); say it in the schema too, for generators and validators.
	for _, ref := range doc.Components.Schemas {
		s := ref.Value
		if s == nil {
			continue
		}
		for name, prop := range s.Properties {
			if prop.Value != nil && strings.HasPrefix(prop.Value.Description, "Required.") && !slices.Contains(s.Required, name) {
				s.Required = append(s.Required, name)
			}
		}
		slices.Sort(s.Required)
	}

	// The gateway's query parser takes an enum's short lower-case names
	// (state=completed) beside the proto names: list both.
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value == nil || p.Value.In != openapi3.ParameterInQuery || p.Value.Schema == nil || p.Value.Schema.Value == nil {
					continue
				}
				s := p.Value.Schema.Value
				if len(s.Enum) == 0 {
					continue
				}
				first, _ := s.Enum[0].(string)
				prefix, ok := strings.CutSuffix(first, "UNSPECIFIED")
				if !ok || prefix == "" {
					continue
				}
				for _, v := range slices.Clone(s.Enum) {
					if name := v.(string); name != first {
						s.Enum = append(s.Enum, strings.ToLower(strings.TrimPrefix(name, prefix)))
					}
				}
				p.Value.Description = strings.TrimSpace(p.Value.Description) +
					"\n\nThe short lower-case names (" + s.Enum[len(s.Enum)-1].(string) + ") are accepted too."
			}
		}
	}

	if err := correctWebhook(doc, errorResponse); err != nil {
		return err
	}
	// Nothing may still point at a schema this removed.
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	for _, gone := range []string{"rpcStatus", "protobufAny", "IngestServiceReceiveWebhookBody"} {
		if bytes.Contains(b, []byte("#/components/schemas/"+gone+`"`)) {
			return fmt.Errorf("a reference to the removed schema %s is left", gone)
		}
	}
	return nil
}

// webhookHeaders are the headers the verification schemes read, documented
// so that a generated client can send them; which ones a source needs
// depends on its scheme.
var webhookHeaders = []struct{ name, desc string }{
	{"webhook-id", "Standard Webhooks: the delivery id (also the default delivery id of the scheme)."},
	{"webhook-timestamp", "Standard Webhooks: Unix seconds, within the tolerance (±5 min)."},
	{"webhook-signature", "Standard Webhooks: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, several separated by spaces."},
	{"X-Hub-Signature-256", "GitHub: `sha256=<hex HMAC of the body>`."},
	{"X-GitHub-Delivery", "GitHub: the delivery id."},
	{"Stripe-Signature", "Stripe: `t=<unix>,v1=<hex>`."},
	{"traceparent", "W3C trace context; a provider's trace is continued."},
}

func correctWebhook(doc *openapi3.T, errorResponse func(string) *openapi3.ResponseRef) error {
	item := doc.Paths.Value("/v1/webhooks/{source}")
	if item == nil || item.Post == nil {
		return fmt.Errorf("no POST /v1/webhooks/{source} in the input")
	}
	op := item.Post
	// A webhook is authenticated by its source's scheme, never an API key.
	op.Security = &openapi3.SecurityRequirements{}
	op.Description = "The provider's request, exactly as sent: the body is verified over its raw bytes " +
		"and stored byte for byte, so send it unchanged (not wrapped). The source's scheme decides the " +
		"credentials: `Authorization: Bearer <secret>` or `Basic` for the bearer and basic schemes, " +
		"the headers below for the others. " + op.Description
	var params openapi3.Parameters
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.In == openapi3.ParameterInPath {
			params = append(params, p)
		}
	}
	for _, h := range webhookHeaders {
		params = append(params, &openapi3.ParameterRef{Value: &openapi3.Parameter{
			Name: h.name, In: openapi3.ParameterInHeader, Description: h.desc,
			Schema: &openapi3.SchemaRef{Value: openapi3.NewStringSchema()},
		}})
	}
	op.Parameters = params
	op.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{
		Required: true,
		Description: "The webhook's body as the provider sends it, at most the source's max_body_bytes. " +
			"JSON unless the source lists other content_types, which are stored as opaque bytes.",
		Content: openapi3.Content{
			"application/json": &openapi3.MediaType{Schema: &openapi3.SchemaRef{Value: &openapi3.Schema{
				Description: "Any JSON value; the source may require fields.",
			}}},
			"application/octet-stream": &openapi3.MediaType{Schema: &openapi3.SchemaRef{Value: &openapi3.Schema{
				Type: &openapi3.Types{openapi3.TypeString}, Format: "binary",
			}}},
		},
	}}
	retryAfter := &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
		Description: "Seconds to wait before retrying.",
		Schema:      &openapi3.SchemaRef{Value: openapi3.NewIntegerSchema()},
	}}}
	for _, r := range []struct {
		status string
		desc   string
		retry  bool
	}{
		{"400", "invalid_argument: not UTF-8 JSON, a required field missing or of the wrong type, no delivery id, a content type the source does not accept.", false},
		{"401", "unauthenticated: the signature or secret is missing, wrong, or outside the timestamp tolerance.", false},
		{"404", "not_found: no source of that name.", false},
		{"413", "payload_too_large: over the source's max_body_bytes.", false},
		{"429", "rate_limited: over the source's rate limit.", true},
		{"503", "unavailable: nothing was stored (the store cannot commit now, or the source is paused); retry.", true},
	} {
		resp := errorResponse(r.desc)
		if r.retry {
			resp.Value.Headers = openapi3.Headers{"Retry-After": retryAfter}
		}
		op.Responses.Set(r.status, resp)
	}
	delete(doc.Components.Schemas, "IngestServiceReceiveWebhookBody")
	return nil
}
