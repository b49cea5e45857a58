package job

import (
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsInCreationOrder(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	var made []string
	for i := range 1000 {
		// Many ids per millisecond, and one step back of the clock.
		at := now.Add(time.Duration(i/300) * time.Millisecond)
		if i == 700 {
			at = now
		}
		made = append(made, NewID("job", at))
	}
	if !sort.StringsAreSorted(made) {
		t.Fatalf("ids are not in creation order")
	}
	seen := map[string]bool{}
	for _, id := range made {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, "job_") || len(id) != len("job_")+26 {
			t.Fatalf("id %q: want job_ + 26 characters", id)
		}
	}
}

func TestErrorCode(t *testing.T) {
	wrapped := &Error{Code: CodeNotFound, Message: "no event"}
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{nil, ""},
		{wrapped, CodeNotFound},
		{errorsJoin(wrapped), CodeNotFound},
		{strings.NewReader("").UnreadByte(), CodeInternal},
	} {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if got := ErrorMessage(strings.NewReader("").UnreadByte()); got != "internal error" {
		t.Errorf("ErrorMessage of a plain error = %q; internals must not leak", got)
	}
}

func errorsJoin(err error) error { return &wrap{err} }

type wrap struct{ err error }

func (w *wrap) Error() string { return "context: " + w.err.Error() }
func (w *wrap) Unwrap() error { return w.err }
