package secretbox

import (
	"errors"
	"strings"
	"testing"
)

func TestSealOpenAcrossTheRing(t *testing.T) {
	oldKey, newKey := GenerateKey(), GenerateKey()
	before, err := ParseKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed := before.Seal([]byte("whsec_top-secret"), []byte("source:a"))
	if strings.Contains(sealed, "top-secret") || !IsSealed(sealed) {
		t.Fatalf("sealed value %q", sealed)
	}
	after, err := ParseKeyring(newKey + ", " + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := after.Open(sealed, []byte("source:a"))
	if err != nil || string(got) != "whsec_top-secret" {
		t.Fatalf("Open with the old key second = %q, %v", got, err)
	}
	if KeyID(sealed) == after.CurrentKeyID() || KeyID(after.Seal(nil, nil)) != after.CurrentKeyID() {
		t.Error("the first key of the ring does not seal")
	}
	if _, err := after.Open(sealed, []byte("source:b")); err == nil {
		t.Error("a value opened under another row's aad")
	}
	onlyNew, _ := ParseKeyring(newKey)
	if _, err := onlyNew.Open(sealed, []byte("source:a")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open without its key: %v, want ErrUnknownKey", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered != sealed {
		if _, err := before.Open(tampered, []byte("source:a")); err == nil {
			t.Error("an altered value opened")
		}
	}
}

func TestParseKeyringRefuses(t *testing.T) {
	for _, s := range []string{"", " , ", "not base64!", "c2hvcnQ="} {
		if _, err := ParseKeyring(s); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", s)
		}
	}
}
