package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Fuzz targets assert properties, not just the absence of panics:
// parsers round-trip what they accept, a reference signature over fuzzed
// input always verifies, a one-bit mutation never does, and every rejection
// wraps exactly one sentinel and leaks no secret.

// checkRejection fails unless err wraps exactly one sentinel and its message
// contains none of the forbidden strings. Forbidden strings shorter than
// minLeak are skipped: a fuzzed secret of a few bytes matches fixed message
// words by chance.
func checkRejection(t *testing.T, err error, forbidden ...string) {
	t.Helper()
	const minLeak = 12
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
	for _, f := range forbidden {
		if len(f) >= minLeak && strings.Contains(err.Error(), f) {
			t.Fatalf("error %q contains secret material %q", err, f)
		}
	}
}

// flipBit returns a copy of b with one bit changed, chosen by pos and bit;
// an empty b gains a byte instead, so the result always differs.
func flipBit(b []byte, pos uint, bit byte) []byte {
	if len(b) == 0 {
		return []byte{bit}
	}
	c := bytes.Clone(b)
	c[pos%uint(len(c))] ^= 1 << (bit % 8)
	return c
}

// validSecret reports whether New should accept s as a secret of a scheme
// with no further form requirements.
func validSecret(s string) bool {
	return s != "" && strings.TrimSpace(s) == s
}

// fuzzTimestamp folds a fuzzed integer into a plausible unix time and a
// fuzzed offset into ±1000 seconds around it.
func fuzzTimestamp(ts int64, offset int32) (int64, time.Duration) {
	ts %= 1e11
	if ts < 0 {
		ts = -ts
	}
	return ts, time.Duration(offset%1000) * time.Second
}

func FuzzParseUnix(f *testing.F) {
	f.Add("1614265330", int64(1614265330))
	f.Add("0", int64(0))
	f.Add("01", int64(-1))
	f.Add("+5", int64(999999999999999999))
	f.Add("1e9", int64(1e18))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		if got, err := parseUnix(s); err == nil {
			if back := strconv.FormatInt(got, 10); back != s {
				t.Fatalf("parseUnix(%q) = %d, which formats as %q", s, got, back)
			}
		}
		// Every canonical value in range parses back to itself; others fail.
		formatted := strconv.FormatInt(n, 10)
		got, err := parseUnix(formatted)
		inRange := n >= 0 && n < 1e18
		if inRange != (err == nil) || (inRange && got != n) {
			t.Fatalf("parseUnix(%q) = %d, %v; in range %v", formatted, got, err, inRange)
		}
	})
}

func FuzzParseStandardSignature(f *testing.F) {
	f.Add(specSignature)
	f.Add("v1,AAE= v1a,xyz v2,whatever")
	f.Add(specSignature + " " + specV1a)
	f.Add("v1,_w  v1,/w==")
	f.Add("v1,")
	f.Add("v1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		sigs, err := parseStandardSignature(s)
		if err != nil {
			return
		}
		entries := make([]string, 0, len(sigs.v1)+len(sigs.v1a))
		for _, sig := range sigs.v1 {
			if len(sig) == 0 {
				t.Fatalf("parseStandardSignature(%q) returned an empty signature", s)
			}
			entries = append(entries, "v1,"+base64.StdEncoding.EncodeToString(sig))
		}
		for _, sig := range sigs.v1a {
			if len(sig) != ed25519.SignatureSize {
				t.Fatalf("parseStandardSignature(%q) returned a v1a signature of %d bytes", s, len(sig))
			}
			entries = append(entries, "v1a,"+base64.StdEncoding.EncodeToString(sig))
		}
		if len(entries) > len(strings.Fields(s)) {
			t.Fatalf("parseStandardSignature(%q) returned %d signatures from fewer entries", s, len(entries))
		}
		if len(entries) == 0 {
			return
		}
		again, err := parseStandardSignature(strings.Join(entries, " "))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", entries, err)
		}
		if diff := cmp.Diff(sigs, again, cmp.AllowUnexported(standardSignatures{})); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", s, diff)
		}
	})
}

