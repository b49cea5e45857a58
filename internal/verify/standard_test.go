package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The example from the Standard Webhooks specification. The signature was
// recomputed independently before being relied on:
//
//	key=$(printf MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p -c 256)
//	printf 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
//	  openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = "1614265330"
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// refStandardSign is the test's own Standard Webhooks signer, written from
// the specification and anchored by the known answer above. It returns the
// webhook-signature entry for one secret.
func refStandardSign(t testing.TB, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("test secret %q is not whsec_ base64: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func standardHeader(id string, ts int64, sig string) http.Header {
	return hdr("webhook-id", id, "webhook-timestamp", fmt.Sprint(ts), "webhook-signature", sig)
}

func TestStandardWebhooksKnownAnswer(t *testing.T) {
	v := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{specSecret}})
	h := hdr("webhook-id", specID, "webhook-timestamp", specTimestamp, "webhook-signature", specSignature)
	now := time.Unix(1614265330, 0)
	checkVerify(t, v.Verify(h, []byte(specBody), now), nil)

	if got := refStandardSign(t, specSecret, specID, 1614265330, []byte(specBody)); got != specSignature {
		t.Errorf("reference signer = %q, want %q", got, specSignature)
	}
	key, err := standardKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := "v1," + base64.StdEncoding.EncodeToString(signStandard(key, specID, specTimestamp, []byte(specBody)))
	if got != specSignature {
		t.Errorf("signStandard = %q, want %q", got, specSignature)
	}
}

// TestStandardWebhooksLibrary cross-checks signing in both directions
// against the Standard Webhooks project's own Go library.
func TestStandardWebhooksLibrary(t *testing.T) {
	lib, err := standardwebhooks.NewWebhook(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	key, err := standardKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	v := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{specSecret}})
	for _, body := range []string{"", specBody, "line\n", "\x00\xff binary", strings.Repeat("x", 10000)} {
		for _, ts := range []int64{0, 1614265330, 1700000000, 4102444800} {
			id := fmt.Sprintf("msg_%d_%d", len(body), ts)

			// The library's signature verifies here.
			sig, err := lib.Sign(id, time.Unix(ts, 0), []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			checkVerify(t, v.Verify(standardHeader(id, ts, sig), []byte(body), time.Unix(ts, 0)), nil)

			// This package's signature verifies in the library (which reads
			// its own clock, hence ignoring the timestamp).
			ours := "v1," + base64.StdEncoding.EncodeToString(signStandard(key, id, fmt.Sprint(ts), []byte(body)))
			if diff := cmp.Diff(sig, ours); diff != "" {
				t.Errorf("signature for id %s (-library +ours):\n%s", id, diff)
			}
			if err := lib.VerifyIgnoringTimestamp([]byte(body), standardHeader(id, ts, ours)); err != nil {
				t.Errorf("library rejects our signature for id %s: %v", id, err)
			}
		}
	}
}

