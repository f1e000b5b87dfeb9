// Package dnsbl is maxwell and the DNS blocklists of RFC 5782, both
// ways: the lists it asks about its clients (Checker), and its own
// blacklist as other sites read it, served by maxwell (Server) or
// written as a zone for rbldnsd (WriteRbldnsd).
package dnsbl

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/store"
)

// Listed is the A record a listed address answers with (RFC 5782 §2.1).
const Listed = "127.0.0.2"

// The RFC 5782 §5 test entries: a blocklist lists 127.0.0.2 and
// ::FFFF:7F00:2, so that its users can check it answers.
var testEntries = []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::ffff:7f00:2")}

// Entry is one address maxwell's blacklist lists, as other sites see
// it: the address and the reason its TXT record gives.
type Entry struct {
	IP     netip.Addr
	Reason string
}

// Entries are the addresses bans lists (kinds store.BanIP and
// store.BanClient; senders are not addresses), each once, then the
// RFC 5782 test entries: what the rbldnsd zone and maxwell's own server
// both answer for.
func Entries(bans []store.Ban) []Entry {
	var out []Entry
	seen := map[netip.Addr]bool{}
	add := func(ip netip.Addr, reason string) {
		if !seen[ip] {
			seen[ip] = true
			out = append(out, Entry{ip, txt(reason)})
		}
	}
	for _, b := range bans {
		if b.Kind != store.BanIP && b.Kind != store.BanClient {
			continue
		}
		ip, err := netip.ParseAddr(b.Key)
		if err != nil {
			continue // not an address: nothing a client is looked up by
		}
		add(ip.Unmap(), b.Kind+": "+b.Reason)
	}
	for _, ip := range testEntries {
		add(ip, "RFC 5782 test entry")
	}
	return out
}

// WriteRbldnsd writes Entries(bans) as an rbldnsd "combined" dataset:
// an ip4trie and an ip6trie, both at the zone's base, each address
// answering 127.0.0.2 and its reason as TXT. ttl is the records' time
// to live; now stamps the file. Serve it with:
// rbldnsd -b ADDR/PORT ZONE:combined:FILE.
func WriteRbldnsd(w io.Writer, bans []store.Ban, ttl time.Duration, now time.Time) error {
	entries := Entries(bans)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# maxwell's blacklist for rbldnsd, written %s: %d addresses\n", now.UTC().Format(time.RFC3339), len(entries)-len(testEntries))
	fmt.Fprintf(bw, "$TTL %d\n", int(ttl/time.Second))
	for _, set := range []struct {
		kind string
		v4   bool
	}{{"ip4trie", true}, {"ip6trie", false}} {
		fmt.Fprintf(bw, "$DATASET %s:maxwell @\n", set.kind)
		for _, e := range entries {
			if e.IP.Is4() == set.v4 {
				fmt.Fprintf(bw, "%s :%s:%s\n", rbldnsdAddr(e.IP), Listed, e.Reason)
			}
		}
	}
	return bw.Flush()
}

// rbldnsdAddr writes an address as rbldnsd reads it: an IPv4-mapped
// IPv6 address in hex (::ffff:7f00:2), which it takes, not in the dotted
// form Go writes (::ffff:127.0.0.2), which it refuses.
func rbldnsdAddr(ip netip.Addr) string {
	if !ip.Is4In6() {
		return ip.String()
	}
	b := ip.As16()
	return fmt.Sprintf("::ffff:%x:%x", uint16(b[12])<<8|uint16(b[13]), uint16(b[14])<<8|uint16(b[15]))
}

// txt makes a reason fit an rbldnsd TXT template: one line, no '$'
// (rbldnsd substitutes the address for it), at most 255 bytes (one TXT
// string).
func txt(reason string) string {
	return oneline.Cut(strings.ReplaceAll(oneline.Clean(reason), "$", ""), 255)
}
