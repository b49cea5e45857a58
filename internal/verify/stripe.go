package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const stripeHeader = "Stripe-Signature"

// stripeVerifier implements Stripe's webhook signature scheme.
type stripeVerifier struct {
	keys      [][]byte
	tolerance time.Duration
}

// newStripe keys the HMAC with the secret text itself: Stripe uses the whole
// "whsec_…" string as the key, unlike Standard Webhooks, which decodes it.
func newStripe(secrets []string, tolerance time.Duration) *stripeVerifier {
	v := &stripeVerifier{tolerance: tolerance}
	if v.tolerance == 0 {
		v.tolerance = defaultStripeTolerance
	}
	for _, s := range secrets {
		v.keys = append(v.keys, []byte(s))
	}
	return v
}

func (v *stripeVerifier) Verify(h http.Header, body []byte, now time.Time) error {
	value, err := header(h, stripeHeader)
	if err != nil {
		return err
	}
	sig, err := parseStripeSignature(value)
	if err != nil {
		return reject(ErrMalformed, "%s: %v", stripeHeader, err)
	}
	if err := checkAge(stripeHeader+" timestamp", sig.timestamp, now, v.tolerance); err != nil {
		return err
	}
	if len(sig.v1) == 0 {
		return reject(ErrMismatch, "%s has no v1 signature", stripeHeader)
	}
	ts := strconv.FormatInt(sig.timestamp, 10)
	for _, key := range v.keys {
		want := signStripe(key, ts, body)
		for _, got := range sig.v1 {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return reject(ErrMismatch, "no v1 signature in %s matches: expected hex HMAC-SHA256 of \"{t}.{body}\" keyed with the endpoint secret", stripeHeader)
}

// signStripe returns the raw v1 signature of one payload.
func signStripe(key []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// stripeSignature is a parsed Stripe-Signature header.
type stripeSignature struct {
	timestamp int64
	v1        [][]byte // decoded, in header order
}

// parseStripeSignature parses "t=<unix>,v1=<hex>[,v1=<hex>…]". Exactly one t
// is required. Keys other than t and v1 (v0, Stripe's test-mode signature,
// and any future scheme) are skipped so that new versions do not break
// verification; a v1 that is not hex is an error rather than skipped, since it
// points at a sender bug worth reporting.
func parseStripeSignature(s string) (stripeSignature, error) {
	var sig stripeSignature
	seenT := false
	for i, item := range strings.Split(s, ",") {
		key, value, ok := strings.Cut(item, "=")
		if !ok || key == "" {
			return stripeSignature{}, fmt.Errorf("item %d is not \"key=value\"", i+1)
		}
		switch key {
		case "t":
			if seenT {
				return stripeSignature{}, errors.New("t appears more than once")
			}
			seenT = true
			ts, err := parseUnix(value)
			if err != nil {
				return stripeSignature{}, fmt.Errorf("t must be whole unix seconds: %v", err)
			}
			sig.timestamp = ts
		case "v1":
			d, err := hex.DecodeString(value)
			if err != nil || len(d) == 0 {
				return stripeSignature{}, fmt.Errorf("item %d: v1 signature is not hex", i+1)
			}
			sig.v1 = append(sig.v1, d)
		}
	}
	if !seenT {
		return stripeSignature{}, errors.New("no t= timestamp")
	}
	return sig, nil
}
