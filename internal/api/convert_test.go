package api

import (
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// TestRotationEndShownOnlyWhileItLasts: previousSecretExpiresAt is shown
// while the old secret still works and not once it has expired (an
// expired one reads as if the old secret were still accepted).
func TestRotationEndShownOnlyWhileItLasts(t *testing.T) {
	end := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ep := job.Endpoint{EndpointSpec: job.EndpointSpec{Name: "e", PreviousSecretExpiresAt: end}}
	src := job.Source{SourceSpec: job.SourceSpec{Name: "s", PreviousSecretExpiresAt: end}}
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{end.Add(-time.Minute), true},
		{end, false},
		{end.Add(time.Hour), false},
	} {
		if got := endpointToProto(ep, tc.now).GetPreviousSecretExpiresAt() != nil; got != tc.want {
			t.Errorf("endpoint at %v: shown %v, want %v", tc.now, got, tc.want)
		}
		if got := sourceToProto(src, tc.now).GetPreviousSecretExpiresAt() != nil; got != tc.want {
			t.Errorf("source at %v: shown %v, want %v", tc.now, got, tc.want)
		}
	}
	if endpointToProto(job.Endpoint{}, end).GetPreviousSecretExpiresAt() != nil {
		t.Error("an endpoint never rotated shows a rotation end")
	}
}
