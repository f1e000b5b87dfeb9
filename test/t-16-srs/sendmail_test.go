package srstest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// sendmailSites are site A (maxwell A, its unused sink, and Sendmail
// A) and site B (maxwell B, Postfix B and the sink all mail ends in).
type sendmailSites struct {
	a  *mtatest.Stack
	sm *mtatest.Sendmail
	b  *mtatest.Stack
}

// startSendmailSites starts site B first, as Sendmail A relays to it,
// then maxwell A (its milter and socket map) and Sendmail A: site
// fwd.example, a virtual domain whose bob@ is forwarded to
// carol@next.example, with pysrs.m4 (Debian's python3-srs examples,
// copied in testdata/) in its cf tree's hack/, and docs/srs.md's
// HACK(pysrs) line after the mailers.
func startSendmailSites(t *testing.T) sendmailSites {
	t.Helper()
	b := mtatest.StartStack(t, configB, "next.example orig.example ours.example", zone...)

	mapPort := mtatest.FreePort(t)
	a := mtatest.StartMilter(t, fmt.Sprintf(configA, mapPort), zone...)
	a.Maxwell.WaitListen(t, fmt.Sprintf("127.0.0.1:%d", mapPort))
	hack, err := os.ReadFile("testdata/pysrs.m4")
	if err != nil {
		t.Fatal(err)
	}
	// The copy is Debian's; say so if the installed one has changed.
	const debian = "/usr/share/doc/python3-srs/examples/pysrs.m4"
	if b, err := os.ReadFile(debian); err == nil && string(b) != string(hack) {
		t.Logf("note: %s differs from testdata/pysrs.m4, which the test uses", debian)
	}
	sm := mtatest.StartSendmail(t, mtatest.SendmailOptions{
		Milter:   fmt.Sprintf("inet:%d@127.0.0.1", a.Port),
		RelayTo:  b.Postfix.Addr,
		Domains:  "ours.example",
		Hostname: "mx.fwd.example",
		// A virtual domain: Sendmail refuses an unknown user of a local
		// one before the milter hears of it (docs/srs.md).
		Mc:           "FEATURE(`virtusertable', `hash -o {dir}/virtusertable')dnl\nVIRTUSER_DOMAIN(`fwd.example')dnl",
		Maps:         map[string]string{"virtusertable": "bob@fwd.example carol@next.example\n"},
		Hacks:        map[string][]byte{"pysrs.m4": hack},
		AfterMailers: docsBlock(t, "HACK(`pysrs'", mapPort),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Sendmail A log:\n%s\nmaxwell A mail log:\n%s\nmaxwell A stderr:\n%s", sm.Log(), a.Log(), a.Maxwell.Stderr)
		}
	})
	return sendmailSites{a, sm, b}
}

// TestSendmailSRS runs the steps in order: 2 and 3 use the SRS0 address
// step 1 saw arrive at B, and each step takes the next messages from
// B's sink.
func TestSendmailSRS(t *testing.T) {
	s := startSendmailSites(t)

	m := mtaA{
		addr: s.sm.Addr, a: s.a, b: s.b,
		// Sendmail asks make_srs for the relay mailer's host, octet 0x9b
		// ($|) and the sender, and reverse_srs for the recipient, in its
		// own form, in lower case.
		forwarded: func(sender, srs string) string {
			return "map=make_srs key=" + q("[127.0.0.1]\x9b"+sendmailForm(sender)) + " answer=" + q("OK "+strings.Replace(srs, "@", "<@", 1)+".>")
		},
		reversed: func(rcpt, orig string) string {
			return "map=reverse_srs key=" + q(sendmailForm(rcpt)) + " answer=" + q("OK "+sendmailForm(orig))
		},
		reply:    func(rcpt string, lines ...string) string { return sendmailReply(rcpt, "5.7.1", lines...) },
		unsigned: "bob@fwd.example",
		leftAlone: func(rcpt, why string) string {
			return "map=reverse_srs key=" + q(sendmailForm(rcpt)) + ` answer="NOTFOUND " reason=` + q(why)
		},
	}
	steps0to3(t, m)
	var sesAddr string // what step 4 saw arrive at B

	t.Run("4 an internal sender leaves SES-signed and its bounces come back", func(t *testing.T) {
		// Mixed case on purpose, as in t-16.
		msg, head := toCarol(t, m, lanClient, "mx.fwd.example", "Dave.Smith@ours.example", "carol@next.example",
			"From: Dave Smith <Dave.Smith@ours.example>\r\nTo: Carol <carol@next.example>\r\nSubject: from the LAN\r\n\r\nHello Carol.\r\n")
		// The milter signed the sender (chgfrom); make_srs, asked about
		// the signed sender at delivery, did not sign it twice.
		signed := logValue(s.a, `event=srs from=Dave\.Smith@ours\.example signed=ses sender=("[^"]*"|\S+)`)
		if !sesForm.MatchString(signed) {
			t.Fatalf("maxwell A's milter signed Dave.Smith@ours.example as %q, want the form %s", signed, sesForm)
		}
		if !strings.EqualFold(msg.From, signed) {
			t.Fatalf("envelope sender at B %q, want %q, the sender maxwell A's milter signed", msg.From, signed)
		}
		// In lower case: Sendmail folds a socket map's key to lower
		// case (pysrs.m4's K lines have no -f), and make_srs hands a
		// sender it leaves alone back as it was asked, as pysrs did
		// (docs/srs.md). An SES signature is read in any case.
		if msg.From != strings.ToLower(signed) {
			t.Errorf("envelope sender at B %q, want %q: the signed sender, in lower case", msg.From, strings.ToLower(signed))
		}
		sesAddr = msg.From
		spfPassAtB(t, m, head, sesAddr, "ours.example")

		// The bounce to the SES address, as it left A, reaches the user.
		bounceComesBack(t, m, sesAddr, "dave.smith@ours.example", "ses")

		// One with a character of the signature changed is refused by
		// maxwell A's milter (Sendmail A relays any ours.example
		// recipient).
		bad := tamperSES(sesAddr)
		r := bounceRcpt(t, s.sm.Addr, bad)
		t.Logf("altered SES signature: RCPT TO:<%s>\n%s", bad, quoteReply(r))
		if want := sendmailReply(bad, "5.7.1", "Invalid SES signature"); r.Code != 550 || r.Text != want {
			t.Errorf("RCPT TO:<%s>: %s\nwant 550 %s", bad, r, want)
		}
		mustLog(t, s.a, "maxwell A", "event=decision tag=REJECT reason="+q("ses spoofed: "+bad+" (Invalid SES signature)")+" rcpt="+q(bad)+" code=550 xcode=5.7.1")
	})

	// What Sendmail A asked maxwell A's socket map (the keys as Sendmail
	// sent them), for the record.
	t.Logf("maxwell A's socket map answers:\n%s", strings.Join(logLines(s.a, "event=srsmap"), "\n"))
}

// sendmailForm is an address as Sendmail's rules hand it to a socket
// map: in lower case, "user<@domain.>".
func sendmailForm(addr string) string {
	return strings.ToLower(strings.Replace(addr, "@", "<@", 1) + ".>")
}

// sendmailReply is the text of a milter's reply to RCPT as Sendmail
// gives it: the address, in angle brackets and followed by "...", after
// the first line's enhanced status code.
func sendmailReply(rcpt, xcode string, lines ...string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if i == 0 {
			l = "<" + rcpt + ">... " + l
		}
		out[i] = xcode + " " + l
	}
	return strings.Join(out, "\n")
}
