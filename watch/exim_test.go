package watch

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// The Exim 4.96 logs of testdata, recorded on Dec 2 with Debian's
// exim4-daemon-light (the harness of test/t-17) and smtp_receive_timeout
// = 2s: alice at 127.0.0.3 greylisted, QUIT, back with her message,
// then hanging up in her next transaction; carol at 127.0.0.6 and dave
// at 127.0.0.5 greylisted, QUIT, never back; the rats at 127.0.0.2 and
// 127.0.0.4 greylisted, then hanging up and stalling.
var eximLogs = []struct {
	path, format string
}{
	{"testdata/exim4-mainlog.txt", "main log, Exim's default log_selector"},
	{"testdata/exim4-mainlog-pid.txt", "main log, +pid +incoming_port +smtp_connection +millisec, log_timezone"},
	{"testdata/exim4-syslog.txt", "syslog (log_file_path = syslog), main and reject log lines"},
}

// eximLog reads an Exim log of testdata with its dates ("2026-12-02",
// syslog's "Dec  2") moved to logDay(days).
func eximLog(t testing.TB, path string, days int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	day := logDay(days, 0)
	text := strings.ReplaceAll(string(b), "2026-12-02", day.Format("2006-01-02"))
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "Dec  2"); ok {
			lines[i] = day.Format("Jan _2") + rest
		}
	}
	return lines
}

