package opsnotify

import (
	"crypto/tls"
	"net"
	"net/http"
	"syscall"
	"time"
)

// NewHTTPClient returns the client operational webhooks are sent with: the
// same guard as deliveries, control (the SSRF guard's Control), sees the
// resolved address of every connection; no proxy from the environment
// (it would move the dial, and the check, elsewhere); no redirect followed
// (a redirect to a private address would be a way around the guard's
// purpose, if not its check); TLS 1.2 or later.
func NewHTTPClient(control func(network, address string, c syscall.RawConn) error) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: control}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			ForceAttemptHTTP2:      true,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			MaxIdleConns:           4,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: noRedirect,
	}
}

// noRedirect makes the client return a 3xx as the answer: the operational
// webhook then counts as failed, like a delivery answered with a redirect.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
