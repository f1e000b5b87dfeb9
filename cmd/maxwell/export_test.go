package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/dnsbl"
	"github.com/maxwell-milter/maxwell/store"
)

// maxwell blacklist export writes the banned and blacklisted addresses
// as a zone Debian's rbldnsd serves as an RFC 5782 blocklist: a listed
// IPv4 or IPv6 address answers 127.0.0.2 and its reason, the RFC's test
// entries answer, anything else (an expired ban, an address never
// listed) is NXDOMAIN, and senders are not exported.
func TestBlacklistExportRbldnsd(t *testing.T) {
	rbldnsd, err := exec.LookPath("rbldnsd")
	if err != nil {
		t.Fatal("rbldnsd is not installed: apt-get install rbldnsd (.ci/run does)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "maxwell.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[milter]\ndatadir = %q\n", filepath.Join(dir, "data"))), 0o644)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "data", "maxwell.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, b := range []store.Ban{
		{Kind: store.BanClient, Key: "192.0.2.7", Reason: "greylisted, then lost connection after RCPT $1"},
		{Kind: store.BanIP, Key: "2001:db8::25", Reason: "4 demerits, last: unknown user x@example.org"},
		{Kind: store.BanIP, Key: "192.0.2.8", Reason: "long ago", Created: now.Add(-48 * time.Hour), Expires: now.Add(-time.Hour)},
		{Kind: store.BanSender, Key: "spammer@example.com", Reason: "complaints"},
	} {
		if b.Created.IsZero() {
			b.Created, b.Expires = now, now.Add(time.Hour)
		}
		if err := st.Ban(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	defer st.Close()

	code, out, stderr := capture(t, func() int { return run([]string{"blacklist", "export", "-c", cfg, "--ttl", "10m"}) })
	if code != exitOK {
		t.Fatalf("blacklist export: %d %s", code, stderr)
	}
	if strings.Contains(out, "spammer") || strings.Contains(out, "192.0.2.8") {
		t.Errorf("the export holds a sender or an expired ban:\n%s", out)
	}
	zone := filepath.Join(dir, "zone")
	os.WriteFile(zone, []byte(out), 0o644)

	// rbldnsd on a free loopback UDP port, stopped by its PID.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	// In the foreground (-n), its output kept; stopped when the test ends.
	cmd := exec.Command(rbldnsd, "-n", "-b", fmt.Sprintf("127.0.0.1/%d", port), "-r", dir, "-u", "nobody", "bl.example:combined:zone")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if strings.Contains(log.String(), "invalid") {
			t.Errorf("rbldnsd refused lines of the export:\n%s", log.String())
		}
		if t.Failed() {
			t.Logf("rbldnsd:\n%s\nthe zone:\n%s", log.String(), out)
		}
	})
	// maxwell's own server of the same blacklist, read from the same store.
	own := &dnsbl.Server{Zone: "bl.example", TTL: 10 * time.Minute, Refresh: time.Hour, Store: st, Now: time.Now}
	if err := own.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	rbl := fmt.Sprintf("127.0.0.1:%d", port)
	ask := func(server, name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		c := &dns.Client{Timeout: 2 * time.Second}
		for range 50 { // until it has loaded the zone
			r, _, err := c.Exchange(m, server)
			if err == nil {
				return r
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s does not answer %s", server, name)
		return nil
	}
	for _, tc := range []struct {
		query  string
		listed bool
		reason string
	}{
		{"7.2.0.192.bl.example", true, "client: greylisted, then lost connection after RCPT 1"},
		{"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example", true, "ip: 4 demerits, last: unknown user x@example.org"},
		{"2.0.0.127.bl.example", true, "RFC 5782 test entry"},
		{"2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example", true, "RFC 5782 test entry"},
		{"1.0.0.127.bl.example", false, ""},
		{"8.2.0.192.bl.example", false, ""},
		{"not.an.address.bl.example", false, ""},
	} {
		// rbldnsd as the reference, then maxwell's server answering the same.
		for _, server := range []string{rbl, own.Addr()} {
			who := map[string]string{rbl: "rbldnsd", own.Addr(): "maxwell"}[server]
			a := ask(server, tc.query, dns.TypeA)
			if !tc.listed {
				if a.Rcode != dns.RcodeNameError || len(a.Answer) != 0 {
					t.Errorf("%s %s: %s, want NXDOMAIN", who, tc.query, a)
				}
				continue
			}
			if a.Rcode != dns.RcodeSuccess || len(a.Answer) != 1 || a.Answer[0].(*dns.A).A.String() != "127.0.0.2" || a.Answer[0].Header().Ttl != 600 {
				t.Errorf("%s %s A: %v, want 127.0.0.2 with a TTL of 600", who, tc.query, a.Answer)
			}
			txt := ask(server, tc.query, dns.TypeTXT)
			if len(txt.Answer) != 1 || strings.Join(txt.Answer[0].(*dns.TXT).Txt, "") != tc.reason || txt.Answer[0].Header().Ttl != 600 {
				t.Errorf("%s %s TXT: %v, want %q with a TTL of 600", who, tc.query, txt.Answer, tc.reason)
			}
		}
	}
}
