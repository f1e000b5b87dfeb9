package callback

import (
	"fmt"
	"net/netip"
)

// reach is what the registries say of the addresses in a block.
type reach int

const (
	notGlobal  reach = iota // not globally reachable: no call-back goes there
	global                  // globally reachable
	embedsIPv4              // as reachable as the IPv4 address it carries
)

// block is one row of the registries.
type block struct {
	prefix netip.Prefix
	name   string
	reach  reach
	// ipv4At is where a block that embeds an IPv4 address carries it:
	// the index of its first byte in the 16-byte address.
	ipv4At int
}

func row(prefix, name string, r reach) block {
	return block{prefix: netip.MustParsePrefix(prefix), name: name, reach: r}
}

func embedding(prefix, name string, at int) block {
	return block{prefix: netip.MustParsePrefix(prefix), name: name, reach: embedsIPv4, ipv4At: at}
}

// registry is the IANA IPv4 and IPv6 Special-Purpose Address Registries
// (RFC 6890 and its updates), row for row with their "Globally
// Reachable" column, as published in 2025:
//
//	https://www.iana.org/assignments/iana-ipv4-special-registry/
//	https://www.iana.org/assignments/iana-ipv6-special-registry/
//
// and, for what the special-purpose registries leave out, the IPv4 and
// IPv6 Address Space registries: multicast; in IPv6, everything outside
// the global unicast space 2000::/3 (reserved by the IETF, unique-local,
// link-local, the deprecated site-local fec0::/10, multicast). The most
// specific row containing an address decides. Where a row says "N/A"
// (blocks whose reach is that of another address), the address is judged
// as noted below.
var registry = []block{
	// IPv4
	row("0.0.0.0/0", "", global),
	row("0.0.0.0/8", `"This network"`, notGlobal),
	row("0.0.0.0/32", `"This host on this network"`, notGlobal),
	row("10.0.0.0/8", "Private-Use", notGlobal),
	row("100.64.0.0/10", "Shared Address Space", notGlobal),
	row("127.0.0.0/8", "Loopback", notGlobal),
	row("169.254.0.0/16", "Link Local", notGlobal),
	row("172.16.0.0/12", "Private-Use", notGlobal),
	row("192.0.0.0/24", "IETF Protocol Assignments", notGlobal),
	row("192.0.0.0/29", "IPv4 Service Continuity Prefix", notGlobal),
	row("192.0.0.8/32", "IPv4 dummy address", notGlobal),
	row("192.0.0.9/32", "Port Control Protocol Anycast", global),
	row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", global),
	row("192.0.0.170/32", "NAT64/DNS64 Discovery", notGlobal),
	row("192.0.0.171/32", "NAT64/DNS64 Discovery", notGlobal),
	row("192.0.2.0/24", "Documentation (TEST-NET-1)", notGlobal),
	row("192.31.196.0/24", "AS112-v4", global),
	row("192.52.193.0/24", "AMT", global),
	// Deprecated (RFC 7526): a relay anycast that no longer serves, and
	// never was a host of its own.
	row("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", notGlobal),
	row("192.168.0.0/16", "Private-Use", notGlobal),
	row("192.175.48.0/24", "Direct Delegation AS112 Service", global),
	row("198.18.0.0/15", "Benchmarking", notGlobal),
	row("198.51.100.0/24", "Documentation (TEST-NET-2)", notGlobal),
	row("203.0.113.0/24", "Documentation (TEST-NET-3)", notGlobal),
	row("224.0.0.0/4", "Multicast", notGlobal), // IPv4 Address Space registry
	row("240.0.0.0/4", "Reserved", notGlobal),
	row("255.255.255.255/32", "Limited Broadcast", notGlobal),

	// IPv6
	row("::/0", "outside the global unicast space 2000::/3", notGlobal), // IPv6 Address Space registry
	row("2000::/3", "", global),
	row("::/128", "Unspecified Address", notGlobal),
	row("::1/128", "Loopback Address", notGlobal),
	// The registry says not globally reachable, but the address is only
	// another spelling of the IPv4 address it maps, and a socket opened
	// to it goes to that address: judge that one.
	embedding("::ffff:0:0/96", "IPv4-mapped Address", 12),
	// RFC 6052: a DNS64 resolver synthesises these for IPv4-only hosts,
	// and a NAT64 gateway carries them to the IPv4 address inside — a
	// loopback or private one as readily as a public one.
	embedding("64:ff9b::/96", "NAT64", 12),              // the registry: "IPv4-IPv6 Translat."
	row("64:ff9b:1::/48", "local-use NAT64", notGlobal), // the registry: "IPv4-IPv6 Translat."
	row("100::/64", "Discard-Only Address Block", notGlobal),
	row("100:0:0:1::/64", "Dummy IPv6 Prefix", notGlobal),
	row("2001::/23", "IETF Protocol Assignments", notGlobal),
	// N/A in the registry: a host behind a NAT, reached through a relay
	// over UDP; not where a mail server lives.
	row("2001::/32", "Teredo", notGlobal),
	row("2001:1::1/128", "Port Control Protocol Anycast", global),
	row("2001:1::2/128", "Traversal Using Relays around NAT Anycast", global),
	row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", global),
	row("2001:2::/48", "Benchmarking", notGlobal),
	row("2001:3::/32", "AMT", global),
	row("2001:4:112::/48", "AS112-v6", global),
	row("2001:10::/28", "Deprecated (previously ORCHID)", notGlobal),
	row("2001:20::/28", "ORCHIDv2", global),
	row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", global),
	row("2001:db8::/32", "Documentation", notGlobal),
	// N/A in the registry: 6to4 (RFC 3056) reaches the IPv4 address in
	// bits 16–47.
	embedding("2002::/16", "6to4", 2),
	row("2620:4f:8000::/48", "Direct Delegation AS112 Service", global),
	row("3fff::/20", "Documentation", notGlobal),
	row("5f00::/16", "Segment Routing (SRv6) SIDs", notGlobal),
	row("fc00::/7", "Unique-Local", notGlobal),
	row("fe80::/10", "Link-Local Unicast", notGlobal),
	row("fec0::/10", "Site-Local (deprecated)", notGlobal), // IPv6 Address Space registry
	row("ff00::/8", "Multicast", notGlobal),                // IPv6 Address Space registry
}

// notGloballyReachable says why no call-back may go to a: the registry
// row that keeps it from the Internet (for an address that carries an
// IPv4 address, the row of that one too); "" if a is globally reachable.
func notGloballyReachable(a netip.Addr) string {
	a = a.WithZone("") // a zone would keep a from every prefix
	var best block
	for _, b := range registry {
		if b.prefix.Contains(a) && (!best.prefix.IsValid() || b.prefix.Bits() > best.prefix.Bits()) {
			best = b
		}
	}
	switch best.reach {
	case global:
		return ""
	case embedsIPv4:
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[best.ipv4At : best.ipv4At+4]))
		if why := notGloballyReachable(v4); why != "" {
			return fmt.Sprintf("%s of %s: %s", best.name, v4, why)
		}
		return ""
	}
	return best.name
}
