package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dispatchd/dispatchd/internal/job"
)

// WithEgress returns a copy of c that applies defaults to every endpoint
// that does not set its own proxy, CA bundle or https-only rule (the file's
// top-level delivery: and DISPATCHD_HTTPS_ONLY). allowed reports whether an
// address is in a network explicitly allowed as private: https-only lets
// http:// through to those alone. nil allows none.
func (c *Client) WithEgress(defaults job.EgressSpec, allowed func(netip.Addr) bool) *Client {
	out := *c
	out.defaults = defaults
	out.allowed = allowed
	return &out
}

// effective merges an endpoint's egress with the client's defaults.
func (c *Client) effective(e job.EgressSpec) job.EgressSpec {
	if e.Proxy == "" {
		e.Proxy = c.defaults.Proxy
	}
	if e.CAFile == "" {
		e.CAFile = c.defaults.CAFile
	}
	e.HTTPSOnly = e.HTTPSOnly || c.defaults.HTTPSOnly
	return e
}

// egressPool holds one transport per distinct proxy and TLS setting, so
// endpoints that share them share connections. It is shared by the copies
// of a Client.
type egressPool struct {
	mu         sync.Mutex
	transports map[string]*http.Transport
	tokens     map[string]*tokenCache
}

type egressError struct {
	class string
	err   error
}

func (e *egressError) Error() string { return e.err.Error() }

// transport returns the transport of an egress setting; the zero setting
// is the client's direct one.
func (c *Client) transport(e job.EgressSpec) (*http.Transport, error) {
	if e.Proxy == "" && e.ClientCertFile == "" && e.CAFile == "" {
		return c.base, nil
	}
	key := strings.Join([]string{e.Proxy, e.ClientCertFile, e.ClientKeyFile, e.CAFile}, "\x00")
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if t, ok := c.pool.transports[key]; ok {
		return t, nil
	}
	t := c.base.Clone()
	if e.Proxy != "" {
		u, err := ParseProxy(e.Proxy)
		if err != nil {
			return nil, &egressError{ClassBadRequest, err}
		}
		// The dial to the proxy goes through the guard like any other;
		// the destination is checked before the request (see guardDestination).
		t.Proxy = http.ProxyURL(u)
	}
	cfg := t.TLSClientConfig.Clone()
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, &egressError{ClassTLS, fmt.Errorf("CA bundle: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &egressError{ClassTLS, fmt.Errorf("CA bundle %s holds no PEM certificate", e.CAFile)}
		}
		cfg.RootCAs = pool
	}
	if e.ClientCertFile != "" {
		certFile, keyFile := e.ClientCertFile, e.ClientKeyFile
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, &egressError{ClassTLS, fmt.Errorf("client certificate: %w", err)}
		}
		// Read at each handshake, so a renewed certificate on disk is used
		// without a restart; keep-alive makes handshakes rare.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			return &cert, nil
		}
	}
	t.TLSClientConfig = cfg
	if c.pool.transports == nil {
		c.pool.transports = map[string]*http.Transport{}
	}
	c.pool.transports[key] = t
	return t, nil
}

// ParseProxy checks a proxy URL: http:// or https://, a host, nothing
// after it.
func ParseProxy(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("a proxy is an http:// or https:// URL such as http://user:pass@proxy:3128")
	}
	return u, nil
}

// guardDestination resolves the destination of a proxied request and
// checks every address with the guard, before the proxy is asked: the
// proxy dials the destination itself, out of the dialer's sight.
func (c *Client) guardDestination(ctx context.Context, u *url.URL) error {
	if c.control == nil {
		return nil
	}
	addrs, err := c.resolve(ctx, u.Hostname())
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := c.control("tcp", netip.AddrPortFrom(a, 0).String(), nil); err != nil {
			return &blockedError{address: a.String(), err: err}
		}
	}
	return nil
}

func (c *Client) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	return addrs, nil
}

// CheckURL applies the https-only rule of an endpoint (and the client's
// default) to its URL: http:// is refused unless every address the host
// resolves to is in a network explicitly allowed as private. The API calls
// it when an endpoint is created or changed; deliveries call it each time.
func (c *Client) CheckURL(ctx context.Context, rawURL string, e job.EgressSpec) error {
	if !c.effective(e).HTTPSOnly {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" {
		return nil // https, or refused elsewhere
	}
	refused := fmt.Errorf("https_only: %s is http://; only https:// URLs are delivered to, except to networks allowed as private", rawURL)
	if c.allowed == nil {
		return refused
	}
	addrs, err := c.resolve(ctx, u.Hostname())
	if err != nil || len(addrs) == 0 {
		return refused
	}
	for _, a := range addrs {
		if !c.allowed(a.WithZone("").Unmap()) {
			return refused
		}
	}
	return nil
}

// tokenCache holds one OAuth2 client's access token until it expires, or
// until the endpoint refuses it.
type tokenCache struct {
	cfg clientcredentials.Config
	mu  sync.Mutex
	tok *oauth2.Token
}

func (c *Client) tokens(o *job.OAuth2Spec) *tokenCache {
	key := strings.Join(append([]string{o.TokenURL, o.ClientID, o.ClientSecret}, o.Scopes...), "\x00")
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if tc, ok := c.pool.tokens[key]; ok {
		return tc
	}
	if c.pool.tokens == nil {
		c.pool.tokens = map[string]*tokenCache{}
	}
	tc := &tokenCache{cfg: clientcredentials.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes,
	}}
	c.pool.tokens[key] = tc
	return tc
}

// tokenGuard checks the token URL's destination when the request for a
// token goes through a proxy, as guardDestination does for deliveries.
func (c *Client) tokenGuard(e job.EgressSpec) func(context.Context, string) error {
	return func(ctx context.Context, tokenURL string) error {
		if e.Proxy == "" {
			return nil // the dialer's guard sees the token endpoint itself
		}
		u, err := url.Parse(tokenURL)
		if err != nil {
			return err
		}
		return c.guardDestination(ctx, u)
	}
}

// get returns a valid token, fetching one with hc if there is none, after
// guard has passed the token URL.
func (tc *tokenCache) get(ctx context.Context, hc *http.Client, guard func(context.Context, string) error) (*oauth2.Token, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.tok.Valid() {
		return tc.tok, nil
	}
	if err := guard(ctx, tc.cfg.TokenURL); err != nil {
		return nil, err
	}
	tok, err := tc.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return nil, err
	}
	tc.tok = tok
	return tok, nil
}

// drop forgets tok, if it is still the cached one, after the endpoint
// refused it.
func (tc *tokenCache) drop(tok *oauth2.Token) {
	tc.mu.Lock()
	if tc.tok == tok {
		tc.tok = nil
	}
	tc.mu.Unlock()
}

// oauthError says why a token could not be had, without the client
// secret (the library's errors hold the token endpoint's answer only).
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Sprintf("the OAuth2 token endpoint answered %d", re.Response.StatusCode)
	}
	return "no OAuth2 token: " + err.Error()
}
