package verify

import (
	"strings"
	"testing"
	"time"
)

func TestParseUnix(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1614265330", 1614265330, false},
		{"0", 0, false},
		{"999999999999999999", 999999999999999999, false},
		{"1000000000000000000", 0, true}, // 19 digits
		{"", 0, true},
		{"01614265330", 0, true},
		{"+1614265330", 0, true},
		{"-1", 0, true},
		{" 1614265330", 0, true},
		{"1614265330.5", 0, true},
		{"1e9", 0, true},
		{"０", 0, true}, // full-width digit
	}
	for _, tt := range tests {
		got, err := parseUnix(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseUnix(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckAge(t *testing.T) {
	const sent = 1700000000
	at := func(d time.Duration) time.Time { return time.Unix(sent, 0).Add(d) }
	tol := 5 * time.Minute
	tests := []struct {
		name    string
		unix    int64
		now     time.Time
		wantErr string // substring; "" means accepted
	}{
		{"exact", sent, at(0), ""},
		{"old, at the tolerance", sent, at(tol), ""},
		{"old, a nanosecond past", sent, at(tol + time.Nanosecond), "is 5m0s in the past; the tolerance is 5m0s"},
		{"old, a second past", sent, at(tol + time.Second), "is 5m1s in the past; the tolerance is 5m0s"},
		{"future, at the tolerance", sent, at(-tol), ""},
		{"future, a second past", sent, at(-tol - time.Second), "is 5m1s in the future; the tolerance is 5m0s: check the sender's clock"},
		{"milliseconds", sent * 1000, at(0), "in the future; the tolerance is 5m0s: check the sender's clock (it looks like milliseconds; send seconds)"},
		{"far future saturates", 999999999999999999, at(0), "in the future"},
		{"zero time now", sent, time.Time{}, "in the future"},
		{"epoch", 0, at(0), "in the past"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAge("ts", tt.unix, tt.now, tol)
			if tt.wantErr == "" {
				checkVerify(t, err, nil)
				return
			}
			checkVerify(t, err, ErrExpired)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("checkAge error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