func TestStandardWebhooks(t *testing.T) {
	const (
		current  = specSecret
		previous = "whsec_cHJldmlvdXMtc2VjcmV0LWtleS0wMTIzNDU=" // "previous-secret-key-012345"
		other    = "whsec_b3RoZXItc2VjcmV0LWtleS0wMTIzNDU2Nzg5" // "other-secret-key-0123456789"
		id       = "msg_2ZyX"
		ts       = int64(1700000000)
	)
	body := []byte(`{"type":"invoice.paid","amount":1200}`)
	now := time.Unix(ts, 0)
	sign := func(secret string) string { return refStandardSign(t, secret, id, ts, body) }
	good := standardHeader(id, ts, sign(current))
	forbidden := []string{
		current, previous, other,
		strings.TrimPrefix(current, "whsec_"), strings.TrimPrefix(previous, "whsec_"),
		strings.TrimPrefix(sign(current), "v1,"), strings.TrimPrefix(sign(previous), "v1,"),
	}
	rotating := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{current, previous}})
	single := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{current}})
	wide := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{current}, Tolerance: time.Hour})

	sigOnly := func(i int) string { // the base64 part of sign(current), cut at i
		return strings.TrimPrefix(sign(current), "v1,")[:i]
	}
	tests := []struct {
		name string
		v    Verifier
		h    http.Header
		body []byte
		now  time.Time
		want error
	}{
		{"current secret", rotating, good, body, now, nil},
		{"previous secret", rotating, standardHeader(id, ts, sign(previous)), body, now, nil},
		{"previous secret after rotation ends", single, standardHeader(id, ts, sign(previous)), body, now, ErrMismatch},
		{"wrong secret", rotating, standardHeader(id, ts, sign(other)), body, now, ErrMismatch},
		{"missing webhook-id", rotating, with(good, "webhook-id", "-"), body, now, ErrMissing},
		{"missing webhook-timestamp", rotating, with(good, "webhook-timestamp", "-"), body, now, ErrMissing},
		{"missing webhook-signature", rotating, with(good, "webhook-signature", "-"), body, now, ErrMissing},
		{"empty webhook-signature", rotating, with(good, "webhook-signature", ""), body, now, ErrMissing},
		{"no headers", rotating, nil, body, now, ErrMissing},
		{"timestamp not a number", rotating, with(good, "webhook-timestamp", "yesterday"), body, now, ErrMalformed},
		{"timestamp in milliseconds", rotating, with(good, "webhook-timestamp", "1700000000000"), body, now, ErrExpired},
		{"timestamp with fraction", rotating, with(good, "webhook-timestamp", "1700000000.0"), body, now, ErrMalformed},
		{"timestamp as RFC 3339", rotating, with(good, "webhook-timestamp", "2023-11-14T22:13:20Z"), body, now, ErrMalformed},
		{"signature without version", rotating, with(good, "webhook-signature", sigOnly(44)), body, now, ErrMalformed},
		{"signature not base64", rotating, with(good, "webhook-signature", "v1,***"), body, now, ErrMalformed},
		{"signature empty", rotating, with(good, "webhook-signature", "v1,"), body, now, ErrMalformed},
		{"one bad entry spoils the header", rotating, with(good, "webhook-signature", sign(current)+" v1,***"), body, now, ErrMalformed},
		{"signature truncated", rotating, with(good, "webhook-signature", "v1,"+sigOnly(40)), body, now, ErrMismatch},
		{"signature unpadded", rotating, with(good, "webhook-signature", "v1,"+sigOnly(43)), body, now, nil},
		{"old, just inside", rotating, good, body, now.Add(5 * time.Minute), nil},
		{"old, just outside", rotating, good, body, now.Add(5*time.Minute + time.Second), ErrExpired},
		{"future, just inside", rotating, good, body, now.Add(-5 * time.Minute), nil},
		{"future, just outside", rotating, good, body, now.Add(-5*time.Minute - time.Second), ErrExpired},
		{"configured tolerance, inside", wide, good, body, now.Add(59 * time.Minute), nil},
		{"configured tolerance, outside", wide, good, body, now.Add(-61 * time.Minute), ErrExpired},
		{"stale and forged", rotating, standardHeader(id, ts, sign(other)), body, now.Add(time.Hour), ErrExpired},
		{"body one byte changed", rotating, good, []byte(`{"type":"invoice.paid","amount":9200}`), now, ErrMismatch},
		{"body with trailing newline", rotating, good, append(append([]byte{}, body...), '\n'), now, ErrMismatch},
		{"empty body", rotating, good, nil, now, ErrMismatch},
		{"different id", rotating, with(good, "webhook-id", "msg_other"), body, now, ErrMismatch},
		{"timestamp moved a second", rotating, with(good, "webhook-timestamp", fmt.Sprint(ts+1)), body, now, ErrMismatch},
		{"several signatures, last matches", rotating, with(good, "webhook-signature", sign(other)+" "+sign(current)), body, now, nil},
		{"several signatures, none matches", rotating, with(good, "webhook-signature", sign(other)+" "+refStandardSign(t, other, id, ts+1, body)), body, now, ErrMismatch},
		{"extra spaces between entries", rotating, with(good, "webhook-signature", "  "+sign(other)+"   "+sign(previous)+" "), body, now, nil},
		{"other versions skipped", rotating, with(good, "webhook-signature", "v1a,c29tZSBlZDI1NTE5 v2,whatever "+sign(current)), body, now, nil},
		{"only other versions", rotating, with(good, "webhook-signature", "v1a,c29tZSBlZDI1NTE5 v2,whatever"), body, now, ErrMismatch},
		{"version is case-sensitive", rotating, with(good, "webhook-signature", "V1"+strings.TrimPrefix(sign(current), "v1")), body, now, ErrMismatch},
		{"lower-case keys", rotating, rawHdr("webhook-id", id, "webhook-timestamp", fmt.Sprint(ts), "webhook-signature", sign(current)), body, now, nil},
		{"upper-case keys", rotating, rawHdr("WEBHOOK-ID", id, "WEBHOOK-TIMESTAMP", fmt.Sprint(ts), "WEBHOOK-SIGNATURE", sign(current)), body, now, nil},
		{"mixed-case keys", rotating, rawHdr("Webhook-ID", id, "webhook-Timestamp", fmt.Sprint(ts), "Webhook-Signature", sign(current)), body, now, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.v.Verify(tt.h, tt.body, tt.now), tt.want, forbidden...)
		})
	}
}

