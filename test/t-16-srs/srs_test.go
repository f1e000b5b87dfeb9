// Package srstest is end-to-end scenario t-16: SRS and SES between two
// sites, each with its own maxwell, through a real MTA at site A —
// Postfix (postfix_test.go) with docs/srs.md's main.cf lines, and
// Sendmail (sendmail_test.go) with pysrs.m4's HACK(pysrs) and
// docs/srs.md's .mc line. Site B (Postfix with maxwell, no SRS) is the
// next hop and delivers to its sink.
//
//	client ──▶ MTA A ──▶ Postfix B ──▶ B's sink
//	            │  ▲         │
//	 socket map │  │ milter  │ milter
//	            ▼  │         ▼
//	        maxwell A     maxwell B
//
// Each test shows, in order:
//
//  0. without SRS, A's mail from orig.example fails SPF at B;
//  1. forwarding: alice@orig.example, whose SPF record does not list A,
//     reaches B as SRS0=HHHHHHHH=TT=orig.example=alice@fwd.example, which
//     passes SPF at B as fwd.example lists A;
//  2. bounce reversal: a bounce to that SRS0 address is accepted by
//     maxwell A (a signature of ours) and A's reverse map sends it to
//     alice@orig.example;
//  3. forged bounces: an SRS0 address with a made-up or altered hash, and
//     an unsigned address in a protected domain (reject_spoofed), are
//     refused at RCPT with 550 5.7.1;
//  4. SES: a LAN client's Dave.Smith@ours.example leaves as
//     SES=SIG=dave.smith@ours.example, signed by maxwell A's milter
//     (chgfrom), and passes SPF at B; a bounce to it comes back to the
//     user, one with an altered signature is refused.
//
// The clients connect from loopback addresses of their own, which the
// zone names.
package srstest

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// wait bounds every wait for a delivery.
const wait = 30 * time.Second

// zone is served by both sites' DNS servers (each stack starts its own).
// MTA A sends from 127.0.0.1, which fwd.example and ours.example
// list and orig.example does not. The PTR and A records give every
// client a name that matches its HELO.
var zone = []string{
	// The original sender's site, the client of step 1.
	`orig.example. TXT "v=spf1 ip4:127.0.0.7 -all"`,
	"7.0.0.127.in-addr.arpa. PTR mail.orig.example.",
	"mail.orig.example. A 127.0.0.7",
	// Site A: MTA A, as B sees it (127.0.0.1, HELO mx.fwd.example),
	// and A's LAN (step 4) as A sees it.
	`fwd.example. TXT "v=spf1 ip4:127.0.0.1 -all"`,
	`ours.example. TXT "v=spf1 ip4:127.0.0.1 -all"`,
	"1.0.0.127.in-addr.arpa. PTR mx.fwd.example.",
	"mx.fwd.example. A 127.0.0.1",
	`mx.fwd.example. TXT "v=spf1 ip4:127.0.0.1 -all"`, // B checks the HELO of a bounce
	// Site B as a client of A: where the bounces come from.
	`next.example. TXT "v=spf1 ip4:127.0.0.25 -all"`,
	"25.0.0.127.in-addr.arpa. PTR mx.next.example.",
	"mx.next.example. A 127.0.0.25",
	`mx.next.example. TXT "v=spf1 ip4:127.0.0.25 -all"`,
}

// The clients of MTA A: the local addresses the test connects from.
const (
	origClient   = "127.0.0.7"  // mail.orig.example, outside
	bounceClient = "127.0.0.25" // mx.next.example, outside: sends the bounces
	lanClient    = "127.0.0.1"  // mx.fwd.example itself: A's LAN (internal_connect)
)

// configA is maxwell A: SRS with a socket map on port %d, bounces to
// fwd.example and ours.example guarded, ours.example's senders signed
// with SES. Loopback is not internal but for 127.0.0.1, so that the
// test's clients are judged as what the zone says they are.
const configA = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_connect = ["127.0.0.1/32"]
loopback_internal = false
hostname = "mx.fwd.example"

[greylist]
enabled = false  # t-03-postfix-greylist's subject

[srs]
secret = "t-16 site A secret"
fwdomain = "fwd.example"
socketmap = "inet:%d@127.0.0.1"
reject_spoofed = true
ses = ["ours.example"]
`

// configB is maxwell B: no SRS, only the SPF check at the next hop.
const configB = `
[milter]
socket = "inet:{port}@127.0.0.1"
loopback_internal = false

