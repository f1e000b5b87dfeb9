// Package dkimdmarc is end-to-end scenario t-19: DKIM and DMARC through
// a private Postfix. An internal client's message leaves signed with a
// key made by `maxwell dkim keygen`, and verifies with dkimpy (Debian's
// python3-dkim); a message dkimpy signed verifies in maxwell; a message
// failing its author's DMARC p=reject is refused as configured.
package dkimdmarc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/hdrcheck"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_connect = ["192.0.2.0/24"]

[greylist]
enabled = false

[dkim]
keys = [{domain = "example.org", selector = "m2026", privkey = "{key}"}]
`

// python is the interpreter with Debian's python3-dkim.
const python = "/usr/bin/python3"

// dkimpyVerify verifies a message with dkimpy, its key records from
// the test's zone; it prints the result.
const dkimpyVerify = `
import sys, json, dkim
records = json.loads(sys.argv[1])
def dns(name, timeout=5):
    return records.get(name.decode().rstrip('.'), '').encode() or None
msg = sys.stdin.buffer.read()
print("pass" if dkim.verify(msg, dnsfunc=dns) else "fail")
`

// dkimpySign signs a message with dkimpy: key file, domain, selector.
const dkimpySign = `
import sys, dkim
msg = sys.stdin.buffer.read()
key = open(sys.argv[1], 'rb').read()
sig = dkim.sign(msg, sys.argv[3].encode(), sys.argv[2].encode(), key,
                canonicalize=(b'relaxed', b'simple'), include_headers=[b'from', b'to', b'subject'])
