package ssrf

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCheck walks every refused range with addresses at its edges and just
// outside them. want is the reason, "" for an allowed address.
func TestCheck(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		// Public.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},

		// IPv4, range by range.
		{"0.0.0.0", unspecified},
		{"0.0.0.1", reserved},
		{"0.255.255.255", reserved},
		{"1.0.0.0", ""},
		{"9.255.255.255", ""},
		{"10.0.0.0", private},
		{"10.255.255.255", private},
		{"11.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.64.0.0", shared},
		{"100.127.255.255", shared},
		{"100.128.0.0", ""},
		{"100.100.100.200", metadata},
		{"126.255.255.255", ""},
		{"127.0.0.0", loopback},
		{"127.0.0.1", loopback},
		{"127.255.255.255", loopback},
		{"128.0.0.0", ""},
		{"169.253.255.255", ""},
		{"169.254.0.0", linkLocal},
		{"169.254.169.253", linkLocal},
		{"169.254.169.254", metadata},
		{"169.254.169.255", linkLocal},
		{"169.254.170.2", metadata},
		{"169.254.255.255", linkLocal},
		{"169.255.0.0", ""},
		{"172.15.255.255", ""},
		{"172.16.0.0", private},
		{"172.31.255.255", private},
		{"172.32.0.0", ""},
		{"191.255.255.255", ""},
		{"192.0.0.0", reserved},
		{"192.0.0.255", reserved},
		{"192.0.1.0", ""},
		{"192.0.1.255", ""},
		{"192.0.2.0", documentation},
		{"192.0.2.255", documentation},
		{"192.0.3.0", ""},
		{"192.88.98.255", ""},
		{"192.88.99.0", reserved},
		{"192.88.99.255", reserved},
		{"192.88.100.0", ""},
		{"192.167.255.255", ""},
		{"192.168.0.0", private},
		{"192.168.255.255", private},
		{"192.169.0.0", ""},
		{"198.17.255.255", ""},
		{"198.18.0.0", benchmarking},
		{"198.19.255.255", benchmarking},
		{"198.20.0.0", ""},
		{"198.51.99.255", ""},
		{"198.51.100.0", documentation},
		{"198.51.100.255", documentation},
		{"198.51.101.0", ""},
		{"203.0.112.255", ""},
		{"203.0.113.0", documentation},
		{"203.0.113.255", documentation},
		{"203.0.114.0", ""},
		{"223.255.255.255", ""},
		{"224.0.0.0", multicast},
		{"239.255.255.255", multicast},
		{"240.0.0.0", reserved},
		{"255.255.255.254", reserved},
		{"255.255.255.255", broadcast},

		// IPv6.
		{"::", unspecified},
		{"::1", loopback},
		{"::2", reserved}, // IPv4-compatible 0.0.0.2
		{"100::", reserved},
		{"100::ffff:ffff:ffff:ffff", reserved}, // discard-only
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", reserved},
		{"2000::", ""},
		{"2001::", reserved}, // Teredo
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", reserved},
		{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", reserved},
		{"2001:200::", ""},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"2001:db8::", documentation},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", documentation},
		{"2001:db9::", ""},
		{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"3fff::", documentation},
		{"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", documentation},
		{"3fff:1000::", ""},
		{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"4000::", reserved},
		{"5f00::1", reserved}, // SRv6 SIDs
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", reserved},
		{"fc00::", uniqueLocal},
		{"fd00::1", uniqueLocal},
		{"fd00:ec2::253", uniqueLocal},
		{"fd00:ec2::254", metadata},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", uniqueLocal},
		{"fe00::", reserved},
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", reserved},
		{"fe80::", linkLocal},
		{"fe80::1%eth0", linkLocal},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", linkLocal},
		{"fec0::1", reserved}, // site-local, deprecated
		{"ff00::", multicast},
		{"ff02::1", multicast},
		{"ff02::1%eth0", multicast},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", multicast},

		// IPv4-mapped: judged as the IPv4 address.
		{"::ffff:127.0.0.1", loopback},
		{"::ffff:7f00:1", loopback},
		{"::ffff:10.1.2.3", private},
		{"::ffff:169.254.169.254", metadata},
		{"::ffff:0.0.0.0", unspecified},
		{"::ffff:255.255.255.255", broadcast},
		{"::ffff:8.8.8.8", ""},
		// IPv4-compatible: deprecated, refused even with a public IPv4.
		{"::127.0.0.1", loopback},
		{"::169.254.169.254", metadata},
		{"::8.8.8.8", reserved},
		// NAT64: the translator connects to the IPv4 address inside.
		{"64:ff9b::127.0.0.1", loopback},
		{"64:ff9b::a9fe:a9fe", metadata},
		{"64:ff9b::192.168.1.1", private},
		{"64:ff9b::8.8.8.8", ""},
		{"64:ff9b:1::8.8.8.8", reserved}, // local-use NAT64: no fixed place for the IPv4
		// 6to4: 2002:AABB:CCDD::/48 is the site behind IPv4 AA.BB.CC.DD.
		{"2002:7f00:1::1", loopback},
		{"2002:a9fe:a9fe::", metadata},
		{"2002:c0a8:101:1::1", private},
		{"2002:808:808::1", ""},
		{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"2003::", ""},
	}
	g := New(nil)
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		err := g.Check(ip)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%s) = %v, want nil", tt.addr, err)
		case tt.want == "":
		case !errors.Is(err, ErrBlocked):
			t.Errorf("Check(%s) = %v, want ErrBlocked: %s", tt.addr, err, tt.want)
		case !strings.Contains(err.Error(), tt.want+";"):
			t.Errorf("Check(%s) = %v, want the reason %q", tt.addr, err, tt.want)
		}
	}
}

