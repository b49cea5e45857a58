package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestTLS serves HTTPS and gRPC over TLS with a configured certificate and
// refuses TLS versions below 1.2.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL":  "sqlite:" + filepath.Join(dir, "d.db"),
		"DISPATCHD_TLS_CERT_FILE": certFile,
		"DISPATCHD_TLS_KEY_FILE":  keyFile,
		"BEARER_SECRET":           bearerSecret,
	}, testConfig)
	if !strings.HasPrefix(svc.httpURL, "https://") {
		t.Fatalf("the start-up log does not report TLS: %s", svc.logs.String())
	}

	tls12 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	body := []byte(`{"type": "tls"}`)
	if r := post(t, tls12, svc.httpURL+"/v1/webhooks/std", signStandard(stdSecret, "msg_tls", time.Now(), body), body); r.status != 200 {
		t.Errorf("HTTPS webhook: status %d; %s", r.status, r.body)
	}

	tls11 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := tls11.Get(svc.httpURL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a TLS 1.1 client was served (status %d); want the handshake refused", resp.StatusCode)
	}

	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get(strings.Replace(svc.httpURL, "https://", "http://", 1) + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP was served on the TLS port: %s", b)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	secure, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	if _, err := healthpb.NewHealthClient(secure).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("gRPC over TLS: %v", err)
	}
	cleartext, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cleartext.Close()
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := healthpb.NewHealthClient(cleartext).Check(short, &healthpb.HealthCheckRequest{}); err == nil {
		t.Errorf("plaintext gRPC was served on the TLS port")
	}
}

func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "dispatchd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestBadConfigStopsStart: a configuration mistake stops `serve` (and
// `check-config`) before anything listens, with a message naming the key.
func TestBadConfigStopsStart(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{"unknown key", "sources:\n  - name: a\n    verfy: {scheme: none}\n", nil, []string{"line 3", "sources[0]", `unknown key "verfy"`}},
		{"unset variable", "sources:\n  - name: a\n    verify:\n      scheme: bearer\n      secret: ${NOT_SET_ANYWHERE}\n", nil, []string{"sources[0].verify.secret", "NOT_SET_ANYWHERE"}},
		{"unknown route", "sources:\n  - name: a\n    verify: {scheme: none}\n    routes: [ghost]\n", nil, []string{"sources[0] (a).routes[0]", `"ghost"`}},
		{"bad scheme", "sources:\n  - name: a\n    verify: {scheme: hmak}\n", nil, []string{"sources[0] (a).verify", "hmak"}},
		{"bad setting", "", map[string]string{"DISPATCHD_DATABASE_URL": "mysql://x"}, []string{"DISPATCHD_DATABASE_URL", "mysql://x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "dispatchd.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{
				"DISPATCHD_CONFIG":       cfg,
				"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(dir, "d.db"),
				"DISPATCHD_HTTP_ADDR":    "127.0.0.1:0",
				"DISPATCHD_GRPC_ADDR":    "127.0.0.1:0",
			}
			for k, v := range tc.env {
				env[k] = v
			}
			for _, cmd := range []string{"serve", "check-config"} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := run(ctx, []string{"dispatchd", cmd}, func(k string) string { return env[k] }, io.Discard, io.Discard)
				cancel()
				if err == nil {
					t.Fatalf("%s accepted the configuration", cmd)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error %q does not mention %q", cmd, err, w)
					}
				}
			}
		})
	}
}
