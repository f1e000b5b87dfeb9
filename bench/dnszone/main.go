// Command dnszone serves a zone file (one record per line, zone-file
// syntax) on a loopback address until it is told to stop: the DNS of
// `make bench`, so that SPF and PTR checks run as on the Internet
// without leaving the machine.
//
//	dnszone -zone bench/zone.txt -addr-file /tmp/dns.addr
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
)

func main() {
	zone := flag.String("zone", "", "zone `file`")
	addrFile := flag.String("addr-file", "", "write the server's address (127.0.0.1:PORT) to this `file`")
	flag.Parse()
	f, err := os.Open(*zone)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var records []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, ";") {
			records = append(records, l)
		}
	}
	f.Close()
	srv, err := dnstest.Start(records...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	if *addrFile != "" {
		os.WriteFile(*addrFile, []byte(srv.Addr+"\n"), 0o644)
	}
	fmt.Println(srv.Addr)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
