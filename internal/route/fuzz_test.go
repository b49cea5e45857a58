package route

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// position is how every compile error starts (line:column), so that the
// file loader and the API can name where an expression is wrong.
var position = regexp.MustCompile(`^\d+:\d+: `)

// FuzzCompileExpression: any text given as a filter or a transformation
// compiles or is refused with a positioned error, never a panic; what
// compiles evaluates on any JSON payload to a bool (filter) or to valid
// JSON (transformation), or to an error, within the cost limit.
func FuzzCompileExpression(f *testing.F) {
	for _, s := range []struct{ expr, payload string }{
		{`payload.amount > 100.0 && type.startsWith("order.")`, `{"amount": 250}`},
		{`headers["x-env"] == "prod" && source == "shop"`, `{}`},
		{`{"id": payload.data.id, "total": payload.data.amount / 100.0, "tags": [type]}`, `{"data":{"id":"o1","amount":2500}}`},
		{`payload.amount / 100`, `{"amount": 5}`},
		{`payload.items.all(a, payload.items.all(b, a + b >= 0.0))`, `{"items":[1,2,3]}`},
		{`payload.items.map(i, i * 2.0)`, `{"items":[1.5]}`},
		{`has(payload.x) ? payload.x : null`, `null`},
		{`b"\xff"`, `[]`},
		{`duration("1s")`, `1`},
		{`1 +`, `{}`},
		{`"a"`, `"a"`},
		{`   `, ``},
	} {
		f.Add(s.expr, []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, expr string, body []byte) {
		var payload any
		if json.Unmarshal(body, &payload) != nil {
			payload = nil // what the router gives an expression for a body that is not JSON
		}
		in := Input{Type: "order.created", Payload: payload, Headers: map[string]string{"x-env": "prod"}, Source: "shop"}

		filter, err := CompileFilter(expr)
		checkCompileError(t, expr, err)
		if err == nil {
			// A filter is a bool or fails; both are outcomes the caller handles.
			_, _ = filter.Match(in)
		}
		tr, err := CompileTransform(expr)
		checkCompileError(t, expr, err)
		if err == nil {
			out, err := tr.Apply(in)
			if err == nil && !json.Valid(out) {
				t.Fatalf("transform %q gave invalid JSON %q", expr, out)
			}
		}
	})
}

func checkCompileError(t *testing.T, expr string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if strings.TrimSpace(expr) == "" {
		if err.Error() != "the expression is empty" {
			t.Fatalf("empty expression: %v", err)
		}
		return
	}
	if !position.MatchString(err.Error()) {
		t.Fatalf("compile error of %q without a position: %v", expr, err)
	}
}

// FuzzMatchPattern: matching a subscription pattern against an event
// type never panics and keeps the rules the README states: a valid type
// matches itself and "*"; a pattern without a wildcard matches only
// itself; any one segment of a type replaced by "*" still matches it
// (the last one also matching longer types); nothing matches "".
func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"order.*", "order.created"},
		{"order.*", "order.line.added"},
		{"*.created", "order.created"},
		{"*", "push"},
		{"order.created", "order.updated"},
		{"order..x", "order..x"},
		{"order*", "order"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		matched := Match(pattern, typ)
		if typ == "" && matched {
			t.Fatalf("Match(%q, \"\") = true", pattern)
		}
		if matched && !strings.Contains(pattern, "*") && pattern != typ {
			t.Fatalf("Match(%q, %q) = true without a wildcard", pattern, typ)
		}
		if CheckPattern(pattern) == nil && matched {
			ps, ts := strings.Split(pattern, "."), strings.Split(typ, ".")
			if len(ts) < len(ps) {
				t.Fatalf("Match(%q, %q): the type has fewer segments than the pattern", pattern, typ)
			}
			for i, p := range ps {
				if p != "*" && p != ts[i] {
					t.Fatalf("Match(%q, %q): segment %d differs", pattern, typ, i)
				}
			}
		}
		if CheckType(typ) != nil {
			return
		}
		if CheckPattern(typ) != nil {
			t.Fatalf("type %q is valid but refused as a pattern", typ)
		}
		if !Match(typ, typ) || !Match("*", typ) {
			t.Fatalf("valid type %q does not match itself or \"*\"", typ)
		}
		segs := strings.Split(typ, ".")
		for i := range segs {
			wild := append([]string(nil), segs...)
			wild[i] = "*"
			p := strings.Join(wild, ".")
			if !Match(p, typ) {
				t.Fatalf("Match(%q, %q) = false", p, typ)
			}
			if i == len(segs)-1 && !Match(p, typ+".more") {
				t.Fatalf("Match(%q, %q) = false: a last \"*\" matches longer types", p, typ+".more")
			}
		}
	})
}
