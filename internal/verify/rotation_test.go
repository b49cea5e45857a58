package verify

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestRotationEnds: during a rotation both secrets pass; from the moment
// it ends only the current one does.
func TestRotationEnds(t *testing.T) {
	ends := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	v, err := New(Config{Scheme: Bearer, Secrets: []string{"the-current-one", "the-previous-one"}, PreviousSecretExpiresAt: ends})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(secret string) http.Header {
		return http.Header{"Authorization": {"Bearer " + secret}}
	}
	for _, tc := range []struct {
		name   string
		secret string
		at     time.Time
		ok     bool
	}{
		{"current, during", "the-current-one", ends.Add(-time.Second), true},
		{"previous, during", "the-previous-one", ends.Add(-time.Second), true},
		{"current, after", "the-current-one", ends, true},
		{"previous, at the end", "the-previous-one", ends, false},
		{"previous, after", "the-previous-one", ends.Add(time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(bearer(tc.secret), nil, tc.at)
			if tc.ok && err != nil {
				t.Errorf("Verify = %v, want accepted", err)
			}
			if !tc.ok && !errors.Is(err, ErrMismatch) {
				t.Errorf("Verify = %v, want ErrMismatch", err)
			}
		})
	}

	// Without an end, both pass for as long as both are set.
	v, err = New(Config{Scheme: Bearer, Secrets: []string{"the-current-one", "the-previous-one"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(bearer("the-previous-one"), nil, ends.Add(24*time.Hour)); err != nil {
		t.Errorf("Verify(previous, no end) = %v, want accepted", err)
	}
}