[greylist]
enabled = false
`

// The forms of the rewritten senders: SRS0=HASH=TT=domain=local@fwdomain
// (a base64 hash of 8 characters, a day stamp of 2 base32 ones) and
// SES=SIG=local@domain (a base-38 signature).
var (
	srs0Form = regexp.MustCompile(`^SRS0=[A-Za-z0-9+/]{8}=[A-Z2-7]{2}=orig\.example=alice@fwd\.example$`)
	sesForm  = regexp.MustCompile(`^SES=[A-Z0-9_-]+=dave\.smith@ours\.example$`)
)

// docsBlock is the fenced block of docs/srs.md that holds marker, its
// lines trimmed, "8896" (the port the documentation uses) made port.
func docsBlock(t *testing.T, marker string, port int) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/srs.md")
	if err != nil {
		t.Fatal(err)
	}
	fenced := strings.Split(string(doc), "```")
	for i := 1; i < len(fenced); i += 2 {
		if !strings.Contains(fenced[i], marker) {
			continue
		}
		_, body, _ := strings.Cut(fenced[i], "\n") // the info string off
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, strings.ReplaceAll(l, "8896", fmt.Sprint(port)))
			}
		}
		return strings.Join(lines, "\n")
	}
	t.Fatalf("docs/srs.md has no block with %s", marker)
	return ""
}

// send sends one message to addr from the local address ip, saying
// EHLO helo, and fails the test unless every step is accepted.
func send(t *testing.T, addr, ip, helo, from, rcpt, msg string) {
	t.Helper()
	c := mtatest.DialSMTPFrom(t, addr, ip)
	defer c.Cmd("QUIT")
	for _, cmd := range []string{"EHLO " + helo, "MAIL FROM:<" + from + ">", "RCPT TO:<" + rcpt + ">"} {
		r := c.Cmd("%s", cmd)
		if r.Code != 250 {
			t.Fatalf("%s: %s", cmd, r)
		}
		if !strings.HasPrefix(cmd, "EHLO") {
			t.Logf("%s: %s", cmd, r)
		}
	}
	r := c.Data(msg)
	t.Logf("end of data: %s", r)
	if r.Code != 250 {
		t.Fatalf("end of data: %s", r)
	}
}

// bounceRcpt offers MTA A a bounce to rcpt from site B's address
// and returns the reply to RCPT.
func bounceRcpt(t *testing.T, addr, rcpt string) mtatest.Reply {
	t.Helper()
	c := mtatest.DialSMTPFrom(t, addr, bounceClient)
	defer c.Cmd("QUIT")
	if r := c.Cmd("EHLO mx.next.example"); r.Code != 250 {
		t.Fatalf("EHLO: %s", r)
	}
	if r := c.Cmd("MAIL FROM:<>"); r.Code != 250 {
		t.Fatalf("MAIL FROM:<>: %s", r)
	}
	return c.Cmd("RCPT TO:<%s>", rcpt)
}

// dsn is a bounce of a message to rcpt's address.
func dsn(rcpt string) string {
	return "From: Mail Delivery System <MAILER-DAEMON@mx.next.example>\r\n" +
		"To: <" + rcpt + ">\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\n\r\n" +
		"Your message could not be delivered.\r\n"
}

// tamperSRS changes the first character of an SRS0 address's hash
// (after "SRS0=") to one that differs in any case: the hash is also
// accepted with its case changed.
func tamperSRS(addr string) string {
	i := len("SRS0=")
	return addr[:i] + string(other(addr[i])) + addr[i+1:]
}

// tamperSES changes the last character of an SES address's signature
// (SES=SIG=local@domain), which holds bits of its hash.
func tamperSES(addr string) string {
	i := len("SES=") + strings.IndexByte(addr[len("SES="):], '=') - 1
	return addr[:i] + string(other(addr[i])) + addr[i+1:]
}

// other is a letter that is not c in any case.
func other(c byte) byte {
	if c == 'A' || c == 'a' {
		return 'B'
	}
	return 'A'
}

// quoteReply writes a reply as it went over the wire.
func quoteReply(r mtatest.Reply) string {
	lines := strings.Split(r.Text, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		lines[i] = fmt.Sprintf("%d%s%s", r.Code, sep, l)
	}
	return strings.Join(lines, "\n")
}

// q is a value as the mail log writes it: quoted when it holds '=', a
// blank or a quote.
func q(v string) string { return string(maillog.AppendValue(nil, v)) }

