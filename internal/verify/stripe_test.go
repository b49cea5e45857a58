package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Known answers computed independently with OpenSSL:
//
//	printf '%s' '1700000000.{"id":"evt_test","object":"event"}' |
//	  openssl dgst -sha256 -hmac 'whsec_dispatchdTestSecret'
//
// and the same with 'whsec_dispatchdPreviousSecret'. Stripe keys the HMAC
// with the whole secret string, prefix included.
const (
	stripeSecret       = "whsec_dispatchdTestSecret"
	stripePrevious     = "whsec_dispatchdPreviousSecret"
	stripeOther        = "whsec_dispatchdOtherSecret"
	stripeKATBody      = `{"id":"evt_test","object":"event"}`
	stripeKATTimestamp = 1700000000
	stripeKATCurrent   = "83efcf30d5e47efb79622ff69fb34dc333d4187c8e84a506194ca4c3ac4da224"
	stripeKATPrevious  = "7e839314bd8df75b928a06bc3949e08754b85795548d8123db44dccdd2ddaa4a"
)

// refStripeSign is the test's own Stripe signer: hex HMAC-SHA256 of
// "{t}.{body}" keyed with the secret's bytes.
func refStripeSign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestStripeKnownAnswer(t *testing.T) {
	body := []byte(stripeKATBody)
	for _, tt := range []struct{ secret, want string }{
		{stripeSecret, stripeKATCurrent},
		{stripePrevious, stripeKATPrevious},
	} {
		if got := refStripeSign(tt.secret, stripeKATTimestamp, body); got != tt.want {
			t.Errorf("refStripeSign(%q) = %s, want %s", tt.secret, got, tt.want)
		}
		if got := hex.EncodeToString(signStripe([]byte(tt.secret), "1700000000", body)); got != tt.want {
			t.Errorf("signStripe(%q) = %s, want %s", tt.secret, got, tt.want)
		}
	}
	v := mustNew(t, Config{Scheme: Stripe, Secrets: []string{stripeSecret}})
	h := hdr("Stripe-Signature", "t=1700000000,v1="+stripeKATCurrent+",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	checkVerify(t, v.Verify(h, body, time.Unix(stripeKATTimestamp, 0)), nil)
}

func TestStripe(t *testing.T) {
	const ts = int64(stripeKATTimestamp)
	body := []byte(stripeKATBody)
	now := time.Unix(ts, 0)
	sig := func(secret string) string { return refStripeSign(secret, ts, body) }
	header := func(value string) http.Header { return hdr("Stripe-Signature", value) }
	good := header(fmt.Sprintf("t=%d,v1=%s", ts, stripeKATCurrent))
	forbidden := []string{stripeSecret, stripePrevious, stripeOther, stripeKATCurrent, stripeKATPrevious}

	rotating := mustNew(t, Config{Scheme: Stripe, Secrets: []string{stripeSecret, stripePrevious}})
	single := mustNew(t, Config{Scheme: Stripe, Secrets: []string{stripeSecret}})
	wide := mustNew(t, Config{Scheme: Stripe, Secrets: []string{stripeSecret}, Tolerance: 10 * time.Minute})

	tests := []struct {
		name string
		v    Verifier
		h    http.Header
		body []byte
		now  time.Time
		want error
	}{
		{"current secret", rotating, good, body, now, nil},
		{"previous secret", rotating, header(fmt.Sprintf("t=%d,v1=%s", ts, stripeKATPrevious)), body, now, nil},
		{"previous secret after rotation ends", single, header(fmt.Sprintf("t=%d,v1=%s", ts, stripeKATPrevious)), body, now, ErrMismatch},
		{"wrong secret", rotating, header(fmt.Sprintf("t=%d,v1=%s", ts, sig(stripeOther))), body, now, ErrMismatch},
		{"missing header", rotating, hdr("X-Other", "t=1"), body, now, ErrMissing},
		{"empty header", rotating, header(""), body, now, ErrMissing},
		{"no t", rotating, header("v1=" + stripeKATCurrent), body, now, ErrMalformed},
		{"t twice", rotating, header(fmt.Sprintf("t=%d,t=%d,v1=%s", ts, ts, stripeKATCurrent)), body, now, ErrMalformed},
		{"t not a number", rotating, header("t=now,v1=" + stripeKATCurrent), body, now, ErrMalformed},
		{"t negative", rotating, header("t=-1,v1=" + stripeKATCurrent), body, now, ErrMalformed},
		{"v1 not hex", rotating, header(fmt.Sprintf("t=%d,v1=zz", ts)), body, now, ErrMalformed},
		{"v1 empty", rotating, header(fmt.Sprintf("t=%d,v1=", ts)), body, now, ErrMalformed},
		{"item without =", rotating, header(fmt.Sprintf("t=%d,%s", ts, stripeKATCurrent)), body, now, ErrMalformed},
		{"trailing comma", rotating, header(fmt.Sprintf("t=%d,v1=%s,", ts, stripeKATCurrent)), body, now, ErrMalformed},
		{"spaces after commas", rotating, header(fmt.Sprintf("t=%d, v1=%s", ts, stripeKATCurrent)), body, now, ErrMismatch},
		{"no v1", rotating, header(fmt.Sprintf("t=%d,v0=%s", ts, stripeKATCurrent)), body, now, ErrMismatch},
		{"v1 truncated", rotating, header(fmt.Sprintf("t=%d,v1=%s", ts, stripeKATCurrent[:62])), body, now, ErrMismatch},
		{"v1 upper-case hex", rotating, header(fmt.Sprintf("t=%d,v1=%s", ts, strings.ToUpper(stripeKATCurrent))), body, now, nil},
		{"several v1, second matches", rotating, header(fmt.Sprintf("t=%d,v1=%s,v1=%s", ts, sig(stripeOther), stripeKATCurrent)), body, now, nil},
		{"several v1, none matches", rotating, header(fmt.Sprintf("t=%d,v1=%s,v1=%s", ts, sig(stripeOther), refStripeSign(stripeSecret, ts+1, body))), body, now, ErrMismatch},
		{"v0 and unknown keys skipped", rotating, header(fmt.Sprintf("v0=%s,t=%d,v2=abc,x=,v1=%s", stripeKATCurrent, ts, stripeKATCurrent)), body, now, nil},
		{"valid v0 does not count", rotating, header(fmt.Sprintf("t=%d,v0=%s,v1=%s", ts, stripeKATCurrent, sig(stripeOther))), body, now, ErrMismatch},
		{"old, just inside", rotating, good, body, now.Add(300 * time.Second), nil},
		{"old, just outside", rotating, good, body, now.Add(301 * time.Second), ErrExpired},
		{"future, just inside", rotating, good, body, now.Add(-300 * time.Second), nil},
		{"future, just outside", rotating, good, body, now.Add(-301 * time.Second), ErrExpired},
		{"configured tolerance, inside", wide, good, body, now.Add(599 * time.Second), nil},
		{"configured tolerance, outside", wide, good, body, now.Add(601 * time.Second), ErrExpired},
		{"t changed", rotating, header(fmt.Sprintf("t=%d,v1=%s", ts+1, stripeKATCurrent)), body, now, ErrMismatch},
		{"body one byte changed", rotating, good, []byte(`{"id":"evt_tesT","object":"event"}`), now, ErrMismatch},
		{"body with trailing newline", rotating, good, []byte(stripeKATBody + "\n"), now, ErrMismatch},
		{"lower-case key", rotating, rawHdr("stripe-signature", fmt.Sprintf("t=%d,v1=%s", ts, stripeKATCurrent)), body, now, nil},
		{"upper-case key", rotating, rawHdr("STRIPE-SIGNATURE", fmt.Sprintf("t=%d,v1=%s", ts, stripeKATCurrent)), body, now, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.v.Verify(tt.h, tt.body, tt.now), tt.want, forbidden...)
		})
	}
}

