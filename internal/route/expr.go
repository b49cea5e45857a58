// Package route decides which endpoints get a job for an event, and with
// what payload: event types and the subscriptions that match them
// (dot-segment wildcards), CEL filters and transformations, and the JSON
// Schemas of declared types.
//
// CEL (github.com/google/cel-go) is typed, side-effect free and
// cost-bounded, so an expression from the configuration file or the API
// can run on the ingest path: it is compiled and type-checked once, when
// its spec is loaded, and a runaway one stops at the cost limit instead
// of stalling a commit.
package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// CostLimit bounds the work of one evaluation, in CEL's cost units
// (roughly one per operation and per element a comprehension visits). It
// is far above what a filter or reshaping of a webhook needs, and far
// below what would hold a group commit up.
const CostLimit = 100_000

// Input is what an expression sees: the event's type, its JSON payload
// (decoded with numbers as doubles, nil when the body is not JSON), its
// headers (lower-case names) and its source ("" for a published event).
type Input struct {
	Type    string
	Payload any
	Headers map[string]string
	Source  string
}

func (in Input) vars() map[string]any {
	h := in.Headers
	if h == nil {
		h = map[string]string{}
	}
	var p any = in.Payload
	if p == nil {
		p = types.NullValue
	}
	return map[string]any{"type": in.Type, "payload": p, "headers": h, "source": in.Source}
}

// env is the one environment every expression is checked in.
var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("type", cel.StringType),
		cel.Variable("payload", cel.DynType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("source", cel.StringType),
	)
	if err != nil {
		panic(fmt.Sprintf("route: CEL environment: %v", err)) // static declarations: cannot fail
	}
	return e
}()

// Filter is a compiled filter: a CEL expression of type bool.
type Filter struct {
	src  string
	prog cel.Program
}

// Transform is a compiled transformation: a CEL expression whose value is
// the payload the endpoint receives.
type Transform struct {
	src  string
	prog cel.Program
}

// CompileFilter compiles and type-checks a filter. Its error gives the
// line and column of each problem; the caller adds the field's name.
func CompileFilter(expr string) (*Filter, error) {
	prog, err := compile(expr, true)
	if err != nil {
		return nil, err
	}
	return &Filter{src: expr, prog: prog}, nil
}

// CompileTransform compiles and type-checks a transformation.
func CompileTransform(expr string) (*Transform, error) {
	prog, err := compile(expr, false)
	if err != nil {
		return nil, err
	}
	return &Transform{src: expr, prog: prog}, nil
}

func compile(expr string, boolean bool) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("the expression is empty")
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		msgs := make([]string, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if boolean && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("1:1: a filter must be a bool, this expression is a %s", ast.OutputType())
	}
	prog, err := env.Program(ast, cel.CostLimit(CostLimit))
	if err != nil {
		return nil, err
	}
	return prog, nil
}

// String returns the expression's source.
func (f *Filter) String() string { return f.src }

// String returns the expression's source.
func (t *Transform) String() string { return t.src }

// Match evaluates the filter. An expression that fails (a missing field,
// a type mismatch, the cost limit) is an error, not a false: the caller
// decides what a broken filter means.
func (f *Filter) Match(in Input) (bool, error) {
	out, _, err := f.prog.Eval(in.vars())
	if err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("filter: the value is a %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}

// Apply evaluates the transformation and returns the value as JSON.
func (t *Transform) Apply(in Input) ([]byte, error) {
	out, _, err := t.prog.Eval(in.vars())
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	b, err := toJSON(out)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	return b, nil
}

var jsonValueType = reflect.TypeOf(&structpb.Value{})

// toJSON encodes a CEL value as JSON (maps need string keys; bytes,
// durations and timestamps take protobuf's JSON forms).
func toJSON(v ref.Val) ([]byte, error) {
	native, err := v.ConvertToNative(jsonValueType)
	if err != nil {
		return nil, fmt.Errorf("the value (a %s) cannot be JSON: %w", v.Type().TypeName(), err)
	}
	b, err := protojson.Marshal(native.(*structpb.Value))
	if err != nil {
		return nil, err
	}
	// protojson's output is not stable in its spacing; compact it.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
