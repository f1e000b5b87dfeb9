// Command dnsq asks a DNS blocklist server as fast as it answers, from a
// few concurrent clients over UDP, and prints one line: queries per
// second, the share answered "listed", and the 99th percentile of the
// answer time. make bench-cooperation runs it against maxwell's
// [dnsbl_server] and against rbldnsd serving the same blacklist.
//
//	dnsq -addr 127.0.0.1:5353 -zone rats.example -ips 192.0.2.1,192.0.2.2 -n 100000 -c 8
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/dnsbl"
)

func main() {
	addr := flag.String("addr", "", "the server, `host:port` on loopback")
	zone := flag.String("zone", "", "the zone asked")
	ips := flag.String("ips", "", "addresses asked about in turn, comma-separated")
	n := flag.Int("n", 100000, "queries in all")
	c := flag.Int("c", 8, "concurrent clients")
	label := flag.String("label", "server", "the line's first word")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().IsLoopback() || *zone == "" || *ips == "" {
		fmt.Fprintln(os.Stderr, "dnsq: -addr (a loopback address:port), -zone and -ips are required")
		os.Exit(2)
	}
	var names []string
	for _, s := range strings.Split(*ips, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintln(os.Stderr, "dnsq:", err)
			os.Exit(2)
		}
		names = append(names, dnsbl.ReverseIP(ip)+"."+*zone+".")
	}
	var next, listed, failed atomic.Int64
	times := make([][]time.Duration, *c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			conn, err := cl.Dial(*addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				m := new(dns.Msg)
				m.SetQuestion(names[i%int64(len(names))], dns.TypeA)
				t := time.Now()
				r, _, err := cl.ExchangeWithConn(m, conn)
				times[w] = append(times[w], time.Since(t))
				switch {
				case err != nil:
					failed.Add(1)
				case r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0:
					listed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	all := slices.Concat(times...)
	slices.Sort(all)
	p99 := time.Duration(0)
	if len(all) > 0 {
		p99 = all[len(all)*99/100]
	}
	fmt.Printf("%s %.0f %.3f %.3f %d\n", *label, float64(len(all))/took.Seconds(),
		float64(listed.Load())/float64(max(1, len(all))), float64(p99.Microseconds())/1000, failed.Load())
}
