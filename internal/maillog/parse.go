package maillog

import (
	"strconv"
	"strings"
	"time"
)

// Line is one mail-log line read back.
type Line struct {
	Time   time.Time         // zero when the line has no time of its own (syslog without year: see ParseLine)
	Conn   string            // the connection id
	Event  string            // the event
	Fields map[string]string // the other key=value pairs, values unquoted
}

// ParseLine reads a line as Log writes it — "TIME conn=N event=E k=v …" —
// or as syslog stores it ("Nov 23 10:00:01 host maxwell[42]: conn=N …",
// dated in year). ok is false for a line that is not a mail-log line.
func ParseLine(s string, year int) (l Line, ok bool) {
	s = strings.TrimRight(s, "\r\n")
	i := strings.Index(s, "conn=")
	if i < 0 {
		return l, false
	}
	prefix := strings.TrimSpace(s[:i])
	if t, err := time.Parse(time.RFC3339, prefix); err == nil {
		l.Time = t
	} else if len(prefix) >= 15 {
		if t, err := time.Parse("Jan _2 15:04:05", prefix[:15]); err == nil {
			l.Time = t.AddDate(year, 0, 0)
		}
	}
	l.Fields = map[string]string{}
	for rest := s[i:]; rest != ""; {
		rest = strings.TrimLeft(rest, " ")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return l, false
		}
		key, v := rest[:eq], rest[eq+1:]
		var value string
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				return l, false
			}
			value, _ = strconv.Unquote(q)
			rest = v[len(q):]
		} else {
			end := strings.IndexByte(v, ' ')
			if end < 0 {
				end = len(v)
			}
			value, rest = v[:end], v[end:]
		}
		switch key {
		case "conn":
			l.Conn = value
		case "event":
			l.Event = value
		default:
			l.Fields[key] = value
		}
	}
	return l, l.Conn != "" && l.Event != ""
}

// ReasonKind is a reason without its particulars: "SPF fail: -all" is
// "SPF fail", "greylisted 192.0.2.0/24 a@b c@d" is "greylisted".
func ReasonKind(r string) string {
	if k, _, ok := strings.Cut(r, ":"); ok {
		return k
	}
	words := strings.Fields(r)
	for i, w := range words {
		if strings.ContainsAny(w, "@./0123456789") {
			words = words[:i]
			break
		}
	}
	if len(words) == 0 {
		return r
	}
	return strings.Join(words, " ")
}
