package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct{ body, wantErr string }{
		{`{"a": 1}`, ""},
		{"  [1, 2]\n", ""},
		{`"just a string"`, ""},
		{``, "empty"},
		{"  \n", "empty"},
		{`{"a": 1`, "ends before"},
		{`{"a": 1}}`, "after the JSON value"},
		{`{"a": 1} {"b": 2}`, "after the JSON value"},
		{`{a: 1}`, "at byte"},
		{"{\"a\": \"\xc3\x28\"}", "UTF-8"},
		{`{"a": 1, "a": 2}`, `key "a" appears twice`},
		{`{"a": {"b": 1, "b": 1}}`, `key "b" appears twice`},
		{`[{"a": 1}, {"a": 2}]`, ""},                   // the same key in two objects is fine
		{`{"a": {"x": 1}, "b": {"x": 2}, "x": 3}`, ""}, // and at different levels
		{`{"a": "a", "b": ["a", "a"]}`, ""},            // values equal to keys are values
		{strings.Repeat("[", 64) + strings.Repeat("]", 64), ""},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), "deeper than 64"},
		{strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), "deeper than 64"},
	} {
		_, err := decodeJSON([]byte(tc.body), true)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("decodeJSON(%q) = %v, want ok", tc.body, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("decodeJSON(%q) = %v, want an error mentioning %q", tc.body, err, tc.wantErr)
		}
	}
}

// FuzzDecodeJSON: decodeJSON accepts exactly the bodies that are one valid
// UTF-8 JSON value, as encoding/json sees them.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `1`, `"x"`, `{"a":[1,{"b":null}]}`, ``, ` `, `{`, `}{`, "\xff", `{"a":1}{}`, `1 2`, "{\"a\":\"\xc3\x28\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := decodeJSON(body, false)
		if _, errDoc := decodeJSON(body, true); (errDoc == nil) != (err == nil) {
			t.Fatalf("decodeJSON(%q): %v without the document, %v with it", body, err, errDoc)
		}
		valid := json.Valid(body) && len(bytes.TrimSpace(body)) > 0 && utf8Valid(body)
		if err != nil && valid && (strings.Contains(err.Error(), "twice") || strings.Contains(err.Error(), "deeper than")) {
			return // valid JSON refused on purpose: duplicate keys, or too deep
		}
		if (err == nil) != valid {
			t.Fatalf("decodeJSON(%q) error = %v, but json.Valid+UTF-8 = %v", body, err, valid)
		}
	})
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }
