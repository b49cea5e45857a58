package verify

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sentinels lists every kind a rejection may wrap.
var sentinels = []error{ErrMissing, ErrMalformed, ErrExpired, ErrMismatch}

// checkVerify fails the test unless err is nil when want is nil, or else
// wraps want and no other sentinel, and its message contains none of the
// forbidden strings (secrets and expected signatures).
func checkVerify(t *testing.T, err, want error, forbidden ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Verify = %q, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Verify = nil, want error wrapping %q", want)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(%q, %q) = %v, want %v", err, s, got, !got)
		}
	}
	for _, f := range forbidden {
		if f != "" && strings.Contains(err.Error(), f) {
			t.Errorf("error message %q contains secret material %q", err, f)
		}
	}
}

func mustNew(t testing.TB, cfg Config) Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return v
}

// hdr builds a header through Set, so keys are canonical as net/http leaves
// them.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// rawHdr builds a header with keys exactly as given, as code that copies gRPC
// metadata (lower-case keys) into an http.Header would.
func rawHdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

// with returns a copy of h with key set to value, or removed if value is "-".
func with(h http.Header, key, value string) http.Header {
	c := h.Clone()
	if value == "-" {
		c.Del(key)
	} else {
		c.Set(key, value)
	}
	return c
}

func TestSchemes(t *testing.T) {
	want := []Scheme{"none", "bearer", "standard-webhooks", "github", "stripe", "hmac", "basic"}
	if diff := cmp.Diff(want, Schemes()); diff != "" {
		t.Errorf("Schemes() (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring of the error; "" means New must succeed
	}{
		{"none", Config{Scheme: None}, ""},
		{"none with secret", Config{Scheme: None, Secrets: []string{"s"}}, `scheme "none" takes no secret`},
		{"empty scheme", Config{Secrets: []string{"s"}}, "no scheme given; one of: none, bearer, standard-webhooks, github, stripe, hmac, basic"},
		{"unknown scheme", Config{Scheme: "x", Secrets: []string{"s"}}, `unknown scheme "x"; one of: none, bearer, standard-webhooks, github, stripe, hmac, basic`},
		{"scheme is case-sensitive", Config{Scheme: "GitHub", Secrets: []string{"s"}}, `unknown scheme "GitHub"`},
		{"bearer", Config{Scheme: Bearer, Secrets: []string{"tok"}}, ""},
		{"bearer two secrets", Config{Scheme: Bearer, Secrets: []string{"new", "old"}}, ""},
		{"bearer no secret", Config{Scheme: Bearer}, `scheme "bearer" needs a secret`},
		{"three secrets", Config{Scheme: GitHub, Secrets: []string{"a", "b", "c"}}, "at most 2 secrets (current and previous)"},
		{"empty secret", Config{Scheme: GitHub, Secrets: []string{"a", ""}}, "secret 2 is empty"},
		{"trailing newline", Config{Scheme: Stripe, Secrets: []string{"whsec_abc\n"}}, "secret 1 has leading or trailing whitespace"},
		{"leading space", Config{Scheme: Bearer, Secrets: []string{" tok"}}, "secret 1 has leading or trailing whitespace"},
		{"inner space allowed", Config{Scheme: GitHub, Secrets: []string{"It's a Secret to Everybody"}}, ""},
		{"standard-webhooks", Config{Scheme: StandardWebhooks, Secrets: []string{whsec}}, ""},
		{"standard-webhooks unpadded", Config{Scheme: StandardWebhooks, Secrets: []string{"whsec_YWJj"}}, ""},
		{"standard-webhooks tolerance", Config{Scheme: StandardWebhooks, Secrets: []string{whsec}, Tolerance: time.Minute}, ""},
		{"standard-webhooks without prefix", Config{Scheme: StandardWebhooks, Secrets: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, `standard-webhooks secret must be "whsec_" followed by base64`},
		{"standard-webhooks bad base64", Config{Scheme: StandardWebhooks, Secrets: []string{"whsec_not*base64"}}, `standard-webhooks secret must be "whsec_" followed by base64`},
		{"standard-webhooks empty key", Config{Scheme: StandardWebhooks, Secrets: []string{"whsec_"}}, `standard-webhooks secret must be "whsec_" followed by base64`},
		{"standard-webhooks second secret bad", Config{Scheme: StandardWebhooks, Secrets: []string{whsec, "plain"}}, `standard-webhooks secret must be "whsec_" followed by base64`},
		{"stripe", Config{Scheme: Stripe, Secrets: []string{"whsec_abc"}, Tolerance: 10 * time.Minute}, ""},
		{"negative tolerance", Config{Scheme: Stripe, Secrets: []string{"whsec_abc"}, Tolerance: -time.Second}, "tolerance must not be negative"},
		{"tolerance on github", Config{Scheme: GitHub, Secrets: []string{"s"}, Tolerance: time.Minute}, `tolerance is only used by schemes "standard-webhooks" and "stripe", not "github"`},
		{"github", Config{Scheme: GitHub, Secrets: []string{"s"}}, ""},
		{"header on github", Config{Scheme: GitHub, Secrets: []string{"s"}, Header: "X-Sig"}, `header is only used by scheme "hmac", not "github"`},
		{"prefix on stripe", Config{Scheme: Stripe, Secrets: []string{"s"}, Prefix: "v1="}, `prefix is only used by scheme "hmac", not "stripe"`},
		{"algorithm on bearer", Config{Scheme: Bearer, Secrets: []string{"s"}, Algorithm: "sha256"}, `algorithm is only used by scheme "hmac", not "bearer"`},
		{"encoding on basic", Config{Scheme: Basic, Secrets: []string{"u:p"}, Encoding: "hex"}, `encoding is only used by scheme "hmac", not "basic"`},
		{"hmac defaults", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Signature"}, ""},
		{"hmac everything", Config{Scheme: HMAC, Secrets: []string{"s", "t"}, Header: "X-Signature", Algorithm: "SHA1", Encoding: "base64", Prefix: "sha1="}, ""},
		{"hmac no header", Config{Scheme: HMAC, Secrets: []string{"s"}}, "hmac needs a header"},
		{"hmac header with colon", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Sig: x"}, "hmac header must be a bare header name"},
		{"hmac header with newline", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Sig\nX-Other"}, "hmac header must be a bare header name"},
		{"hmac header with non-ASCII", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Signatüre"}, "hmac header must be a bare header name"},
		{"hmac header with token punctuation", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Sig_v1.2"}, ""},
		{"hmac header padded", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: " X-Sig "}, ""},
		{"hmac unknown algorithm", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Sig", Algorithm: "md5"}, `unknown hmac algorithm "md5"; one of: sha256, sha1`},
		{"hmac unknown encoding", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Sig", Encoding: "base32"}, `unknown hmac encoding "base32"; one of: hex, base64`},
		{"hmac tolerance", Config{Scheme: HMAC, Secrets: []string{"s"}, Header: "X-Sig", Tolerance: time.Second}, `tolerance is only used by schemes`},
		{"basic", Config{Scheme: Basic, Secrets: []string{"alice:pw"}}, ""},
		{"basic without colon", Config{Scheme: Basic, Secrets: []string{"alicepw"}}, `basic secret must be "user:password"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("New = %v, %v; want a verifier", v, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New = nil error, want %q", tt.wantErr)
			}
			if v != nil {
				t.Errorf("New returned verifier %#v along with error %q; want nil", v, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %q, want it to contain %q", err, tt.wantErr)
			}
			for _, s := range tt.cfg.Secrets {
				// Skip secrets too short to be told apart from words the
				// message is meant to contain, such as "whsec_".
				if len(s) > len("whsec_") && strings.Contains(err.Error(), s) {
					t.Errorf("New error %q contains secret %q", err, s)
				}
			}
		})
	}
}

func TestNone(t *testing.T) {
	v := mustNew(t, Config{Scheme: None})
	checkVerify(t, v.Verify(nil, nil, time.Time{}), nil)
	checkVerify(t, v.Verify(hdr("Authorization", "Bearer x"), []byte("body"), time.Now()), nil)
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name     string
		h        http.Header
		want     string
		wantKind error
	}{
		{"canonical", hdr("Webhook-Id", "a"), "a", nil},
		{"set through lower case", hdr("webhook-id", "a"), "a", nil},
		{"lower-case key", rawHdr("webhook-id", "a"), "a", nil},
		{"upper-case key", rawHdr("WEBHOOK-ID", "a"), "a", nil},
		{"first of several values", rawHdr("Webhook-Id", "a", "Webhook-Id", "b"), "a", nil},
		{"canonical wins over other case", rawHdr("Webhook-Id", "a", "webhook-id", "b"), "a", nil},
		{"absent", hdr("Other", "a"), "", ErrMissing},
		{"nil header", nil, "", ErrMissing},
		{"empty value", hdr("Webhook-Id", ""), "", ErrMissing},
		{"empty value lower-case key", rawHdr("webhook-id", ""), "", ErrMissing},
		{"no values", http.Header{"Webhook-Id": {}}, "", ErrMissing},
		{"two non-canonical cases", rawHdr("webhook-id", "a", "WEBHOOK-ID", "b"), "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := header(tt.h, "webhook-id")
			checkVerify(t, err, tt.wantKind)
			if got != tt.want {
				t.Errorf("header = %q, want %q", got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "webhook-id") {
				t.Errorf("error %q does not name the header", err)
			}
		})
	}
}