func TestParseExim(t *testing.T) {
	ip := netip.MustParseAddr
	const greylisted = "451 4.7.1 Greylisted, please retry in 300 seconds"
	tests := []struct {
		line string
		want Event
	}{
		// Exim 4.96, from testdata, Debian's default log_selector.
		{"2026-12-02 18:27:14 H=(mail.sender.example) [127.0.0.2] F=<rat1@spam.example> temporarily rejected RCPT <bob@example.org>: " + greylisted,
			Event{Kind: Refused, IP: ip("127.0.0.2"), Sender: "rat1@spam.example", Rcpt: "bob@example.org", Reply: greylisted}},
		{"2026-12-02 18:27:14 unexpected disconnection while reading SMTP command from (mail.sender.example) [127.0.0.2] D=0s",
			Event{Kind: Lost, IP: ip("127.0.0.2"), Detail: "unexpected disconnection while reading SMTP command", Ends: true}},
		{"2026-12-02 18:27:16 SMTP command timeout on connection from (mail.sender.example) [127.0.0.4]",
			Event{Kind: Lost, IP: ip("127.0.0.4"), Detail: "SMTP command timeout", Ends: true}},
		{"2026-12-02 18:27:19 1xYp31-0003na-0k <= alice@polite.example H=(mail.polite.example) [127.0.0.3] P=esmtp S=234",
			Event{Kind: Queued, IP: ip("127.0.0.3"), Sender: "alice@polite.example"}},
		// A quoted local part holding " H=[…]" is the sender's, not the
		// client's address.
		{`2026-12-02 18:27:19 1xYp31-0003na-0k <= "a H=[192.0.2.66]"@x.example H=(helo) [203.0.113.5] P=esmtp S=234`,
			Event{Kind: Queued, IP: ip("203.0.113.5"), Sender: `"a h=[192.0.2.66]"@x.example`}},
		// With +pid +incoming_port +smtp_connection +millisec, log_timezone.
		{"2026-12-02 18:27:21.626 +0000 [14634] SMTP connection from [127.0.0.3]:59079 (TCP/IP connection count = 1)",
			Event{Kind: Connect, IP: ip("127.0.0.3")}},
		{"2026-12-02 18:27:21.633 +0000 [14679] SMTP connection from (mail.polite.example) [127.0.0.3]:59079 closed by QUIT",
			Event{Kind: Disconnect, IP: ip("127.0.0.3"), Quit: true, Counted: true}},
		{"2026-12-02 18:26:20.787 +0000 [13288] SMTP connection from (mail.polite.example) [127.0.0.3]:60109 lost D=0.002s",
			Event{Kind: Lost, IP: ip("127.0.0.3"), Detail: "SMTP connection lost", Ends: true}},
		{"2026-12-02 18:27:26.634 +0000 [14683] 1xYp38-0003op-22 <= alice@polite.example H=(mail.polite.example) [127.0.0.3]:54845 P=esmtp S=245",
			Event{Kind: Queued, IP: ip("127.0.0.3"), Sender: "alice@polite.example"}},
		// Exim 4.96 with log_file_path = syslog, from testdata.
		{"Dec  2 18:28:00 mx exim[16391]: 2026-12-02 18:28:00 unexpected disconnection while reading SMTP command from (mail.sender.example) [127.0.0.2] D=0s",
			Event{Kind: Lost, IP: ip("127.0.0.2"), Detail: "unexpected disconnection while reading SMTP command", Ends: true}},
		// Lines of the same kinds as Exim writes them elsewhere: without
		// a code in the ACL's message, 4.97's longer ids, IPv6 with a
		// port, a name from the DNS and an ident, a bounce, DATA.
		{"2026-12-02 18:21:56 H=(mail.sender.example) [127.0.0.2] F=<Rat@Spam.example> temporarily rejected RCPT <Bob@example.org>: Greylisted, please retry in 300 seconds",
			Event{Kind: Refused, IP: ip("127.0.0.2"), Sender: "rat@spam.example", Rcpt: "bob@example.org", Reply: "Greylisted, please retry in 300 seconds"}},
		{"2026-12-02 18:30:01 1tXYZa-000123-ABCD <= <> H=mx.example.net [2001:db8::1]:1234 P=esmtps S=1200",
			Event{Kind: Queued, IP: ip("2001:db8::1")}},
		{"2026-12-02 18:30:01 H=mx.example.net (helo.example) [2001:db8::1]:25025 U=ident F=<a@b.example> temporarily rejected after DATA: 451 4.7.1 Greylisted, please retry in 5 seconds",
			Event{Kind: Refused, IP: ip("2001:db8::1"), Sender: "a@b.example", Reply: "451 4.7.1 Greylisted, please retry in 5 seconds"}},
		{"2026-12-02 18:21:31 SMTP connection from (mail.polite.example) [127.0.0.3] lost while reading message data (header)",
			Event{Kind: Lost, IP: ip("127.0.0.3"), Detail: "SMTP connection lost while reading message data (header)", Ends: true}},
		{"2026-12-02 18:30:01 SMTP data timeout (message abandoned) on connection from [192.0.2.1] F=<a@b.example>",
			Event{Kind: Lost, IP: ip("192.0.2.1"), Detail: "SMTP data timeout", Ends: true}},
		// A syslog line stamped as Exim stamps (an rsyslog template) is
		// read as any other.
		{"2026-12-02 18:30:01 mx postfix/smtpd[77]: lost connection after RCPT from unknown[192.0.2.9]",
			Event{Kind: Lost, IP: ip("192.0.2.9"), Detail: "lost connection after RCPT"}},
		// An address literal as HELO is not the client.
		{"2026-12-02 18:30:01 H=([192.0.2.9]) [127.0.0.2] F=<> temporarily rejected RCPT <bob@example.org>: " + greylisted,
			Event{Kind: Refused, IP: ip("127.0.0.2"), Rcpt: "bob@example.org", Reply: greylisted}},
	}
	for _, tc := range tests {
		got, ok := Parse(tc.line, now)
		got.Time, got.Process, got.Began = time.Time{}, "", time.Time{}
		if !ok || got != tc.want {
			t.Errorf("Parse(%q)\n = %+v, %v\nwant %+v", tc.line, got, ok, tc.want)
		}
	}
	for _, line := range []string{
		"2026-12-02 18:27:13 exim 4.96 daemon started: pid=14456, no queue runs, listening for SMTP on [127.0.0.1]:2525",
		"2026-12-02 18:21:25 Warning: No server certificate defined; will use a selfsigned one.",
		" Suggested action: either install a certificate or change tls_advertise_hosts option",
		"2026-12-02 18:21:53 1xYoxl-0001pH-2J re-exec of exim (/usr/sbin/exim4) with -Mc failed: No such file or directory",
		"2026-12-02 18:30:01 1xYoxl-0001pH-2J => bob <bob@example.org> R=local_user T=mail_spool",
		"2026-12-02 18:30:01 1xYoxl-0001pH-2J Completed",
		// the daemon's line, under its own pid: the connection's process logs the rest
		"Dec  2 18:27:58 mx exim[16276]: 2026-12-02 18:27:58 SMTP connection from [127.0.0.3] (TCP/IP connection count = 1)",
		"2026-12-02 18:30:01 H=(helo) [not an address] F=<a@b> temporarily rejected RCPT <c@d>: 451 x",
		"2026-12-02 18:30:01 temporarily rejected RCPT <c@d>: 451 x",
		"2026-12-02 18:30:01 H=(helo) [192.0.2.1] F=<a@b> temporarily rejected RCPT <c@d",
		"2026-12-02 25:30:01 unexpected disconnection while reading SMTP command from [192.0.2.1] D=0s",
		"2026-12-02 18:30:01x unexpected disconnection while reading SMTP command from [192.0.2.1] D=0s",
		"2026-12-02 18:30:01 SMTP connection from [192.0.2.1] refused: too many connections",
		"2026-12-02 18:30:01 unexpected disconnection while reading SMTP command from [192.0.2.1",
		"2026-12-02 18:30:01 unexpected disconnection while reading SMTP command from ([192.0.2.9])",
		// A junk HELO (helo_accept_junk_hosts) naming another address:
		// ambiguous, so no one is blamed, least of all 192.0.2.66.
		"2026-12-02 18:30:01 H=(x [192.0.2.66]) [203.0.113.5] F=<a@b.example> temporarily rejected RCPT <c@d.example>: 451 4.7.1 Greylisted",
		"2026-12-02 18:30:01 SMTP connection from (x [192.0.2.66]) [203.0.113.5] lost D=3s",
		"2026-12-02 18:30:01 unexpected disconnection while reading SMTP command from (x [192.0.2.66]) [203.0.113.5] D=0s",
		"2026-12-02 18:30:01 H=(x temporarily rejected [192.0.2.66]) [203.0.113.5] F=<a@b> temporarily rejected RCPT <c@d>: 451 x",
	} {
		if ev, ok := Parse(line, now); ok {
			t.Errorf("Parse(%q) = %+v, want nothing", line, ev)
		}
	}
}

