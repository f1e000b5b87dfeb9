package spf

import (
	"reflect"

	"github.com/maxwell-milter/maxwell/internal/hdrcheck"
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
		"\tclient-ip=192.0.2.7; envelope-from=\"alice@example.com\";\n"+
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

// Every Received-SPF parses by the strict RFC 7208 §9.1 grammar and every
// Authentication-Results by go-msgauth and python3-authres alike, with
// the values the client gave coming back as they were written (control
// and 8-bit bytes become '?'; in Authentication-Results ';' and white
// space too, see ARValue).
func TestHeadersParse(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::25")
	cases := []struct {
		name        string
		edit        func(r *Report)
		rspf        map[string]string // key-value pairs Received-SPF must have
		arSPF       []map[string]string
		arIPRev     string // policy.iprev
		arResults   []string
		rspfResult  string
		rspfMissing []string // keys Received-SPF must not have
	}{
		{"pass", func(r *Report) {},
			map[string]string{"envelope-from": "alice@example.com", "client-ip": "192.0.2.7", "helo": "mail.example.com", "identity": "mailfrom", "mechanism": "ip4:192.0.2.0/24", "receiver": "mx.example.org"},
			[]map[string]string{{"smtp.mailfrom": "alice@example.com"}}, "192.0.2.7", []string{"spf=pass", "iprev=pass"}, "pass", nil},
		{"IPv6 client", func(r *Report) { r.IP = v6 },
			map[string]string{"client-ip": "2001:db8::25"},
			[]map[string]string{{"smtp.mailfrom": "alice@example.com"}}, "2001:db8::25", []string{"spf=pass", "iprev=pass"}, "pass", nil},
		{"fail, HELO pass", func(r *Report) {
			r.Check.Result, r.Check.Mechanism, r.HeloResult = Fail, "-all", Pass
		}, map[string]string{"mechanism": "-all", "x-helo-spf": "pass"},
			[]map[string]string{{"smtp.mailfrom": "alice@example.com"}, {"smtp.helo": "mail.example.com"}}, "192.0.2.7", []string{"spf=fail", "spf=pass", "iprev=pass"}, "fail", nil},
		{"softfail", func(r *Report) { r.Check.Result, r.Check.Mechanism = SoftFail, "~all" },
			map[string]string{"mechanism": "~all"}, nil, "192.0.2.7", []string{"spf=softfail", "iprev=pass"}, "softfail", nil},
		{"neutral", func(r *Report) { r.Check.Result, r.Check.Mechanism = Neutral, "?all" },
			map[string]string{"mechanism": "?all"}, nil, "192.0.2.7", []string{"spf=neutral", "iprev=pass"}, "neutral", nil},
		{"temperror", func(r *Report) {
			r.Check.Result, r.Check.Mechanism, r.Check.Problem = TempError, "", `lookup of "example.com" TXT: i/o timeout; (again)`
		}, map[string]string{"problem": `lookup of "example.com" TXT: i/o timeout; (again)`}, nil, "192.0.2.7", []string{"spf=temperror", "iprev=pass"}, "temperror", []string{"mechanism"}},
		{"permerror", func(r *Report) {
			r.Check.Result, r.Check.Mechanism, r.Check.Problem = PermError, "", `unknown term "frobnicate"`
		}, map[string]string{"problem": `unknown term "frobnicate"`}, nil, "192.0.2.7", []string{"spf=permerror", "iprev=pass"}, "permerror", nil},
		{"none with a best guess", func(r *Report) {
			r.Check.Result, r.Check.Guessed, r.Check.Mechanism, r.BestGuess = Pass, true, "a/24", Pass
		}, map[string]string{"x-bestguess": "pass"}, nil, "192.0.2.7", []string{"spf=none", "iprev=pass"}, "none", []string{"mechanism"}},
		{"HELO identity, null sender", func(r *Report) {
			r.Sender = ""
			r.Check = Outcome{Result: Pass, Identity: Helo, Domain: "mail.example.com", Sender: "postmaster@mail.example.com", Mechanism: "a"}
		}, map[string]string{"identity": "helo", "envelope-from": "", "helo": "mail.example.com"},
			[]map[string]string{{"smtp.helo": "mail.example.com"}}, "192.0.2.7", []string{"spf=pass", "iprev=pass"}, "pass", nil},
		{"no PTR", func(r *Report) { r.PTR, r.IPRev = "", "permerror" },
			nil, nil, "192.0.2.7", []string{"spf=pass", "iprev=permerror"}, "pass", nil},
		{"hostile HELO", func(r *Report) {
			r.Helo, r.Check.Result, r.HeloResult = "a;b=c \"q\" (p) \\x caf\xc3\xa9\r\nX-Injected: yes", Neutral, Fail
		}, map[string]string{"helo": "a;b=c \"q\" (p) \\x caf????X-Injected: yes", "x-helo-spf": "fail"},
			[]map[string]string{{"smtp.mailfrom": "alice@example.com"}, {"smtp.helo": "a?b=c?\"q\"??p??\\x?caf????X-Injected:?yes"}}, "192.0.2.7", []string{"spf=neutral", "spf=fail", "iprev=pass"}, "neutral", nil},
		{"hostile local part", func(r *Report) {
			r.Sender = "\"a;b (c)\\\"d\xff\"@example.com"
			r.Check.Sender = r.Sender
		}, map[string]string{"envelope-from": "\"a;b (c)\\\"d?\"@example.com"},
			[]map[string]string{{"smtp.mailfrom": "\"a?b??c?\\\"d?\"@example.com"}}, "192.0.2.7", []string{"spf=pass", "iprev=pass"}, "pass", nil},
		{"hostile PTR", func(r *Report) { r.PTR = "x;y=z (w)\\" },
			nil, nil, "192.0.2.7", []string{"spf=pass", "iprev=pass"}, "pass", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := report("mail.example.com", "alice@example.com")
			c.edit(&r)
			rs := r.ReceivedSPF()
			got, err := hdrcheck.ParseReceivedSPF(" " + rs)
			if err != nil {
				t.Errorf("Received-SPF: %s\n%v", rs, err)
			}
			if got.Result != c.rspfResult {
				t.Errorf("Received-SPF result %q, want %q: %s", got.Result, c.rspfResult, rs)
			}
			for k, want := range c.rspf {
				if v, ok := got.Get(k); !ok || v != want {
					t.Errorf("Received-SPF %s=%q (present %v), want %q: %s", k, v, ok, want, rs)
				}
			}
			for _, k := range c.rspfMissing {
				if _, ok := got.Get(k); ok {
					t.Errorf("Received-SPF has %s: %s", k, rs)
				}
			}
			ar := r.AuthenticationResults()
			a, err := hdrcheck.ParseAuthResults("Authentication-Results: " + ar)
			if err != nil {
				t.Fatalf("Authentication-Results: %s\n%v", ar, err)
			}
			var results []string
			var spfProps []map[string]string
			for _, m := range a.Results {
				results = append(results, m.Method+"="+m.Result)
				switch m.Method {
				case "spf":
					spfProps = append(spfProps, m.Props)
				case "iprev":
					if m.Props["policy.iprev"] != c.arIPRev {
						t.Errorf("policy.iprev=%q, want %q: %s", m.Props["policy.iprev"], c.arIPRev, ar)
					}
				}
			}
			if a.AuthservID != "mx.example.org" || strings.Join(results, " ") != strings.Join(c.arResults, " ") {
				t.Errorf("Authentication-Results %s %v, want mx.example.org %v: %s", a.AuthservID, results, c.arResults, ar)
			}
			if c.arSPF != nil && !reflect.DeepEqual(spfProps, c.arSPF) {
				t.Errorf("spf properties %q, want %q: %s", spfProps, c.arSPF, ar)
			}
		})
	}
}
