package spf

import (
	"net/netip"
	"strings"
	"testing"
)

func report(helo, sender string) Report {
	return Report{
		Receiver: "mx.example.org", IP: netip.MustParseAddr("192.0.2.7"), Helo: helo, Sender: sender,
		Check: Outcome{Result: Pass, Identity: MailFrom, Domain: "example.com", Sender: sender, Mechanism: "ip4:192.0.2.0/24"},
		PTR:   "mail.example.com", IPRev: "pass",
	}
}

func TestHeaders(t *testing.T) {
	r := report("mail.example.com", "alice@example.com")
	r.HeloResult = Pass
	if got, want := r.ReceivedSPF(), "pass (mx.example.org: domain of alice@example.com designates 192.0.2.7 as permitted sender)\n"+
		"\tclient-ip=192.0.2.7; envelope-from=alice@example.com;\n"+
		"\thelo=mail.example.com; receiver=mx.example.org; identity=mailfrom;\n"+
		"\tmechanism=\"ip4:192.0.2.0/24\"; x-helo-spf=pass"; got != want {
		t.Errorf("Received-SPF:\n%s\nwant\n%s", got, want)
	}
	if got, want := r.AuthenticationResults(), "mx.example.org;\n\tspf=pass smtp.mailfrom=alice@example.com;\n"+
		"\tspf=pass smtp.helo=mail.example.com;\n"+
		"\tiprev=pass (mail.example.com) policy.iprev=192.0.2.7"; got != want {
		t.Errorf("Authentication-Results:\n%s\nwant\n%s", got, want)
	}

	g := report("mail.example.com", "bob@example.net")
	g.Check = Outcome{Result: Pass, Identity: MailFrom, Domain: "example.net", Sender: "bob@example.net", Guessed: true, Mechanism: "a/24"}
	g.BestGuess = Pass
	if got := g.ReceivedSPF(); !strings.HasPrefix(got, "none (") || !strings.Contains(got, "x-bestguess=pass") || strings.Contains(got, "mechanism=") {
		t.Errorf("guessed Received-SPF: %s", got)
	}
	if got := g.AuthenticationResults(); !strings.Contains(got, "spf=none (best guess pass) smtp.mailfrom=bob@example.net") {
		t.Errorf("guessed Authentication-Results: %s", got)
	}
}

// A HELO name or local part chosen by the client never adds a line, a
// field or a key-value pair: CR and LF become '?', and anything that is
// not an atom is quoted (libspf2#56).
func TestHeadersWithHostileInput(t *testing.T) {
	for _, c := range []struct{ helo, sender string }{
		{"evil.example\r\nX-Injected: yes", "alice@example.com"},
		{"a;b=c", "alice@example.com"},
		{`unbalanced" quote`, `"odd\"local"@example.com`},
		{"paren) (comment", "x(y)@example.com"},
		{"mail.example.com", "a;identity=helo@example.com"},
		{strings.Repeat("x", 2000), "alice@example.com"},
	} {
		r := report(c.helo, c.sender)
		r.Check.Sender = c.sender
		r.HeloResult = Fail
		for name, v := range map[string]string{"Received-SPF": r.ReceivedSPF(), "Authentication-Results": r.AuthenticationResults()} {
			if strings.Contains(strings.ReplaceAll(v, "\n\t", " "), "\n") || strings.Contains(v, "\r") {
				t.Errorf("%s for HELO %q: a line break of the client's: %q", name, c.helo, v)
			}
			if strings.Contains(unquoted(v), "identity=helo") || strings.Contains(v, "X-Injected: yes\n") {
				t.Errorf("%s for %q, %q: injected: %q", name, c.helo, c.sender, v)
			}
			if n := strings.Count(unquoted(v), ";"); name == "Received-SPF" && n != 6 {
				t.Errorf("%s for %q, %q: %d separators outside quotes, want 6: %q", name, c.helo, c.sender, n, v)
			}
			if len(v) > 1400 {
				t.Errorf("%s: %d bytes; client text is not bounded", name, len(v))
			}
		}
	}
}

// unquoted drops quoted-strings and comments, honouring backslashes.
func unquoted(v string) string {
	var b strings.Builder
	inQuote, depth := false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (inQuote || depth > 0):
			i++
		case inQuote:
			inQuote = c != '"'
		case c == '"' && depth == 0:
			inQuote = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}
