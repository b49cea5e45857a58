package apikey_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
	dstore "github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// testBundle is what setup gives a test: a real SQLite store and an
// Authenticator over it.
type testBundle struct {
	store *dstore.Store
	auth  *apikey.Authenticator
	clock *clock
}

const bootstrapKey = "disp_k1_HKOx1VN7vyGLAXXf6st72l7iGKgHKryC1i4F8a" // made with dispatchd keys generate

func setup(t *testing.T) *testBundle {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "dispatchd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c := &clock{now: t0}
	return &testBundle{store: s, auth: apikey.NewAuthenticator(s, bootstrapKey, c.Now), clock: c}
}

// createKey stores a new key and returns it in clear.
func createKey(t *testing.T, s apikey.Store, name, endpoint string) (string, apikey.Key) {
	t.Helper()
	plaintext, k := apikey.Generate()
	k.Name, k.DefaultEndpoint, k.CreatedAt = name, endpoint, t0
	if err := s.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return plaintext, k
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	key, k := createKey(t, b.store, "ci", "orders")
	revokedKey, revoked := createKey(t, b.store, "old", "")
	if err := b.store.RevokeKey(ctx, revoked.ID, t0); err != nil {
		t.Fatal(err)
	}
	// A well-formed key that shares its prefix with a stored one but is
	// not it: only the hash can tell.
	sibling := keyWithRandom(key[8:16] + strings.Repeat("z", 24))
	unknownKey, _ := apikey.Generate()
	good := apikey.Principal{KeyID: k.ID, Name: "ci", DefaultEndpoint: "orders", Scope: apikey.ScopeAdmin}

	tests := []struct {
		name    string
		header  string
		want    apikey.Principal
		wantErr string // substring of the message; "" for success
	}{
		{"valid", "Bearer " + key, good, ""},
		{"scheme in lower case", "bearer " + key, good, ""},
		{"scheme in upper case", "BEARER " + key, good, ""},
		{"spaces around", "  Bearer   " + key + " ", good, ""},
		{"bootstrap", "Bearer " + bootstrapKey, apikey.Principal{KeyID: apikey.BootstrapKeyID, Scope: apikey.ScopeAdmin, BootstrapFingerprint: fingerprint(bootstrapKey)}, ""},
		{"missing header", "", apikey.Principal{}, "missing Authorization: Bearer disp_k1_… header"},
		{"malformed session token", "Bearer disp_s_" + key[8:20], apikey.Principal{}, "the session token is malformed"},
		{"session token not ASCII", "Bearer disp_s_" + strings.Repeat("é", 16), apikey.Principal{}, "the session token is malformed"},
		{"unknown session", "Bearer disp_s_" + key[8:40], apikey.Principal{}, "unknown or ended session; log in again"},
		{"blank header", "   ", apikey.Principal{}, "missing Authorization: Bearer disp_k1_… header"},
		{"scheme without key", "Bearer", apikey.Principal{}, "missing Authorization: Bearer disp_k1_… header"},
		{"scheme and spaces", "Bearer  ", apikey.Principal{}, "missing Authorization: Bearer disp_k1_… header"},
		{"wrong scheme", "Basic " + key, apikey.Principal{}, "must use the Bearer scheme"},
		{"key without scheme", key, apikey.Principal{}, "must use the Bearer scheme"},
		{"checksum mismatch", "Bearer " + key[:len(key)-1] + flip(key[len(key)-1]), apikey.Principal{}, "the API key is malformed (checksum mismatch)"},
		{"truncated", "Bearer " + key[:40], apikey.Principal{}, "the API key is malformed (it must be 46 characters long, not 40)"},
		{"not a key", "Bearer hunter2", apikey.Principal{}, "the API key is malformed (it must start with disp_k1_)"},
		{"bootstrap off by one", "Bearer " + bootstrapKey + "x", apikey.Principal{}, "the API key is malformed"},
		{"unknown", "Bearer " + unknownKey, apikey.Principal{}, "unknown API key"},
		{"same prefix, other key", "Bearer " + sibling, apikey.Principal{}, "unknown API key"},
		{"revoked", "Bearer " + revokedKey, apikey.Principal{}, "the API key is revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.auth.Authenticate(ctx, tt.header)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Authenticate = %v, want no error", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Authenticate (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Authenticate = %+v, nil; want an error containing %q", got, tt.wantErr)
			}
			if code := job.ErrorCode(err); code != job.CodeUnauthenticated {
				t.Errorf("Authenticate error code = %q, want %q (error %v)", code, job.CodeUnauthenticated, err)
			}
			if msg := job.ErrorMessage(err); !strings.Contains(msg, tt.wantErr) {
				t.Errorf("Authenticate message = %q, want it to contain %q", msg, tt.wantErr)
			}
			if cmp.Diff(apikey.Principal{}, got) != "" {
				t.Errorf("Authenticate failed but returned principal %+v", got)
			}
			for _, secret := range []string{key[16:], revokedKey[16:], sibling[16:], unknownKey[16:], bootstrapKey[8:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q echoes a key", err)
				}
			}
		})
	}
}