func FuzzParseStripeSignature(f *testing.F) {
	f.Add("t=1700000000,v1=" + stripeKATCurrent + ",v0=00")
	f.Add("v1=0A,t=5,v1=0b")
	f.Add("t=5,t=6")
	f.Add("t=5,,v1=00")
	f.Add("t=5,x=y=z")
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := parseStripeSignature(s)
		if err != nil {
			return
		}
		items := []string{"t=" + strconv.FormatInt(sig.timestamp, 10)}
		if !slices.Contains(strings.Split(s, ","), items[0]) {
			t.Fatalf("parseStripeSignature(%q) = timestamp %d, which the header does not contain", s, sig.timestamp)
		}
		for _, v := range sig.v1 {
			items = append(items, "v1="+hex.EncodeToString(v))
		}
		again, err := parseStripeSignature(strings.Join(items, ","))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", items, err)
		}
		if diff := cmp.Diff(sig, again, cmp.AllowUnexported(stripeSignature{})); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", s, diff)
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("Bearer abc")
	f.Add("Basic   dTpw")
	f.Add("Bearer")
	f.Add(" x y ")
	f.Fuzz(func(t *testing.T, s string) {
		scheme, cred, err := parseAuthorization(s)
		if err != nil {
			return
		}
		switch {
		case scheme == "" || strings.Contains(scheme, " "):
			t.Fatalf("parseAuthorization(%q) scheme %q is empty or has a space", s, scheme)
		case cred == "" || cred[0] == ' ':
			t.Fatalf("parseAuthorization(%q) credentials %q empty or start with a space", s, cred)
		case !strings.HasPrefix(s, scheme+" ") || !strings.HasSuffix(s, cred):
			t.Fatalf("parseAuthorization(%q) = %q, %q: not the input's parts", s, scheme, cred)
		}
		s2, c2, err := parseAuthorization(scheme + " " + cred)
		if err != nil || s2 != scheme || c2 != cred {
			t.Fatalf("round trip of %q gave %q, %q, %v", s, s2, c2, err)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add(githubSig, "sha256=", false)
	f.Add(hmacSHA256Base64, "", true)
	f.Add("v1=_w", "v1=", true)
	f.Add("00FF", "", false)
	f.Fuzz(func(t *testing.T, value, prefix string, useBase64 bool) {
		enc := "hex"
		if useBase64 {
			enc = "base64"
		}
		d, err := parseDigest(value, prefix, enc)
		if err != nil {
			return
		}
		if len(d) == 0 || !strings.HasPrefix(value, prefix) {
			t.Fatalf("parseDigest(%q, %q, %s) accepted %x", value, prefix, enc, d)
		}
		var formatted string
		if useBase64 {
			formatted = prefix + base64.StdEncoding.EncodeToString(d)
		} else {
			formatted = prefix + hex.EncodeToString(d)
			if !strings.EqualFold(formatted, value) {
				t.Fatalf("parseDigest(%q, %q, hex) = %x, which formats as %q", value, prefix, d, formatted)
			}
		}
		again, err := parseDigest(formatted, prefix, enc)
		if err != nil || !bytes.Equal(again, d) {
			t.Fatalf("round trip of %q gave %x, %v; want %x", value, again, err, d)
		}
	})
}

func FuzzDecodeBase64(f *testing.F) {
	f.Add("+/8=")
	f.Add("-_8")
	f.Add("+/9=")
	f.Add("AA\n==")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decodeBase64(s)
		if err != nil {
			return
		}
		// Strict decoding means s is exactly one encoding's output for d.
		for _, enc := range base64Encodings {
			if enc.EncodeToString(d) == s {
				return
			}
		}
		t.Fatalf("decodeBase64(%q) = %x, which no accepted encoding writes as the input", s, d)
	})
}

// FuzzVerifyStandardWebhooks signs with the Standard Webhooks project's own
// library, so the reference is independent of this package.
func FuzzVerifyStandardWebhooks(f *testing.F) {
	f.Add([]byte("0123456789abcdef01234567"), []byte("previous-key"), false, specID, int64(1614265330), int32(0), []byte(specBody), uint(0), byte(0))
	f.Add([]byte("k"), []byte("k2"), true, "msg_1", int64(1700000000), int32(300), []byte{}, uint(7), byte(3))
	f.Add([]byte{0xff, 0}, []byte{1}, false, "id with spaces.and.dots", int64(0), int32(-301), []byte("\n"), uint(1), byte(9))
	f.Fuzz(func(t *testing.T, key, key2 []byte, useSecond bool, id string, ts int64, offset int32, body []byte, pos uint, bit byte) {
		if len(key) == 0 || len(key2) == 0 || id == "" {
			return
		}
		ts, off := fuzzTimestamp(ts, offset)
		secrets := []string{
			"whsec_" + base64.StdEncoding.EncodeToString(key),
			"whsec_" + base64.StdEncoding.EncodeToString(key2),
		}
		v := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: secrets})
		signKey := key
		if useSecond {
			signKey = key2
		}
		lib, err := standardwebhooks.NewWebhookRaw(signKey)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := lib.Sign(id, time.Unix(ts, 0), body)
		if err != nil {
			t.Fatal(err)
		}
		h := standardHeader(id, ts, sig)
		now := time.Unix(ts, 0).Add(off)
		forbidden := []string{secrets[0], secrets[1], strings.TrimPrefix(sig, "v1,")}

		err = v.Verify(h, body, now)
		if off > 5*time.Minute || off < -5*time.Minute {
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("offset %v: Verify = %v, want ErrExpired", off, err)
			}
			checkRejection(t, err, forbidden...)
			return
		}
		if err != nil {
			t.Fatalf("Verify of library-signed message = %v", err)
		}

		err = v.Verify(h, flipBit(body, pos, bit), now)
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated body = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)

		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1,"))
		bad := "v1," + base64.StdEncoding.EncodeToString(flipBit(raw, pos, bit))
		err = v.Verify(with(h, "webhook-signature", bad), body, now)
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated signature = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)
	})
}

