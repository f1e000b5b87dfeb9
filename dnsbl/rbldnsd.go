// Package dnsbl holds maxwell's DNS blocklists as other sites read them
// (RFC 5782): for now, the blacklist written as a zone for rbldnsd.
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

// WriteRbldnsd writes the IP addresses bans lists (kinds store.BanIP and
// store.BanClient; senders are not addresses) as an rbldnsd "combined"
// dataset: an ip4trie and an ip6trie, both at the zone's base, each
// address answering 127.0.0.2 and its reason as TXT, with the RFC 5782
// test entries. ttl is the records' time to live; now stamps the file.
// Serve it with: rbldnsd -b ADDR/PORT ZONE:combined:FILE.
func WriteRbldnsd(w io.Writer, bans []store.Ban, ttl time.Duration, now time.Time) error {
	var v4, v6 []string
	seen := map[netip.Addr]bool{}
	add := func(ip netip.Addr, reason string) {
		if seen[ip] {
			return
		}
		seen[ip] = true
		line := fmt.Sprintf("%s :%s:%s", ip, Listed, txt(reason))
		if ip.Is4() {
			v4 = append(v4, line)
		} else {
			v6 = append(v6, line)
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
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# maxwell's blacklist for rbldnsd, written %s: %d addresses\n", now.UTC().Format(time.RFC3339), len(seen)-len(testEntries))
	fmt.Fprintf(bw, "$TTL %d\n", int(ttl/time.Second))
	for _, set := range []struct {
		kind  string
		lines []string
	}{{"ip4trie", v4}, {"ip6trie", v6}} {
		fmt.Fprintf(bw, "$DATASET %s:maxwell @\n", set.kind)
		for _, l := range set.lines {
			fmt.Fprintln(bw, l)
		}
	}
	return bw.Flush()
}

// txt makes a reason fit an rbldnsd TXT template: one line, no '$'
// (rbldnsd substitutes the address for it), at most 255 bytes (one TXT
// string).
func txt(reason string) string {
	return oneline.Cut(strings.ReplaceAll(oneline.Clean(reason), "$", ""), 255)
}
