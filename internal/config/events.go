package config

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/route"
)

// EventType declares an event type: a name, what it means, and
// optionally the JSON Schema its events must satisfy.
type EventType struct {
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Schema      JSONValue `yaml:"schema"`
}

// JSONValue is any YAML value, kept as JSON (a JSON Schema written in
// YAML).
type JSONValue struct {
	JSON []byte
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (v *JSONValue) UnmarshalYAML(n *yaml.Node) error {
	var x any
	if err := n.Decode(&x); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("line %d: not JSON: %w", n.Line, err)
	}
	v.JSON = b
	return nil
}

// Route is one item of a source's routes: an endpoint's name, or
// {endpoint, filter?, transform?}, or {subscribers: true, filter?}.
type Route struct {
	Endpoint    string `yaml:"endpoint"`
	Subscribers bool   `yaml:"subscribers"`
	Filter      string `yaml:"filter"`
	Transform   string `yaml:"transform"`
}

// Routes is a source's routes.
type Routes []Route

// RouteNames is a Routes of bare endpoint names.
func RouteNames(names ...string) Routes {
	out := make(Routes, len(names))
	for i, n := range names {
		out[i] = Route{Endpoint: n}
	}
	return out
}

// UnmarshalYAML implements yaml.Unmarshaler: a name, or a mapping.
func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		r.Endpoint = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a route is an endpoint's name or a mapping with endpoint, subscribers, filter, transform", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "endpoint", "subscribers", "filter", "transform":
		default:
			return fmt.Errorf("line %d: unknown key %q in a route; allowed keys: endpoint, subscribers, filter, transform", n.Content[i].Line, k)
		}
	}
	type plain Route
	return n.Decode((*plain)(r))
}

// split separates bare names from the routes that need rules.
func (rs Routes) split() (names []string, rules []job.RouteRule) {
	for _, r := range rs {
		if !r.Subscribers && r.Filter == "" && r.Transform == "" {
			names = append(names, r.Endpoint)
			continue
		}
		rules = append(rules, job.RouteRule{Endpoint: r.Endpoint, Subscribers: r.Subscribers, Filter: r.Filter, Transform: r.Transform})
	}
	return names, rules
}

// RoutesOf is the inverse of split: the routes of a stored spec.
func RoutesOf(spec job.SourceSpec) Routes {
	out := RouteNames(spec.Routes...)
	for _, r := range spec.RouteRules {
		out = append(out, Route{Endpoint: r.Endpoint, Subscribers: r.Subscribers, Filter: r.Filter, Transform: r.Transform})
	}
	return out
}

func (f *File) validateEventTypes(add func(path, format string, args ...any)) {
	seen := map[string]bool{}
	for i, et := range f.EventTypes {
		p := fmt.Sprintf("event_types[%d]", i)
		if err := route.CheckType(et.Name); err != nil {
			add(p+".name", "%v", err)
		} else if seen[et.Name] {
			add(p+".name", "%q is declared twice", et.Name)
		}
		seen[et.Name] = true
		if et.Schema.JSON != nil {
			if _, err := route.CompileSchema(et.Schema.JSON); err != nil {
				add(p+".schema", "%v", err)
			}
		}
	}
}

// EventTypeSpecs returns the declared types as the domain stores them.
func (f *File) EventTypeSpecs() []job.EventTypeSpec {
	out := make([]job.EventTypeSpec, len(f.EventTypes))
	for i, et := range f.EventTypes {
		out[i] = job.EventTypeSpec{Name: et.Name, Description: et.Description, Schema: et.Schema.JSON}
	}
	return out
}
