package ssrf

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrBlocked is wrapped by every refusal.
var ErrBlocked = errors.New("address not allowed")

// allowEnv is named in refusals: it is the way out for an operator who
// meant to deliver to a private address.
const allowEnv = "DISPATCHD_ALLOW_PRIVATE_NETWORKS"

// Reasons an address is refused, each completing "<address> is …".
const (
	unspecified   = "the unspecified address"
	loopback      = "a loopback address"
	private       = "a private address"
	uniqueLocal   = "a private (unique local) address"
	linkLocal     = "a link-local address"
	metadata      = "a cloud metadata address"
	shared        = "a shared (CGNAT) address"
	benchmarking  = "a benchmarking address"
	documentation = "a documentation address"
	multicast     = "a multicast address"
	broadcast     = "the broadcast address"
	reserved      = "a reserved address"
)

type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// v4Blocked lists the IPv4 ranges that are not public unicast (from the
// IANA IPv4 Special-Purpose Address Registry, plus multicast and the
// metadata services). The first match names the reason, so specific
// entries come before the ranges that contain them.
var v4Blocked = []blockedRange{
	{netip.MustParsePrefix("169.254.169.254/32"), metadata}, // AWS, GCP, Azure, Oracle, OpenStack
	{netip.MustParsePrefix("169.254.170.2/32"), metadata},   // AWS ECS task credentials
	{netip.MustParsePrefix("100.100.100.200/32"), metadata}, // Alibaba Cloud
	{netip.MustParsePrefix("0.0.0.0/32"), unspecified},      // Linux connects it to the local host
	{netip.MustParsePrefix("255.255.255.255/32"), broadcast},
	{netip.MustParsePrefix("0.0.0.0/8"), reserved}, // "this network"
	{netip.MustParsePrefix("10.0.0.0/8"), private},
	{netip.MustParsePrefix("100.64.0.0/10"), shared},
	{netip.MustParsePrefix("127.0.0.0/8"), loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), linkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), private},
	{netip.MustParsePrefix("192.0.0.0/24"), reserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), documentation},
	{netip.MustParsePrefix("192.88.99.0/24"), reserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), private},
	{netip.MustParsePrefix("198.18.0.0/15"), benchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), documentation},
	{netip.MustParsePrefix("203.0.113.0/24"), documentation},
	{netip.MustParsePrefix("224.0.0.0/4"), multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), reserved},
}

// v6Exact lists single IPv6 addresses, checked first: :: and ::1 would
// otherwise read as IPv4-compatible forms of 0.0.0.0 and 0.0.0.1.
var v6Exact = []blockedRange{
	{netip.MustParsePrefix("::/128"), unspecified},
	{netip.MustParsePrefix("::1/128"), loopback},
	{netip.MustParsePrefix("fd00:ec2::254/128"), metadata}, // AWS over IPv6
}

// v6Blocked lists IPv6 ranges inside 2000::/3 (global unicast, the only
// part of the IPv6 space allocated for public use) that are not public, and
// ranges outside it that deserve a more precise reason than "reserved".
// The forms that embed an IPv4 address are handled before this table.
var v6Blocked = []blockedRange{
	{netip.MustParsePrefix("2001::/23"), reserved}, // IETF protocol assignments, Teredo among them
	{netip.MustParsePrefix("2001:db8::/32"), documentation},
	{netip.MustParsePrefix("3fff::/20"), documentation},
	{netip.MustParsePrefix("fc00::/7"), uniqueLocal},
	{netip.MustParsePrefix("fe80::/10"), linkLocal},
	{netip.MustParsePrefix("ff00::/8"), multicast},
}

var (
	globalUnicast = netip.MustParsePrefix("2000::/3")
	v4Compatible  = netip.MustParsePrefix("::/96")
	nat64         = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052, IPv4 in the last 32 bits
	sixToFour     = netip.MustParsePrefix("2002::/16")    // RFC 3056, IPv4 in bits 16 to 47
	v4MappedZero  = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff})
)

// Guard decides which addresses deliveries may connect to. Its methods may
// be called from any number of goroutines.
type Guard struct {
	allow []netip.Prefix // IPv4 ranges in IPv4 form, see New
}

