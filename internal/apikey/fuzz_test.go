package apikey_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// parseError matches every message of Parse: fixed words and numbers.
var parseError = regexp.MustCompile(`^the API key is malformed \((it must start with disp_k1_|it must be 46 characters long, not \d+|character \d+ is not a letter or a digit|checksum mismatch)\)$`)

// FuzzParse checks properties of what Parse accepts and refuses: an
// accepted string is a key keyWithRandom would build from its random
// part (so the checksum really was checked) and its prefix is its first 16
// characters; a refused one wraps ErrMalformed and says only fixed words and
// numbers, never a part of the input.
func FuzzParse(f *testing.F) {
	generated, _ := apikey.Generate()
	for _, s := range []string{
		"", "disp_k1_", pinnedKey, paddedKey, generated,
		pinnedKey[:45], pinnedKey + "0", "DISP_K1_" + pinnedKey[8:],
		pinnedKey[:20] + "-" + pinnedKey[21:], pinnedKey[:45] + "M",
		"disp_k1_\x00\xff" + strings.Repeat("a", 36),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefix, err := apikey.Parse(s)
		if err != nil {
			if prefix != "" {
				t.Errorf("Parse(%q) = %q with error %v, want no prefix", s, prefix, err)
			}
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Errorf("Parse(%q) error %v does not wrap ErrMalformed", s, err)
			}
			if !parseError.MatchString(err.Error()) {
				t.Errorf("Parse(%q) error = %q, want one of the fixed messages (which cannot echo the input)", s, err)
			}
			return
		}
		if len(s) != 46 || !strings.HasPrefix(s, apikey.KeyPrefix) {
			t.Fatalf("Parse accepted %q: want 46 characters starting with %s", s, apikey.KeyPrefix)
		}
		if want := keyWithRandom(s[8:40]); s != want {
			t.Errorf("Parse accepted %q, whose checksum should make it %q", s, want)
		}
		if prefix != s[:16] {
			t.Errorf("Parse(%q) prefix = %q, want %q", s, prefix, s[:16])
		}
	})
}
