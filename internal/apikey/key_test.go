package apikey_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// Keys made by hand from the format's definition (CRC-32 IEEE of the
// random part, in base62 0-9A-Za-z, left-padded with 0 to 6 characters)
// with another implementation (Python's zlib.crc32), so that a change to
// the alphabet or the checksum breaks this test and not only the keys
// already issued.
const (
	pinnedKey = "disp_k1_0123456789ABCDEFGHIJKLMNOPQRSTUV1ggZdL" // CRC 0x5c339a43
	paddedKey = "disp_k1_000000000000000000000000000000230DOtWy" // CRC 0x0bcda1e8: a leading 0
)

func TestParse(t *testing.T) {
	generated, _ := apikey.Generate()
	good := pinnedKey // the mutations start from a known key
	random := good[len(apikey.KeyPrefix) : len(good)-6]
	// otherChar returns a base62 character other than c.
	otherChar := func(c byte) string {
		if c == 'a' {
			return "b"
		}
		return "a"
	}
	last := len(good) - 1
	tests := []struct {
		name       string
		in         string
		wantPrefix string
		wantErr    string // substring; "" for success
	}{
		{"generated", generated, generated[:16], ""},
		{"pinned", pinnedKey, "disp_k1_01234567", ""},
		{"padded checksum", paddedKey, "disp_k1_00000000", ""},
		{"padding dropped", paddedKey[:len(paddedKey)-6] + "DOtWy", "", "must be 46 characters long, not 45"},
		{"empty", "", "", "must start with disp_k1_"},
		{"wrong prefix", "disp_k2_" + good[8:], "", "must start with disp_k1_"},
		{"upper-case prefix", "DISP_K1_" + good[8:], "", "must start with disp_k1_"},
		{"no prefix", good[8:], "", "must start with disp_k1_"},
		{"short", good[:last], "", "must be 46 characters long, not 45"},
		{"prefix only", "disp_k1_", "", "must be 46 characters long, not 8"},
		{"long", good + "0", "", "must be 46 characters long, not 47"},
		{"bad char in random part", good[:20] + "-" + good[21:], "", "character 21 is not a letter or a digit"},
		{"bad char in checksum", good[:last] + "=", "", "character 46 is not a letter or a digit"},
		{"non-ASCII", good[:20] + "\xc3" + good[21:], "", "character 21 is not a letter or a digit"},
		{"checksum off by one char", good[:last] + otherChar(good[last]), "", "checksum mismatch"},
		{"random part off by one char", good[:10] + otherChar(good[10]) + good[11:], "", "checksum mismatch"},
		{"random parts swapped", apikey.KeyPrefix + random[1:] + random[:1] + good[last-5:], "", "checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, err := apikey.Parse(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want no error", err)
				}
				if prefix != tt.wantPrefix {
					t.Errorf("Parse prefix = %q, want %q", prefix, tt.wantPrefix)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = %q, nil; want an error containing %q", prefix, tt.wantErr)
			}
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Errorf("Parse error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.wantErr)
			}
			if len(tt.in) > len(apikey.KeyPrefix) && strings.Contains(err.Error(), tt.in[len(apikey.KeyPrefix):]) {
				t.Errorf("Parse error %q echoes the key", err)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		plaintext, k := apikey.Generate()
		prefix, err := apikey.Parse(plaintext)
		if err != nil {
			t.Fatalf("Parse(Generate()) = %v", err)
		}
		if k.Prefix != prefix || !strings.HasPrefix(plaintext, k.Prefix) {
			t.Errorf("Generate prefix = %q, want %q, the start of the key", k.Prefix, prefix)
		}
		if want := sha256.Sum256([]byte(plaintext)); !bytes.Equal(k.Hash, want[:]) {
			t.Errorf("Generate hash = %x, want the SHA-256 of the key %x", k.Hash, want)
		}
		if bytes.Equal(k.Hash, []byte(plaintext)) {
			t.Errorf("Generate hash is the key itself")
		}
		// Nothing of what is stored holds the secret part of the key.
		secret := plaintext[len(k.Prefix):]
		if s := fmt.Sprintf("%+v %q", k, k.Hash); strings.Contains(s, secret) {
			t.Errorf("the stored Key %s holds the key", s)
		}
		if !strings.HasPrefix(k.ID, "key_") {
			t.Errorf("Generate ID = %q, want key_…", k.ID)
		}
		if seen[plaintext] || seen[k.ID] {
			t.Fatalf("Generate repeated a key or an id")
		}
		seen[plaintext], seen[k.ID] = true, true
	}
}
