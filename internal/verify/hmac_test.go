package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// GitHub's documented example ("Validating webhook deliveries"), recomputed
// before being relied on:
//
//	printf 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"
//
// githubPreviousSig is the same payload under githubPrevious:
//
//	printf 'Hello, World!' | openssl dgst -sha256 -hmac 'previous GitHub secret'
const (
	githubSecret      = "It's a Secret to Everybody"
	githubPrevious    = "previous GitHub secret"
	githubOther       = "not the GitHub secret"
	githubBody        = "Hello, World!"
	githubSig         = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	githubPreviousSig = "sha256=68d2bbabdb849911a4e9e938b296c889adbbc1180ebe46c475454145509edc11"
)

// Known answers for the generic scheme, computed with OpenSSL:
//
//	printf '%s' 'hello dispatchd' | openssl dgst -sha1 -hmac 'shared-key'
//	printf '%s' 'hello dispatchd' | openssl dgst -sha1 -hmac 'old-shared-key'
//	printf '%s' 'hello dispatchd' | openssl dgst -sha256 -hmac 'shared-key' -binary | base64
//	printf '%s' 'hello dispatchd' | openssl dgst -sha256 -hmac 'old-shared-key'
const (
	hmacSecret        = "shared-key"
	hmacPrevious      = "old-shared-key"
	hmacOther         = "some-other-key"
	hmacBody          = "hello dispatchd"
	hmacSHA1Hex       = "5cd2f0148d330d201a6157a20d19f9e67aa89ae2"
	hmacSHA1HexPrev   = "6ed89f2508436d0f1db02631bb5accf87fcc5dc3"
	hmacSHA256Base64  = "/LWCXS7sC80jjbEfVFaKd1+5EPmGC0+yslLAEmAGcFE="
	hmacSHA256HexPrev = "d88a28db1aee8d17fcc2b2ec5952ce1e5c34b3042caf515ee706ed7ab6f94629"
)

// refHMAC is the test's own signer for GitHub and the generic scheme.
func refHMAC(h func() hash.Hash, secret string, body []byte) []byte {
	mac := hmac.New(h, []byte(secret))
	mac.Write(body)
	return mac.Sum(nil)
}

func TestHMACKnownAnswers(t *testing.T) {
	if got := "sha256=" + hex.EncodeToString(refHMAC(sha256.New, githubSecret, []byte(githubBody))); got != githubSig {
		t.Errorf("GitHub reference signature = %s, want %s", got, githubSig)
	}
	if got := hex.EncodeToString(refHMAC(sha1.New, hmacSecret, []byte(hmacBody))); got != hmacSHA1Hex {
		t.Errorf("SHA-1 reference signature = %s, want %s", got, hmacSHA1Hex)
	}
	if got := base64.StdEncoding.EncodeToString(refHMAC(sha256.New, hmacSecret, []byte(hmacBody))); got != hmacSHA256Base64 {
		t.Errorf("SHA-256 reference signature = %s, want %s", got, hmacSHA256Base64)
	}

	tests := []struct {
		name string
		cfg  Config
		h    http.Header
		body string
	}{
		{"github", Config{Scheme: GitHub, Secrets: []string{githubSecret}}, hdr("X-Hub-Signature-256", githubSig), githubBody},
		{"hmac sha1 hex", Config{Scheme: HMAC, Secrets: []string{hmacSecret}, Header: "X-Signature", Algorithm: "sha1"}, hdr("X-Signature", hmacSHA1Hex), hmacBody},
		{"hmac sha256 base64", Config{Scheme: HMAC, Secrets: []string{hmacSecret}, Header: "X-Signature", Encoding: "base64"}, hdr("X-Signature", hmacSHA256Base64), hmacBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, mustNew(t, tt.cfg).Verify(tt.h, []byte(tt.body), time.Time{}), nil)
		})
	}
}

