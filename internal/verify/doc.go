// Package verify decides whether an inbound webhook request really came from
// the source it claims to come from.
//
// Each source is configured with one [Scheme] and one or two secrets. Two
// secrets exist for rotation: while a source moves from an old secret to a new
// one, a request signed with either is accepted, so the sender and dispatchd
// need not change at the same instant. When the rotation has an end
// (Config.PreviousSecretExpiresAt), the one Verifier [New] builds accepts only
// the current secret from then on, so a source version needs one build.
//
// Signatures are checked over the raw body bytes exactly as received, before
// any decoding, because re-encoding JSON changes the bytes and breaks the
// signature. Every comparison of secret-derived values is constant time
// (crypto/hmac.Equal or crypto/subtle), so response timing does not reveal how
// much of a guess was right.
//
// A [Verifier] returns nil for an authentic request. Any error means the
// request must be rejected with 401; the error wraps one of [ErrMissing],
// [ErrMalformed], [ErrExpired] or [ErrMismatch] so callers can count
// rejections by kind, and its message is written for the sender: it says what
// is wrong but never contains a secret or the signature that was expected.
//
// Schemes that carry a timestamp (standard-webhooks and stripe) also reject
// requests whose timestamp is too far from the verifier's clock in either
// direction, which limits how long a captured request can be replayed. The
// clock is a parameter of Verify so tests and callers control it.
package verify
