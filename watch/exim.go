package watch

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Exim 4's main log (/var/log/exim4/mainlog on Debian) is Exim's own
// format, not syslog's: "2026-12-02 18:22:04 message", with log_selector
// +millisec "18:22:04.140", with log_timezone "18:22:04 +0100", with
// +pid "[7275] " before the message, and a message's id
// ("1xYoxw-0001tN-19 ") before the lines about it. With log_file_path =
// syslog the same messages come as "host exim[pid]: …".
//
// Exim names no connection unless told to: with Debian's default
// log_selector a connection's lines share only the client's address,
// "H=(helo) [192.0.2.1]". The watcher keys them by what there is: the
// client's address and port with +incoming_port ("[192.0.2.1]:1234"),
// else the process with +pid or syslog (each connection is a process of
// its own), else the address alone. A Lost line's D= (how long the
// connection lasted) tells a new connection from an address apart from
// an earlier one that ended unlogged (a QUIT, without +smtp_connection).

// eximStamp reads Exim's time at the start of s, "2006-01-02 15:04:05"
// with optional ".000" (+millisec) and " -0700" (log_timezone); a time
// without a zone is in now's location. It returns the rest of s after
// the stamp and a space.
func eximStamp(s string, now time.Time) (t time.Time, rest string, ok bool) {
	const layout = "2006-01-02 15:04:05"
	if len(s) < len(layout) || s[4] != '-' || s[10] != ' ' || s[13] != ':' {
		return time.Time{}, s, false
	}
	t, err := time.ParseInLocation(layout, s[:len(layout)], now.Location())
	if err != nil {
		return time.Time{}, s, false
	}
	rest = s[len(layout):]
	if len(rest) >= 4 && rest[0] == '.' && digits(rest[1:4]) {
		ms, _ := strconv.Atoi(rest[1:4])
		t = t.Add(time.Duration(ms) * time.Millisecond)
		rest = rest[4:]
	}
	if len(rest) >= 6 && rest[0] == ' ' && (rest[1] == '+' || rest[1] == '-') && digits(rest[2:6]) &&
		(len(rest) == 6 || rest[6] == ' ') {
		h, _ := strconv.Atoi(rest[2:4])
		m, _ := strconv.Atoi(rest[4:6])
		off := h*3600 + m*60
		if rest[1] == '-' {
			off = -off
		}
		y, mo, d := t.Date()
		t = time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone("", off))
		rest = rest[6:]
	}
	if rest != "" && rest[0] != ' ' {
		return time.Time{}, s, false
	}
	return t, strings.TrimPrefix(rest, " "), true
}

// exim reads one of Exim's lines, after the time: "[pid] " (+pid), a
// message id, the message. proc is the syslog line's "host exim[pid]",
// "" in the main log.
func exim(ev *Event, msg, proc string) bool {
	if strings.HasPrefix(msg, "[") {
		if pid, rest, ok := strings.Cut(msg[1:], "] "); ok && digits(pid) {
			proc, msg = "exim["+pid+"]", rest
		}
	}
	id, rest, _ := strings.Cut(msg, " ")
	queued := eximID(id)
	if queued {
		msg = rest
	}
	var client string // where the client's "[ip]" is
	switch {
	case queued && strings.HasPrefix(msg, "<= "):
		// "1xYoxw-0001tN-19 <= alice@polite.example H=(helo) [ip] P=esmtp S=242"
		from, rest := eximAddress(msg[3:])
		if from == "<>" {
			from = ""
		}
		ev.Kind, ev.Sender = Queued, strings.ToLower(from)
		if _, host, ok := strings.Cut(rest, "H="); ok {
			ev.IP, _, _ = eximHost(host)
		}
		return true
	case strings.Contains(msg, " temporarily rejected "):
		// "H=(helo) [ip] F=<s> temporarily rejected RCPT <r>: 451 4.7.1 text",
		// also "… temporarily rejected MAIL <s>: …", "… after DATA: …"
		host, what, _ := strings.Cut(msg, " temporarily rejected ")
		if !strings.HasPrefix(host, "H=") {
			return false
		}
		client, ev.Sender = host, angle(host, " F=<")
		var reply string
		if r, ok := strings.CutPrefix(what, "RCPT <"); ok {
			rcpt, after, found := strings.Cut(r, ">: ")
			if !found {
				return false
			}
			ev.Rcpt, reply = strings.ToLower(rcpt), after
		} else if _, after, found := strings.Cut(what, ": "); found {
			reply = after
		} else {
			return false
		}
		ev.Kind, ev.Reply = Refused, reply
	case strings.HasPrefix(msg, "SMTP connection from "):
		client = msg[len("SMTP connection from "):]
		_, _, end := eximHost(client)
		switch tail := client[end:]; {
		case strings.HasPrefix(tail, " (TCP/IP connection count = "):
			ev.Kind = Connect
		case strings.HasSuffix(tail, " closed by QUIT"):
			// Exim logs no other way out of a connection as a disconnect.
			ev.Kind, ev.Quit, ev.Counted = Disconnect, true, true
		case strings.Contains(tail, " lost"):
			// "SMTP connection from (helo) [ip] lost D=0s", "… lost while
			// reading message data (header)"
			_, how, _ := strings.Cut(tail, " lost")
			ev.Kind, ev.Detail = Lost, "SMTP connection lost"
			if w, ok := strings.CutPrefix(how, " while "); ok {
				w, _, _ = strings.Cut(w, " D=")
				ev.Detail += " while " + w
			}
		default:
			return false
		}
	case strings.HasPrefix(msg, "unexpected disconnection while reading SMTP command from "):
		client = strings.TrimPrefix(msg, "unexpected disconnection while reading SMTP command from ")
		ev.Kind, ev.Detail = Lost, "unexpected disconnection while reading SMTP command"
	case strings.HasPrefix(msg, "SMTP command timeout on connection from "):
		client = strings.TrimPrefix(msg, "SMTP command timeout on connection from ")
		ev.Kind, ev.Detail = Lost, "SMTP command timeout"
	case strings.HasPrefix(msg, "SMTP data timeout (message abandoned) on connection from "):
		client = strings.TrimPrefix(msg, "SMTP data timeout (message abandoned) on connection from ")
		ev.Kind, ev.Detail = Lost, "SMTP data timeout"
	default:
		return false
	}
	ip, port, _ := eximHost(client)
	if !ip.IsValid() {
		return false
	}
	ev.IP = ip
	switch {
	case port != "":
		ev.Process = "exim [" + ip.String() + "]:" + port
	case proc != "":
		if ev.Kind == Connect {
			return false // the daemon's line: the connection's own process logs the rest
		}
		ev.Process = proc
	default:
		ev.Process = "exim [" + ip.String() + "]"
	}
	if ev.Kind == Lost {
		ev.Ends = true
		if d, ok := eximDuration(cutField(client, " D=")); ok && !ev.Time.IsZero() {
			ev.Began = ev.Time.Add(-d)
		}
	}
	return true
}