func TestCheckMessages(t *testing.T) {
	tests := []struct {
		addr netip.Addr
		want string
	}{
		{netip.MustParseAddr("127.0.0.1"),
			"address not allowed: 127.0.0.1 is a loopback address; allow it with DISPATCHD_ALLOW_PRIVATE_NETWORKS"},
		{netip.MustParseAddr("::ffff:169.254.169.254"),
			"address not allowed: ::ffff:169.254.169.254 is a cloud metadata address; allow it with DISPATCHD_ALLOW_PRIVATE_NETWORKS"},
		{netip.MustParseAddr("64:ff9b::10.0.0.1"),
			"address not allowed: 64:ff9b::a00:1 embeds 10.0.0.1, a private address; allow it with DISPATCHD_ALLOW_PRIVATE_NETWORKS"},
		{netip.MustParseAddr("fe80::1%eth0"),
			"address not allowed: fe80::1%eth0 is a link-local address; allow it with DISPATCHD_ALLOW_PRIVATE_NETWORKS"},
		{netip.Addr{},
			"address not allowed: no address (the zero netip.Addr)"},
	}
	g := New(nil)
	for _, tt := range tests {
		err := g.Check(tt.addr)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Check(%v) = %v\nwant %s", tt.addr, err, tt.want)
		}
	}
}

func TestAllow(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name         string
		allow        []netip.Prefix
		allowed      []string
		stillRefused []string
	}{
		{
			name:         "local development",
			allow:        []netip.Prefix{p("127.0.0.0/8"), p("::1/128")},
			allowed:      []string{"127.0.0.1", "127.255.255.255", "::ffff:127.0.0.1", "::1", "8.8.8.8"},
			stillRefused: []string{"10.0.0.1", "0.0.0.0", "::", "169.254.169.254", "::2"},
		},
		{
			name:  "IPv4 only",
			allow: []netip.Prefix{p("127.0.0.0/8")},
			// Only the mapped form is the same address to the kernel;
			// NAT64 and 6to4 forms must be allowed in IPv6 terms.
			allowed:      []string{"127.0.0.1", "::ffff:127.0.0.1"},
			stillRefused: []string{"::1", "64:ff9b::127.0.0.1", "2002:7f00:1::", "::127.0.0.1"},
		},
		{
			name:         "written as IPv4-mapped",
			allow:        []netip.Prefix{p("::ffff:10.0.0.0/104")},
			allowed:      []string{"10.1.2.3", "::ffff:10.1.2.3"},
			stillRefused: []string{"192.168.0.1", "::ffff:192.168.0.1", "::10.1.2.3"},
		},
		{
			name:         "not masked",
			allow:        []netip.Prefix{p("10.1.2.3/8")},
			allowed:      []string{"10.0.0.1", "10.255.0.1"},
			stillRefused: []string{"172.16.0.1"},
		},
		{
			name:         "single metadata address",
			allow:        []netip.Prefix{p("169.254.169.254/32")},
			allowed:      []string{"169.254.169.254", "::ffff:169.254.169.254"},
			stillRefused: []string{"169.254.169.253", "fd00:ec2::254"},
		},
		{
			name:         "link-local with a zone",
			allow:        []netip.Prefix{p("fe80::/10")},
			allowed:      []string{"fe80::1%eth0", "fe80::1"},
			stillRefused: []string{"169.254.0.1", "fec0::1"},
		},
		{
			name:         "NAT64 in IPv6 terms",
			allow:        []netip.Prefix{p("64:ff9b::/96")},
			allowed:      []string{"64:ff9b::127.0.0.1"},
			stillRefused: []string{"127.0.0.1", "::ffff:127.0.0.1"},
		},
		{
			// A prefix that covers every mapped address covers IPv4.
			name:    "everything",
			allow:   []netip.Prefix{p("::/0")},
			allowed: []string{"127.0.0.1", "::ffff:127.0.0.1", "::1", "10.0.0.1", "fe80::1%eth0", "255.255.255.255"},
		},
		{
			name:         "the zero prefix allows nothing",
			allow:        []netip.Prefix{{}},
			stillRefused: []string{"127.0.0.1", "::1", "0.0.0.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(tt.allow)
			for _, a := range tt.allowed {
				if err := g.Check(netip.MustParseAddr(a)); err != nil {
					t.Errorf("Check(%s) = %v, want nil", a, err)
				}
			}
			for _, a := range tt.stillRefused {
				if err := g.Check(netip.MustParseAddr(a)); !errors.Is(err, ErrBlocked) {
					t.Errorf("Check(%s) = %v, want ErrBlocked", a, err)
				}
			}
		})
	}
}