func TestStripeMessages(t *testing.T) {
	v := mustNew(t, Config{Scheme: Stripe, Secrets: []string{stripeSecret}})
	now := time.Unix(stripeKATTimestamp, 0)
	tests := []struct {
		name  string
		value string
		now   time.Time
		want  string
	}{
		{"malformed", "v1=ab", now, "Stripe-Signature: no t= timestamp"},
		{"expired", "t=1700000000,v1=ab", now.Add(time.Hour), "Stripe-Signature timestamp is 1h0m0s in the past; the tolerance is 5m0s"},
		{"no v1", "t=1700000000", now, "Stripe-Signature has no v1 signature"},
		{"mismatch", "t=1700000000,v1=ab", now, `no v1 signature in Stripe-Signature matches: expected hex HMAC-SHA256 of "{t}.{body}" keyed with the endpoint secret`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(hdr("Stripe-Signature", tt.value), []byte(stripeKATBody), tt.now)
			if err == nil {
				t.Fatal("Verify = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStripeSignature(t *testing.T) {
	tests := []struct {
		in      string
		want    stripeSignature
		wantErr bool
	}{
		{"t=5,v1=00ff", stripeSignature{timestamp: 5, v1: [][]byte{{0, 0xff}}}, false},
		{"v1=0A,t=5,v1=0b", stripeSignature{timestamp: 5, v1: [][]byte{{0x0a}, {0x0b}}}, false},
		{"t=5", stripeSignature{timestamp: 5}, false},
		{"t=5,v0=zz,v2=,scheme=x=y", stripeSignature{timestamp: 5}, false},
		{"", stripeSignature{}, true},
		{"t=", stripeSignature{}, true},
		{"t=5,t=5", stripeSignature{}, true},
		{"t=5,v1=0", stripeSignature{}, true},
		{"t=5,,v1=00", stripeSignature{}, true},
		{"t=5,=00", stripeSignature{}, true},
		{"T=5", stripeSignature{}, true},
	}
	for _, tt := range tests {
		got, err := parseStripeSignature(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseStripeSignature(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(stripeSignature{})); diff != "" {
			t.Errorf("parseStripeSignature(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
