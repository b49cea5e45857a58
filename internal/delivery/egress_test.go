package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/ssrf"
)

// loopbackClient is a client behind the real guard, allowing 127.0.0.0/8
// only (as DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8 does).
func loopbackClient() *Client {
	guard := ssrf.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	return NewClient(guard.Control, testClock, testUserAgent).WithEgress(job.EgressSpec{}, guard.Allowed)
}

// forwardProxy is a small HTTP forward proxy: CONNECT tunnels for https://
// and absolute-URI forwarding for http://. It records what it was asked.
type forwardProxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	asked []string // "CONNECT host:port" or "POST http://…"
	auth  []string // Proxy-Authorization of each request
}

func startProxy(t *testing.T) *forwardProxy {
	p := &forwardProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.asked = append(p.asked, r.Method+" "+r.RequestURI)
		p.auth = append(p.auth, r.Header.Get("Proxy-Authorization"))
		p.mu.Unlock()
		if r.Method == http.MethodConnect {
			upstream, err := net.Dial("tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer upstream.Close()
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
			done := make(chan struct{}, 2)
			go func() { io.Copy(upstream, buf); done <- struct{}{} }()
			go func() { io.Copy(conn, upstream); done <- struct{}{} }()
			<-done
			return
		}
		out, err := http.NewRequest(r.Method, r.RequestURI, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out.Header = r.Header.Clone()
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *forwardProxy) requests() ([]string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...), append([]string(nil), p.auth...)
}

// proxyURL is the proxy's URL with credentials.
func (p *forwardProxy) proxyURL() string {
	return "http://deliver:s3cret-pass@" + strings.TrimPrefix(p.srv.URL, "http://")
}

// writePEM writes the certificate of srv as a CA bundle file.
func writeCA(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestProxy(t *testing.T) {
	t.Run("https through CONNECT", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"status":"ok"}`)
		}))
		defer srv.Close()
		proxy := startProxy(t)
		r := one(srv.URL + "/hook")
		r.Endpoint.Egress = job.EgressSpec{Proxy: proxy.proxyURL(), CAFile: writeCA(t, srv.Certificate())}
		res := loopbackClient().Deliver(context.Background(), r)
		if res.Outcome != Completed {
			t.Fatalf("Deliver = %+v, want completed", res)
		}
		asked, auth := proxy.requests()
		host := strings.TrimPrefix(srv.URL, "https://")
		if len(asked) != 1 || asked[0] != "CONNECT "+host {
			t.Errorf("the proxy was asked %q, want one CONNECT %s", asked, host)
		}
		if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("deliver:s3cret-pass")); len(auth) != 1 || auth[0] != want {
			t.Errorf("Proxy-Authorization = %q, want %q", auth, want)
		}
	})
	t.Run("http forwarded", func(t *testing.T) {
		srv, got := receiver(t, reply(200, `{"status":"ok"}`))
		proxy := startProxy(t)
		r := one(srv.URL + "/hook")
		r.Endpoint.Egress.Proxy = proxy.proxyURL()
		if res := loopbackClient().Deliver(context.Background(), r); res.Outcome != Completed {
			t.Fatalf("Deliver = %+v, want completed", res)
		}
		d := <-got
		if err := verifyWith(whsecA, d); err != nil {
			t.Errorf("signature through the proxy: %v", err)
		}
		if asked, _ := proxy.requests(); len(asked) != 1 || asked[0] != "POST "+srv.URL+"/hook" {
			t.Errorf("the proxy was asked %q", asked)
		}
	})
	t.Run("a private destination is refused before the proxy is asked", func(t *testing.T) {
		proxy := startProxy(t)
		for _, dest := range []string{"http://10.1.2.3/hook", "https://192.168.0.10/hook", "http://[::1]:9/hook", "http://169.254.169.254/latest/meta-data"} {
			r := one(dest)
			r.Endpoint.Egress.Proxy = proxy.proxyURL()
			res := loopbackClient().Deliver(context.Background(), r)
			if res.Outcome != Failed || res.ErrorClass != ClassBlockedAddress {
				t.Errorf("%s through the proxy: %+v, want failed blocked_address", dest, res)
			}
		}
		if asked, _ := proxy.requests(); len(asked) != 0 {
			t.Errorf("the proxy was asked %q; it should never have been", asked)
		}
	})
	t.Run("the proxy's own address goes through the guard", func(t *testing.T) {
		// A proxy on a private address that is not allowed is refused at
		// dial time, whatever the destination.
		guard := ssrf.New(nil)
		c := NewClient(guard.Control, testClock, testUserAgent)
		proxy := startProxy(t)
		r := one("https://93.184.215.14/hook") // a public address: the destination passes
		r.Endpoint.Egress.Proxy = proxy.proxyURL()
		res := c.Deliver(context.Background(), r)
		if res.Outcome != Failed || res.ErrorClass != ClassBlockedAddress {
			t.Errorf("Deliver through a loopback proxy that is not allowed = %+v, want blocked_address", res)
		}
		if asked, _ := proxy.requests(); len(asked) != 0 {
			t.Errorf("the proxy was asked %q", asked)
		}
	})
}

// verifyWith checks a received delivery with the Standard Webhooks library.
func verifyWith(secret string, d received) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	// The library checks the timestamp against the real clock; the test
	// clock is fixed, so check at the delivery's own time.
	return wh.VerifyIgnoringTimestamp(d.body, d.header)
}

// testCA issues certificates for mTLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dispatchd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// clientFiles issues a client certificate and writes it and its key.
func (ca *testCA) clientFiles(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	clients := make(chan string, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clients <- r.TLS.PeerCertificates[0].Subject.CommonName
		io.WriteString(w, `{"status":"ok"}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is logged
	srv.StartTLS()
	defer srv.Close()
	caFile := writeCA(t, srv.Certificate())

	certFile, keyFile := ca.clientFiles(t, "dispatchd-orders")
	r := one(srv.URL)
	r.Endpoint.Egress = job.EgressSpec{ClientCertFile: certFile, ClientKeyFile: keyFile, CAFile: caFile}
	if res := loopbackClient().Deliver(context.Background(), r); res.Outcome != Completed {
		t.Fatalf("with the client certificate: %+v, want completed", res)
	}
	if cn := <-clients; cn != "dispatchd-orders" {
		t.Errorf("the receiver saw client %q", cn)
	}

	// Without one, the receiver refuses the handshake.
	r.Endpoint.Egress = job.EgressSpec{CAFile: caFile}
	if res := loopbackClient().Deliver(context.Background(), r); res.Outcome != Retry || res.ErrorClass != ClassTLS {
		t.Errorf("without a client certificate: %+v, want retry tls", res)
	}
	// Without the CA bundle the receiver's certificate does not verify.
	r.Endpoint.Egress = job.EgressSpec{ClientCertFile: certFile, ClientKeyFile: keyFile}
	if res := loopbackClient().Deliver(context.Background(), r); res.ErrorClass != ClassTLS {
		t.Errorf("without the CA bundle: %+v, want tls", res)
	}
}

// tokenServer is a local OAuth2 token endpoint: each request issues a new
// token "tok-N", valid for an hour.
type tokenServer struct {
	srv    *httptest.Server
	issued atomic.Int64
}

func startTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "dispatchd" || secret != "client-secret-0123456789" || r.PostForm.Get("scope") != "webhooks.write" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func TestOAuth2(t *testing.T) {
	tokens := startTokenServer(t)
	var accept atomic.Value // the token the receiver accepts
	accept.Store("tok-1")
	srv, got := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+accept.Load().(string) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"status":"ok"}`)
	})
	c := loopbackClient()
	r := one(srv.URL)
	r.Endpoint.Egress.OAuth2 = &job.OAuth2Spec{TokenURL: tokens.srv.URL + "/token", ClientID: "dispatchd", ClientSecret: "client-secret-0123456789", Scopes: []string{"webhooks.write"}}

	for i := range 3 {
		if res := c.Deliver(context.Background(), r); res.Outcome != Completed || len(res.Earlier) != 0 {
			t.Fatalf("delivery %d: %+v, want completed at the first try", i+1, res)
		}
	}
	if n := tokens.issued.Load(); n != 1 {
		t.Errorf("%d tokens fetched for 3 deliveries, want 1 (reused until it expires)", n)
	}
	for range 3 {
		<-got
	}

	// The receiver revokes tok-1: the 401 is retried at once with a fresh
	// token, and both tries are reported.
	accept.Store("tok-2")
	res := c.Deliver(context.Background(), r)
	if res.Outcome != Completed || len(res.Earlier) != 1 || res.Earlier[0].StatusCode != 401 {
		t.Fatalf("after revocation: %+v, want a 401 then completed", res)
	}
	if n := tokens.issued.Load(); n != 2 {
		t.Errorf("%d tokens fetched, want 2", n)
	}

	// A receiver that refuses every token: refreshed once, not more.
	accept.Store("never")
	res = c.Deliver(context.Background(), r)
	if res.StatusCode != 401 || len(res.Earlier) != 1 {
		t.Errorf("refused throughout: %+v, want 401 after one refresh", res)
	}
	if n := tokens.issued.Load(); n != 3 {
		t.Errorf("%d tokens fetched, want 3 (one refresh per refused delivery)", n)
	}
	checkNoSecret(t, res, "client-secret-0123456789")

	// A token endpoint that refuses the client: the job is retried, the
	// secret not shown.
	bad := r
	bad.Endpoint.Egress.OAuth2 = &job.OAuth2Spec{TokenURL: tokens.srv.URL + "/token", ClientID: "dispatchd", ClientSecret: "wrong-secret-0123456789"}
	res = c.Deliver(context.Background(), bad)
	if res.Outcome != Retry || res.ErrorClass != ClassOAuth2 {
		t.Errorf("with a refused client: %+v, want retry oauth2", res)
	}
	checkNoSecret(t, res, "wrong-secret-0123456789")
}

func TestStaticHeaders(t *testing.T) {
	srv, got := receiver(t, reply(200, `{}`))
	r := one(srv.URL)
	r.Endpoint.Egress.Headers = map[string]string{"X-Tenant": "acme", "webhook-signature": "v1,forged", "Authorization": "Basic Zm9vOmJhcg=="}
	if res := newTestClient().Deliver(context.Background(), r); res.Outcome != Completed {
		t.Fatal(res)
	}
	d := <-got
	if d.header.Get("X-Tenant") != "acme" {
		t.Errorf("X-Tenant = %q", d.header.Get("X-Tenant"))
	}
	if err := verifyWith(whsecA, d); err != nil || strings.Contains(d.header.Get("webhook-signature"), "forged") {
		t.Errorf("a static header replaced the signature: %v", d.header.Values("webhook-signature"))
	}
	if d.header.Get("Authorization") != "Bearer "+whsecA {
		t.Errorf("Authorization = %q, want the Bearer secret", d.header.Get("Authorization"))
	}
	// With bearer: false the endpoint may send its own Authorization.
	r.Endpoint.NoBearer = true
	newTestClient().Deliver(context.Background(), r)
	if d := <-got; d.header.Get("Authorization") != "Basic Zm9vOmJhcg==" {
		t.Errorf("bearer: false: Authorization = %q, want the static one", d.header.Get("Authorization"))
	}
}

func TestHTTPSOnly(t *testing.T) {
	srv, got := receiver(t, reply(200, `{}`))
	r := one(srv.URL) // http://127.0.0.1:…
	r.Endpoint.Egress.HTTPSOnly = true

	// Loopback is explicitly allowed as private: plain http is let through.
	if res := loopbackClient().Deliver(context.Background(), r); res.Outcome != Completed {
		t.Errorf("http:// to an allowed private network: %+v, want completed", res)
	}
	<-got
	// A client that allows no private network refuses it, sending nothing.
	c := NewClient(nil, testClock, testUserAgent)
	if res := c.Deliver(context.Background(), r); res.Outcome != Failed || res.ErrorClass != ClassInsecureURL {
		t.Errorf("http:// with https_only: %+v, want failed insecure_url", res)
	}
	// The client's default applies to endpoints that do not set it.
	r.Endpoint.Egress.HTTPSOnly = false
	c = c.WithEgress(job.EgressSpec{HTTPSOnly: true}, nil)
	if err := c.CheckURL(context.Background(), "http://example.com/hook", job.EgressSpec{}); err == nil {
		t.Error("CheckURL accepted http:// under the https-only default")
	}
	if err := c.CheckURL(context.Background(), "https://example.com/hook", job.EgressSpec{}); err != nil {
		t.Errorf("CheckURL refused https://: %v", err)
	}
	select {
	case d := <-got:
		t.Errorf("a refused delivery reached the receiver: %v", d.header)
	default:
	}
}

func TestExcerptMasksSecrets(t *testing.T) {
	// A receiver that echoes the request headers, as debugging endpoints do.
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request; you sent Authorization=%s", r.Header.Get("Authorization"))
	})
	res := newTestClient().Deliver(context.Background(), one(srv.URL, rawSecret))
	if strings.Contains(res.Excerpt, rawSecret) || !strings.Contains(res.Excerpt, "Authorization=Bearer [masked]") {
		t.Errorf("excerpt = %q, want the secret masked", res.Excerpt)
	}
}

func TestV1aSignature(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	key := ed25519.NewKeyFromSeed(seed)
	whsk := "whsk_" + base64.StdEncoding.EncodeToString(seed)
	srv, got := receiver(t, reply(200, `{}`))

	check := func(t *testing.T, d received, wantV1 bool) {
		t.Helper()
		var v1, v1a int
		for _, e := range strings.Fields(d.header.Get("webhook-signature")) {
			version, sig, _ := strings.Cut(e, ",")
			switch version {
			case "v1":
				v1++
			case "v1a":
				v1a++
				raw, err := base64.StdEncoding.DecodeString(sig)
				msg := d.header.Get("webhook-id") + "." + d.header.Get("webhook-timestamp") + "." + string(d.body)
				// crypto/ed25519 is the independent verifier.
				if err != nil || !ed25519.Verify(key.Public().(ed25519.PublicKey), []byte(msg), raw) {
					t.Errorf("v1a entry %q does not verify", e)
				}
			}
		}
		if v1a != 1 || (v1 == 1) != wantV1 {
			t.Errorf("webhook-signature %q: %d v1 and %d v1a entries", d.header.Get("webhook-signature"), v1, v1a)
		}
		if wantV1 {
			if err := verifyWith(whsecA, d); err != nil {
				t.Errorf("v1 beside v1a: %v", err)
			}
		}
	}
	r := one(srv.URL)
	r.Endpoint.Ed25519Key = whsk
	if res := newTestClient().Deliver(context.Background(), r); res.Outcome != Completed {
		t.Fatal(res)
	}
	check(t, <-got, true)

	r.Endpoint.NoHMAC, r.Endpoint.NoBearer, r.Endpoint.Secrets = true, true, nil
	if res := newTestClient().Deliver(context.Background(), r); res.Outcome != Completed {
		t.Fatal(res)
	}
	d := <-got
	check(t, d, false)
	if d.header.Get("Authorization") != "" {
		t.Errorf("Authorization = %q, want none", d.header.Get("Authorization"))
	}

	r.Endpoint.Ed25519Key = ""
	if res := newTestClient().Deliver(context.Background(), r); res.Outcome != Failed || res.ErrorClass != ClassBadRequest {
		t.Errorf("nothing to sign with: %+v, want failed bad_request", res)
	}
}

// TestOAuth2TokenThroughProxyIsGuarded: the token request goes through the
// endpoint's proxy too, and its destination is checked first like a
// delivery's.
func TestOAuth2TokenThroughProxyIsGuarded(t *testing.T) {
	srv, _ := receiver(t, reply(200, `{}`))
	proxy := startProxy(t)
	r := one(srv.URL)
	r.Endpoint.Egress = job.EgressSpec{
		Proxy:  proxy.proxyURL(),
		OAuth2: &job.OAuth2Spec{TokenURL: "http://10.9.9.9/token", ClientID: "dispatchd", ClientSecret: "client-secret-0123456789"},
	}
	res := loopbackClient().Deliver(context.Background(), r)
	if res.Outcome != Failed || res.ErrorClass != ClassBlockedAddress {
		t.Errorf("token URL on a private address through the proxy: %+v, want blocked_address", res)
	}
	if asked, _ := proxy.requests(); len(asked) != 0 {
		t.Errorf("the proxy was asked %q", asked)
	}
}