// keyWithRandom builds a valid key around 32 random characters: the
// checksum computed here, independently of the package, for keys that
// Generate would not make.
func keyWithRandom(random string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	c := crc32.ChecksumIEEE([]byte(random))
	sum := make([]byte, 6)
	for i := len(sum) - 1; i >= 0; i-- {
		sum[i] = base62[c%62]
		c /= 62
	}
	return apikey.KeyPrefix + random + string(sum)
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	key, k := createKey(t, b.store, "ci", "")
	if _, err := b.auth.Authenticate(ctx, "Bearer "+key); err != nil {
		t.Fatalf("Authenticate before revocation: %v", err)
	}
	if err := b.store.RevokeKey(ctx, k.ID, t0); err != nil {
		t.Fatal(err)
	}
	_, err := b.auth.Authenticate(ctx, "Bearer "+key)
	if job.ErrorCode(err) != job.CodeUnauthenticated || !strings.Contains(job.ErrorMessage(err), "revoked") {
		t.Errorf("Authenticate right after revocation = %v, want the key refused as revoked", err)
	}
}

// lastUsed reads the key's last-use time from the store.
func lastUsed(t *testing.T, s apikey.Store, k apikey.Key) time.Time {
	t.Helper()
	got, err := s.GetKeyByPrefix(context.Background(), k.Prefix)
	if err != nil {
		t.Fatalf("GetKeyByPrefix: %v", err)
	}
	return got.LastUsedAt
}

func TestLastUsedAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	key, k := createKey(t, b.store, "ci", "")
	otherKey, other := createKey(t, b.store, "other", "")

	steps := []struct {
		name string
		at   time.Time
		key  string
		want time.Time // k's LastUsedAt after the call
	}{
		{"first use records", t0.Add(time.Second), key, t0.Add(time.Second)},
		{"within the minute: not recorded", t0.Add(30 * time.Second), key, t0.Add(time.Second)},
		{"just under a minute: not recorded", t0.Add(time.Minute + time.Second - time.Microsecond), key, t0.Add(time.Second)},
		{"another key's use is its own", t0.Add(time.Minute), otherKey, t0.Add(time.Second)},
		{"a minute later: recorded", t0.Add(time.Minute + time.Second), key, t0.Add(time.Minute + time.Second)},
		{"again within that minute", t0.Add(90 * time.Second), key, t0.Add(time.Minute + time.Second)},
		{"much later", t0.Add(time.Hour), key, t0.Add(time.Hour)},
	}
	for _, st := range steps {
		b.clock.Set(st.at)
		if _, err := b.auth.Authenticate(ctx, "Bearer "+st.key); err != nil {
			t.Fatalf("%s: Authenticate: %v", st.name, err)
		}
		if got := lastUsed(t, b.store, k); !got.Equal(st.want) {
			t.Errorf("%s: LastUsedAt = %v, want %v", st.name, got, st.want)
		}
	}
	if got, want := lastUsed(t, b.store, other), t0.Add(time.Minute); !got.Equal(want) {
		t.Errorf("other key's LastUsedAt = %v, want %v", got, want)
	}
}

