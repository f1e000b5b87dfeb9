package watch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// now is when the parse tests read their lines: the evening of the day
// the recorded logs are moved to.
var now = logDay(0, 22*time.Hour)

func TestParse(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		line string
		want Event
	}{
		// Postfix 3.7, from testdata/postfix.log (the end-to-end harness).
		{"Nov 29 21:48:37 mx postfix-maxwell-test/smtpd[10599]: connect from unknown[127.0.0.1]",
			Event{Kind: Connect, IP: ip("127.0.0.1")}},
		{"Nov 29 21:48:38 mx postfix-maxwell-test/smtpd[10599]: NOQUEUE: milter-reject: RCPT from unknown[198.51.100.7]: 451 4.7.1 Greylisted, please retry in 2 seconds; from=<rat1@spam.example> to=<bob@example.org> proto=ESMTP helo=<mail.sender.example>",
			Event{Kind: Refused, IP: ip("198.51.100.7"), Sender: "rat1@spam.example", Rcpt: "bob@example.org", Reply: "451 4.7.1 Greylisted, please retry in 2 seconds"}},
		{"Nov 29 21:48:38 mx postfix-maxwell-test/smtpd[10600]: lost connection after RSET from unknown[192.0.2.30]",
			Event{Kind: Lost, IP: ip("192.0.2.30"), Detail: "lost connection after RSET"}},
		{"Nov 29 21:48:38 mx postfix-maxwell-test/smtpd[10599]: disconnect from unknown[198.51.100.7] ehlo=2 xclient=0/1 mail=1 rcpt=0/1 commands=3/5",
			Event{Kind: Disconnect, IP: ip("198.51.100.7"), Counted: true, Mailed: true}},
		{"Nov 29 21:48:38 mx postfix-maxwell-test/smtpd[10599]: disconnect from unknown[203.0.113.20] ehlo=2 xclient=0/1 mail=1 rcpt=0/1 quit=1 commands=4/6",
			Event{Kind: Disconnect, IP: ip("203.0.113.20"), Counted: true, Mailed: true, Quit: true}},
		{"Nov 29 21:48:40 mx postfix-maxwell-test/smtpd[10599]: 847C9984464: client=unknown[203.0.113.21]",
			Event{Kind: Mail, IP: ip("203.0.113.21")}},
		{"Nov 29 21:48:40 mx postfix-maxwell-test/qmgr[10597]: 847C9984464: from=<alice@polite.example>, size=372, nrcpt=1 (queue active)",
			Event{Kind: Queued, Sender: "alice@polite.example"}},
		// Postfix before 3.0 (no counters), a timeout, IPv6, RFC 3339 stamps.
		{now.Format("2006-01-02T15:04:05.000000-07:00") + " mx postfix/smtpd[77]: disconnect from mail.example.com[2001:db8::25]",
			Event{Kind: Disconnect, IP: ip("2001:db8::25")}},
		{"Nov 29 21:48:38 mx postfix/smtpd[77]: timeout after DATA (0 bytes) from unknown[192.0.2.9]",
			Event{Kind: Lost, IP: ip("192.0.2.9"), Detail: "timeout after DATA (0 bytes)"}},
		// Sendmail 8, in the formats of its syslog lines.
		{"Nov 29 21:48:38 mx sm-mta[4242]: 5ATLmcZ4004242: Milter: to=<bob@example.org>, reject=451 4.7.1 Greylisted, please retry in 300 seconds",
			Event{Kind: Refused, Rcpt: "bob@example.org", Reply: "451 4.7.1 Greylisted, please retry in 300 seconds"}},
		{"Nov 29 21:48:38 mx sm-mta[4242]: 5ATLmcZ4004242: lost input channel from mail.sender.example [198.51.100.7] to MTA after rcpt",
			Event{Kind: Lost, IP: ip("198.51.100.7"), Detail: "lost input channel after rcpt"}},
		{"Nov 29 21:48:38 mx sendmail[4243]: 5ATLmcZ4004243: [192.0.2.30] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA",
			Event{Kind: Lost, IP: ip("192.0.2.30"), Detail: "did not issue MAIL/EXPN/VRFY/ETRN"}},
		{"Nov 29 21:48:38 mx sm-mta[4244]: 5ATLmcZ4004244: from=<alice@polite.example>, size=372, class=0, nrcpts=1, msgid=<x@polite.example>, proto=ESMTP, daemon=MTA, relay=mail.polite.example [IPv6:2001:db8::7]",
			Event{Kind: Queued, Sender: "alice@polite.example", IP: ip("2001:db8::7")}},
		{"Nov 29 21:48:38 mx sm-mta[4245]: 5ATLmcZ4004245: from=<rat@spam.example>, size=0, class=0, nrcpts=0, proto=ESMTP, daemon=MTA, relay=[192.0.2.31]",
			Event{Kind: Mail, Sender: "rat@spam.example", IP: ip("192.0.2.31")}},
	}
	for _, tc := range tests {
		tc.line = redate([]string{tc.line}, 0)[0]
		got, ok := Parse(tc.line, now)
		got.Time, got.Process = time.Time{}, ""
		if !ok || got != tc.want {
			t.Errorf("Parse(%q)\n = %+v, %v\nwant %+v", tc.line, got, ok, tc.want)
		}
	}
	for _, line := range []string{
		"Nov 29 21:48:40 mx postfix-maxwell-test/cleanup[10603]: 847C9984464: message-id=<20261129214840.847C9984464@mx.example.org>",
		"Nov 29 21:48:40 mx postfix-maxwell-test/smtp[10604]: 847C9984464: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:37321, status=sent",
		"Nov 29 21:48:37 mx postfix-maxwell-test/master[10596]: daemon started -- version 3.7.11",
		"garbage", "", "Nov 29 21:48:37 mx kernel: connect from unknown[127.0.0.1]",
	} {
		line = redate([]string{line}, 0)[0]
		if ev, ok := Parse(line, now); ok {
			t.Errorf("Parse(%q) = %+v, want nothing", line, ev)
		}
	}
}

// Syslog lines carry no year: December's lines read early in January
// belong to the year before.
func TestParseYear(t *testing.T) {
	line := "Dec 31 23:59:59 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]"
	year := testclock.Epoch().Year()
	ev, _ := Parse(line, time.Date(year+1, 1, 1, 0, 5, 0, 0, time.UTC))
	if want := time.Date(year, 12, 31, 23, 59, 59, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time = %v, want %v", ev.Time, want)
	}
	if ev.Process != "mx postfix/smtpd[1]" {
		t.Errorf("process = %q", ev.Process)
	}
}
