package delivery

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRetryAfter(t *testing.T) {
	date := func(d time.Duration, layout string) string { return testNow.Add(d).Format(layout) }
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"0", 0},
		{"120", 120 * time.Second},
		{" 120\t", 120 * time.Second},
		{"007", 7 * time.Second},
		{"-5", 0},
		{"+5", 0},
		{"1.5", 0},
		{"5s", 0},
		{"soon", 0},
		{"9223372036", 9223372036 * time.Second}, // the most whole seconds a Duration holds
		{"9223372037", maxDuration},              // one more saturates
		{"99999999999999999999999", maxDuration}, // beyond uint64 too
		{date(90*time.Second, http.TimeFormat), 90 * time.Second}, // IMF-fixdate
		{date(2*time.Hour, time.RFC850), 2 * time.Hour},           // obsolete RFC 850 form
		{date(45*time.Second, time.ANSIC), 45 * time.Second},      // asctime
		{date(0, http.TimeFormat), 0},
		{date(-time.Hour, http.TimeFormat), 0}, // in the past
		{"Sun, 01 Mar 2026 12:00:99 GMT", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, testNow); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	a := strings.Repeat("a", ExcerptBytes)
	tests := []struct {
		name string
		body string
		want string
	}{
		{"empty", "", ""},
		{"short", "hello", "hello"},
		{"exactly the limit", a, a},
		{"over the limit", a + "bcd", a},
		{"a rune cut by the limit is dropped", a[:ExcerptBytes-1] + "é", a[:ExcerptBytes-1]},
		{"a 4-byte rune cut by the limit is dropped", a[:ExcerptBytes-2] + "😀", a[:ExcerptBytes-2]},
		{"a rune ending at the limit is kept", a[:ExcerptBytes-2] + "é" + "z", a[:ExcerptBytes-2] + "é"},
		{"invalid bytes replaced", "ok\xff\xfeok", "ok\uFFFDok"},
		{"NUL replaced", "a\x00b", "a\uFFFDb"},
		{"invalid byte at the limit replaced", a[:ExcerptBytes-1] + "\xff" + "z", a[:ExcerptBytes-1] + "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, excerpt([]byte(tt.body))); diff != "" {
				t.Errorf("excerpt (-want +got):\n%s", diff)
			}
		})
	}
}