func FuzzVerifyStripe(f *testing.F) {
	f.Add(stripeSecret, stripePrevious, false, int64(stripeKATTimestamp), int32(0), []byte(stripeKATBody), false, uint(0), byte(0))
	f.Add("k", "whsec_x", true, int64(1), int32(-300), []byte{}, true, uint(3), byte(200))
	f.Add(" spaced", "ok", false, int64(5), int32(301), []byte("x"), false, uint(0), byte(0))
	f.Fuzz(func(t *testing.T, secret, secret2 string, useSecond bool, ts int64, offset int32, body []byte, extraV1 bool, pos uint, bit byte) {
		v, err := New(Config{Scheme: Stripe, Secrets: []string{secret, secret2}})
		if valid := validSecret(secret) && validSecret(secret2); valid != (err == nil) {
			t.Fatalf("New with secrets %q, %q: %v; want success %v", secret, secret2, err, valid)
		}
		if err != nil {
			return
		}
		ts, off := fuzzTimestamp(ts, offset)
		signWith := secret
		if useSecond {
			signWith = secret2
		}
		sig := refStripeSign(signWith, ts, body)
		value := fmt.Sprintf("t=%d,v1=%s", ts, sig)
		if extraV1 {
			// A second, unrelated v1 and a v0 must not stop the match.
			value = fmt.Sprintf("t=%d,v0=%s,v1=%s,v1=%s", ts, sig, strings.Repeat("ab", 32), sig)
		}
		h := hdr("Stripe-Signature", value)
		now := time.Unix(ts, 0).Add(off)
		forbidden := []string{secret, secret2, sig}

		err = v.Verify(h, body, now)
		if off > 300*time.Second || off < -300*time.Second {
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("offset %v: Verify = %v, want ErrExpired", off, err)
			}
			checkRejection(t, err, forbidden...)
			return
		}
		if err != nil {
			t.Fatalf("Verify of reference-signed payload = %v", err)
		}

		err = v.Verify(h, flipBit(body, pos, bit), now)
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated body = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)

		raw, _ := hex.DecodeString(sig)
		bad := fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(flipBit(raw, pos, bit)))
		err = v.Verify(hdr("Stripe-Signature", bad), body, now)
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated signature = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)
	})
}

func FuzzVerifyGitHub(f *testing.F) {
	f.Add(githubSecret, githubPrevious, false, []byte(githubBody), uint(0), byte(0))
	f.Add("s", "t", true, []byte{}, uint(1), byte(1))
	f.Fuzz(func(t *testing.T, secret, secret2 string, useSecond bool, body []byte, pos uint, bit byte) {
		v, err := New(Config{Scheme: GitHub, Secrets: []string{secret, secret2}})
		if valid := validSecret(secret) && validSecret(secret2); valid != (err == nil) {
			t.Fatalf("New with secrets %q, %q: %v; want success %v", secret, secret2, err, valid)
		}
		if err != nil {
			return
		}
		signWith := secret
		if useSecond {
			signWith = secret2
		}
		raw := refHMAC(sha256.New, signWith, body)
		sig := "sha256=" + hex.EncodeToString(raw)
		forbidden := []string{secret, secret2, sig, hex.EncodeToString(raw)}

		if err := v.Verify(hdr("X-Hub-Signature-256", sig), body, time.Time{}); err != nil {
			t.Fatalf("Verify of reference-signed body = %v", err)
		}
		err = v.Verify(hdr("X-Hub-Signature-256", sig), flipBit(body, pos, bit), time.Time{})
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated body = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)
		bad := "sha256=" + hex.EncodeToString(flipBit(raw, pos, bit))
		err = v.Verify(hdr("X-Hub-Signature-256", bad), body, time.Time{})
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated signature = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)
	})
}