// New returns a Guard that refuses loopback, private, link-local, cloud
// metadata, unspecified, multicast, broadcast, shared (CGNAT),
// benchmarking, documentation and reserved addresses, IPv4 and IPv6, and
// IPv6 forms that embed such an IPv4 address, except the addresses inside
// one of the allow prefixes.
//
// An allowed IPv4 range also allows its IPv4-mapped IPv6 form, and the
// other way round: ::ffff:127.0.0.1 is 127.0.0.1 to the kernel. The other
// IPv4-embedding forms (NAT64, 6to4, IPv4-compatible) are allowed only by a
// prefix written in IPv6.
func New(allow []netip.Prefix) *Guard {
	g := &Guard{}
	for _, p := range allow {
		if !p.IsValid() {
			continue
		}
		switch a := p.Addr(); {
		case a.Is4In6() && p.Bits() >= 96:
			// Check compares unmapped addresses, so a mapped range is
			// stored as the IPv4 range it is.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		case a.Is6() && p.Contains(v4MappedZero):
			// ::/0 and the like cover every mapped address, so all of
			// IPv4.
			g.allow = append(g.allow, netip.MustParsePrefix("0.0.0.0/0"))
		}
		g.allow = append(g.allow, p)
	}
	return g
}

// Check returns nil if ip may be dialled, and otherwise an error wrapping
// ErrBlocked that names the address and why it is refused.
func (g *Guard) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: no address (the zero netip.Addr)", ErrBlocked)
	}
	// Prefix.Contains never matches an address with a zone, and a zone
	// only says which interface to use, not where the address leads.
	a := ip.WithZone("").Unmap()
	for _, p := range g.allow {
		if p.Contains(a) {
			return nil
		}
	}
	reason, inner := classify(a)
	switch {
	case reason == "":
		return nil
	case inner.IsValid():
		return fmt.Errorf("%w: %s embeds %s, %s; allow it with %s", ErrBlocked, ip, inner, reason, allowEnv)
	}
	return fmt.Errorf("%w: %s is %s; allow it with %s", ErrBlocked, ip, reason, allowEnv)
}

// classify returns why a (unmapped, without zone) is refused, "" if it is
// not, and the IPv4 address it embeds if that is the reason.
func classify(a netip.Addr) (reason string, inner netip.Addr) {
	if a.Is4() {
		return classify4(a), netip.Addr{}
	}
	for _, r := range v6Exact {
		if r.prefix.Contains(a) {
			return r.reason, netip.Addr{}
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return embedded(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return embedded(netip.AddrFrom4([4]byte(b[2:6])))
	case v4Compatible.Contains(a):
		// Deprecated since 2006 and routed nowhere: refused even when the
		// IPv4 inside is public, but named by it when it is not.
		if reason, inner := embedded(netip.AddrFrom4([4]byte(b[12:16]))); reason != "" {
			return reason, inner
		}
		return reserved, netip.Addr{}
	}
	for _, r := range v6Blocked {
		if r.prefix.Contains(a) {
			return r.reason, netip.Addr{}
		}
	}
	if !globalUnicast.Contains(a) {
		return reserved, netip.Addr{}
	}
	return "", netip.Addr{}
}

// embedded judges an IPv6 address by the IPv4 address v4 it carries.
func embedded(v4 netip.Addr) (reason string, inner netip.Addr) {
	if reason := classify4(v4); reason != "" {
		return reason, v4
	}
	return "", netip.Addr{}
}

func classify4(a netip.Addr) string {
	for _, r := range v4Blocked {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// Allowed reports whether ip is in a network explicitly allowed (the list
// New was given), as opposed to merely public. The https-only rule lets
// plain http:// through to those networks alone.
func (g *Guard) Allowed(ip netip.Addr) bool {
	a := ip.WithZone("").Unmap()
	for _, p := range g.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function. It checks the address the
// socket is about to connect to, after DNS resolution, so a name that
// resolves to a public address once and to a private one later (DNS
// rebinding) cannot slip through. address is "ip:port"; anything else,
// such as a Unix socket path, is refused.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s address %q is not an IP address and port", ErrBlocked, network, address)
	}
	return g.Check(ap.Addr())
}