// Exim's stamps (local, with +millisec, with log_timezone), which lines
// make one connection (Process), and when a Lost line's connection
// began (D=). "{date}" in a line is logDay(0)'s.
func TestParseEximConnection(t *testing.T) {
	hms := func(h, m, s int, ms time.Duration) time.Duration {
		return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + ms*time.Millisecond
	}
	day := logDay(0, 0)
	at := func(zone int, d time.Duration) time.Time { // on logDay(0)'s date, in zone
		return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.FixedZone("", zone)).Add(d)
	}
	tests := []struct {
		line    string
		time    time.Time
		process string
		began   time.Time
	}{
		{"{date} 18:27:14 unexpected disconnection while reading SMTP command from (h) [127.0.0.2] D=1m5s",
			logDay(0, hms(18, 27, 14, 0)), "exim [127.0.0.2]", logDay(0, hms(18, 26, 9, 0))},
		{"{date} 18:27:22.051 +0100 [14681] unexpected disconnection while reading SMTP command from (h) [127.0.0.2]:59645 D=0.003s",
			at(3600, hms(18, 27, 22, 51)), "exim [127.0.0.2]:59645", at(3600, hms(18, 27, 22, 48))},
		{"{date} 18:27:22 -0230 [14681] H=(h) [127.0.0.2] F=<a@b> temporarily rejected RCPT <c@d>: 451 x",
			at(-9000, hms(18, 27, 22, 0)), "exim[14681]", time.Time{}},
		{"Dec  2 18:28:00 mx exim[16391]: {date} 18:28:00 SMTP connection from (h) [127.0.0.2] lost D=2h",
			logDay(0, hms(18, 28, 0, 0)), "mx exim[16391]", logDay(0, hms(16, 28, 0, 0))},
		{"{date} 18:28:00 SMTP command timeout on connection from (h) [2001:db8::1]:1234 D=bad",
			logDay(0, hms(18, 28, 0, 0)), "exim [2001:db8::1]:1234", time.Time{}},
	}
	for _, tc := range tests {
		tc.line = strings.ReplaceAll(tc.line, "{date}", day.Format("2006-01-02"))
		ev, ok := Parse(tc.line, now)
		if !ok || !ev.Time.Equal(tc.time) || ev.Process != tc.process || !ev.Began.Equal(tc.began) {
			t.Errorf("Parse(%q) = time %v, process %q, began %v, %v\nwant %v, %q, %v", tc.line, ev.Time, ev.Process, ev.Began, ok, tc.time, tc.process, tc.began)
		}
	}
}

