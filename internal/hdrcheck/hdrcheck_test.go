package hdrcheck

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseReceivedSPF(t *testing.T) {
	good := []struct {
		name, v string
		want    ReceivedSPF
	}{
		{"RFC 7208 §9.1 example", " Pass (mybox.example.org: domain of\r\n myname@example.com designates 192.0.2.1 as permitted sender)\r\n" +
			"    receiver=mybox.example.org; client-ip=192.0.2.1;\r\n    envelope-from=\"myname@example.com\"; helo=foo.example.com;",
			ReceivedSPF{"pass", "mybox.example.org: domain of myname@example.com designates 192.0.2.1 as permitted sender", []Pair{
				{"receiver", "mybox.example.org", false}, {"client-ip", "192.0.2.1", false},
				{"envelope-from", "myname@example.com", true}, {"helo", "foo.example.com", false}}}},
		{"no comment, no pairs after FWS", " none ", ReceivedSPF{"none", "", nil}},
		{"quoted-pairs and nested comments", ` fail (a \(b\) (nested (twice)) c\\) helo="x\"y\\z"; x-helo-spf = none`,
			ReceivedSPF{"fail", `a (b) (nested (twice)) c\`, []Pair{{"helo", `x"y\z`, true}, {"x-helo-spf", "none", false}}}},
		{"CFWS around =", ` softfail identity (the one) = "mailfrom" ;`, ReceivedSPF{"softfail", "", []Pair{{"identity", "mailfrom", true}}}},
		{"LF folding", " permerror (x)\n\tproblem=\"bad record\"", ReceivedSPF{"permerror", "x", []Pair{{"problem", "bad record", true}}}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseReceivedSPF(c.v)
			if err != nil {
				t.Fatalf("ParseReceivedSPF(%q): %v", c.v, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParseReceivedSPF(%q)\n= %#v\nwant %#v", c.v, got, c.want)
			}
		})
	}

	bad := []struct{ name, v, why string }{
		{"bare @ in a value", " pass (x) envelope-from=alice@example.com", `'@' not allowed`},
		{"colon in a value", " pass (x) mechanism=ip4:192.0.2.0/24", `':' not allowed`},
		{"unbalanced comment", " pass (x (y) client-ip=192.0.2.1", "unbalanced comment"},
		{"unescaped ) in a comment", " pass (a)) client-ip=192.0.2.1", "FWS expected"},
		{"8-bit byte in a quoted-string", " pass (x) helo=\"caf\xc3\xa9\"", "8-bit byte"},
		{"8-bit byte in a comment", " pass (caf\xe9) helo=x", "8-bit byte"},
		{"control byte", " pass (x) helo=\"a\x01b\"", "control byte"},
		{"missing result", " (x) client-ip=192.0.2.1", "a result"},
		{"unknown result", " hardfail (x) client-ip=192.0.2.1", "a result"},
		{"no FWS after the result", " pass(x) client-ip=192.0.2.1", "FWS expected"},
		{"no FWS after the comment", " pass (x)client-ip=192.0.2.1", "FWS expected"},
		{"result alone, no FWS", " pass", "FWS expected"},
		{"bare CR", " pass (x)\r client-ip=192.0.2.1", "CR without LF"},
		{"a line break that is not folding", " pass (x)\r\nX-Injected: yes", "not followed by white space"},
		{"unterminated quoted-string", ` pass (x) helo="abc`, "unterminated"},
		{"backslash at the end of a quoted-string", ` pass (x) helo="abc\`, "backslash"},
		{"unknown key", " pass (x) color=blue", "neither one of RFC 7208's"},
		{"key not a name", " pass (x) -x=1", "a key expected"},
		{"missing =", " pass (x) helo example.com", `"=" expected`},
		{"missing ; between pairs", " pass (x) helo=a.example client-ip=192.0.2.1", `";" expected`},
		{"empty value", " pass (x) helo=;", "a dot-atom or a quoted-string"},
		{"dot-atom with ..", " pass (x) helo=a..b", "a dot-atom or a quoted-string"},
		{"identity not a name", ` pass (x) identity="mail from"`, "identity"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseReceivedSPF(c.v)
			if err == nil {
				t.Fatalf("ParseReceivedSPF(%q) = %+v, want an error", c.v, got)
			}
			if !strings.Contains(err.Error(), c.why) {
				t.Errorf("ParseReceivedSPF(%q): %v, want one saying %q", c.v, err, c.why)
			}
		})
	}
}

func TestParseAuthResults(t *testing.T) {
	good := []struct {
		name, field string
		want        AuthResults
	}{
		{"maxwell's", "Authentication-Results: mx.example.org;\r\n\tspf=none (best guess neutral) smtp.mailfrom=alice@example.com;\r\n" +
			"\tspf=pass smtp.helo=mail.example.com;\r\n\tiprev=pass (mail.example.com) policy.iprev=\"2001:db8::25\"",
			AuthResults{"mx.example.org", []Method{
				{"spf", "none", "", map[string]string{"smtp.mailfrom": "alice@example.com"}},
				{"spf", "pass", "", map[string]string{"smtp.helo": "mail.example.com"}},
				{"iprev", "pass", "", map[string]string{"policy.iprev": "2001:db8::25"}}}}},
		{"quoted local part", `Authentication-Results: mx.example.org; spf=fail smtp.mailfrom="a\"b"@example.com`,
			AuthResults{"mx.example.org", []Method{{"spf", "fail", "", map[string]string{"smtp.mailfrom": `"a"b"@example.com`}}}}},
		{"quoted-pairs in a value", `Authentication-Results: mx.example.org; spf=fail smtp.helo="a\\b\"c"`,
			AuthResults{"mx.example.org", []Method{{"spf", "fail", "", map[string]string{"smtp.helo": `a\b"c`}}}}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAuthResults(c.field)
			if err != nil {
				t.Fatalf("%s: %v", c.field, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s\n= %+v\nwant %+v", c.field, got, c.want)
			}
		})
	}

	bad := []struct{ name, field, why string }{
		{"bare IPv6 address", "Authentication-Results: mx.example.org; iprev=pass policy.iprev=2001:db8::25", "python3-authres"},
		{"no resinfo", "Authentication-Results: mx.example.org", "python3-authres"},
		{"8-bit byte", "Authentication-Results: mx.example.org; spf=pass smtp.helo=\"caf\xc3\xa9\"", "python3-authres"},
		{"unbalanced comment", "Authentication-Results: mx.example.org; spf=pass (x smtp.helo=a.example", "python3-authres"},
		{"; in a quoted-string: go-msgauth splits there", `Authentication-Results: mx.example.org; spf=pass smtp.helo="a;b=c"`, "disagree"},
		{"space in a quoted-string: go-msgauth splits there", `Authentication-Results: mx.example.org; spf=pass smtp.helo="a b"`, "disagree"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAuthResults(c.field)
			if err == nil {
				t.Fatalf("%s = %+v, want an error", c.field, got)
			}
			if !strings.Contains(err.Error(), c.why) {
				t.Errorf("%s: %v, want one saying %q", c.field, err, c.why)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	msg := "Received-SPF: pass (mx.example.org: x) envelope-from=alice@example.com\r\n" +
		"Authentication-Results: mx.example.org; iprev=pass policy.iprev=2001:db8::25\r\n" +
		"Received: from x by y\r\n" +
		"Authentication-Results: other.example; broken\r\n" + // below Received: not maxwell's
		"Subject: hi\r\n\r\nbody\r\n"
	errs := Message(msg)
	if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), "Received-SPF:") || !strings.HasPrefix(errs[1].Error(), "Authentication-Results:") {
		t.Errorf("Message: %q, want one error for each field above Received", errs)
	}
	good := "Received-SPF: pass (mx.example.org: x) envelope-from=\"alice@example.com\"\r\n" +
		"Authentication-Results: mx.example.org; iprev=pass policy.iprev=\"2001:db8::25\"\r\n" +
		"Received: from x by y\r\n\r\n"
	if errs := Message(good); errs != nil {
		t.Errorf("Message: %q", errs)
	}
}
