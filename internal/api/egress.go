package api

import (
	"maps"
	"net/url"

	"google.golang.org/protobuf/proto"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/job"
)

// egressFromProto copies an API definition's signing and egress fields
// into the spec.
func egressFromProto(e *job.EndpointSpec, p *dispatchdv1.EndpointSpec) {
	e.Ed25519Key = p.GetEd25519Key()
	e.NoHMAC = p.Hmac != nil && !p.GetHmac()
	e.NoBearer = p.Bearer != nil && !p.GetBearer()
	e.Egress.Proxy = p.GetProxy()
	if t := p.GetTls(); t != nil {
		e.Egress.ClientCertFile, e.Egress.ClientKeyFile, e.Egress.CAFile = t.GetClientCertFile(), t.GetClientKeyFile(), t.GetCaFile()
	}
	if o := p.GetOauth2(); o != nil {
		e.Egress.OAuth2 = &job.OAuth2Spec{TokenURL: o.GetTokenUrl(), ClientID: o.GetClientId(), ClientSecret: o.GetClientSecret(), Scopes: o.GetScopes()}
	}
	if len(p.GetHeaders()) > 0 {
		e.Egress.Headers = maps.Clone(p.GetHeaders())
	}
	e.Egress.HTTPSOnly = p.GetHttpsOnly()
}

// egressToProto shows the signing and egress fields; the ed25519 key and
// the OAuth2 client secret are write-only, the proxy's password masked.
func egressToProto(p *dispatchdv1.EndpointSpec, e job.EndpointSpec) {
	if e.Ed25519Key != "" {
		p.Ed25519PublicKey, _ = delivery.PublicKey(e.Ed25519Key)
	}
	if e.NoHMAC {
		p.Hmac = new(bool)
	}
	if e.NoBearer {
		p.Bearer = new(bool)
	}
	p.Proxy = maskedProxy(e.Egress.Proxy)
	g := e.Egress
	if g.ClientCertFile != "" || g.ClientKeyFile != "" || g.CAFile != "" {
		p.Tls = &dispatchdv1.EndpointTLS{ClientCertFile: g.ClientCertFile, ClientKeyFile: g.ClientKeyFile, CaFile: g.CAFile}
	}
	if o := g.OAuth2; o != nil {
		p.Oauth2 = &dispatchdv1.EndpointOAuth2{TokenUrl: o.TokenURL, ClientId: o.ClientID, Scopes: o.Scopes}
	}
	p.Headers = g.Headers
	p.HttpsOnly = g.HTTPSOnly
}

// maskedProxy is a proxy URL with its password replaced.
func maskedProxy(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// keepWriteOnly fills the write-only fields an update leaves empty (or
// sends back masked) with the endpoint's current values, so that reading
// an endpoint and writing it back changes nothing.
func keepWriteOnly(p *dispatchdv1.EndpointSpec, cur job.EndpointSpec) *dispatchdv1.EndpointSpec {
	if p == nil {
		return nil
	}
	out := p
	copied := false
	clone := func() {
		if !copied {
			out = cloneSpec(p)
			copied = true
		}
	}
	if p.GetEd25519Key() == "" && cur.Ed25519Key != "" {
		clone()
		out.Ed25519Key = cur.Ed25519Key
	}
	if cur.Egress.Proxy != "" && p.GetProxy() == maskedProxy(cur.Egress.Proxy) {
		clone()
		out.Proxy = cur.Egress.Proxy
	}
	if o := p.GetOauth2(); o != nil && o.GetClientSecret() == "" && cur.Egress.OAuth2 != nil {
		clone()
		o2 := *cur.Egress.OAuth2
		out.Oauth2 = &dispatchdv1.EndpointOAuth2{TokenUrl: o.GetTokenUrl(), ClientId: o.GetClientId(), ClientSecret: o2.ClientSecret, Scopes: o.GetScopes()}
	}
	return out
}

func cloneSpec(p *dispatchdv1.EndpointSpec) *dispatchdv1.EndpointSpec {
	return proto.Clone(p).(*dispatchdv1.EndpointSpec)
}
