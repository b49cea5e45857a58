package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// SessionPrefix starts every session token.
const SessionPrefix = "disp_s_"

// Bounds of a session's lifetime.
const (
	MinSessionTTL = time.Minute
	MaxSessionTTL = 30 * 24 * time.Hour
)

// Session is a stored session (job.Session).
type Session = job.Session

var (
	errUnknownSession = job.Errorf(job.CodeUnauthenticated, "unknown or ended session; log in again")
	errSessionExpired = job.Errorf(job.CodeUnauthenticated, "the session expired; log in again")
)

// NewSession returns a session token for the caller p, to be shown once,
// and what to store of it (its hash, never the token). A session stands
// for p's key; one started with the bootstrap key stores a fingerprint of
// that key, so that a new DISPATCHD_API_KEY ends the old one's sessions.
// A session cannot start another: its lifetime would never end.
func NewSession(p Principal, now time.Time, ttl time.Duration) (token string, s Session, err error) {
	if p.SessionHash != nil {
		return "", Session{}, job.Errorf(job.CodeFailedPrecondition, "a session cannot start another session; use the API key")
	}
	if ttl < MinSessionTTL || ttl > MaxSessionTTL {
		return "", Session{}, job.Errorf(job.CodeInvalid, "a session lasts from %v to %v, not %v", MinSessionTTL, MaxSessionTTL, ttl)
	}
	keyID := p.KeyID
	if keyID == BootstrapKeyID {
		keyID = BootstrapKeyID + ":" + p.BootstrapFingerprint
	}
	token = SessionPrefix + string(generateRandom())
	return token, Session{Hash: Hash(token), KeyID: keyID, CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// bootstrapFingerprint is what sessions of the bootstrap key store: a
// short hash of its hash, which tells keys apart and reveals nothing of
// a 190-bit key.
func bootstrapFingerprint(hash []byte) string {
	sum := sha256.Sum256(hash)
	return hex.EncodeToString(sum[:8])
}

// authenticateSession checks a session token: the session must be stored
// and unexpired, and its key not revoked. It has its key's scope.
func (a *Authenticator) authenticateSession(ctx context.Context, token string) (Principal, error) {
	if len(token) != len(SessionPrefix)+randomLen || strings.IndexFunc(token[len(SessionPrefix):], func(r rune) bool { return r > 127 || !isBase62(byte(r)) }) >= 0 {
		return Principal{}, job.Errorf(job.CodeUnauthenticated, "the session token is malformed")
	}
	hash := Hash(token)
	sess, err := a.store.GetSession(ctx, hash)
	if err != nil {
		return Principal{}, a.lookupError(ctx, err, errUnknownSession, "the session")
	}
	now := a.now()
	if !now.Before(sess.ExpiresAt) {
		return Principal{}, errSessionExpired
	}
	var p Principal
	if fp, ok := strings.CutPrefix(sess.KeyID, BootstrapKeyID+":"); ok {
		if a.bootstrap == nil || subtle.ConstantTimeCompare([]byte(fp), []byte(bootstrapFingerprint(a.bootstrap))) != 1 {
			return Principal{}, errUnknownSession // the bootstrap key changed
		}
		p = Principal{KeyID: BootstrapKeyID, Scope: ScopeAdmin}
	} else {
		k, err := a.store.GetKeyByID(ctx, sess.KeyID)
		if err != nil {
			return Principal{}, a.lookupError(ctx, err, errUnknownSession, "the session")
		}
		if !k.RevokedAt.IsZero() {
			return Principal{}, job.Errorf(job.CodeUnauthenticated, "the session's API key is revoked; log in with another key")
		}
		a.touch(ctx, k.ID, func(now time.Time) error { return a.store.TouchKey(ctx, k.ID, now) })
		a.countUse(ctx, k.ID)
		p = Principal{KeyID: k.ID, Name: k.Name, DefaultEndpoint: k.DefaultEndpoint, Scope: k.Scope}
	}
	a.touch(ctx, "session:"+string(hash), func(now time.Time) error { return a.store.TouchSession(ctx, hash, now) })
	p.SessionHash = hash
	return p, nil
}

// lookupError is the error of a failed read of what authenticates the
// caller: notFound when it is not stored, else unavailable (the
// credentials may well be good).
func (a *Authenticator) lookupError(ctx context.Context, err, notFound error, what string) error {
	switch {
	case job.ErrorCode(err) == job.CodeNotFound:
		return notFound
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return &job.Error{Code: job.CodeUnavailable, Message: what + " could not be checked; retry later", Err: err}
	}
}
