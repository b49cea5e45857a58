package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
)

// exerciseSessions holds the store to the contract of job.SessionStore,
// and checks that a session token authenticates through it exactly while
// it should: unexpired, its key unrevoked, not logged out.
func exerciseSessions(t *testing.T, setup func(*testing.T) apikey.Store, newKey func(string, time.Time) apikey.Key, create func(*testing.T, apikey.Store, apikey.Key)) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 654321000, time.UTC)
	bearer := func(token string) string { return "Bearer " + token }

	// start stores a session of key k (authenticated with plaintext) made
	// at at, as KeyService.CreateSession does, and returns its token.
	start := func(t *testing.T, s apikey.Store, a *apikey.Authenticator, plaintext string, at time.Time, ttl time.Duration) (string, apikey.Session) {
		t.Helper()
		p, err := a.Authenticate(ctx, bearer(plaintext))
		if err != nil {
			t.Fatalf("Authenticate(key): %v", err)
		}
		token, sess, err := apikey.NewSession(p, at, ttl)
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		return token, sess
	}
	clock := func(at *time.Time) func() time.Time { return func() time.Time { return *at } }
	wantRefused := func(t *testing.T, a *apikey.Authenticator, token, why string) {
		t.Helper()
		p, err := a.Authenticate(ctx, bearer(token))
		if code := job.ErrorCode(err); code != job.CodeUnauthenticated {
			t.Errorf("%s: Authenticate(session) = %+v, %v (code %q), want code %q", why, p, err, code, job.CodeUnauthenticated)
		}
	}

	t.Run("SessionCreateGetDelete", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		sess := apikey.Session{Hash: apikey.Hash("disp_s_x"), KeyID: "key_1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		got, err := s.GetSession(ctx, sess.Hash)
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		want := sess
		want.LastSeenAt = t0
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetSession (-want +got):\n%s", diff)
		}
		if err := s.CreateSession(ctx, sess); err == nil {
			t.Error("a second session with the same hash was stored")
		}
		// Never backwards, as for keys.
		for _, at := range []time.Time{t0.Add(time.Minute), t0.Add(time.Second)} {
			if err := s.TouchSession(ctx, sess.Hash, at); err != nil {
				t.Fatalf("TouchSession: %v", err)
			}
		}
		if got, _ := s.GetSession(ctx, sess.Hash); !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("LastSeenAt = %v, want %v", got.LastSeenAt, t0.Add(time.Minute))
		}
		if err := s.DeleteSession(ctx, sess.Hash); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		if _, err := s.GetSession(ctx, sess.Hash); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("GetSession after DeleteSession = %v, want code %q", err, job.CodeNotFound)
		}
		if err := s.DeleteSession(ctx, sess.Hash); err != nil {
			t.Errorf("DeleteSession again = %v, want nil", err)
		}
	})

	t.Run("SessionAuthenticates", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		plaintext, k := apikey.Generate()
		k.Name, k.CreatedAt, k.Scope = "reader", t0, apikey.ScopeRead
		create(t, s, k)
		now := t0
		a := apikey.NewAuthenticator(s, "", clock(&now))
		token, sess := start(t, s, a, plaintext, t0, time.Hour)

		// The store holds the token's hash, never the token.
		stored, err := s.GetSession(ctx, apikey.Hash(token))
		if err != nil {
			t.Fatalf("GetSession(hash of token): %v", err)
		}
		if stored.KeyID != k.ID || !stored.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Errorf("stored session = %+v, want key %s expiring %v", stored, k.ID, sess.ExpiresAt)
		}

		now = t0.Add(59 * time.Minute)
		p, err := a.Authenticate(ctx, bearer(token))
		if err != nil {
			t.Fatalf("Authenticate(session): %v", err)
		}
		want := apikey.Principal{KeyID: k.ID, Name: "reader", Scope: apikey.ScopeRead, SessionHash: apikey.Hash(token)}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("session principal (-want +got):\n%s", diff)
		}
		if got, _ := s.GetSession(ctx, sess.Hash); !got.LastSeenAt.Equal(now) {
			t.Errorf("LastSeenAt = %v, want %v", got.LastSeenAt, now)
		}
		// A second authenticator (another process on the same store)
		// accepts it too.
		if _, err := apikey.NewAuthenticator(s, "", clock(&now)).Authenticate(ctx, bearer(token)); err != nil {
			t.Errorf("another process refused the session: %v", err)
		}
		// A session cannot start another: it would outlive its expiry.
		if _, _, err := apikey.NewSession(p, now, time.Hour); job.ErrorCode(err) != job.CodeFailedPrecondition {
			t.Errorf("NewSession(from a session) = %v, want code %q", err, job.CodeFailedPrecondition)
		}
		other := "0"
		if token[len(token)-1] == '0' {
			other = "1"
		}
		wantRefused(t, a, token[:len(token)-1]+other, "unknown token")
		wantRefused(t, a, "disp_s_short", "malformed token")

		now = t0.Add(time.Hour)
		wantRefused(t, a, token, "expired")
	})

	t.Run("SessionEndsWithItsKey", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		plaintext, k := apikey.Generate()
		k.Name, k.CreatedAt = "admin", t0
		create(t, s, k)
		other := newKey("other", t0)
		create(t, s, other)
		now := t0
		a := apikey.NewAuthenticator(s, "", clock(&now))
		token, _ := start(t, s, a, plaintext, t0, time.Hour)
		if err := s.RevokeKey(ctx, other.ID, t0); err != nil {
			t.Fatalf("RevokeKey(other): %v", err)
		}
		if _, err := a.Authenticate(ctx, bearer(token)); err != nil {
			t.Fatalf("revoking another key ended the session: %v", err)
		}
		if err := s.RevokeKey(ctx, k.ID, t0.Add(time.Second)); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		wantRefused(t, a, token, "key revoked")
	})

	t.Run("SessionLogout", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		plaintext, k := apikey.Generate()
		k.Name, k.CreatedAt = "admin", t0
		create(t, s, k)
		now := t0
		a := apikey.NewAuthenticator(s, "", clock(&now))
		token, sess := start(t, s, a, plaintext, t0, time.Hour)
		kept, _ := start(t, s, a, plaintext, t0, time.Hour)
		if err := s.DeleteSession(ctx, sess.Hash); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		wantRefused(t, a, token, "logged out")
		if _, err := a.Authenticate(ctx, bearer(kept)); err != nil {
			t.Errorf("logging out one session ended another of the same key: %v", err)
		}
		if _, err := a.Authenticate(ctx, bearer(plaintext)); err != nil {
			t.Errorf("logging out ended the key: %v", err)
		}
	})

	t.Run("SessionOfBootstrapKey", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		bootstrap, _ := apikey.Generate()
		now := t0
		a := apikey.NewAuthenticator(s, bootstrap, clock(&now))
		token, sess := start(t, s, a, bootstrap, t0, time.Hour)
		if sess.KeyID == apikey.BootstrapKeyID {
			t.Errorf("a bootstrap session stores key id %q: it would outlive a new bootstrap key", sess.KeyID)
		}
		p, err := a.Authenticate(ctx, bearer(token))
		if err != nil || p.KeyID != apikey.BootstrapKeyID || p.Scope != apikey.ScopeAdmin {
			t.Errorf("Authenticate(bootstrap session) = %+v, %v; want the bootstrap key with scope admin", p, err)
		}
		// A new bootstrap key (the old one leaked) ends the old one's sessions.
		replaced, _ := apikey.Generate()
		wantRefused(t, apikey.NewAuthenticator(s, replaced, clock(&now)), token, "bootstrap key replaced")
		wantRefused(t, apikey.NewAuthenticator(s, "", clock(&now)), token, "bootstrap key removed")
	})

	t.Run("ExpiredSessionsPruned", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		expired := apikey.Session{Hash: apikey.Hash("disp_s_old"), KeyID: "key_1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		live := apikey.Session{Hash: apikey.Hash("disp_s_new"), KeyID: "key_1", CreatedAt: t0, ExpiresAt: t0.Add(3 * time.Hour)}
		for _, sess := range []apikey.Session{expired, live} {
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
		}
		at := t0.Add(2 * time.Hour)
		if _, _, err := s.(job.Store).Prune(ctx, job.PruneCutoffs{FinishedBefore: t0, DeadBefore: t0, EventsBefore: t0, Batch: 100, Now: at}); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if _, err := s.GetSession(ctx, expired.Hash); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("expired session after Prune: %v, want code %q", err, job.CodeNotFound)
		}
		if _, err := s.GetSession(ctx, live.Hash); err != nil {
			t.Errorf("live session after Prune: %v", err)
		}
	})
}
