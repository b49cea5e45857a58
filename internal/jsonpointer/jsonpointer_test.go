package jsonpointer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// rfc6901Doc is the example document of RFC 6901, section 5.
const rfc6901Doc = `{
  "foo": ["bar", "baz"],
  "": 0,
  "a/b": 1,
  "c%d": 2,
  "e^f": 3,
  "g|h": 4,
  "i\\j": 5,
  "k\"l": 6,
  " ": 7,
  "m~n": 8
}`

func decode(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func lookup(t testing.TB, doc any, p string) (any, bool) {
	t.Helper()
	ptr, err := Parse(p)
	if err != nil {
		t.Fatalf("Parse(%q): %v", p, err)
	}
	return ptr.Lookup(doc)
}

// TestRFC6901 checks the RFC's own table of pointers and values.
func TestRFC6901(t *testing.T) {
	doc := decode(t, rfc6901Doc)
	if v, ok := lookup(t, doc, ""); !ok || v == nil {
		t.Errorf(`"" must be the whole document`)
	}
	for _, tc := range []struct{ pointer, want string }{
		{"/foo", `["bar","baz"]`},
		{"/foo/0", `"bar"`},
		{"/", `0`},
		{"/a~1b", `1`},
		{"/c%d", `2`},
		{"/e^f", `3`},
		{"/g|h", `4`},
		{"/i\\j", `5`},
		{"/k\"l", `6`},
		{"/ ", `7`},
		{"/m~0n", `8`},
	} {
		v, ok := lookup(t, doc, tc.pointer)
		got, _ := json.Marshal(v)
		if !ok || string(got) != tc.want {
			t.Errorf("Lookup(%q) = %s, %v; want %s", tc.pointer, got, ok, tc.want)
		}
	}
}

func TestAbsentAndInvalid(t *testing.T) {
	doc := decode(t, `{"a": {"b": [1, 2]}, "n": null}`)
	for _, p := range []string{"/x", "/a/c", "/a/b/2", "/a/b/-1", "/a/b/01", "/a/b/+1", "/a/b/x", "/a/b/0/z", "/n/x"} {
		if _, ok := lookup(t, doc, p); ok {
			t.Errorf("Lookup(%q) found a value; want absent", p)
		}
	}
	if v, ok := lookup(t, doc, "/n"); !ok || v != nil {
		t.Errorf("a present null must be found as nil, got %v %v", v, ok)
	}
	for _, p := range []string{"a", "/a~", "/a~2", "/~x"} {
		if _, err := Parse(p); err == nil {
			t.Errorf("Parse(%q): want an error", p)
		}
	}
}

func TestTypes(t *testing.T) {
	doc := decode(t, `{"s": "x", "i": 3, "f": 1.5, "big": 1e400, "b": true, "o": {}, "a": [], "n": null}`)
	for _, tc := range []struct{ p, want string }{
		{"/s", "string"}, {"/i", "integer"}, {"/f", "number"}, {"/big", "number"},
		{"/b", "boolean"}, {"/o", "object"}, {"/a", "array"}, {"/n", "null"},
	} {
		v, _ := lookup(t, doc, tc.p)
		if got := Type(v); got != tc.want {
			t.Errorf("Type(%s) = %s, want %s", tc.p, got, tc.want)
		}
	}
	if !HasType(json.Number("3"), "number") || !HasType("x", "") {
		t.Errorf("an integer must satisfy number, and anything must satisfy \"\"")
	}
	if HasType(json.Number("3.5"), "integer") {
		t.Errorf("3.5 must not satisfy integer")
	}
}

// FuzzPointer: parsing never panics, and the pointer made by escaping a
// key finds that key.
func FuzzPointer(f *testing.F) {
	for _, s := range []string{"", "/", "/a~1b", "/m~0n", "/~", "/~2", "/a/0", "/a/01", "a"} {
		f.Add(s, "key")
	}
	f.Add("/x", "a/b~c")
	f.Fuzz(func(t *testing.T, pointer, key string) {
		doc := map[string]any{key: "found"}
		if p, err := Parse(pointer); err == nil {
			p.Lookup(doc)
			if p.String() != pointer {
				t.Fatalf("String() = %q, want %q", p.String(), pointer)
			}
		}
		escaped := "/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
		p, err := Parse(escaped)
		if err != nil {
			t.Fatalf("Parse(%q): %v", escaped, err)
		}
		if v, ok := p.Lookup(doc); !ok || v != "found" {
			t.Fatalf("pointer %s for key %q: %v %v", escaped, key, v, ok)
		}
	})
}