func TestGitHub(t *testing.T) {
	body := []byte(githubBody)
	header := func(v string) http.Header { return hdr("X-Hub-Signature-256", v) }
	sig := func(secret string, body []byte) string {
		return "sha256=" + hex.EncodeToString(refHMAC(sha256.New, secret, body))
	}
	forbidden := []string{githubSecret, githubPrevious, githubOther, githubSig, githubPreviousSig,
		strings.TrimPrefix(githubSig, "sha256="), strings.TrimPrefix(githubPreviousSig, "sha256=")}
	rotating := mustNew(t, Config{Scheme: GitHub, Secrets: []string{githubSecret, githubPrevious}})
	single := mustNew(t, Config{Scheme: GitHub, Secrets: []string{githubSecret}})

	tests := []struct {
		name string
		v    Verifier
		h    http.Header
		body []byte
		want error
	}{
		{"current secret", rotating, header(githubSig), body, nil},
		{"previous secret", rotating, header(githubPreviousSig), body, nil},
		{"previous secret after rotation ends", single, header(githubPreviousSig), body, ErrMismatch},
		{"wrong secret", rotating, header(sig(githubOther, body)), body, ErrMismatch},
		{"missing header", rotating, hdr("X-Hub-Signature", "sha1=0123"), body, ErrMissing},
		{"empty header", rotating, header(""), body, ErrMissing},
		{"no prefix", rotating, header(strings.TrimPrefix(githubSig, "sha256=")), body, ErrMalformed},
		{"sha1 prefix", rotating, header("sha1=" + strings.TrimPrefix(githubSig, "sha256=")), body, ErrMalformed},
		{"prefix is case-sensitive", rotating, header("SHA256=" + strings.TrimPrefix(githubSig, "sha256=")), body, ErrMalformed},
		{"not hex", rotating, header("sha256=xyz"), body, ErrMalformed},
		{"odd hex length", rotating, header(githubSig[:len(githubSig)-1]), body, ErrMalformed},
		{"prefix only", rotating, header("sha256="), body, ErrMalformed},
		{"truncated", rotating, header(githubSig[:len(githubSig)-2]), body, ErrMismatch},
		{"upper-case hex", rotating, header("sha256=" + strings.ToUpper(strings.TrimPrefix(githubSig, "sha256="))), body, nil},
		{"body one byte changed", rotating, header(githubSig), []byte("Hello, World?"), ErrMismatch},
		{"body with trailing newline", rotating, header(githubSig), []byte(githubBody + "\n"), ErrMismatch},
		{"lower-case key", rotating, rawHdr("x-hub-signature-256", githubSig), body, nil},
		{"upper-case key", rotating, rawHdr("X-HUB-SIGNATURE-256", githubSig), body, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.v.Verify(tt.h, tt.body, time.Time{}), tt.want, forbidden...)
		})
	}
}

func TestHMAC(t *testing.T) {
	body := []byte(hmacBody)
	forbidden := []string{hmacSecret, hmacPrevious, hmacOther, hmacSHA1Hex, hmacSHA1HexPrev, hmacSHA256Base64, hmacSHA256HexPrev}
	sha1Hex := mustNew(t, Config{Scheme: HMAC, Secrets: []string{hmacSecret, hmacPrevious}, Header: "X-Signature", Algorithm: "sha1"})
	sha256Hex := mustNew(t, Config{Scheme: HMAC, Secrets: []string{hmacSecret, hmacPrevious}, Header: "x-signature", Prefix: "v1="})
	sha256B64 := mustNew(t, Config{Scheme: HMAC, Secrets: []string{hmacSecret}, Header: "X-Signature", Encoding: "base64"})
	urlSafe := strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(hmacSHA256Base64)
	otherSHA256 := hex.EncodeToString(refHMAC(sha256.New, hmacOther, body))

	tests := []struct {
		name string
		v    Verifier
		h    http.Header
		body []byte
		want error
	}{
		{"sha1 current", sha1Hex, hdr("X-Signature", hmacSHA1Hex), body, nil},
		{"sha1 previous", sha1Hex, hdr("X-Signature", hmacSHA1HexPrev), body, nil},
		{"sha1 wrong secret", sha1Hex, hdr("X-Signature", hex.EncodeToString(refHMAC(sha1.New, hmacOther, body))), body, ErrMismatch},
		{"sha1 given sha256", sha1Hex, hdr("X-Signature", hmacSHA256HexPrev), body, ErrMismatch},
		{"sha1 upper-case hex", sha1Hex, hdr("X-Signature", strings.ToUpper(hmacSHA1Hex)), body, nil},
		{"sha1 missing", sha1Hex, hdr("X-Hub-Signature", hmacSHA1Hex), body, ErrMissing},
		{"sha1 base64 where hex configured", sha1Hex, hdr("X-Signature", "XNLwFI0zDSAaYVeiDRn55nqomuI="), body, ErrMalformed},
		{"sha1 body changed", sha1Hex, hdr("X-Signature", hmacSHA1Hex), []byte("hello dispatchD"), ErrMismatch},
		{"sha1 trailing newline", sha1Hex, hdr("X-Signature", hmacSHA1Hex), []byte(hmacBody + "\n"), ErrMismatch},
		{"sha1 lower-case key", sha1Hex, rawHdr("x-signature", hmacSHA1Hex), body, nil},
		{"sha1 upper-case key", sha1Hex, rawHdr("X-SIGNATURE", hmacSHA1Hex), body, nil},
		{"prefixed previous", sha256Hex, hdr("X-Signature", "v1="+hmacSHA256HexPrev), body, nil},
		{"prefixed wrong secret", sha256Hex, hdr("X-Signature", "v1="+otherSHA256), body, ErrMismatch},
		{"prefix missing", sha256Hex, hdr("X-Signature", hmacSHA256HexPrev), body, ErrMalformed},
		{"prefix doubled", sha256Hex, hdr("X-Signature", "v1=v1="+hmacSHA256HexPrev), body, ErrMalformed},
		{"configured header lower-case", sha256Hex, rawHdr("X-Signature", "v1="+hmacSHA256HexPrev), body, nil},
		{"base64 std", sha256B64, hdr("X-Signature", hmacSHA256Base64), body, nil},
		{"base64 url-safe unpadded", sha256B64, hdr("X-Signature", urlSafe), body, nil},
		{"base64 url-safe padded", sha256B64, hdr("X-Signature", urlSafe+"="), body, nil},
		{"base64 std unpadded", sha256B64, hdr("X-Signature", strings.TrimSuffix(hmacSHA256Base64, "=")), body, nil},
		{"base64 mixed alphabets", sha256B64, hdr("X-Signature", strings.Replace(hmacSHA256Base64, "+", "-", 1)), body, ErrMalformed},
		{"base64 hex given", sha256B64, hdr("X-Signature", "zz"+hmacSHA256HexPrev), body, ErrMalformed},
		{"base64 body changed", sha256B64, hdr("X-Signature", hmacSHA256Base64), []byte("hello dispatchd!"), ErrMismatch},
		{"base64 previous not configured", sha256B64, hdr("X-Signature", base64.StdEncoding.EncodeToString(refHMAC(sha256.New, hmacPrevious, body))), body, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.v.Verify(tt.h, tt.body, time.Time{}), tt.want, forbidden...)
		})
	}
}

