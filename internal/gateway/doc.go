// Package gateway is dispatchd's HTTP face: grpc-gateway routes that call
// the gRPC services, plus health and readiness.
//
// Webhook routes need the body exactly as received (every signature is
// computed over those bytes), so the gateway reads it itself — refusing it
// with 413 as soon as it passes the source's limit — and hands the bytes and
// the request headers to IngestService.ReceiveWebhook unchanged.
package gateway