func FuzzVerifyHMAC(f *testing.F) {
	f.Add(hmacSecret, []byte(hmacBody), true, false, "", uint(0), byte(0))
	f.Add(hmacSecret, []byte(hmacBody), false, true, "sha256=", uint(5), byte(2))
	f.Add("k", []byte{}, false, false, "v1,", uint(0), byte(7))
	f.Fuzz(func(t *testing.T, secret string, body []byte, useSHA1, useBase64 bool, prefix string, pos uint, bit byte) {
		cfg := Config{Scheme: HMAC, Secrets: []string{secret}, Header: "X-Signature", Prefix: prefix}
		newHash, encode := sha256.New, hex.EncodeToString
		if useSHA1 {
			cfg.Algorithm, newHash = "sha1", sha1.New
		}
		if useBase64 {
			cfg.Encoding, encode = "base64", base64.RawURLEncoding.EncodeToString
		}
		v, err := New(cfg)
		if validSecret(secret) != (err == nil) {
			t.Fatalf("New with secret %q: %v; want success %v", secret, err, validSecret(secret))
		}
		if err != nil {
			return
		}
		raw := refHMAC(func() hash.Hash { return newHash() }, secret, body)
		sig := prefix + encode(raw)
		forbidden := []string{secret, encode(raw)}

		if err := v.Verify(hdr("X-Signature", sig), body, time.Time{}); err != nil {
			t.Fatalf("Verify of reference-signed body = %v", err)
		}
		err = v.Verify(hdr("X-Signature", sig), flipBit(body, pos, bit), time.Time{})
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated body = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)
		err = v.Verify(hdr("X-Signature", prefix+encode(flipBit(raw, pos, bit))), body, time.Time{})
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify with mutated signature = %v, want ErrMismatch", err)
		}
		checkRejection(t, err, forbidden...)
	})
}

func FuzzVerifyBearer(f *testing.F) {
	f.Add("dsp_live_4f9a8c2e1b7d", "dsp_live_4f9a8c2e1b7d")
	f.Add("tok", "  tok")
	f.Add("tok", "tok ")
	f.Add("tok", "")
	f.Add("a b", "a b")
	f.Fuzz(func(t *testing.T, secret, token string) {
		v, err := New(Config{Scheme: Bearer, Secrets: []string{"other-secret-0", secret}})
		if validSecret(secret) != (err == nil) {
			t.Fatalf("New with secret %q: %v; want success %v", secret, err, validSecret(secret))
		}
		if err != nil {
			return
		}
		err = v.Verify(hdr("Authorization", "Bearer "+token), nil, time.Time{})
		sent := strings.TrimLeft(token, " ")
		switch {
		case sent == secret || sent == "other-secret-0":
			if err != nil {
				t.Fatalf("Verify with token %q = %v, want nil", token, err)
			}
		case sent == "":
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify with blank token = %v, want ErrMalformed", err)
			}
		default:
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify with token %q = %v, want ErrMismatch", token, err)
			}
			checkRejection(t, err, secret)
		}
	})
}

func FuzzVerifyBasic(f *testing.F) {
	f.Add("alice:s3cret pass", "alice:s3cret pass", "")
	f.Add("bob:pa:ss", "bob:pa", "YWxpY2U6czNjcmV0IHBhc3M")
	f.Add("u:p", "u:p ", "dTpw")
	f.Fuzz(func(t *testing.T, secret, sent, rawCred string) {
		v, err := New(Config{Scheme: Basic, Secrets: []string{secret}})
		if valid := validSecret(secret) && strings.Contains(secret, ":"); valid != (err == nil) {
			t.Fatalf("New with secret %q: %v; want success %v", secret, err, valid)
		}
		if err != nil {
			return
		}
		err = v.Verify(hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sent))), nil, time.Time{})
		switch {
		case sent == secret:
			if err != nil {
				t.Fatalf("Verify with %q = %v, want nil", sent, err)
			}
		case !strings.Contains(sent, ":"):
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify with %q = %v, want ErrMalformed", sent, err)
			}
		default:
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify with %q = %v, want ErrMismatch", sent, err)
			}
			checkRejection(t, err, secret)
		}
		// Arbitrary credentials: only the exact encoded secret may pass.
		err = v.Verify(hdr("Authorization", "Basic "+rawCred), nil, time.Time{})
		if err == nil {
			d, derr := decodeBase64(strings.TrimLeft(rawCred, " "))
			if derr != nil || string(d) != secret {
				t.Fatalf("Verify accepted credentials %q for secret %q", rawCred, secret)
			}
			return
		}
		checkRejection(t, err, secret)
	})
}