sys.stdout.buffer.write(sig + msg)
`

func TestDKIMAndDMARCThroughPostfix(t *testing.T) {
	keys := t.TempDir()
	bin := mtatest.BuildMaxwell(t, keys)
	out, err := exec.Command(bin, "dkim", "keygen", "--dir", keys, "example.org", "m2026").CombinedOutput()
	if err != nil {
		t.Fatalf("maxwell dkim keygen: %v\n%s", err, out)
	}
	record := zoneRecord(t, string(out))
	// A key of another domain, made by dkimpy's dknewkey.
	if out, err := exec.Command("dknewkey", "--ktype", "rsa", filepath.Join(keys, "news")).CombinedOutput(); err != nil {
		t.Fatalf("dknewkey: %v\n%s", err, out)
	}
	dns, err := os.ReadFile(filepath.Join(keys, "news.dns"))
	if err != nil {
		t.Fatal(err)
	}
	newsRecord := strings.TrimSpace(string(dns))

	st := mtatest.StartStack(t, strings.ReplaceAll(config, "{key}", filepath.Join(keys, "example.org.m2026.key")), "example.org example.net",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		`_dmarc.example.org. TXT "v=DMARC1; p=reject"`,
		`_dmarc.news.example. TXT "v=DMARC1; p=reject"`,
		"m2026._domainkey.example.org. TXT "+strings.Join(dkim.TXTStrings(record), " "),
		"s1._domainkey.news.example. TXT "+strings.Join(dkim.TXTStrings(newsRecord), " "),
	)
	pf, sink := st.Postfix, st.Sink
	zone := fmt.Sprintf(`{"m2026._domainkey.example.org": %q, "s1._domainkey.news.example": %q}`, record, newsRecord)

	t.Run("an internal client's mail leaves signed", func(t *testing.T) {
		msg := "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: figures\r\nDate: Thu, 3 Dec 2026 10:00:00 +0000\r\n\r\nThe figures.\r\n"
		send(t, pf.Addr, "192.0.2.10", "pc.example.org", "alice@example.org", "bob@example.net", msg, 250)
		m := sink.Wait(t, 30*time.Second)
		if !strings.Contains(m.Data, "DKIM-Signature: ") || !strings.Contains(m.Data, "d=example.org") {
			t.Fatalf("delivered without a signature:\n%s", m.Data)
		}
		if got := run(t, m.Data, dkimpyVerify, zone); got != "pass" {
			t.Errorf("dkimpy says %s of:\n%s", got, m.Data)
		}
	})

	t.Run("mail dkimpy signed verifies in maxwell", func(t *testing.T) {
		msg := "From: News <news@news.example>\r\nTo: bob@example.org\r\nSubject: issue 7\r\n\r\nThe news.\r\n"
		signed := run(t, msg, dkimpySign, filepath.Join(keys, "news.key"), "news.example", "s1")
		send(t, pf.Addr, "198.51.100.7", "mail.sender.example", "bounces@sender.example", "bob@example.org", signed, 250)
		m := sink.Wait(t, 30*time.Second)
		ar := authResults(t, m.Data)
		if d, ok := ar.Get("dkim"); !ok || d.Result != "pass" || d.Props["header.d"] != "news.example" {
			t.Errorf("dkim: %+v\n%s", d, m.Data)
		}
		if d, ok := ar.Get("dmarc"); !ok || d.Result != "pass" || d.Props["header.from"] != "news.example" {
			t.Errorf("dmarc: %+v\n%s", d, m.Data)
		}
	})

	t.Run("a message failing DMARC p=reject is refused", func(t *testing.T) {
		msg := "From: CEO <ceo@example.org>\r\nTo: bob@example.org\r\nSubject: wire the money\r\n\r\nNow.\r\n"
		r := send(t, pf.Addr, "198.51.100.7", "mail.sender.example", "ceo@sender.example", "bob@example.org", msg, 550)
		if r.Text != "5.7.1 Message refused by the DMARC policy of example.org" {
			t.Errorf("refusal: %s", r)
		}
	})

	for _, want := range []string{
		`event="dkim sign" d=example.org s=m2026 a=rsa-sha256`,
		`event=dkim result=pass d=news.example s=s1 a=rsa-sha256`,
		`event=dmarc result=fail from=example.org policy_domain=example.org p=reject`,
		`disposition=reject override=none ip=198.51.100.7`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}

// send sends one message and checks the reply at its end.
func send(t *testing.T, addr, ip, helo, from, to, msg string, code int) mtatest.Reply {
	t.Helper()
	c, _ := mtatest.Session(t, addr, ip, helo)
	for _, cmd := range []string{"MAIL FROM:<" + from + ">", "RCPT TO:<" + to + ">"} {
		if r := c.Cmd("%s", cmd); r.Code != 250 {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	r := c.Data(msg)
	if r.Code != code {
		t.Fatalf("end of data: %s, want %d", r, code)
	}
	return r
}

// run runs a python script over stdin, with args.
func run(t *testing.T, stdin, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(python, append([]string{"-c", script}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-dkim: %v (install python3-dkim)\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// zoneRecord takes the TXT record out of maxwell dkim keygen's output.
func zoneRecord(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)IN TXT \( (.*?) \)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no record in:\n%s", out)
	}
	var record string
	for _, s := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(m[1], -1) {
		record += s[1]
	}
	return record
}

// authResults reads the Authentication-Results field on top of a
// delivered message.
func authResults(t *testing.T, data string) hdrcheck.AuthResults {
	t.Helper()
	fields, err := hdrcheck.TopFields(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Authentication-Results") {
			ar, err := hdrcheck.ParseAuthResults(f.String())
			if err != nil {
				t.Fatal(err)
			}
			return ar
		}
	}
	t.Fatalf("no Authentication-Results:\n%s", data)
	return hdrcheck.AuthResults{}
}

// With [dmarc] on_reject = "quarantine", a message failing p=reject is
// taken into Postfix's hold queue, not delivered.
func TestDMARCQuarantineThroughPostfix(t *testing.T) {
	st := mtatest.StartStack(t, "[milter]\nsocket = \"inet:{port}@127.0.0.1\"\n[greylist]\nenabled = false\n[dmarc]\non_reject = \"quarantine\"\n", "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		`_dmarc.bank.example. TXT "v=DMARC1; p=reject"`,
	)
	msg := "From: Your Bank <security@bank.example>\r\nTo: bob@example.org\r\nSubject: verify your account\r\n\r\nClick.\r\n"
	send(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example", "x@sender.example", "bob@example.org", msg, 250)
	if held := st.Postfix.Held(10 * time.Second); len(held) != 1 {
		t.Errorf("%d messages in the hold queue, want 1", len(held))
	}
	if m, ok := st.Sink.Next(2 * time.Second); ok {
		t.Errorf("the quarantined message was delivered:\n%s", m.Data)
	}
	for _, want := range []string{
		`event=dmarc result=fail from=bank.example policy_domain=bank.example p=reject`,
		`policy=reject disposition=quarantine override=local_policy`,
		`event=decision tag=QUARANTINE reason="DMARC policy reject of bank.example"`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}