// logValue is the first submatch of re in st's mail log, "" if none;
// the mail log's quotes taken off.
func logValue(st *mtatest.Stack, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(st.Log())
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

// logLines are the lines of st's mail log that contain s.
func logLines(st *mtatest.Stack, s string) []string {
	var out []string
	for _, l := range strings.Split(st.Log(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// mustLog fails the test unless st's mail log has a line containing want.
func mustLog(t *testing.T, st *mtatest.Stack, name, want string) {
	t.Helper()
	if !strings.Contains(st.Log(), want) {
		t.Errorf("%s's mail log lacks %q", name, want)
	}
}

// mtaA is what the shared steps need to know of site A's MTA: where it
// listens, and how it words what they check.
type mtaA struct {
	addr string         // its SMTP address
	a    *mtatest.Stack // maxwell A
	b    *mtatest.Stack // site B: maxwell B, Postfix B, the sink
	// forwarded and reversed are the socket map's log lines (after
	// event=srsmap) for sender forwarded as srs, and rcpt reversed to
	// orig.
	forwarded func(sender, srs string) string
	reversed  func(rcpt, orig string) string
	// reply is maxwell's refusal of rcpt as the MTA gives it, each line
	// after "550 " (the enhanced code and text).
	reply func(rcpt string, lines ...string) string
	// unsigned is an unsigned address of a protected domain the MTA
	// takes, for step 3.
	unsigned string
	// leftAlone is the socket map's log line for a forged SRS address
	// rcpt it was asked about and left (why), "" when the MTA does not
	// ask before the milter refuses.
	leftAlone func(rcpt, why string) string
}

// steps0to3 runs steps 0 to 3 (the package comment) through m, and
// returns the SRS0 address step 1 saw arrive at B.
func steps0to3(t *testing.T, m mtaA) (srsAddr string) {
	t.Run("0 without SRS, A's mail from orig.example fails SPF at B", func(t *testing.T) {
		// What step 1 would be without the forward map: A (127.0.0.1,
		// mx.fwd.example) hands B a message from alice@orig.example.
		c, r := mtatest.Session(t, m.b.Postfix.Addr, "127.0.0.1", "mx.fwd.example")
		if r.Code != 250 {
			t.Fatalf("EHLO: %s", r)
		}
		defer c.Cmd("QUIT")
		c.Cmd("MAIL FROM:<alice@orig.example>")
		c.Cmd("RCPT TO:<carol@next.example>")
		r = c.Data("From: <alice@orig.example>\r\nSubject: not rewritten\r\n\r\nHello.\r\n")
		t.Logf("B's answer: %s", r)
		if r.Code != 550 || !strings.Contains(r.Text, "SPF fail") {
			t.Errorf("B took a message from orig.example from A: %s, want 550 … SPF fail", r)
		}
	})

	t.Run("1 forwarded mail leaves with an SRS0 sender that passes SPF at the next hop", func(t *testing.T) {
		msg, head := toCarol(t, m, origClient, "mail.orig.example", "alice@orig.example", "bob@fwd.example", // A's alias for carol
			"From: Alice <alice@orig.example>\r\nTo: Bob <bob@fwd.example>\r\nSubject: forwarded\r\n\r\nHello Bob.\r\n")
		if !srs0Form.MatchString(msg.From) {
			t.Fatalf("envelope sender at B %q, want the form %s", msg.From, srs0Form)
		}
		srsAddr = msg.From
		spfPassAtB(t, m, head, srsAddr, "fwd.example")
		if !strings.Contains(head, "\r\nFrom: Alice <alice@orig.example>\r\n") {
			t.Errorf("the header at B lacks the From of alice@orig.example: its sender is not rewritten")
		}
		mustLog(t, m.a, "maxwell A", "event=srsmap "+m.forwarded("alice@orig.example", srsAddr))
	})

	t.Run("2 a bounce to the SRS0 address goes back to the original sender", func(t *testing.T) {
		if srsAddr == "" {
			t.Fatal("step 1 saw no SRS0 address")
		}
		bounceComesBack(t, m, srsAddr, "alice@orig.example", "srs")
	})

	t.Run("3 forged bounces are refused at RCPT", func(t *testing.T) {
		type forgery struct {
			name, rcpt, reason string
			text               []string // maxwell's reply, each line after 550 5.7.1
			mapReason          string   // why the map left it alone, "" for an address that is no SRS
		}
		made := "SRS0=AAAAAAAA=AA=orig.example=alice@fwd.example"
		forged := []forgery{
			{"a made-up hash", made, "srs spoofed: " + made + " (Invalid hash)", []string{"Invalid SRS signature"}, "Invalid hash"},
			{"no signature, protected domain (reject_spoofed)", m.unsigned, "bounce with no SRS encoding to " + m.unsigned, []string{
				"I did not send you that message. Please consider implementing SPF",
				"(https://www.open-spf.org) to avoid bouncing mail to spoofed senders.",
				"Thank you.",
			}, ""},
		}
		if srsAddr != "" {
			bad := tamperSRS(srsAddr)
			forged = append(forged, forgery{"step 1's address with a hash character changed", bad,
				"srs spoofed: " + bad + " (Invalid hash)", []string{"Invalid SRS signature"}, "Invalid hash"})
		}
		for _, f := range forged {
			r := bounceRcpt(t, m.addr, f.rcpt)
			t.Logf("%s: RCPT TO:<%s>\n%s", f.name, f.rcpt, quoteReply(r))
			if want := m.reply(f.rcpt, f.text...); r.Code != 550 || r.Text != want {
				t.Errorf("%s: RCPT TO:<%s>: %s\nwant 550 %s", f.name, f.rcpt, r, want)
			}
			mustLog(t, m.a, "maxwell A", "event=decision tag=REJECT reason="+q(f.reason)+" rcpt="+q(f.rcpt)+" code=550 xcode=5.7.1")
			if line := m.leftAlone(f.rcpt, f.mapReason); f.mapReason != "" && line != "" {
				mustLog(t, m.a, "maxwell A", "event=srsmap "+line)
			}
		}
		// Refused at RCPT, they never entered A's queue: step 4 finds
		// its own messages next at B's sink, and nothing before them.
	})
	return srsAddr
}

// toCarol sends msg to MTA A as the client ip named helo, and returns
// the message B's sink received for carol@next.example and its header.
func toCarol(t *testing.T, m mtaA, ip, helo, from, rcpt, msg string) (mtatest.Message, string) {
	t.Helper()
	send(t, m.addr, ip, helo, from, rcpt, msg)
	got := m.b.Sink.Wait(t, wait)
	head, _, _ := strings.Cut(got.Data, "\r\n\r\n")
	t.Logf("envelope at B's sink: MAIL FROM:<%s> RCPT TO:%v; header:\n%s", got.From, got.To, head)
	if strings.Join(got.To, ",") != "carol@next.example" {
		t.Errorf("delivered to %v, want carol@next.example", got.To)
	}
	return got, head
}

// spfPassAtB checks that maxwell B found SPF pass for sender, of
// domain, from A (127.0.0.1), and told it in head, the header its sink
// received.
func spfPassAtB(t *testing.T, m mtaA, head, sender, domain string) {
	t.Helper()
	for _, want := range []string{
		"Received-SPF: pass (mx.example.org: domain of " + sender + " designates 127.0.0.1 as permitted sender)",
		"spf=pass smtp.mailfrom=\"" + sender + "\"", // a quoted local part
	} {
		if !strings.Contains(head, want) {
			t.Errorf("the header at B lacks %q", want)
		}
	}
	mustLog(t, m.b, "maxwell B", "event=spf result=pass identity=mailfrom domain="+domain+" mechanism=ip4:127.0.0.1")
}

// bounceComesBack sends MTA A a bounce to signed, an address of ours
// (signed how: srs or ses), and checks that it reaches orig at B's sink:
// maxwell A let it through as signed by us (the milter sees the
// recipient as the client gave it), and the socket map reversed it for
// MTA A.
func bounceComesBack(t *testing.T, m mtaA, signed, orig, how string) {
	t.Helper()
	send(t, m.addr, bounceClient, "mx.next.example", "", signed, dsn(signed))
	msg := m.b.Sink.Wait(t, wait)
	t.Logf("the bounce to %s at B's sink: MAIL FROM:<%s> RCPT TO:%v", signed, msg.From, msg.To)
	if msg.From != "" || strings.Join(msg.To, ",") != orig {
		t.Errorf("at B's sink: MAIL FROM:<%s> RCPT TO:%v, want <> to %s", msg.From, msg.To, orig)
	}
	mustLog(t, m.a, "maxwell A", "event=srs rcpt="+q(signed)+" original="+orig+" signed="+how)
	mustLog(t, m.a, "maxwell A", "event=srsmap "+m.reversed(signed, orig))
}

// reply5xx is a refusal's text as Postfix gives it: each line after the
// code, the enhanced code first.
func reply5xx(xcode string, lines ...string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = xcode + " " + l
	}
	return strings.Join(out, "\n")
}
