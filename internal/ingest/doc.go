// Package ingest is the IngestService: it receives one webhook as sent by a
// provider, checks it with its source's rules — rate limit, size,
// signature, content type, required fields, delivery id — and has the store
// commit the event and its jobs before it answers.
//
// The checks run in that order so that the cheapest refusals come first and
// nothing about the body is trusted before its signature is verified.
package ingest
