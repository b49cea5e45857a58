package verify

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// RFC 8032 section 7.1, test 1: the seed and the public key it derives.
// specV1a is the v1a signature of the Standard Webhooks example message
// (specID.specTimestamp.specBody) under that key; ed25519 is deterministic,
// and the test checks it with crypto/ed25519 before relying on it.
const (
	rfcSeedHex   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPublicHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	rfcPublic    = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	specV1a      = "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw=="
)

func TestStandardWebhooksV1aKnownAnswer(t *testing.T) {
	pub, _ := hex.DecodeString(rfcPublicHex)
	seed, _ := hex.DecodeString(rfcSeedHex)
	if got := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey); !got.Equal(ed25519.PublicKey(pub)) {
		t.Fatalf("crypto/ed25519 derives %x from the RFC 8032 seed, want %x", got, pub)
	}
	if rfcPublic != "whpk_"+base64.StdEncoding.EncodeToString(pub) {
		t.Fatalf("rfcPublic is not the RFC 8032 public key")
	}
	sig, _ := base64.StdEncoding.DecodeString(specV1a[len("v1a,"):])
	if !ed25519.Verify(pub, []byte(specID+"."+specTimestamp+"."+specBody), sig) {
		t.Fatal("crypto/ed25519 rejects the known v1a signature")
	}

	now := time.Unix(1614265330, 0)
	v := mustNew(t, Config{Scheme: StandardWebhooks, PublicKey: rfcPublic})
	good := hdr("webhook-id", specID, "webhook-timestamp", specTimestamp, "webhook-signature", specV1a)
	checkVerify(t, v.Verify(good, []byte(specBody), now), nil)
	// Beside an HMAC entry that does not match (another secret), as a
	// sender migrating from v1 to v1a sends them.
	both := hdr("webhook-id", specID, "webhook-timestamp", specTimestamp, "webhook-signature", "v1,AAAA "+specV1a)
	checkVerify(t, v.Verify(both, []byte(specBody), now), nil)
	checkVerify(t, v.Verify(good, []byte(specBody+" "), now), ErrMismatch)
	// A v1 signature does not pass a source that only has a public key.
	v1only := hdr("webhook-id", specID, "webhook-timestamp", specTimestamp, "webhook-signature", specSignature)
	checkVerify(t, v.Verify(v1only, []byte(specBody), now), ErrMismatch)

	// With a secret and a public key, either signature passes.
	vb := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{specSecret}, PublicKey: rfcPublic})
	checkVerify(t, vb.Verify(good, []byte(specBody), now), nil)
	checkVerify(t, vb.Verify(v1only, []byte(specBody), now), nil)
}

func TestStandardWebhooksV1aIndependentSigner(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	v := mustNew(t, Config{Scheme: StandardWebhooks, PublicKey: "whpk_" + base64.StdEncoding.EncodeToString(pub)})
	now := time.Unix(1700000000, 0)
	body := []byte(`{"type":"invoice.paid"}`)
	sig := ed25519.Sign(priv, []byte("msg_1.1700000000."+string(body)))
	h := hdr("webhook-id", "msg_1", "webhook-timestamp", "1700000000", "webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(sig))
	checkVerify(t, v.Verify(h, body, now), nil)
	// Another key's signature is refused.
	_, other, _ := ed25519.GenerateKey(nil)
	h.Set("webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(ed25519.Sign(other, []byte("msg_1.1700000000."+string(body)))))
	checkVerify(t, v.Verify(h, body, now), ErrMismatch)
}

func TestPublicKeyConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no prefix", Config{Scheme: StandardWebhooks, PublicKey: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}},
		{"31 bytes", Config{Scheme: StandardWebhooks, PublicKey: "whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31))}},
		{"other scheme", Config{Scheme: Bearer, Secrets: []string{"a-long-enough-secret"}, PublicKey: rfcPublic}},
		{"nothing", Config{Scheme: StandardWebhooks}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
}

// TestSvixHeaders: a webhook signed by Svix comes with svix-id,
// svix-timestamp and svix-signature; the scheme accepts them as it does
// the webhook-* set, but never a mix of both.
func TestSvixHeaders(t *testing.T) {
	now := time.Unix(1614265330, 0)
	v := mustNew(t, Config{Scheme: StandardWebhooks, Secrets: []string{specSecret}})
	svix := hdr("svix-id", specID, "svix-timestamp", specTimestamp, "svix-signature", specSignature)
	checkVerify(t, v.Verify(svix, []byte(specBody), now), nil)
	checkVerify(t, v.Verify(svix, []byte(specBody+"x"), now), ErrMismatch)

	// Lower-case keys, as headers rebuilt from gRPC metadata have them.
	raw := rawHdr("svix-id", specID, "svix-timestamp", specTimestamp, "svix-signature", specSignature)
	checkVerify(t, v.Verify(raw, []byte(specBody), now), nil)

	mixed := hdr("svix-id", specID, "svix-timestamp", specTimestamp, "webhook-signature", specSignature)
	err := v.Verify(mixed, []byte(specBody), now)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("mixed header sets: Verify = %v, want ErrMalformed", err)
	}
	partial := hdr("svix-id", specID, "svix-signature", specSignature)
	if err := v.Verify(partial, []byte(specBody), now); !errors.Is(err, ErrMissing) || err.Error() != "missing svix-timestamp header" {
		t.Errorf("svix set without a timestamp: Verify = %v", err)
	}
}