func TestStandardWebhooksMessages(t *testing.T) {
	v := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{specSecret}})
	good := hdr("webhook-id", specID, "webhook-timestamp", specTimestamp, "webhook-signature", specSignature)
	now := time.Unix(1614265330, 0)
	tests := []struct {
		name string
		h    http.Header
		body string
		now  time.Time
		want string
	}{
		{"missing", with(good, "webhook-id", "-"), specBody, now, "missing webhook-id header"},
		{"bad timestamp", with(good, "webhook-timestamp", "x"), specBody, now, "webhook-timestamp must be whole unix seconds such as 1614265330: not a decimal integer"},
		{"bad entry", with(good, "webhook-signature", "v1,AAE= junk"), specBody, now, `webhook-signature: entry 2 is not "version,signature"`},
		{"expired", good, specBody, now.Add(15 * time.Minute), "webhook-timestamp is 15m0s in the past; the tolerance is 5m0s"},
		{"no v1", with(good, "webhook-signature", "v1a,abc"), specBody, now, "webhook-signature has no v1 or v1a signature"},
		{"mismatch", good, specBody + " ", now, `no signature in webhook-signature matches: expected a v1 signature (base64 HMAC-SHA256 keyed with the base64-decoded whsec_ secret) of "{webhook-id}.{webhook-timestamp}.{body}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(tt.h, []byte(tt.body), tt.now)
			if err == nil {
				t.Fatal("Verify = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStandardSignature(t *testing.T) {
	tests := []struct {
		in      string
		want    [][]byte
		wantErr bool
	}{
		{"v1,AAE=", [][]byte{{0, 1}}, false},
		{"v1,AAE= v1,/w==", [][]byte{{0, 1}, {0xff}}, false},
		{"v1,_w", [][]byte{{0xff}}, false}, // URL-safe, unpadded
		{"v2,xyz v1,AAE=", [][]byte{{0, 1}}, false},
		{"v1a,AAE=", nil, false},
		{"v1,AAE=,extra", nil, true},
		{"", nil, true},
		{"   ", nil, true},
		{"AAE=", nil, true},
		{",AAE=", nil, true},
		{"v1,", nil, true},
		{"v1,A", nil, true},
		{"v1,AAF=", nil, true}, // non-zero padding bits
		{"v1,AA\nE=", nil, true},
	}
	for _, tt := range tests {
		got, err := parseStandardSignature(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseStandardSignature(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got.v1); diff != "" {
			t.Errorf("parseStandardSignature(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
