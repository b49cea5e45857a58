// Package jsonpointer resolves JSON pointers (RFC 6901), such as /data/id,
// in JSON decoded with json.Decoder.UseNumber. Configuration parses a
// pointer once; ingestion looks it up in every webhook body.
package jsonpointer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Pointer is a parsed JSON pointer.
type Pointer struct {
	text   string
	tokens []string
}

// Parse parses p. The empty string is the whole document; any other
// pointer starts with "/", and in it "~1" stands for "/" and "~0" for "~".
func Parse(p string) (Pointer, error) {
	if p == "" {
		return Pointer{}, nil
	}
	if p[0] != '/' {
		return Pointer{}, errors.New("a JSON pointer starts with /")
	}
	tokens := strings.Split(p[1:], "/")
	for i, tok := range tokens {
		if !strings.Contains(tok, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(tok); j++ {
			if tok[j] != '~' {
				b.WriteByte(tok[j])
				continue
			}
			if j+1 == len(tok) || (tok[j+1] != '0' && tok[j+1] != '1') {
				return Pointer{}, errors.New("in a JSON pointer ~ is followed by 0 (for ~) or 1 (for /)")
			}
			if tok[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		tokens[i] = b.String()
	}
	return Pointer{text: p, tokens: tokens}, nil
}

// String returns the pointer as written.
func (p Pointer) String() string { return p.text }

// Lookup returns the value p points to in doc; ok is false when a step of
// the path is absent (an array index out of range, a key not there, a step
// into a scalar).
func (p Pointer) Lookup(doc any) (v any, ok bool) {
	v = doc
	for _, tok := range p.tokens {
		switch node := v.(type) {
		case map[string]any:
			if v, ok = node[tok]; !ok {
				return nil, false
			}
		case []any:
			// Array indexes are decimal without leading zeros.
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) || (len(tok) > 1 && tok[0] == '0') || tok[0] == '+' {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Type names the JSON type of a decoded value: string, integer, number,
// boolean, object, array or null.
func Type(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// HasType reports whether v is of the JSON type want ("" accepts any); an
// integer is also a number.
func HasType(v any, want string) bool {
	got := Type(v)
	return want == "" || got == want || (want == "number" && got == "integer")
}
