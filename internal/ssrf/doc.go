// Package ssrf keeps deliveries away from the networks dispatchd itself runs
// in.
//
// Whoever can register an endpoint chooses where dispatchd's workers send
// requests. Without a guard, an endpoint URL such as
// http://169.254.169.254/latest/meta-data/ or http://localhost:5432/ turns
// the worker into a proxy into its own host, its cloud's metadata service
// (and the credentials it hands out) and the private network behind the
// firewall: server-side request forgery.
//
// A [Guard] refuses every address that is not ordinary public unicast:
// loopback, private, link-local, cloud metadata, shared (CGNAT),
// documentation, benchmarking, multicast, broadcast and reserved ranges, in
// IPv4 and IPv6. IPv6 forms that carry an IPv4 address (IPv4-mapped
// ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96 and 6to4
// 2002::/16) are judged by the IPv4 address inside, since that is where
// the packets end up. Operators open specific ranges, typically for local
// development, with DISPATCHD_ALLOW_PRIVATE_NETWORKS.
//
// The check belongs at dial time, not at the URL: [Guard.Control] is a
// net.Dialer Control function, so it sees the address the socket is
// actually about to connect to after DNS resolution. Checking the host name
// or a separate lookup beforehand would be defeated by DNS rebinding, where
// the name resolves to a public address for the check and to 127.0.0.1 a
// moment later for the connection. For the same reason the HTTP client
// that uses the guard must not use a proxy (its Transport's Proxy must be
// nil; http.DefaultTransport reads HTTP_PROXY): through a proxy, the
// dialer only ever sees the proxy's address.
package ssrf