// The recorded Exim logs, in each of the formats: the two rats are
// blacklisted at once; alice, who came back, never; carol and dave,
// polite but never back, once the retry window has passed.
func TestWatchEximLog(t *testing.T) {
	for _, lg := range eximLogs {
		t.Run(lg.format, func(t *testing.T) {
			lines := eximLog(t, lg.path, 0)
			f := newFixture(t, lines)
			f.cfg.Greylist.IPv4Prefix = 32 // the clients are of one /24, standing for different networks
			// The clock: ten minutes after the log's last line.
			last, ok := Parse(lines[len(lines)-1], now)
			if !ok {
				t.Fatalf("the last line is not read: %q", lines[len(lines)-1])
			}
			f.clock = last.Time.Add(10 * time.Minute)
			if c := f.run(); c.Blacklisted != 2 || c.Waiting != 2 {
				t.Errorf("counts %+v, want 2 blacklisted and 2 waiting", c)
			}
			for ip, want := range map[string]string{
				"127.0.0.2": "greylisted, then unexpected disconnection while reading SMTP command",
				"127.0.0.4": "greylisted, then SMTP command timeout",
				"127.0.0.3": "", "127.0.0.5": "", "127.0.0.6": "",
			} {
				if got := f.banned(ip); got != want {
					t.Errorf("%s: blacklisted for %q, want %q", ip, got, want)
				}
			}
			f.clock = f.clock.Add(49 * time.Hour)
			f.run()
			for ip, want := range map[string]string{
				"127.0.0.3": "",
				"127.0.0.5": "greylisted, never retried within 48h0m0s",
				"127.0.0.6": "greylisted, never retried within 48h0m0s",
			} {
				if got := f.banned(ip); got != want {
					t.Errorf("after the retry window, %s: blacklisted for %q, want %q", ip, got, want)
				}
			}
		})
	}
}

// A greylisting reply is known by [greylist] text with maxwell's code,
// or without a code, as an Exim ACL's message is logged; another code
// before the text, or another text, is not it.
func TestGreylistingReply(t *testing.T) {
	f := newFixture(t, nil)
	w := f.watcher()
	for reply, want := range map[string]bool{
		"451 4.7.1 Greylisted, please retry in 2 seconds": true,
		"Greylisted, please retry in 300 seconds":         true,
		"450 Greylisted, please retry in 300 seconds":     false,
		"451 4.7.1 Try again later":                       false,
		"greylisted, try again later":                     false,
		"":                                                false,
	} {
		if got := w.greylisting(reply); got != want {
			t.Errorf("greylisting(%q) = %v, want %v", reply, got, want)
		}
	}
}
