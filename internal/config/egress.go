package config

import (
	"net/url"
	"os"
	"strings"
	"unicode"

	"github.com/dispatchd/dispatchd/internal/delivery"
)

// validateSigning checks the signing keys beside the secrets.
func (e *Endpoint) validateSigning(p string, add func(path, format string, args ...any), hmacOn bool) {
	if e.Ed25519Key != "" {
		if _, err := delivery.ParseSigningKey(e.Ed25519Key); err != nil {
			add(p+".ed25519_key", "%v", err)
		}
	}
	if !hmacOn && e.Ed25519Key == "" {
		add(p+".hmac", "false needs an ed25519_key: otherwise nothing signs the deliveries")
	}
}

// validateEgress checks the proxy, TLS files, OAuth2 client and static
// headers of an endpoint.
func (e *Endpoint) validateEgress(p string, add func(path, format string, args ...any)) {
	if e.Proxy != "" {
		if _, err := delivery.ParseProxy(e.Proxy); err != nil {
			add(p+".proxy", "%v", err)
		}
	}
	if t := e.TLS; t != nil {
		if (t.ClientCertFile == "") != (t.ClientKeyFile == "") {
			add(p+".tls", "client_cert_file and client_key_file go together")
		}
		for key, f := range map[string]string{"client_cert_file": t.ClientCertFile, "client_key_file": t.ClientKeyFile, "ca_file": t.CAFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				add(p+".tls."+key, "%v", err)
			}
		}
	}
	bearerOn := e.Bearer == nil || *e.Bearer
	if o := e.OAuth2; o != nil {
		if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			add(p+".oauth2.token_url", "%q: want an absolute http:// or https:// URL", o.TokenURL)
		}
		if o.ClientID == "" {
			add(p+".oauth2.client_id", "required")
		}
		if o.ClientSecret == "" {
			add(p+".oauth2.client_secret", "required")
		}
	}
	for name, v := range e.Headers {
		hp := p + ".headers." + name
		switch {
		case !validHeaderName(name):
			add(hp, "%q is not a header name", name)
		case strings.EqualFold(name, "Authorization") && (bearerOn || e.OAuth2 != nil):
			add(hp, "Authorization is set by dispatchd; use bearer: false (and no oauth2) to send your own")
		case !strings.EqualFold(name, "Authorization") && delivery.ReservedHeader(name):
			add(hp, "%s is set by dispatchd and cannot be replaced", name)
		case strings.ContainsFunc(v, unicode.IsControl):
			add(hp, "the value has a control character")
		}
	}
}

// validate checks the file's delivery defaults.
func (d *DeliveryDefaults) validate(add func(path, format string, args ...any)) {
	if d == nil {
		return
	}
	if d.Proxy != "" {
		if _, err := delivery.ParseProxy(d.Proxy); err != nil {
			add("delivery.proxy", "%v", err)
		}
	}
	if d.CAFile != "" {
		if _, err := os.Stat(d.CAFile); err != nil {
			add("delivery.ca_file", "%v", err)
		}
	}
}
