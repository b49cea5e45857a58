// Package delivery makes one signed POST to an endpoint and says what the
// endpoint's answer means for the jobs it carried.
//
// A [Request] carries one job (the body is the envelope
// {"jobId","attemptId","attempt","attemptNumber","payload"}) or, for a bulk
// endpoint, up to [job.MaxBulkRecords] jobs ({"batchId","records":[…]}). Every
// POST is authenticated twice, so receivers of either family work unchanged:
// "Authorization: Bearer <secret>" for Dispatched-style receivers, and the
// Standard Webhooks headers webhook-id, webhook-timestamp and
// webhook-signature. The signature covers exactly the bytes sent. During a
// secret rotation the endpoint has two secrets and webhook-signature carries
// one signature per secret, so a receiver holding either one verifies.
//
// [Client.Deliver] never returns an error. Whatever happens — an answer, a
// refused connection, a timeout, an address the SSRF guard refuses — becomes
// a [Result] whose [Outcome] tells the caller what to do with the jobs:
// complete them, retry them later, fail them for good, or fail them and
// disable the endpoint. The caller owns the retry schedule; this package only
// reports the endpoint's Retry-After, if any.
//
// The endpoint is not trusted. Redirects are never followed (a redirect
// could point a signed request at a host nobody configured), every
// connection's resolved address goes through the caller's guard at dial time
// (checking the name before dialing would miss DNS rebinding), the whole
// attempt is bounded by a timeout, and at most [MaxResponseBytes] of the
// answer are read, so a hostile endpoint cannot hold a worker or its memory.
//
// One [Client] holds one pooled keep-alive HTTP client for every endpoint:
// reusing connections is what makes many small deliveries cheap, and
// a per-endpoint client would multiply idle connections for nothing.
package delivery
