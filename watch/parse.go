package watch

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind is what an MTA log line says about a client's connection.
type Kind int

// The kinds of lines the watcher reads; other lines are ignored.
const (
	// Connect: a new connection (Postfix's "connect from", Exim's "SMTP
	// connection from … (TCP/IP connection count = N)").
	Connect Kind = iota + 1
	// Refused: the MTA passed on a milter's 4xx or 5xx answer (Postfix
	// "milter-reject", Sendmail "Milter: ... reject="), or refused with
	// 4xx itself (Exim's ACLs: "temporarily rejected RCPT"); Reply holds
	// it.
	Refused
	// Lost: the client dropped or stalled the connection (Postfix "lost
	// connection after X", "timeout after X"; Sendmail "lost input
	// channel", "did not issue MAIL/EXPN/VRFY/ETRN"; Exim "unexpected
	// disconnection", "SMTP connection … lost", "SMTP command timeout").
	Lost
	// Disconnect: Postfix's "disconnect from", with its command counters;
	// Exim's "SMTP connection from … closed by QUIT".
	Disconnect
	// Mail: the client got as far as a queued message (Postfix "client=",
	// Sendmail "from=... relay=").
	Mail
	// Queued: a message from Sender entered the queue (Postfix qmgr,
	// Sendmail, Exim "<="), from whichever client (IP, when the line
	// names it).
	Queued
)

// Event is one MTA log line that matters to the watcher.
type Event struct {
	Time    time.Time  // zero when the line has no time
	Process string     // "host program[pid]", Exim's "exim [ip]:port": a connection's lines share it
	Kind    Kind       //
	IP      netip.Addr // the client; invalid when the line does not say
	Sender  string     // Refused, Queued: the envelope sender
	Rcpt    string     // Refused: the recipient
	Reply   string     // Refused: the answer, "451 4.7.1 Greylisted, …"
	Detail  string     // Lost: what happened, "lost connection after RCPT"
	Quit    bool       // Disconnect: the client said QUIT
	Counted bool       // Disconnect: the line has Postfix's command counters (3.0 and later)
	Mailed  bool       // Disconnect: the client issued MAIL
	// Began is when the connection began, when a Lost line says how long
	// it lasted (Exim's D=): a line of an earlier connection under the
	// same Process (Exim's client address) is not of this one.
	Began time.Time
	// Ends: nothing of the connection follows the line (Exim's Lost).
	Ends bool
}

// Parse reads one syslog-format line of Postfix, Sendmail or Exim ("Nov
// 29 21:44:09 host postfix/smtpd[6744]: message"), or a line of Exim's
// main log ("2026-11-29 21:44:09 message"); a line without a year is
// dated in the year that puts it closest before now, one without a zone
// in now's. ok is false for a line the watcher has no use for.
func Parse(line string, now time.Time) (ev Event, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	if t, rest, found := eximStamp(line, now); found {
		if ev.Time = t; exim(&ev, rest, "") {
			return ev, true
		}
		// Not Exim's, or not of use: a syslog line stamped the same way
		// ("2026-11-29 21:44:09 host postfix/smtpd[6744]: …") is read on.
		ev, line = Event{Time: t}, rest
	} else {
		ev.Time, line = stamp(line, now)
	}
	// "host program[pid]: message"
	head, msg, found := strings.Cut(line, ": ")
	if !found || !strings.HasSuffix(head, "]") || !strings.Contains(head, "[") {
		return ev, false
	}
	ev.Process = head
	prog := head[:strings.LastIndexByte(head, '[')]
	prog = prog[strings.LastIndexByte(prog, ' ')+1:]
	switch {
	case strings.HasSuffix(prog, "/smtpd") || strings.HasSuffix(prog, "/qmgr"):
		return ev, postfix(&ev, msg)
	case prog == "sendmail" || prog == "sm-mta":
		return ev, sendmail(&ev, msg)
	case prog == "exim" || prog == "exim4":
		// Exim's own stamp follows unless syslog_timestamp is false.
		if t, rest, found := eximStamp(msg, now); found {
			ev.Time, msg = t, rest
		}
		return ev, exim(&ev, msg, head)
	}
	return ev, false
}

// stamp reads the time at the start of a line: RFC 3339 (rsyslog's
// high-precision format, Postfix with maillog_file_rotate_suffix) or the
// traditional "Jan _2 15:04:05".
func stamp(line string, now time.Time) (time.Time, string) {
	if sp := strings.IndexByte(line, ' '); sp > 0 {
		if t, err := time.Parse(time.RFC3339Nano, line[:sp]); err == nil {
			return t, line[sp+1:]
		}
	}
	if len(line) < 16 {
		return time.Time{}, line
	}
	t, err := time.ParseInLocation("Jan _2 15:04:05", line[:15], now.Location())
	if err != nil {
		return time.Time{}, line
	}
	t = t.AddDate(now.Year(), 0, 0)
	if t.After(now.Add(24 * time.Hour)) { // December's lines read in January
		t = t.AddDate(-1, 0, 0)
	}
	return t, line[16:]
}