// eximHost reads the client in Exim's host field, "name (helo)
// [192.0.2.1]:port U=ident …" (name, helo, port and ident each when
// there): the "[…]" after a space, an "=" or at the start, so that an
// address literal given as HELO ("([192.0.2.9])") is not taken for it.
// A client chooses its HELO name, and a site that lets Exim take junk
// HELOs (helo_accept_junk_hosts) logs them as they came: "(x
// [192.0.2.66]) [203.0.113.5]" would blame another address. So when s
// holds a second such "[address]", after the first, nothing is read:
// the line is ambiguous, and no one is blamed for it. end is where the
// field's address and port end in s (0 without one).
func eximHost(s string) (ip netip.Addr, port string, end int) {
	ip, end = bracketAddr(s, 0)
	if !ip.IsValid() {
		return netip.Addr{}, "", 0
	}
	if other, _ := bracketAddr(s, end); other.IsValid() {
		return netip.Addr{}, "", 0
	}
	if strings.HasPrefix(s[end:], ":") {
		n := 1
		for end+n < len(s) && n <= 5 && s[end+n] >= '0' && s[end+n] <= '9' {
			n++
		}
		if n > 1 {
			port, end = s[end+1:end+n], end+n
		}
	}
	return ip.Unmap(), port, end
}

// bracketAddr finds, from s[from:], the first address in brackets after
// a space, an "=" or at the start of s ("[192.0.2.1]", "[IPv6:…]"), and
// where it ends; the zero Addr if there is none.
func bracketAddr(s string, from int) (netip.Addr, int) {
	for i := from; i < len(s); i++ {
		if s[i] != '[' || i > 0 && s[i-1] != ' ' && s[i-1] != '=' {
			continue
		}
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			return netip.Addr{}, 0
		}
		if ip, err := netip.ParseAddr(strings.TrimPrefix(s[i+1:i+j], "IPv6:")); err == nil {
			return ip, i + j + 1
		}
	}
	return netip.Addr{}, 0
}

// eximAddress reads the address at the start of s, as Exim writes it:
// up to the first space, but a quoted local part ("a b"@example.org,
// which RFC 5321 allows) whole. rest is what follows the space.
func eximAddress(s string) (addr, rest string) {
	i := 0
	if strings.HasPrefix(s, `"`) {
		for i = 1; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
		}
	}
	if sp := strings.IndexByte(s[min(i, len(s)):], ' '); sp >= 0 {
		return s[:i+sp], s[i+sp+1:]
	}
	return s, ""
}

// cutField returns the text after key in s, up to the next space: "0s"
// for " D=" in "[ip] D=0s C=QUIT"; "" when there is none.
func cutField(s, key string) string {
	_, v, ok := strings.Cut(s, key)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

// eximDuration reads an Exim time interval as D= has it: "0s", "1m5s",
// "2h3m", "1d2h", "1w", with +millisec "0.003s".
func eximDuration(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var d time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) || i > 12 {
			return 0, false
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[i]]
		if unit == 0 {
			return 0, false
		}
		d += time.Duration(n * float64(unit))
		s = s[i+1:]
	}
	return d, true
}

// eximID reports whether s is an Exim message id: "1xYoxw-0001tN-19"
// (before 4.97), "1tXYZa-000123-ABCD" (4.97 and later).
func eximID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) != 6 || len(parts[1]) < 6 || len(parts[1]) > 11 || len(parts[2]) < 2 || len(parts[2]) > 4 {
		return false
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// digits reports whether s is all ASCII digits, and not empty.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
