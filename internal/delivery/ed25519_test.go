package delivery

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"
)

// RFC 8032 section 7.1, test 1, and the v1a signature of the Standard
// Webhooks example message under its key (ed25519 is deterministic; the
// test checks it with crypto/ed25519 before relying on it).
const (
	rfcSeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcWhsk32  = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
	rfcWhsk64  = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg=="
	rfcWhpk    = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	specMsgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specBody   = `{"test": 2432232314}`
	specV1a    = "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw=="
	// The RFC's signature of the empty message.
	rfcEmptySigHex = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

func TestSigningKeyEncodings(t *testing.T) {
	seed, _ := hex.DecodeString(rfcSeedHex)
	if rfcWhsk32 != SecretKeyPrefix+base64.StdEncoding.EncodeToString(seed) {
		t.Fatal("rfcWhsk32 is not the RFC 8032 seed")
	}
	for _, enc := range []string{rfcWhsk32, rfcWhsk64} {
		key, err := ParseSigningKey(enc)
		if err != nil {
			t.Fatalf("ParseSigningKey(%s): %v", enc, err)
		}
		if sig := ed25519.Sign(key, nil); hex.EncodeToString(sig) != rfcEmptySigHex {
			t.Errorf("%s signs the empty message as %x, want RFC 8032's", enc, sig)
		}
		if pub, err := PublicKey(enc); err != nil || pub != rfcWhpk {
			t.Errorf("PublicKey(%s) = %q, %v; want %s", enc, pub, err, rfcWhpk)
		}
	}
	// A 64-byte key whose public half is not the seed's.
	raw, _ := base64.StdEncoding.DecodeString(rfcWhsk64[len(SecretKeyPrefix):])
	raw[63] ^= 1
	for _, bad := range []string{
		SecretKeyPrefix + base64.StdEncoding.EncodeToString(raw),
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",                        // no prefix
		SecretKeyPrefix + base64.StdEncoding.EncodeToString(make([]byte, 31)), // short
		SecretKeyPrefix + "not base64!",
	} {
		if _, err := ParseSigningKey(bad); err == nil {
			t.Errorf("ParseSigningKey(%q) accepted it", bad)
		}
	}
}

func TestSignV1aKnownAnswer(t *testing.T) {
	key, err := ParseSigningKey(rfcWhsk32)
	if err != nil {
		t.Fatal(err)
	}
	got := SignV1a(key, specMsgID, time.Unix(1614265330, 0), []byte(specBody))
	if got != specV1a {
		t.Errorf("SignV1a = %q, want %q", got, specV1a)
	}
	sig, _ := base64.StdEncoding.DecodeString(specV1a[len("v1a,"):])
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), []byte(specMsgID+".1614265330."+specBody), sig) {
		t.Error("crypto/ed25519 rejects the known answer")
	}
}

func FuzzParseSigningKey(f *testing.F) {
	f.Add(rfcWhsk32)
	f.Add(rfcWhsk64)
	f.Add("whsk_")
	f.Add("whsk_AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseSigningKey(s)
		if err != nil {
			return
		}
		// A key that parses signs, and its public key verifies.
		pub, err := PublicKey(s)
		if err != nil {
			t.Fatalf("PublicKey(%q) after ParseSigningKey succeeded: %v", s, err)
		}
		raw, _ := base64.StdEncoding.DecodeString(pub[len(PublicKeyPrefix):])
		sig := ed25519.Sign(key, []byte("m"))
		if !ed25519.Verify(ed25519.PublicKey(raw), []byte("m"), sig) {
			t.Fatalf("key %q: its public key does not verify its signature", s)
		}
	})
}
