package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
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

// FuzzStructureOK: the byte scan and the token walk agree on every valid
// JSON body (duplicate keys, escaped or not, and depth).
func FuzzStructureOK(f *testing.F) {
	many := `{` + manyKeys(40) + `, "k7": 1}`
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"a":1},"b":"a"}`, `[{"a":1},{"a":1}]`,
		`{"a\"b":1,"a\u0022b":2}`, many, `{` + manyKeys(40) + `}`, strings.Repeat("[", 65) + strings.Repeat("]", 65)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		want := checkStructure(body) == nil
		if got := structureOK(body); got != want {
			t.Fatalf("structureOK(%q) = %v, checkStructure says %v", body, got, checkStructure(body))
		}
	})
}

func TestStructureOKManyKeys(t *testing.T) {
	if !structureOK([]byte(`{` + manyKeys(40) + `}`)) {
		t.Error("40 distinct keys refused")
	}
	if structureOK([]byte(`{` + manyKeys(40) + `, "k39": 0}`)) {
		t.Error("a key repeated after 40 (past the linear scan) accepted")
	}
	if structureOK([]byte(`{"a": 1, "\u0061": 2}`)) {
		t.Error("a key repeated in escaped form accepted")
	}
}

func manyKeys(n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(`"k` + strconv.Itoa(i) + `": ` + strconv.Itoa(i))
	}
	return sb.String()
}

// BenchmarkCheckBody: the structure check of a 1 KiB webhook, by the byte
// scan (what decodeJSON runs for valid JSON) and by the token walk.
func BenchmarkCheckBody(b *testing.B) {
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1","customer":"cus_1","lines":[` +
		strings.Repeat(`{"amount":1200,"currency":"eur","description":"a line of the invoice"},`, 12) +
		`{"amount":1}],"paid":true}}`)
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if !json.Valid(body) || !structureOK(body) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("tokens", func(b *testing.B) {
		for b.Loop() {
			if checkStructure(body) != nil {
				b.Fatal("refused")
			}
		}
	})
}
