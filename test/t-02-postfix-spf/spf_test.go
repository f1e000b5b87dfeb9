// Package postfixspf is end-to-end scenario t-02: SPF through a private
// Postfix with maxwell as its milter. A domain whose record does not list
// the client is refused at MAIL FROM with the explanation; a passing one
// is delivered with Received-SPF on top and Authentication-Results (a
// forged one claiming our name removed); a DNS server that never answers
// gets the client a 451. The replies carry the registered enhanced status
// codes (RFC 7372, RFC 7505, RFC 3463) through Postfix: a sender domain
// with a null MX is refused 550 5.7.27, MAIL FROM without HELO 503 5.5.1.
package postfixspf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/hdrcheck"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
delayed_reject = false

[greylist]
enabled = false  # t-03-postfix-greylist's subject
`

func TestPostfixSPF(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`strict.example. TXT "v=spf1 ip4:192.0.2.1 -all"`,
		"nullmx.example. MX 0 .",
		`nullmx.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	)
	st.DNS.Fail("slow.example", dnstest.Silent)

	t.Run("SPF fail is refused at MAIL FROM", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		r := c.Cmd("MAIL FROM:<bob@strict.example>")
		want := "5.7.23 SPF fail: strict.example does not designate 198.51.100.7 as a permitted sender\n" +
			"5.7.23 see https://www.open-spf.org/Why?s=mfrom&id=bob%40strict.example&ip=198.51.100.7&r=mx.example.org"
		if r.Code != 550 || r.Text != want {
			t.Errorf("MAIL FROM: %s\nwant 550 %s", r, want)
		}
	})

	t.Run("SPF pass is delivered with Received-SPF first", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s", cmd, r)
			}
		}
		r := c.Data("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=boss@example.org\r\n" +
			"Authentication-Results: other.example; dkim=pass header.d=sender.example\r\n" +
			"From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: SPF\r\n\r\nHello Bob.\r\n")
		if r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		m := st.Sink.Wait(t, 30*time.Second)
		head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
		first := "Received-SPF: pass (mx.example.org: domain of alice@sender.example designates 198.51.100.7 as permitted sender)\r\n"
		if !strings.HasPrefix(head, first) {
			t.Errorf("the message does not start with %q:\n%s", first, head)
		}
		for _, want := range []string{
			"\tclient-ip=198.51.100.7; envelope-from=\"alice@sender.example\";\r\n",
			"\r\nAuthentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=alice@sender.example;\r\n\tiprev=pass (mail.sender.example) policy.iprev=198.51.100.7;\r\n\tdmarc=none header.from=sender.example\r\n",
			"\r\nAuthentication-Results: other.example; dkim=pass header.d=sender.example\r\n",
		} {
			if !strings.Contains(head, want) {
				t.Errorf("the header lacks %q:\n%s", want, head)
			}
		}
		if strings.Contains(head, "boss@example.org") {
			t.Errorf("the forged Authentication-Results was delivered:\n%s", head)
		}
	})

	t.Run("a DNS server that never answers gets a 451", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		r := c.Cmd("MAIL FROM:<bob@slow.example>")
		if r.Code != 451 || !strings.HasPrefix(r.Text, "4.7.24 We cannot accept your email until the DNS server for slow.example") {
			t.Errorf("MAIL FROM: %s, want 451 4.7.24", r)
		}
	})

	t.Run("a sender domain with a null MX is refused at MAIL FROM", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		r := c.Cmd("MAIL FROM:<bob@nullmx.example>")
		if r.Code != 550 || r.Text != "5.7.27 Sender address has null MX" {
			t.Errorf("MAIL FROM: %s, want 550 5.7.27 Sender address has null MX", r)
		}
	})

	t.Run("MAIL FROM without HELO is a bad sequence", func(t *testing.T) {
		c := mtatest.DialSMTP(t, st.Postfix.Addr)
		if r := c.Cmd("EHLO test.client"); r.Code != 250 {
			t.Fatalf("EHLO: %s", r)
		}
		if r := c.Cmd("XCLIENT ADDR=198.51.100.7 NAME=[UNAVAILABLE]"); r.Code != 220 {
			t.Fatalf("XCLIENT: %s", r)
		}
		r := c.Cmd("MAIL FROM:<alice@sender.example>")
		if r.Code != 503 || r.Text != "5.5.1 It's polite to say HELO first." {
			t.Errorf("MAIL FROM: %s, want 503 5.5.1 It's polite to say HELO first.", r)
		}
	})

	for _, want := range []string{
		`event=decision tag=REJECT reason="null MX: nullmx.example" code=550 xcode=5.7.27`,
		`event=decision tag=REJECT reason="missing HELO" code=503 xcode=5.5.1`,
		`event=spf result=fail identity=mailfrom domain=strict.example mechanism=-all helo_result=none helo_guess=pass policy=REJECT`,
		`event=spf result=pass identity=mailfrom domain=sender.example mechanism=ip4:198.51.100.0/24 policy=OK`,
		`event=note reason="forged Authentication-Results removed"`,
		`event=spf result=temperror identity=mailfrom domain=slow.example problem=`,
		`event=decision tag=TEMPFAIL reason="SPF temperror: `,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}