// touchCounter is the real store with its TouchKey counted and, when fail
// is set, failing: the one fault that cannot be caused in a real database
// without breaking the lookups too.
type touchCounter struct {
	apikey.Store
	calls atomic.Int64
	fail  atomic.Bool
}

func (s *touchCounter) TouchKey(ctx context.Context, id string, now time.Time) error {
	s.calls.Add(1)
	if s.fail.Load() {
		return errors.New("disk full")
	}
	return s.Store.TouchKey(ctx, id, now)
}

func TestConcurrentUsesTouchOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, k := createKey(t, b.store, "ci", "")
	counted := &touchCounter{Store: b.store}
	auth := apikey.NewAuthenticator(counted, "", b.clock.Now)

	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = auth.Authenticate(context.Background(), "Bearer "+key)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got := counted.calls.Load(); got != 1 {
		t.Errorf("%d concurrent uses in the same instant wrote last_used_at %d times, want 1", n, got)
	}
	if got := lastUsed(t, b.store, k); !got.Equal(t0) {
		t.Errorf("LastUsedAt = %v, want %v", got, t0)
	}
}

func TestTouchFailureDoesNotFailTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	key, k := createKey(t, b.store, "ci", "")
	counted := &touchCounter{Store: b.store}
	auth := apikey.NewAuthenticator(counted, "", b.clock.Now)

	counted.fail.Store(true)
	p, err := auth.Authenticate(ctx, "Bearer "+key)
	if err != nil {
		t.Fatalf("Authenticate with a failing touch = %v, want success", err)
	}
	if p.KeyID != k.ID {
		t.Errorf("KeyID = %q, want %q", p.KeyID, k.ID)
	}
	// The failed touch is not counted as done: the next request, in the
	// same minute, records the use.
	counted.fail.Store(false)
	b.clock.Set(t0.Add(time.Second))
	if _, err := auth.Authenticate(ctx, "Bearer "+key); err != nil {
		t.Fatal(err)
	}
	if got, want := lastUsed(t, b.store, k), t0.Add(time.Second); !got.Equal(want) {
		t.Errorf("LastUsedAt = %v, want %v: the use after a failed touch must be recorded", got, want)
	}
	if got := counted.calls.Load(); got != 2 {
		t.Errorf("TouchKey called %d times, want 2", got)
	}
}

func TestStoreDownIsUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, _ := createKey(t, b.store, "ci", "")
	b.store.Close()
	_, err := b.auth.Authenticate(context.Background(), "Bearer "+key)
	if code := job.ErrorCode(err); code != job.CodeUnavailable {
		t.Errorf("Authenticate with the store closed: code %q (%v), want %q: the key may be good", code, err, job.CodeUnavailable)
	}
	// The bootstrap key needs no store.
	if _, err := b.auth.Authenticate(context.Background(), "Bearer "+bootstrapKey); err != nil {
		t.Errorf("bootstrap key with the store closed: %v", err)
	}
}

func TestNoBootstrapKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	auth := apikey.NewAuthenticator(b.store, "", b.clock.Now)
	for _, header := range []string{"Bearer " + bootstrapKey, "Bearer ", ""} {
		if p, err := auth.Authenticate(context.Background(), header); job.ErrorCode(err) != job.CodeUnauthenticated {
			t.Errorf("Authenticate(%q) without a bootstrap key = %+v, %v; want unauthenticated", header, p, err)
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := apikey.FromContext(context.Background()); ok {
		t.Errorf("FromContext(Background) found a principal")
	}
	want := apikey.Principal{KeyID: "key_1", Name: "ci", DefaultEndpoint: "orders"}
	got, ok := apikey.FromContext(apikey.NewContext(context.Background(), want))
	if !ok {
		t.Fatalf("FromContext(NewContext(p)) found nothing")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromContext (-want +got):\n%s", diff)
	}
}

// fingerprint is what sessions of the bootstrap key store of it: the first
// 8 bytes of the SHA-256 of its SHA-256, in hex.
func fingerprint(key string) string {
	h := sha256.Sum256([]byte(key))
	f := sha256.Sum256(h[:])
	return hex.EncodeToString(f[:8])
}
