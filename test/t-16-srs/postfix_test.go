package srstest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// postfixSites are the two stacks: a is maxwell A with Postfix A, b maxwell B
// with Postfix B and the sink all mail ends in.
type postfixSites struct{ a, b *mtatest.Stack }

// startSites starts site B first, as Postfix A relays to it, then
// maxwell A (its milter and socket map) and Postfix A. B's own sink is
// where every message ends; A's is unused.
func startPostfixSites(t *testing.T) postfixSites {
	t.Helper()
	b := mtatest.StartStack(t, configB, "next.example orig.example ours.example", zone...)

	mapPort := mtatest.FreePort(t)
	a := mtatest.StartMilter(t, fmt.Sprintf(configA, mapPort), zone...)
	a.Maxwell.WaitListen(t, fmt.Sprintf("127.0.0.1:%d", mapPort))
	a.Postfix = mtatest.StartPostfix(t, mtatest.PostfixOptions{
		Milter:   fmt.Sprintf("inet:127.0.0.1:%d", a.Port),
		RelayTo:  b.Postfix.Addr,
		Domains:  "fwd.example ours.example",
		Hostname: "mx.fwd.example", // its HELO at B
		MainCf: strings.Join([]string{
			// A's LAN may send anywhere; the rest of the world only
			// to A's domains.
			"mynetworks = 127.0.0.0/8 192.0.2.0/24",
			"smtpd_relay_restrictions = permit_mynetworks, permit_auth_destination, reject",
			// docs/srs.md's main.cf lines, as written but for the port.
			docsBlock(t, "sender_canonical_maps = socketmap:inet:127.0.0.1:8896:forward", mapPort),
			"virtual_alias_maps = inline:{ bob@fwd.example=carol@next.example }",
			// ours.example's users: smtpd refuses others ("User
			// unknown"), after asking the reverse map, in lower case,
			// for the SES addresses it lets through. Any recipient in
			// fwd.example passes smtpd, so that maxwell A judges the
			// forged SRS addresses of step 3.
			"relay_recipient_maps = inline:{ @fwd.example=ok, dave@ours.example=ok, dave.smith@ours.example=ok }",
		}, "\n"),
	})
	// StartStack shows B's logs if the test fails; these are A's.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Postfix A log:\n%s\nmaxwell A mail log:\n%s\nmaxwell A stderr:\n%s", a.Postfix.Log(), a.Log(), a.Maxwell.Stderr)
		}
	})
	return postfixSites{a, b}
}

// TestPostfixSRS runs the steps in order: 2 and 3 use the SRS0 address
// step 1 saw arrive at B, and each step takes the next messages from
// B's sink.
func TestPostfixSRS(t *testing.T) {
	s := startPostfixSites(t)

	m := mtaA{
		addr: s.a.Postfix.Addr, a: s.a, b: s.b,
		forwarded: func(sender, srs string) string {
			return "map=forward key=" + q(sender) + " answer=" + q("OK "+srs)
		},
		reversed: func(rcpt, orig string) string {
			return "map=reverse key=" + q(rcpt) + " answer=" + q("OK "+orig)
		},
		reply:    func(_ string, lines ...string) string { return reply5xx("5.7.1", lines...) },
		unsigned: "dave@ours.example",
		// smtpd asks the reverse map only for the recipients it checks
		// (relay_recipient_maps: ours.example), before the milter.
		leftAlone: func(string, string) string { return "" },
	}
	steps0to3(t, m)
	var sesAddr string // what step 4 saw arrive at B

	t.Run("4 an internal sender leaves SES-signed and its bounces come back", func(t *testing.T) {
		// Mixed case on purpose: SES signs the local part in lower case,
		// as Postfix's smtpd asks the reverse map for it in lower case.
		msg, head := toCarol(t, m, lanClient, "pc.ours.example", "Dave.Smith@ours.example", "carol@next.example",
			"From: Dave Smith <Dave.Smith@ours.example>\r\nTo: Carol <carol@next.example>\r\nSubject: from the LAN\r\n\r\nHello Carol.\r\n")
		if !sesForm.MatchString(msg.From) {
			t.Fatalf("envelope sender at B %q, want the form %s", msg.From, sesForm)
		}
		sesAddr = msg.From
		spfPassAtB(t, m, head, sesAddr, "ours.example")
		// The sender that left is the one maxwell A's milter signed
		// (chgfrom), not only one its socket map answered.
		mustLog(t, s.a, "maxwell A", "event=srs from=Dave.Smith@ours.example signed=ses sender="+q(sesAddr))

		// The bounce to the SES address reaches the user.
		bounceComesBack(t, m, sesAddr, "dave.smith@ours.example", "ses")

		// One with a character of the signature changed is refused:
		// the reverse map does not vouch for it (smtpd asked in lower
		// case), so it is no user of ours.example.
		bad := tamperSES(sesAddr)
		r := bounceRcpt(t, s.a.Postfix.Addr, bad)
		t.Logf("altered SES signature: RCPT TO:<%s>\n%s", bad, quoteReply(r))
		if r.Code != 550 || !strings.Contains(r.Text, "User unknown in relay recipient table") {
			t.Errorf("RCPT TO:<%s>: %s\nwant 550 5.1.1 … User unknown in relay recipient table", bad, r)
		}
		mustLog(t, s.a, "maxwell A", "event=srsmap map=reverse key="+q(strings.ToLower(bad))+` answer="NOTFOUND " reason="Invalid SES signature"`)
	})

	// What Postfix A asked maxwell A's socket map (the keys as Postfix
	// sent them: the case it keeps or folds), for the record.
	t.Logf("maxwell A's socket map answers:\n%s", strings.Join(logLines(s.a, "event=srsmap"), "\n"))
}
