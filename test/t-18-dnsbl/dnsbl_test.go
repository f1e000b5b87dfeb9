// Package dnsbl is the end-to-end scenario of co-operating sites through
// DNS blocklists (docs/cooperation.md): at site A, a private Postfix and
// maxwell with its watcher find a rat (greylisted, then gone without
// QUIT) and maxwell serves A's blacklist as an RFC 5782 zone. Site B,
// another Postfix and maxwell with a store of their own, asks A's zone
// ([dnsbl]) and refuses the rat; a third Postfix asks it with
// postscreen_dnsbl_sites and refuses it too, before any milter.
package dnsbl

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// dnsblAddr is where site A serves its zone. Postfix's dnsblog asks the
// name servers of resolv.conf, which has no port: the zone is served on
// port 53 of a loopback address of its own (the test runs as root, as
// every private Postfix does).
const dnsblAddr = "127.0.53.53:53"

const zone = "rats.site-a.example"

// The rat, a loopback address so that it can also connect as itself to
// postscreen, which has no XCLIENT; maxwell is told not to count
// loopback clients as internal.
const rat, polite = "127.0.0.66", "127.0.0.67"

const siteA = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["site-a.example"]
loopback_internal = false
delayed_reject = false

[greylist]
delay = "2s"

[store]
cache_ttl = "1s"

[dnsbl_server]
listen = "` + dnsblAddr + `"
zone = "` + zone + `"
ttl = "1m"
refresh = "500ms"
`

const siteB = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["site-b.example"]
loopback_internal = false

[greylist]
enabled = false

[[dnsbl.lists]]
zone = "` + zone + `"
type = "ip"
server = "` + dnsblAddr + `"
`