// FuzzVerifyHeaders sends arbitrary headers to a verifier of every scheme:
// none may panic, and every rejection must wrap exactly one sentinel and
// name no secret or expected signature.
func FuzzVerifyHeaders(f *testing.F) {
	const (
		bearerSecret = "bearer-secret-4f9a8c2e"
		basicSecret  = "fuzz-user:fuzz-password-7d1c"
		hmacLong     = "fuzz-hmac-secret-9b2e"
	)
	verifiers := map[Scheme]Verifier{
		Bearer:           mustNew(f, Config{Scheme: Bearer, Secrets: []string{bearerSecret}}),
		Basic:            mustNew(f, Config{Scheme: Basic, Secrets: []string{basicSecret}}),
		StandardWebhooks: mustNew(f, Config{Scheme: StandardWebhooks, Secrets: []string{specSecret}}),
		GitHub:           mustNew(f, Config{Scheme: GitHub, Secrets: []string{githubSecret}}),
		Stripe:           mustNew(f, Config{Scheme: Stripe, Secrets: []string{stripeSecret}}),
		HMAC:             mustNew(f, Config{Scheme: HMAC, Secrets: []string{hmacLong}, Header: "X-Signature", Encoding: "base64", Prefix: "v1="}),
	}
	secrets := []string{bearerSecret, basicSecret, "fuzz-password-7d1c", specSecret, strings.TrimPrefix(specSecret, "whsec_"), githubSecret, stripeSecret, hmacLong}

	f.Add("webhook-id", specID, "webhook-timestamp", specTimestamp, "webhook-signature", specSignature, []byte(specBody), int64(1614265330))
	f.Add("Stripe-Signature", "t=1700000000,v1="+stripeKATCurrent, "", "", "", "", []byte(stripeKATBody), int64(1700000000))
	f.Add("authorization", "Basic ZnV6ei11c2VyOmZ1enotcGFzc3dvcmQtN2QxYw==", "AUTHORIZATION", "Bearer x", "", "", []byte{}, int64(0))
	f.Add("X-Hub-Signature-256", githubSig, "x-signature", "v1=AAAA", "", "", []byte(githubBody), int64(-1))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string, body []byte, now int64) {
		h := rawHdr(k1, v1, k2, v2, k3, v3)
		forbidden := slices.Concat(secrets, []string{
			hex.EncodeToString(refHMAC(sha256.New, githubSecret, body)),
			base64.RawURLEncoding.EncodeToString(refHMAC(sha256.New, hmacLong, body)),
			base64.StdEncoding.EncodeToString(refHMAC(sha256.New, hmacLong, body)),
		})
		for scheme, v := range verifiers {
			if err := v.Verify(h, body, time.Unix(now, 0)); err != nil {
				checkRejection(t, fmt.Errorf("%s: %w", scheme, err), forbidden...)
			}
		}
	})
}

func FuzzNew(f *testing.F) {
	f.Add("hmac", "secret-one-abcdef", "secret-two-abcdef", uint8(2), "X-Sig", "sha1", "base64", "v1=", int64(0))
	f.Add("standard-webhooks", specSecret, "whsec_bad*", uint8(2), "", "", "", "", int64(time.Minute))
	f.Add("basic", "user:pass", "", uint8(1), "", "", "", "", int64(-1))
	f.Add("none", "", "", uint8(0), "", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, scheme, s1, s2 string, n uint8, header, alg, enc, prefix string, tol int64) {
		cfg := Config{
			Scheme: Scheme(scheme), Secrets: []string{s1, s2, "third-secret"}[:n%4],
			Header: header, Algorithm: alg, Encoding: enc, Prefix: prefix, Tolerance: time.Duration(tol),
		}
		v, err := New(cfg)
		if err != nil {
			for _, s := range cfg.Secrets {
				echoed := strings.Contains(scheme+header+alg+enc+prefix, s)
				if len(s) >= 12 && !echoed && strings.Contains(err.Error(), s) {
					t.Fatalf("New error %q contains secret %q", err, s)
				}
			}
			return
		}
		if !known(cfg.Scheme) || len(cfg.Secrets) > 2 || tol < 0 {
			t.Fatalf("New(%+v) succeeded", cfg)
		}
		// An empty request is authentic only for None.
		err = v.Verify(http.Header{}, nil, time.Unix(tol, 0))
		if (cfg.Scheme == None) != (err == nil) {
			t.Fatalf("scheme %q: Verify of empty request = %v", cfg.Scheme, err)
		}
		if err != nil && !errors.Is(err, ErrMissing) {
			t.Fatalf("scheme %q: Verify of empty request = %v, want ErrMissing", cfg.Scheme, err)
		}
	})
}
