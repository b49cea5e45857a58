package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// KeyPrefix starts every API key; k1 is the version of the format.
const KeyPrefix = "disp_k1_"

const (
	randomLen   = 32 // random base62 characters: about 190 bits
	checksumLen = 6  // 62^6 > 2^32, so a CRC-32 always fits
	lookupLen   = 8  // random characters in the stored, indexed prefix
	// keyLen is the length of every valid key.
	keyLen = len(KeyPrefix) + randomLen + checksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Key is a stored API key; the type is the domain's (job.APIKey), so
// that the store does not depend on this package.
type Key = job.APIKey

// Store persists API keys and the sessions that stand for them.
type Store interface {
	job.KeyStore
	job.SessionStore
}

// ErrMalformed is the error Parse wraps: the string cannot be a key.
var ErrMalformed = errors.New("the API key is malformed")

// Generate returns a new random key and what to store of it: its ID (time
// ordered), Prefix, Hash and Scope (ScopeAdmin). The caller sets the other
// fields. The plaintext is to be shown once to the person who asked for it.
func Generate() (plaintext string, k Key) {
	random := generateRandom()
	// A draw that looks made up is drawn again (about one in 10^8), so that
	// every generated key passes CheckBootstrap.
	for !varied(random) {
		random = generateRandom()
	}
	plaintext = KeyPrefix + string(random) + checksum(random)
	return plaintext, Key{
		ID:     job.NewID("key", time.Now()),
		Prefix: plaintext[:len(KeyPrefix)+lookupLen],
		Hash:   Hash(plaintext),
		Scope:  ScopeAdmin,
	}
}

// generateRandom returns randomLen uniformly random base62 characters.
func generateRandom() []byte {
	random := make([]byte, 0, randomLen)
	var buf [64]byte
	for len(random) < randomLen {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (it aborts the program instead)
		for _, b := range buf {
			// 248 = 4*62: bytes from 248 up are dropped so that every
			// character is equally likely.
			if b < 248 && len(random) < randomLen {
				random = append(random, base62[b%62])
			}
		}
	}
	return random
}

// minDistinct is how many different characters the random part of a
// bootstrap key must have. 32 random base62 characters have about 25;
// fewer than 12 happens about once in 10^8 draws, and is what a key typed
// by hand ("disp_k1_aaaa…", "…0123456789…") looks like.
const minDistinct = 12

// varied reports whether random has at least minDistinct distinct
// characters.
func varied(random []byte) bool {
	var seen [256]bool
	n := 0
	for _, c := range random {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n >= minDistinct
}

// CheckBootstrap checks that s has the shape and entropy of a generated
// key, as the bootstrap key must: a key made up by hand is guessable. The
// error says how to make one and never contains s.
func CheckBootstrap(s string) error {
	if _, err := Parse(s); err != nil {
		return fmt.Errorf("%w; make one with \"dispatchd keys generate\"", err)
	}
	if !varied([]byte(s[len(KeyPrefix) : len(KeyPrefix)+randomLen])) {
		return fmt.Errorf("%w (too few different characters to be random); make one with \"dispatchd keys generate\"", ErrMalformed)
	}
	return nil
}

// Parse checks that s is a well-formed key with a valid checksum and
// returns its lookup prefix. The error wraps ErrMalformed and never
// contains s.
func Parse(s string) (prefix string, err error) {
	if len(s) < len(KeyPrefix) || s[:len(KeyPrefix)] != KeyPrefix {
		return "", fmt.Errorf("%w (it must start with %s)", ErrMalformed, KeyPrefix)
	}
	if len(s) != keyLen {
		return "", fmt.Errorf("%w (it must be %d characters long, not %d)", ErrMalformed, keyLen, len(s))
	}
	body := s[len(KeyPrefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return "", fmt.Errorf("%w (character %d is not a letter or a digit)", ErrMalformed, len(KeyPrefix)+i+1)
		}
	}
	random, sum := body[:randomLen], body[randomLen:]
	if checksum([]byte(random)) != sum {
		return "", fmt.Errorf("%w (checksum mismatch)", ErrMalformed)
	}
	return s[:len(KeyPrefix)+lookupLen], nil
}

// Hash returns what is stored of a key: its SHA-256.
func Hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// checksum is the CRC-32 (IEEE) of the random part in base62, left-padded
// with zeros to checksumLen characters.
func checksum(random []byte) string {
	c := crc32.ChecksumIEEE(random)
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[c%62]
		c /= 62
	}
	return string(out[:])
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}