func TestCooperatingSites(t *testing.T) {
	if l, err := net.ListenPacket("udp", dnsblAddr); err != nil {
		t.Fatalf("site A's DNS blocklist needs %s (UDP and TCP) free: %v", dnsblAddr, err)
	} else {
		l.Close()
	}
	spf := `spam.example. TXT "v=spf1 ip4:127.0.0.0/8 -all"`
	a := mtatest.StartStack(t, siteA, "site-a.example", spf)
	a.Maxwell.WaitFor(t, "the DNS blocklist server", func() bool {
		return strings.Contains(a.Maxwell.Stderr.String(), "serving the DNS blocklist")
	})
	watch := mtatest.RunMaxwell(t, a.Dir, a.Maxwell.Cmd.Path, "watch", "-c", a.Config, a.Postfix.LogPath())

	// At site A, the rat is greylisted and hangs up; the watcher
	// blacklists it.
	c, r := mtatest.Session(t, a.Postfix.Addr, rat, "rat.spam.example")
	if r.Code != 250 {
		t.Fatalf("EHLO at A: %s", r)
	}
	c.Cmd("MAIL FROM:<rat@spam.example>")
	if r := c.Cmd("RCPT TO:<bob@site-a.example>"); r.Code != 451 {
		t.Fatalf("the rat at A: %s, want greylisted", r)
	}
	c.Drop()
	watch.WaitFor(t, "the rat blacklisted at A", func() bool { return strings.Contains(a.Log(), "event=blacklist ip="+rat+" ") })

	// Site B asks A's list: the rat is refused with A's reason; another
	// client is not.
	b := mtatest.StartStack(t, siteB, "site-b.example", spf)
	var refusal mtatest.Reply
	deadline := time.Now().Add(10 * time.Second) // A reads its blacklist every 500ms
	for {
		c, _ := mtatest.Session(t, b.Postfix.Addr, rat, "rat.spam.example")
		c.Cmd("MAIL FROM:<rat@spam.example>")
		if r := c.Cmd("RCPT TO:<carol@site-b.example>"); r.Code != 250 {
			t.Fatalf("the rat at B, RCPT: %s", r)
		}
		refusal = c.Data("Subject: hello\r\n\r\nhello\r\n")
		c.Cmd("QUIT")
		if refusal.Code != 250 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if want := "5.7.1 Listed by " + zone + "\n5.7.1 client: greylisted, then lost connection after RCPT"; refusal.Code != 550 || refusal.Text != want {
		t.Errorf("the rat at B: %s, want 550 %s", refusal, want)
	}
	if !strings.Contains(b.Log(), `event=decision tag=REJECT reason="DNSBL: `+zone+`/127.0.0.2 (score 1)"`) {
		t.Errorf("B's mail log does not say why")
	}
	c, _ = mtatest.Session(t, b.Postfix.Addr, polite, "mail.spam.example")
	c.Cmd("MAIL FROM:<alice@spam.example>")
	c.Cmd("RCPT TO:<carol@site-b.example>")
	if r := c.Data("Subject: hello\r\n\r\nhello\r\n"); r.Code != 250 {
		t.Errorf("an unlisted client at B: %s", r)
	}
	c.Cmd("QUIT")
	b.Sink.Wait(t, 30*time.Second)
	if !strings.Contains(b.Log(), "event=dnsbl what=client key="+polite+" lists=1 cached=0\n") {
		t.Errorf("B's mail log lacks the unlisted client's lookup")
	}

	t.Run("postscreen", func(t *testing.T) { postscreen(t, a) })
}

// postscreen: a private Postfix whose postscreen asks A's list
// (postscreen_dnsbl_sites, as docs/cooperation.md says) refuses the rat
// and lets the other client through to smtpd.
func postscreen(t *testing.T, a *mtatest.Stack) {
	sink := mtatest.StartSink(t)
	queue, err := os.MkdirTemp("", "maxwell-postscreen-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(queue) })
	os.Chmod(queue, 0o755)
	// dnsblog runs chrooted in the queue directory, as Debian's
	// master.cf has it, and reads the chroot's resolv.conf.
	os.MkdirAll(filepath.Join(queue, "etc"), 0o755)
	host, _, _ := net.SplitHostPort(dnsblAddr)
	if err := os.WriteFile(filepath.Join(queue, "etc", "resolv.conf"), []byte("nameserver "+host+"\noptions timeout:2 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	pf := mtatest.StartPostfix(t, mtatest.PostfixOptions{
		RelayTo:  sink.Addr,
		Domains:  "site-c.example",
		Addr:     addr,
		QueueDir: queue,
		MainCf: "postscreen_dnsbl_sites = " + zone + "*2\n" +
			"postscreen_dnsbl_threshold = 2\n" +
			"postscreen_dnsbl_action = enforce\n" +
			"postscreen_access_list =\n" +
			"postscreen_greet_action = ignore\n" +
			"smtpd_milters =\n",
		MasterCf: addr + " inet n - n - 1 postscreen\n" +
			"smtpd pass - - n - - smtpd\n" +
			"dnsblog unix - - y - 0 dnsblog\n" +
			"tlsproxy unix - - n - 0 tlsproxy\n",
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postscreen's Postfix log:\n%s", pf.Log())
		}
	})

	c := mtatest.DialSMTPFrom(t, addr, rat)
	c.Cmd("EHLO rat.spam.example")
	c.Cmd("MAIL FROM:<rat@spam.example>")
	if r := c.Cmd("RCPT TO:<dave@site-c.example>"); r.Code != 550 || !strings.Contains(r.Text, "blocked using "+zone) {
		t.Errorf("the rat at postscreen: %s, want 550 ... blocked using %s", r, zone)
	}
	c.Cmd("QUIT")
	if !strings.Contains(pf.Log(), "DNSBL rank 2 for ["+rat+"]") {
		t.Errorf("postscreen did not log the rat's DNSBL rank")
	}

	c = mtatest.DialSMTPFrom(t, addr, polite)
	c.Cmd("EHLO mail.spam.example")
	c.Cmd("MAIL FROM:<alice@spam.example>")
	if r := c.Cmd("RCPT TO:<dave@site-c.example>"); r.Code != 250 {
		t.Errorf("an unlisted client at postscreen: %s", r)
	}
	if r := c.Data("Subject: hello\r\n\r\nhello\r\n"); r.Code != 250 {
		t.Errorf("an unlisted client's message: %s", r)
	}
	c.Cmd("QUIT")
	sink.Wait(t, 30*time.Second)
}
