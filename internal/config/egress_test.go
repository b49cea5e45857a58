package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

func TestEndpointSigningAndEgress(t *testing.T) {
	f, err := ParseFile([]byte(lines(
		"delivery:",
		"  proxy: http://egress:pw@proxy.internal:3128",
		"  https_only: true",
		"sources:",
		"  - name: svix",
		"    verify: {scheme: standard-webhooks, public_key: whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=}",
		"endpoints:",
		"  - name: orders",
		"    url: https://orders.example/hook",
		"    secret: "+epSecret,
		"    ed25519_key: whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
		"    hmac: false",
		"    bearer: false",
		"    proxy: http://proxy.example:3128",
		"    oauth2: {token_url: https://auth.example/token, client_id: dispatchd, client_secret: s, scopes: [hooks]}",
		"    headers: {X-Tenant: acme}",
		"    https_only: true",
	)), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Endpoints[0].Spec()
	want := job.EgressSpec{
		Proxy:     "http://proxy.example:3128",
		OAuth2:    &job.OAuth2Spec{TokenURL: "https://auth.example/token", ClientID: "dispatchd", ClientSecret: "s", Scopes: []string{"hooks"}},
		Headers:   map[string]string{"X-Tenant": "acme"},
		HTTPSOnly: true,
	}
	if diff := cmp.Diff(want, got.Egress); diff != "" {
		t.Errorf("egress (-want +got):\n%s", diff)
	}
	if !got.NoHMAC || !got.NoBearer || got.Ed25519Key == "" {
		t.Errorf("signing = NoHMAC %v NoBearer %v key %q", got.NoHMAC, got.NoBearer, got.Ed25519Key)
	}
	if d := f.Delivery.Egress(); d.Proxy != "http://egress:pw@proxy.internal:3128" || !d.HTTPSOnly {
		t.Errorf("delivery defaults = %+v", d)
	}
	if pk := f.Sources[0].Spec().PublicKey; pk == "" {
		t.Error("the source's public_key is lost")
	}
}

func TestEndpointSigningAndEgressErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"    hmac: false", "endpoints[0] (orders).hmac: false needs an ed25519_key"},
		{"    ed25519_key: whsk_AAAA", "endpoints[0] (orders).ed25519_key: an ed25519 key decodes to 32 bytes"},
		{"    proxy: socks5://p:1080", "endpoints[0] (orders).proxy: a proxy is an http:// or https:// URL"},
		{"    tls: {client_cert_file: /nonexistent/cert.pem}", "endpoints[0] (orders).tls: client_cert_file and client_key_file go together"},
		{"    tls: {ca_file: /nonexistent/ca.pem}", "endpoints[0] (orders).tls.ca_file:"},
		{"    oauth2: {token_url: https://a.example/t, client_id: x}", "endpoints[0] (orders).oauth2.client_secret: required"},
		{"    headers: {webhook-signature: v1,forged}", "endpoints[0] (orders).headers.webhook-signature: webhook-signature is set by dispatchd"},
		{"    headers: {Authorization: Basic x}", "endpoints[0] (orders).headers.Authorization: Authorization is set by dispatchd; use bearer: false"},
		{"    headers: [a]", "want a mapping"},
	} {
		_, err := ParseFile([]byte(orders+tc.yaml+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	// bearer: false frees Authorization for a static header.
	if _, err := ParseFile([]byte(orders+"    bearer: false\n    headers: {Authorization: Basic x}\n"), nil); err != nil {
		t.Errorf("bearer: false with a static Authorization: %v", err)
	}
}
