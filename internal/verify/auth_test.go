package verify

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBearer(t *testing.T) {
	const (
		current  = "dsp_live_4f9a8c2e1b7d"
		previous = "dsp_live_0a1b2c3d4e5f"
		other    = "dsp_live_ffffffffffff"
	)
	auth := func(v string) http.Header { return hdr("Authorization", v) }
	rotating := mustNew(t, Config{Scheme: Bearer, Secrets: []string{current, previous}})
	single := mustNew(t, Config{Scheme: Bearer, Secrets: []string{current}})
	tests := []struct {
		name string
		v    Verifier
		h    http.Header
		want error
	}{
		{"current secret", rotating, auth("Bearer " + current), nil},
		{"previous secret", rotating, auth("Bearer " + previous), nil},
		{"previous secret after rotation ends", single, auth("Bearer " + previous), ErrMismatch},
		{"wrong secret", rotating, auth("Bearer " + other), ErrMismatch},
		{"prefix of the secret", rotating, auth("Bearer " + current[:len(current)-1]), ErrMismatch},
		{"secret with extra byte", rotating, auth("Bearer " + current + "0"), ErrMismatch},
		{"secret in other case", rotating, auth("Bearer DSP_LIVE_4F9A8C2E1B7D"), ErrMismatch},
		{"scheme lower-case", rotating, auth("bearer " + current), nil},
		{"scheme upper-case", rotating, auth("BEARER " + current), nil},
		{"several spaces", rotating, auth("Bearer   " + current), nil},
		{"trailing space is part of the token", rotating, auth("Bearer " + current + " "), ErrMismatch},
		{"missing header", rotating, hdr("X-Token", current), ErrMissing},
		{"empty header", rotating, auth(""), ErrMissing},
		{"no scheme", rotating, auth(current), ErrMalformed},
		{"scheme only", rotating, auth("Bearer"), ErrMalformed},
		{"scheme and space only", rotating, auth("Bearer "), ErrMalformed},
		{"basic scheme", rotating, auth("Basic " + current), ErrMalformed},
		{"token scheme", rotating, auth("Token " + current), ErrMalformed},
		{"tab separator", rotating, auth("Bearer\t" + current), ErrMalformed},
		{"lower-case key", rotating, rawHdr("authorization", "Bearer "+current), nil},
		{"upper-case key", rotating, rawHdr("AUTHORIZATION", "Bearer "+current), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.v.Verify(tt.h, []byte("body"), time.Time{}), tt.want, current, previous, other)
		})
	}
}

func TestBasic(t *testing.T) {
	const (
		current  = "alice:s3cret pass" // printf 'alice:s3cret pass' | base64: YWxpY2U6czNjcmV0IHBhc3M=
		previous = "alice:old-pass"
		other    = "mallory:guess"
	)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	auth := func(v string) http.Header { return hdr("Authorization", v) }
	rotating := mustNew(t, Config{Scheme: Basic, Secrets: []string{current, previous}})
	single := mustNew(t, Config{Scheme: Basic, Secrets: []string{current}})
	colonInPassword := mustNew(t, Config{Scheme: Basic, Secrets: []string{"bob:pa:ss"}})
	forbidden := []string{current, previous, other, b64(current), b64(previous), "s3cret", "old-pass"}
	tests := []struct {
		name string
		v    Verifier
		h    http.Header
		want error
	}{
		{"known encoding", rotating, auth("Basic YWxpY2U6czNjcmV0IHBhc3M="), nil},
		{"current secret", rotating, auth("Basic " + b64(current)), nil},
		{"previous secret", rotating, auth("Basic " + b64(previous)), nil},
		{"previous secret after rotation ends", single, auth("Basic " + b64(previous)), ErrMismatch},
		{"wrong user and password", rotating, auth("Basic " + b64(other)), ErrMismatch},
		{"right password, wrong user", rotating, auth("Basic " + b64("bob:s3cret pass")), ErrMismatch},
		{"right user, wrong password", rotating, auth("Basic " + b64("alice:s3cret")), ErrMismatch},
		{"user and password swapped", rotating, auth("Basic " + b64("s3cret pass:alice")), ErrMismatch},
		{"colon in password", colonInPassword, auth("Basic " + b64("bob:pa:ss")), nil},
		{"unpadded", rotating, auth("Basic YWxpY2U6czNjcmV0IHBhc3M"), nil},
		{"scheme lower-case", rotating, auth("basic " + b64(current)), nil},
		{"missing header", rotating, nil, ErrMissing},
		{"bearer scheme", rotating, auth("Bearer " + b64(current)), ErrMalformed},
		{"plain text credentials", rotating, auth("Basic " + current), ErrMalformed},
		{"no colon", rotating, auth("Basic " + b64("alices3cretpass")), ErrMalformed},
		{"no credentials", rotating, auth("Basic"), ErrMalformed},
		{"lower-case key", rotating, rawHdr("authorization", "Basic "+b64(current)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.v.Verify(tt.h, nil, time.Time{}), tt.want, forbidden...)
		})
	}
}

func TestAuthorizationMessages(t *testing.T) {
	bearer := mustNew(t, Config{Scheme: Bearer, Secrets: []string{"tok"}})
	basic := mustNew(t, Config{Scheme: Basic, Secrets: []string{"u:p"}})
	tests := []struct {
		name string
		v    Verifier
		auth string
		want string
	}{
		{"missing", bearer, "", "Authorization header is empty"},
		{"malformed", bearer, "tok", `Authorization: must be "<scheme> <credentials>"`},
		{"wrong scheme", bearer, "Basic dTpw", "Authorization must use the Bearer scheme"},
		{"bearer mismatch", bearer, "Bearer nope", "Authorization: bearer token does not match"},
		{"basic not base64", basic, "Basic u:p", `Authorization: basic credentials must be base64 of "user:password"`},
		{"basic mismatch", basic, "Basic dTpx", "Authorization: user or password does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Verify(hdr("Authorization", tt.auth), nil, time.Time{})
			if err == nil {
				t.Fatal("Verify = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	type result struct{ Scheme, Credentials string }
	tests := []struct {
		in      string
		want    result
		wantErr bool
	}{
		{"Bearer abc", result{"Bearer", "abc"}, false},
		{"Bearer   abc", result{"Bearer", "abc"}, false},
		{"Bearer abc def", result{"Bearer", "abc def"}, false},
		{"Basic dTpw", result{"Basic", "dTpw"}, false},
		{"bearer abc ", result{"bearer", "abc "}, false},
		{"Bearer", result{}, true},
		{"Bearer ", result{}, true},
		{" Bearer abc", result{}, true},
		{"", result{}, true},
		{"Bearer\tabc", result{}, true},
	}
	for _, tt := range tests {
		s, c, err := parseAuthorization(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseAuthorization(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, result{s, c}); diff != "" {
			t.Errorf("parseAuthorization(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