// TestNewCopiesAllow checks that changing the caller's slice afterwards
// does not change the guard.
func TestNewCopiesAllow(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	g := New(allow)
	allow[0] = netip.MustParsePrefix("10.0.0.0/8")
	if err := g.Check(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("Check(10.0.0.1) = nil after the caller changed its slice, want ErrBlocked")
	}
}

func TestControlAddresses(t *testing.T) {
	g := New(nil)
	tests := []struct {
		network, address string
		wantErr          string // "" means allowed
	}{
		{"tcp4", "8.8.8.8:443", ""},
		{"tcp6", "[2606:4700:4700::1111]:443", ""},
		{"tcp4", "127.0.0.1:8080", "127.0.0.1 is a loopback address"},
		{"tcp6", "[::ffff:127.0.0.1]:8080", "::ffff:127.0.0.1 is a loopback address"},
		{"tcp6", "[fe80::1%eth0]:80", "fe80::1%eth0 is a link-local address"},
		{"udp4", "169.254.169.254:53", "169.254.169.254 is a cloud metadata address"},
		// Fail closed on anything that is not an IP address and port.
		{"unix", "/run/dispatchd.sock", `unix address "/run/dispatchd.sock" is not an IP address and port`},
		{"tcp", "localhost:80", `tcp address "localhost:80" is not an IP address and port`},
		{"tcp", "8.8.8.8", `tcp address "8.8.8.8" is not an IP address and port`},
		{"tcp", "", `tcp address "" is not an IP address and port`},
	}
	for _, tt := range tests {
		err := g.Control(tt.network, tt.address, nil)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Control(%s, %s) = %v, want nil", tt.network, tt.address, err)
		case tt.wantErr == "":
		case !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("Control(%s, %s) = %v, want ErrBlocked: %s", tt.network, tt.address, err, tt.wantErr)
		}
	}
}

// TestControlDials uses the guard the way the delivery client does, as a
// real net.Dialer's Control, against a listener on loopback.
func TestControlDials(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		allow        netip.Prefix
	}{
		{"IPv4", "127.0.0.1:0", netip.MustParsePrefix("127.0.0.0/8")},
		{"IPv6", "[::1]:0", netip.MustParsePrefix("::1/128")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", tc.listen)
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.name, err)
			}
			t.Cleanup(func() { ln.Close() })
			addr := ln.Addr().String()

			refused := &net.Dialer{Control: New(nil).Control}
			if conn, err := refused.Dial("tcp", addr); !errors.Is(err, ErrBlocked) {
				if conn != nil {
					conn.Close()
				}
				t.Fatalf("Dial(%s) without an allow list: %v, want ErrBlocked", addr, err)
			}

			allowed := &net.Dialer{Control: New([]netip.Prefix{tc.allow}).Control}
			conn, err := allowed.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("Dial(%s) with %s allowed: %v", addr, tc.allow, err)
			}
			defer conn.Close()

			// The first connection the listener accepts must be this one:
			// the refused dial never reached connect(2).
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if diff := cmp.Diff(conn.LocalAddr().String(), srv.RemoteAddr().String()); diff != "" {
				t.Errorf("accepted a connection other than the allowed one (-want +got):\n%s", diff)
			}
		})
	}
}

// TestControlAfterResolution dials a host name: the guard sees the
// resolved address, not the name.
func TestControlAfterResolution(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skipf("localhost does not resolve: %v", err)
	}
	d := &net.Dialer{Control: New(nil).Control}
	conn, err := d.Dial("tcp", net.JoinHostPort("localhost", port))
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, ErrBlocked) {
		t.Errorf("Dial(localhost) = %v, want ErrBlocked", err)
	}
}