func TestHMACMessages(t *testing.T) {
	gh := mustNew(t, Config{Scheme: GitHub, Secrets: []string{githubSecret}})
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"missing", nil, "missing X-Hub-Signature-256 header"},
		{"no prefix", hdr("X-Hub-Signature-256", "abcd"), `X-Hub-Signature-256: must start with "sha256="`},
		{"not hex", hdr("X-Hub-Signature-256", "sha256=xyz"), `X-Hub-Signature-256: signature after "sha256=" is not hex`},
		{"mismatch", hdr("X-Hub-Signature-256", "sha256=abcd"), "X-Hub-Signature-256 does not match: expected sha256=hex HMAC-SHA256 of the raw body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gh.Verify(tt.h, []byte(githubBody), time.Time{})
			if err == nil {
				t.Fatal("Verify = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	tests := []struct {
		value, prefix, encoding string
		want                    []byte
		wantErr                 bool
	}{
		{"00ff", "", "hex", []byte{0, 0xff}, false},
		{"00FF", "", "hex", []byte{0, 0xff}, false},
		{"sha256=00ff", "sha256=", "hex", []byte{0, 0xff}, false},
		{"00ff", "sha256=", "hex", nil, true},
		{"sha256=", "sha256=", "hex", nil, true},
		{"0", "", "hex", nil, true},
		{"", "", "hex", nil, true},
		{"AP8=", "", "base64", []byte{0, 0xff}, false},
		{"AP8", "", "base64", []byte{0, 0xff}, false},
		{"_w==", "", "base64", []byte{0xff}, false},
		{"/w", "", "base64", []byte{0xff}, false},
		{"AP8=", "", "hex", nil, true},
		{"", "", "base64", nil, true},
		{"A", "", "base64", nil, true},
	}
	for _, tt := range tests {
		got, err := parseDigest(tt.value, tt.prefix, tt.encoding)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseDigest(%q, %q, %q) error = %v, want error %v", tt.value, tt.prefix, tt.encoding, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseDigest(%q, %q, %q) (-want +got):\n%s", tt.value, tt.prefix, tt.encoding, diff)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in      string
		want    []byte
		wantErr bool
	}{
		{"+/8=", []byte{0xfb, 0xff}, false},
		{"+/8", []byte{0xfb, 0xff}, false},
		{"-_8=", []byte{0xfb, 0xff}, false},
		{"-_8", []byte{0xfb, 0xff}, false},
		{"", []byte{}, false},
		{"+_8=", nil, true}, // mixed alphabets
		{"+/9=", nil, true}, // non-zero padding bits
		{"+/8==", nil, true},
		{"+/\n8=", nil, true},
		{"+/\r8=", nil, true},
		{"+/ 8=", nil, true},
	}
	for _, tt := range tests {
		got, err := decodeBase64(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("decodeBase64(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("decodeBase64(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
