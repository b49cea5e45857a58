package ssrf

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzCheck checks that Check never panics, that every refusal wraps
// ErrBlocked and names the address, that a zone never changes the verdict,
// and that an IPv4 address and its IPv4-mapped IPv6 form get the same
// verdict, with and without an allow list.
func FuzzCheck(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, "")
	f.Add([]byte{169, 254, 169, 254}, "")
	f.Add([]byte{8, 8, 8, 8}, "")
	f.Add([]byte{0xfe, 0x80, 15: 1}, "eth0")
	f.Add([]byte{0, 0x64, 0xff, 0x9b, 12: 127, 13: 0, 14: 0, 15: 1}, "")
	f.Add([]byte{0x20, 0x02, 10, 0, 0, 1, 15: 0}, "")
	f.Add([]byte{10: 0xff, 11: 0xff, 12: 192, 13: 168, 14: 1, 15: 1}, "")
	f.Add([]byte{}, "")
	guards := []*Guard{
		New(nil),
		New([]netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("::ffff:192.168.0.0/112"),
			netip.MustParsePrefix("fc00::/7"),
		}),
	}
	f.Fuzz(func(t *testing.T, b []byte, zone string) {
		var ip netip.Addr
		switch {
		case len(b) >= 16:
			ip = netip.AddrFrom16([16]byte(b)).WithZone(zone)
		case len(b) >= 4:
			ip = netip.AddrFrom4([4]byte(b))
		}
		for _, g := range guards {
			err := g.Check(ip)
			if err != nil && (!errors.Is(err, ErrBlocked) || ip.IsValid() && !strings.Contains(err.Error(), ip.String())) {
				t.Fatalf("Check(%v) = %v: want ErrBlocked and the address", ip, err)
			}
			if zoned := ip.WithZone(""); (g.Check(zoned) == nil) != (err == nil) {
				t.Errorf("Check(%v) = %v but Check(%v) = %v", ip, err, zoned, g.Check(zoned))
			}
			if ip.Is4() {
				mapped := netip.AddrFrom16(ip.As16())
				if merr := g.Check(mapped); (merr == nil) != (err == nil) {
					t.Errorf("Check(%v) = %v but Check(%v) = %v", ip, err, mapped, merr)
				}
			}
		}
	})
}
