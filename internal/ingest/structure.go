package ingest

import (
	"bytes"
	"encoding/json"
)

// structureOK is checkStructure's fast path for a body json.Valid accepts:
// it reports whether no object holds a key twice and nothing nests deeper
// than maxJSONDepth, scanning bytes instead of decoding tokens (the token
// walk was a tenth of an ingest process's CPU, profiled). When it says no,
// checkStructure runs to explain why, so both give the same errors.
func structureOK(body []byte) bool {
	var stack []keyFrame
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return false
			}
			if len(stack) < cap(stack) {
				stack = stack[:len(stack)+1] // reuse the frame's key slice
			} else {
				stack = append(stack, keyFrame{})
			}
			stack[len(stack)-1].reset(c == '{')
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if top := &stack[len(stack)-1]; top.object {
				top.expectKey = true
			}
		case '"':
			end := stringEnd(body, i)
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				if !stack[n-1].add(body[i : end+1]) {
					return false
				}
			}
			i = end
		}
	}
	return true
}

// keyFrame is one open object or array of structureOK's walk.
type keyFrame struct {
	object    bool
	expectKey bool     // the next string is a key: just after '{' or ','
	keys      [][]byte // the object's keys so far, unescaped
	set       map[string]struct{}
}

// linearKeys is how many keys an object holds before structureOK looks
// them up in a map rather than comparing each: few objects have more, and
// a map for every object would cost more than the scan it saves.
const linearKeys = 16

func (f *keyFrame) reset(object bool) {
	f.object, f.expectKey = object, object
	f.keys, f.set = f.keys[:0], nil
}

// add records quoted, a key as it appears in the body, and reports false
// if the object already has it.
func (f *keyFrame) add(quoted []byte) bool {
	f.expectKey = false
	key := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		var s string
		if json.Unmarshal(quoted, &s) != nil {
			return false // cannot happen in valid JSON; let checkStructure say
		}
		key = []byte(s)
	}
	if f.set != nil {
		if _, dup := f.set[string(key)]; dup {
			return false
		}
		f.set[string(key)] = struct{}{}
		return true
	}
	for _, k := range f.keys {
		if bytes.Equal(k, key) {
			return false
		}
	}
	f.keys = append(f.keys, key)
	if len(f.keys) > linearKeys {
		f.set = make(map[string]struct{}, 2*len(f.keys))
		for _, k := range f.keys {
			f.set[string(k)] = struct{}{}
		}
	}
	return true
}

// stringEnd returns the index of the quote that closes the string opening
// at body[start], in valid JSON.
func stringEnd(body []byte, start int) int {
	for j := start + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(body) - 1
}