// headersConfig lets every SPF result through (the access map's default
// for each is OK), so that each one's header fields reach the sink.
const headersConfig = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
delayed_reject = false
hostname = "mx.example.org"

[greylist]
enabled = false

[spf]
access_file = "ACCESS"
`

const headersAccess = `SPF-Fail: OK
SPF-Softfail: OK
SPF-Neutral: OK
SPF-None: OK
SPF-PermError: OK
SPF-TempError: OK
HELO-Fail: OK
HELO-Softfail: OK
HELO-Neutral: OK
HELO-None: OK
HELO-PermError: OK
HELO-TempError: OK
`

// Every result, the HELO identity, an IPv6 client and hostile HELO names
// and local parts: Received-SPF parses by the strict RFC 7208 §9.1
// grammar and Authentication-Results by go-msgauth and python3-authres
// alike (internal/hdrcheck), and what they say is what happened (issue 18
// items 3, 4, 7).
func TestPostfixSPFHeaders(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(access, []byte(headersAccess), 0o644); err != nil {
		t.Fatal(err)
	}
	st := mtatest.StartStack(t, strings.Replace(headersConfig, "ACCESS", access, 1), "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6.sender.example.",
		"v6.sender.example. AAAA 2001:db8::25",
		`pass.example. TXT "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 ip6:2001:db8::/32 -all"`,
		`fail.example. TXT "v=spf1 -all"`,
		`softfail.example. TXT "v=spf1 ~all"`,
		`neutral.example. TXT "v=spf1 ?all"`,
		"none.example. A 192.0.2.250",
		`permerror.example. TXT "v=spf1 frobnicate -all"`,
		`helo.example. TXT "v=spf1 ip4:198.51.100.7 ip6:2001:db8::25 -all"`,
	)
	st.DNS.Fail("temp.example", dnstest.Silent)

	const hostileHelo = "x;y=\"q\"(p)\\z\xc3\xa9.example"
	for _, c := range []struct {
		name, ip, helo, from string
		result               string            // the spf result for the MAIL FROM (HELO for the null sender)
		rspf                 map[string]string // Received-SPF key-value pairs
		props                map[string]string // the first spf result's properties
		heloSPF              string            // the second spf result (smtp.helo), if any: "result value"
		iprev                string
	}{
		{"pass", "198.51.100.7", "mail.sender.example", "alice@pass.example", "pass",
			map[string]string{"envelope-from": "alice@pass.example", "client-ip": "198.51.100.7", "identity": "mailfrom", "helo": "mail.sender.example"},
			map[string]string{"smtp.mailfrom": "alice@pass.example"}, "", "pass"},
		{"fail, HELO without a record", "198.51.100.7", "mail.sender.example", "bob@fail.example", "fail",
			map[string]string{"mechanism": "-all", "x-helo-spf": "none", "x-helo-bestguess": "pass"},
			map[string]string{"smtp.mailfrom": "bob@fail.example"}, "none mail.sender.example", "pass"},
		{"softfail", "198.51.100.7", "helo.example", "bob@softfail.example", "softfail",
			map[string]string{"mechanism": "~all", "x-helo-spf": "pass"},
			map[string]string{"smtp.mailfrom": "bob@softfail.example"}, "pass helo.example", "pass"},
		{"neutral", "198.51.100.7", "helo.example", "bob@neutral.example", "neutral",
			map[string]string{"mechanism": "?all"}, map[string]string{"smtp.mailfrom": "bob@neutral.example"}, "pass helo.example", "pass"},
		{"none", "198.51.100.7", "helo.example", "bob@none.example", "none",
			map[string]string{"envelope-from": "bob@none.example"}, map[string]string{"smtp.mailfrom": "bob@none.example"}, "pass helo.example", "pass"},
		{"temperror", "198.51.100.7", "helo.example", "bob@temp.example", "temperror",
			map[string]string{"envelope-from": "bob@temp.example"}, map[string]string{"smtp.mailfrom": "bob@temp.example"}, "pass helo.example", "pass"},
		{"permerror", "198.51.100.7", "helo.example", "bob@permerror.example", "permerror",
			map[string]string{"envelope-from": "bob@permerror.example"}, map[string]string{"smtp.mailfrom": "bob@permerror.example"}, "pass helo.example", "pass"},
		{"HELO identity, null sender", "198.51.100.7", "helo.example", "", "pass",
			map[string]string{"identity": "helo", "envelope-from": "", "helo": "helo.example"},
			map[string]string{"smtp.helo": "helo.example"}, "", "pass"},
		{"IPv6 client", "IPV6:2001:db8::25", "helo.example", "alice@pass.example", "pass",
			map[string]string{"client-ip": "2001:db8::25"}, map[string]string{"smtp.mailfrom": "alice@pass.example"}, "", "pass"},
		{"no PTR record", "203.0.113.9", "helo.example", "alice@pass.example", "pass",
			nil, map[string]string{"smtp.mailfrom": "alice@pass.example"}, "", "permerror"},
		{"hostile HELO", "198.51.100.7", hostileHelo, "bob@neutral.example", "neutral",
			map[string]string{"helo": "x;y=\"q\"(p)\\z??.example"},
			map[string]string{"smtp.mailfrom": "bob@neutral.example"}, "none x?y=\"q\"?p?\\z??.example", "pass"},
		{"hostile local part", "198.51.100.7", "helo.example", "\"a;b (c)\\\\\\\"d\"@pass.example", "pass",
			map[string]string{"envelope-from": "\"a;b (c)\\\\\\\"d\"@pass.example"},
			map[string]string{"smtp.mailfrom": "\"a?b??c?\\\\\\\"d\"@pass.example"}, "", "pass"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, r := mtatest.Session(t, st.Postfix.Addr, c.ip, c.helo)
			if r.Code != 250 {
				t.Fatalf("EHLO %q: %s", c.helo, r)
			}
			for _, cmd := range []string{"MAIL FROM:<" + c.from + ">", "RCPT TO:<bob@example.org>"} {
				if r := cl.Cmd("%s", cmd); r.Code != 250 {
					t.Fatalf("%s: %s", cmd, r)
				}
			}
			if r := cl.Data("From: <x@example.net>\r\nSubject: headers\r\n\r\nHello.\r\n"); r.Code != 250 {
				t.Fatalf("end of data: %s", r)
			}
			m := st.Sink.Wait(t, 30*time.Second)
			fields, err := hdrcheck.TopFields(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			var rspf, ar []hdrcheck.Field
			for _, f := range fields {
				switch f.Name {
				case "Received-SPF":
					rspf = append(rspf, f)
				case "Authentication-Results":
					ar = append(ar, f)
				}
			}
			if len(rspf) != 1 || len(ar) != 1 {
				t.Fatalf("%d Received-SPF and %d Authentication-Results fields on top, want one each:\n%s", len(rspf), len(ar), m.Data)
			}
			got, err := hdrcheck.ParseReceivedSPF(rspf[0].Value)
			if err != nil {
				t.Fatalf("%s\n%v", rspf[0], err)
			}
			if got.Result != c.result {
				t.Errorf("Received-SPF result %q, want %q:\n%s", got.Result, c.result, rspf[0])
			}
			for k, want := range c.rspf {
				if v, ok := got.Get(k); !ok || v != want {
					t.Errorf("Received-SPF %s=%q (present: %v), want %q:\n%s", k, v, ok, want, rspf[0])
				}
			}
			a, err := hdrcheck.ParseAuthResults(ar[0].String())
			if err != nil {
				t.Fatalf("%s\n%v", ar[0], err)
			}
			var spfs []hdrcheck.Method
			for _, res := range a.Results {
				if res.Method == "spf" {
					spfs = append(spfs, res)
				}
			}
			if a.AuthservID != "mx.example.org" || len(spfs) == 0 {
				t.Fatalf("authserv-id %q, %d spf results:\n%s", a.AuthservID, len(spfs), ar[0])
			}
			if spfs[0].Result != c.result || !reflect.DeepEqual(spfs[0].Props, c.props) {
				t.Errorf("spf=%s %v, want spf=%s %v:\n%s", spfs[0].Result, spfs[0].Props, c.result, c.props, ar[0])
			}
			switch {
			case c.heloSPF == "" && len(spfs) > 1:
				t.Errorf("a second spf result, want none:\n%s", ar[0])
			case c.heloSPF != "":
				res, val, _ := strings.Cut(c.heloSPF, " ")
				if len(spfs) != 2 || spfs[1].Result != res || spfs[1].Props["smtp.helo"] != val {
					t.Errorf("spf results %+v, want a second one spf=%s smtp.helo=%s:\n%s", spfs, res, val, ar[0])
				}
			}
			if ipr, ok := a.Get("iprev"); !ok || ipr.Result != c.iprev || ipr.Props["policy.iprev"] != strings.TrimPrefix(c.ip, "IPV6:") {
				t.Errorf("iprev %+v, want %s policy.iprev=%s:\n%s", ipr, c.iprev, strings.TrimPrefix(c.ip, "IPV6:"), ar[0])
			}
		})
	}
	if n := st.Sink.Checked(); n < 12 {
		t.Errorf("the sink checked %d messages, want every one of the 12", n)
	}
}
