// Package apikey authenticates API calls made with an API key, sent as
// "Authorization: Bearer disp_k1_…".
//
// A key is disp_k1_, 32 random base62 characters (about 190 bits) and a
// 6-character base62 CRC-32 of the random part. The checksum lets a typo'd
// or truncated key be refused before any database lookup, and lets secret
// scanners recognise a real key. The first 8 random characters, with
// disp_k1_, are the key's prefix: it is stored in clear, indexed, and shown
// in listings so that a person can tell keys apart. Of the key itself only
// its SHA-256 is stored: a key is random and long, so a slow password hash
// would add latency to every call and no protection.
//
// An Authenticator looks the key up on every call, so a revocation takes
// effect at once, and records when a key was last used, at most once a
// minute per key so that a busy client does not cause a write per request.
// The optional bootstrap key (DISPATCHD_API_KEY, scope admin) is accepted
// beside the stored keys, so a fresh installation can be used before any
// key exists.
//
// A session token (disp_s_ and 32 random base62 characters, session.go)
// stands for a key: NewSession makes one, the store keeps its SHA-256, and
// the Authenticator accepts it with its key's scope while it is unexpired
// and its key unrevoked (both checked on every call). The console logs in
// this way, so that it keeps no key and every process sees every login.
//
// Every key has a Scope (admin, dispatch, read); Authorize checks it
// against one table of full gRPC method names (scope.go), where a method
// missing from the table is for admin keys only. A bootstrap key must pass
// CheckBootstrap: the shape and entropy of a generated key. Failed
// authentications are rate-limited per client address, so that guessing
// keys costs the guesser time.
//
// UnaryServerInterceptor and StreamServerInterceptor apply an Authenticator
// to a gRPC server; Exempt names the services that authenticate otherwise
// (webhook ingestion uses each source's scheme) or not at all (health,
// reflection). Handlers read the caller with FromContext.
package apikey