// postfix reads smtpd's and qmgr's lines.
func postfix(ev *Event, msg string) bool {
	switch {
	case strings.HasPrefix(msg, "connect from "):
		ev.Kind, ev.IP = Connect, bracketIP(msg)
	case strings.Contains(msg, ": milter-reject: "):
		// "NOQUEUE: milter-reject: RCPT from name[ip]: 451 4.7.1 text; from=<s> to=<r> proto=…"
		_, rest, _ := strings.Cut(msg, ": milter-reject: ")
		client, reply, ok := strings.Cut(rest, "]: ")
		if !ok {
			return false
		}
		ev.Kind, ev.IP = Refused, bracketIP(client+"]")
		if i := strings.LastIndex(reply, "; from=<"); i >= 0 {
			ev.Sender, ev.Rcpt = angle(reply[i:], "from=<"), angle(reply[i:], " to=<")
			reply = reply[:i]
		}
		ev.Reply = reply
	case strings.HasPrefix(msg, "lost connection after ") || strings.HasPrefix(msg, "timeout after "):
		what, client, _ := strings.Cut(msg, " from ")
		ev.Kind, ev.IP, ev.Detail = Lost, bracketIP(client), what
	case strings.HasPrefix(msg, "disconnect from "):
		ev.Kind, ev.IP = Disconnect, bracketIP(msg)
		for _, f := range strings.Fields(msg)[2:] {
			name, count, _ := strings.Cut(f, "=")
			done, _, _ := strings.Cut(count, "/")
			switch name {
			case "commands":
				ev.Counted = true
			case "quit":
				ev.Quit = done != "0"
			case "mail":
				ev.Mailed = done != "0"
			}
		}
	case strings.Contains(msg, ": client="):
		ev.Kind, ev.IP = Mail, bracketIP(msg)
	case strings.Contains(msg, ": from=<") && strings.Contains(msg, ">, size="):
		ev.Kind, ev.Sender = Queued, angle(msg, "from=<")
	default:
		return false
	}
	return true
}

// sendmail reads sendmail's lines, whose client is "name [ip]".
func sendmail(ev *Event, msg string) bool {
	switch {
	case strings.Contains(msg, ": connect from "): // LogLevel 10 and up
		ev.Kind, ev.IP = Connect, bracketIP(msg)
	case strings.Contains(msg, "Milter: ") && strings.Contains(msg, ", reject="):
		// "QID: Milter: to=<r>, reject=451 4.7.1 text" (or from=<s>)
		_, reply, _ := strings.Cut(msg, ", reject=")
		ev.Kind, ev.Reply = Refused, reply
		ev.Sender, ev.Rcpt = angle(msg, "Milter: from=<"), angle(msg, "Milter: to=<")
	case strings.Contains(msg, "lost input channel from "):
		ev.Kind, ev.IP = Lost, bracketIP(msg)
		ev.Detail = "lost input channel"
		if _, after, ok := strings.Cut(msg, " to MTA after "); ok {
			if cmd := strings.Fields(after); len(cmd) > 0 {
				ev.Detail += " after " + cmd[0]
			}
		}
	case strings.Contains(msg, " did not issue MAIL/EXPN/VRFY/ETRN"):
		ev.Kind, ev.IP, ev.Detail = Lost, bracketIP(msg), "did not issue MAIL/EXPN/VRFY/ETRN"
	case strings.Contains(msg, ": from=<") && strings.Contains(msg, ", relay="):
		ev.Kind, ev.Sender = Queued, angle(msg, "from=<")
		_, relay, _ := strings.Cut(msg, ", relay=")
		ev.IP = bracketIP(relay)
		if !strings.Contains(msg, ", nrcpts=0,") {
			return true
		}
		ev.Kind = Mail // recipients refused: the client came, nothing was queued
	default:
		return false
	}
	return true
}

// bracketIP returns the address in the first "[…]" of s that holds one
// ("name[192.0.2.1]", "name [192.0.2.1]", "[IPv6:2001:db8::1]").
func bracketIP(s string) netip.Addr {
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			return netip.Addr{}
		}
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			return netip.Addr{}
		}
		if ip, err := netip.ParseAddr(strings.TrimPrefix(s[i+1:i+j], "IPv6:")); err == nil {
			return ip.Unmap()
		}
		s = s[i+j:]
	}
}

// angle returns the address in "key<addr>" within s, lower-cased.
func angle(s, key string) string {
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	rest := s[i+len(key):]
	j := strings.IndexByte(rest, '>')
	if j < 0 {
		return ""
	}
	return strings.ToLower(rest[:j])
}

// String names the kind.
func (k Kind) String() string {
	names := [...]string{"", "connect", "refused", "lost", "disconnect", "mail", "queued"}
	if int(k) < len(names) {
		return names[k]
	}
	return strconv.Itoa(int(k))
}
