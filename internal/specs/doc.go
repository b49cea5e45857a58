// Package specs holds the rules of endpoint and source specs: what a valid
// one is and which defaults it takes. The configuration file's loader and
// the API both validate through it, on the domain's own types
// (job.EndpointSpec, job.SourceSpec), so a rule is written once and both
// ways of declaring a spec get the same answers.
//
// Errors name fields by the file's keys (url, retry.schedule[1],
// verify.scheme) under a path the caller gives ("endpoints[0] (orders)",
// "spec"), joined so that one answer lists every problem.
//
// Validating a source builds its verifier; the caller hands that one on
// (to ingestion's registry) so that verify.New runs once per source
// version.
package specs
