package delivery

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Known answers computed outside Go with
//
//	printf 'job_01.1772366400.{"hello":"world"}' |
//	  openssl dgst -sha256 -mac HMAC -macopt key:<key> -binary | base64
//
// where <key> is the decoded whsec_ secret or the raw secret itself.
func TestSignKnownAnswers(t *testing.T) {
	const (
		sigA   = "v1,iB8gswSi4YuVxNusCKX8HJxnXnsztYkdfhlg6/rgs1c="
		sigRaw = "v1,4fFwOm50z3Ko+ULIbjgQvjBnH1iPao/EojraaxQayOA="
	)
	ts := time.Unix(1772366400, 0)
	body := []byte(`{"hello":"world"}`)
	tests := []struct {
		name    string
		secrets []string
		want    string
	}{
		{"whsec_ secret signs with the decoded key", []string{whsecA}, sigA},
		{"raw secret signs with its bytes", []string{rawSecret}, sigRaw},
		{"two secrets, in order", []string{rawSecret, whsecA}, sigRaw + " " + sigA},
		{"empty secrets are skipped", []string{"", whsecA, ""}, sigA},
		{"no secrets", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Sign(tt.secrets, "job_01", ts, body)); diff != "" {
				t.Errorf("Sign (-want +got):\n%s", diff)
			}
		})
	}
	// The test's reference signer agrees, so tests that use it are anchored.
	if got := refSign(whsecA, "job_01", ts.Unix(), body); got != sigA {
		t.Errorf("refSign = %q, want %q", got, sigA)
	}
}

func TestSignWhsecNotBase64SignsRaw(t *testing.T) {
	const secret = "whsec_not*base64!"
	ts := time.Unix(1772366400, 0)
	got := Sign([]string{secret}, "m", ts, []byte("{}"))
	lib, _ := standardwebhooks.NewWebhookRaw([]byte(secret))
	want, _ := lib.Sign("m", ts, []byte("{}"))
	if got != want {
		t.Errorf("Sign = %q, want the raw-bytes signature %q", got, want)
	}
}

// TestSignatureVerifies checks what receivers check: the signature on the
// wire, over the body on the wire, with the Standard Webhooks project's own
// library (which knows nothing of this package) and with a hand-computed
// HMAC. During a rotation each secret verifies alone.
func TestSignatureVerifies(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
	}{
		{"whsec_", []string{whsecA}},
		{"raw", []string{rawSecret}},
		{"rotation: two whsec_", []string{whsecB, whsecA}},
		{"rotation: whsec_ and raw", []string{whsecA, rawSecret}},
	}
	for _, tt := range tests {
		for _, bulk := range []bool{false, true} {
			name := tt.name
			if bulk {
				name += " bulk"
			}
			t.Run(name, func(t *testing.T) {
				srv, got := receiver(t, reply(200, ""))
				req := one(srv.URL, tt.secrets...)
				msgID := "job_01"
				if bulk {
					req.BatchID, msgID = "batch_7", "batch_7"
					req.Records = append(req.Records, Record{JobID: "job_02", AttemptNumber: 2, Payload: json.RawMessage(`[1,2]`)})
				}
				if res := newTestClient().Deliver(t.Context(), req); res.Outcome != Completed {
					t.Fatalf("Outcome = %v (%s), want completed", res.Outcome, res.Error)
				}
				r := <-got

				if got, want := r.header.Get("Authorization"), "Bearer "+tt.secrets[0]; got != want {
					t.Errorf("Authorization = %q, want %q", got, want)
				}
				sigs := strings.Split(r.header.Get("webhook-signature"), " ")
				if len(sigs) != len(tt.secrets) {
					t.Fatalf("webhook-signature has %d signatures, want %d: %q", len(sigs), len(tt.secrets), sigs)
				}
				for i, secret := range tt.secrets {
					// The hand-computed HMAC, in the secret's position.
					if want := refSign(secret, msgID, testNow.Unix(), r.body); sigs[i] != want {
						t.Errorf("signature %d = %q, want %q", i, sigs[i], want)
					}
					// The library, given only this secret and only the i-th
					// signature, so each one is shown to verify by itself.
					lib := libWebhook(t, secret)
					h := r.header.Clone()
					h.Set("webhook-signature", sigs[i])
					if err := lib.VerifyIgnoringTimestamp(r.body, h); err != nil {
						t.Errorf("secret %d: library verification: %v", i, err)
					}
					// A one-byte change to the body must not verify: this
					// check can fail.
					tampered := append([]byte(nil), r.body...)
					tampered[len(tampered)-2] ^= 1
					if err := lib.VerifyIgnoringTimestamp(tampered, h); err == nil {
						t.Errorf("secret %d: tampered body verified", i)
					}
				}
				// A secret the endpoint does not have verifies nothing.
				other := libWebhook(t, "whsec_"+"b3RoZXItc2VjcmV0LW5vdC1jb25maWd1cmVk")
				if err := other.VerifyIgnoringTimestamp(r.body, r.header); err == nil {
					t.Error("an unrelated secret verified the delivery")
				}
			})
		}
	}
}

// libWebhook returns the Standard Webhooks library's verifier for secret.
func libWebhook(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	var (
		wh  *standardwebhooks.Webhook
		err error
	)
	if strings.HasPrefix(secret, "whsec_") {
		wh, err = standardwebhooks.NewWebhook(secret)
	} else {
		wh, err = standardwebhooks.NewWebhookRaw([]byte(secret))
	}
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

// The timestamp header is the clock's, so the library's own tolerance check
// passes when the clock is the real one.
func TestSignatureVerifiesWithTimestamp(t *testing.T) {
	srv, got := receiver(t, reply(200, ""))
	c := NewClient(nil, time.Now, testUserAgent)
	if res := c.Deliver(t.Context(), one(srv.URL)); res.Outcome != Completed {
		t.Fatalf("Outcome = %v (%s), want completed", res.Outcome, res.Error)
	}
	r := <-got
	if err := libWebhook(t, whsecA).Verify(r.body, http.Header(r.header)); err != nil {
		t.Errorf("library verification with timestamp check: %v", err)
	}
}
