package policy_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/smtptest"
	"github.com/maxwell-milter/maxwell/policy"
)

// The zone of the status code tests: a client for each reverse DNS
// case, and a sender domain for each SPF result and for null MX.
var codesZone = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
	"8.100.51.198.in-addr.arpa. PTR localhost.",
	"9.100.51.198.in-addr.arpa. PTR .",
	`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	`fail.example. TXT "v=spf1 ip4:192.0.2.200 -all"`,
	`rsoft.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`,
	`rneutral.example. TXT "v=spf1 ip4:192.0.2.200 ?all"`,
	`neutral.example. TXT "v=spf1 ?all"`,
	`perm.example. TXT "v=spf1 ip4:192.0.2.200 frobnicate -all"`,
	`tperm.example. TXT "v=spf1 ip4:192.0.2.200 frobnicate -all"`,
	`noinc.example. TXT "v=spf1 include:missing.example -all"`,
	"missing.example. A 192.0.2.1", // exists, publishes no SPF record
	`banned.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
	`helo-fail.example. TXT "v=spf1 -all"`,
	`helo-neutral.example. TXT "v=spf1 ?all"`,
	`helo-perm.example. TXT "v=spf1 frobnicate -all"`,
	"nothing.example. A 192.0.2.250", // no SPF record: three strikes territory
	// Null MX (RFC 7505), with an SPF record that passes the client and
	// without any.
	"nullmx.example. MX 0 .",
	`nullmx.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
	"nullmx-nospf.example. MX 0 .",
	// A "." among real hosts is no null MX.
	"halfnull.example. MX 0 .",
	"halfnull.example. MX 10 mx.halfnull.example.",
	"mx.halfnull.example. A 192.0.2.9",
	`halfnull.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
}

const codesConfig = `
[milter]
internal_domains = ["example.org"]
internal_connect = ["192.0.2.0/24"]
hostname = "mx.example.org"
LEGACY
[greylist]
enabled = false
[dns]
timeout = "200ms"
attempts = 1
[spf]
reject_neutral = ["rneutral.example", "rsoft.example"]
reject_noptr = true
access_file = ACCESS
`

// newCodesEnv builds the engine of the status code tests, with
// [milter] legacy_status_codes set to legacy.
func newCodesEnv(t *testing.T, legacy bool) *enginetest.Env {
	access := filepath.Join(t.TempDir(), "access")
	os.WriteFile(access, []byte(`SPF-PermError:tperm.example TEMPFAIL
SPF-Pass:banned.example REJECT
HELO-PermError:helo-perm.example REJECT
`), 0o644)
	conf := strings.NewReplacer("LEGACY", fmt.Sprintf("legacy_status_codes = %v", legacy),
		"ACCESS", fmt.Sprintf("%q", access)).Replace(codesConfig)
	env := enginetest.New(t, conf, codesZone...)
	env.DNS.Fail("temp.example", dnstest.Silent)
	return env
}

// codeCase is a transaction and the reply it gets, with the registered
// codes and with [milter] legacy_status_codes.
type codeCase struct {
	name   string
	tx     policy.Transaction
	stage  string // where it is refused (delayed refusals: data)
	text   string // a piece of the reply text, the same in both
	code   int
	xcode  string
	lcode  int    // with legacy_status_codes; 0: accepted
	lxcode string // with legacy_status_codes
}

const (
	codesGood = "198.51.100.7" // mail.sender.example, forward-confirmed
	codesDyn  = "203.0.113.9"  // no PTR
)

var codeCases = []codeCase{
	// Reverse DNS (RFC 7372 X.7.25).
	{"PTR localhost", tx("198.51.100.8", "host.example", "a@sender.example", "Hi"), "data",
		`"localhost" is not a reasonable PTR name`, 550, "5.7.25", 550, "5.7.1"},
	{"PTR root", tx("198.51.100.9", "host.example", "a@sender.example", "Hi"), "data",
		`"." is not a reasonable PTR name`, 550, "5.7.25", 550, "5.7.1"},
	{"three strikes (reject_noptr)", tx(codesDyn, "x.example", "bob@nothing.example", "Hi"), "data",
		"Your mail server has no valid PTR name", 550, "5.7.25", 550, "5.7.1"},

	// SPF (RFC 7372 X.7.23, X.7.24).
	{"SPF fail", tx(codesGood, "mail.sender.example", "bob@fail.example", "Hi"), "data",
		"SPF fail: fail.example does not designate 198.51.100.7 as a permitted sender", 550, "5.7.23", 550, "5.7.1"},
	{"SPF softfail refused (reject_neutral)", tx(codesGood, "mail.sender.example", "bob@rsoft.example", "Hi"), "data",
		"SPF softfail: If you get this Delivery Status Notice", 550, "5.7.23", 550, "5.7.1"},
	{"SPF neutral refused (reject_neutral)", tx(codesGood, "mail.sender.example", "bob@rneutral.example", "Hi"), "data",
		"mail from rneutral.example must pass SPF", 550, "5.7.23", 550, "5.7.1"},
	{"HELO SPF fail", tx(codesDyn, "helo-fail.example", "bob@neutral.example", "Hi"), "data",
		"hello SPF fail: helo-fail.example does not designate 203.0.113.9", 550, "5.7.23", 550, "5.7.1"},
	{"HELO SPF neutral", tx(codesDyn, "helo-neutral.example", "bob@neutral.example", "Hi"), "data",
		"hello SPF neutral: helo-neutral.example does not designate", 550, "5.7.23", 550, "5.7.1"},
	{"HELO SPF permerror refused (access map)", tx(codesDyn, "helo-perm.example", "bob@neutral.example", "Hi"), "data",
		"hello SPF permerror", 550, "5.7.24", 550, "5.7.1"},
	{"null sender, failing HELO", tx(codesDyn, "helo-fail.example", "", "Hi"), "data",
		"SPF fail: helo-fail.example does not designate", 550, "5.7.23", 550, "5.7.1"},
	{"SPF permerror", tx(codesGood, "mail.sender.example", "bob@perm.example", "Hi"), "data",
		`SPF permerror: syntax error in the SPF record of perm.example: "frobnicate": unknown mechanism`, 550, "5.7.24", 550, "5.5.2"},
	{"SPF permerror: an include without a record", tx(codesGood, "mail.sender.example", "bob@noinc.example", "Hi"), "data",
		"SPF permerror: include:missing.example in the SPF record of noinc.example: missing.example publishes no SPF record", 550, "5.7.24", 550, "5.5.2"},
	{"SPF permerror, access map TEMPFAIL", tx(codesGood, "mail.sender.example", "bob@tperm.example", "Hi"), "data",
		"There is an error in the SPF record for tperm.example", 451, "4.7.24", 451, "4.5.2"},
	{"SPF temperror", tx(codesGood, "mail.sender.example", "bob@temp.example", "Hi"), "data",
		"We cannot accept your email until the DNS server for temp.example", 451, "4.7.24", 451, "4.4.3"},

	// Null MX (RFC 7505 §4.2 X.7.27): refused even with an SPF pass;
	// not refused at all with the legacy codes (no call-backs here).
	{"sender domain with null MX", tx(codesGood, "mail.sender.example", "bob@nullmx.example", "Hi"), "data",
		"Sender address has null MX", 550, "5.7.27", 0, ""},
	{"sender domain with null MX, no SPF record", tx(codesGood, "mail.sender.example", "bob@nullmx-nospf.example", "Hi"), "data",
		"Sender address has null MX", 550, "5.7.27", 0, ""},

	// Missing HELO (RFC 5321 bad sequence, RFC 3463 X.5.1).
	{"missing HELO", tx(codesGood, "", "bob@sender.example", "Hi"), "mail from",
		"It's polite to say HELO first.", 503, "5.5.1", 550, "5.7.1"},

	// Not changed: the same in both.
	{"numeric HELO", tx(codesGood, "198.51.100.7", "bob@sender.example", "Hi"), "helo",
		"hello name cannot be numeric ip", 550, "5.7.1", 550, "5.7.1"},
	{"SPF pass refused by the access map", tx(codesGood, "mail.sender.example", "x@banned.example", "Hi"), "mail from",
		"We don't accept mail from banned.example", 550, "5.7.1", 550, "5.7.1"},
	{"our own domain without SPF", tx(codesGood, "mail.sender.example", "boss@example.org", "Hi"), "data",
		"I hate talking to myself!", 550, "5.7.1", 550, "5.7.1"},
}

// Every refusal with a registered code gets it; legacy_status_codes
// gives the codes of before.
func TestStatusCodes(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		env := newCodesEnv(t, legacy)
		for _, c := range codeCases {
			t.Run(fmt.Sprintf("legacy=%v/%s", legacy, c.name), func(t *testing.T) {
				before := len(env.Log.String())
				out := env.Engine.Run(c.tx)
				d := out.Final
				code, xcode, stage := c.code, c.xcode, c.stage
				if legacy {
					code, xcode = c.lcode, c.lxcode
				}
				if code == 0 {
					if d.Action != policy.Accept {
						t.Errorf("%s %q; want accepted\n%s", d.Action, d.Reply(), env.Log.String()[before:])
					}
					return
				}
				last := out.Stages[len(out.Stages)-1].Stage
				reply := d.Reply()
				if last != stage || d.Code != code || d.XCode != xcode || !strings.Contains(reply, c.text) {
					t.Errorf("at %s: %q\nwant at %s: %d %s …%s…\n%s", last, reply, stage, code, xcode, c.text, env.Log.String()[before:])
				}
				for _, line := range strings.Split(reply, "\n") {
					if !strings.HasPrefix(line, fmt.Sprintf("%d %s ", code, xcode)) {
						t.Errorf("reply line %q lacks its codes", line)
					}
				}
				if log := env.Log.String()[before:]; !strings.Contains(log, fmt.Sprintf(" code=%d xcode=%s ", code, xcode)) {
					t.Errorf("mail log lacks code=%d xcode=%s:\n%s", code, xcode, log)
				}
			})
		}
	}
}

// A permerror says what the error was, not "fatal syntax error" for
// every one of them.
func TestPermErrorSaysWhat(t *testing.T) {
	env := newCodesEnv(t, false)
	for _, c := range []struct{ sender, want string }{
		{"bob@noinc.example", "SPF permerror: include:missing.example in the SPF record of noinc.example: missing.example publishes no SPF record"},
		{"bob@perm.example", `SPF permerror: syntax error in the SPF record of perm.example: "frobnicate": unknown mechanism`},
	} {
		d := env.Engine.Run(tx(codesGood, "mail.sender.example", c.sender, "Hi")).Final
		text := strings.Join(d.Text, "\n")
		if !strings.HasPrefix(text, c.want) || strings.Contains(text, "fatal syntax error") {
			t.Errorf("%s: %q, want it to start %q and not to speak of a fatal syntax error", c.sender, text, c.want)
		}
		if c.sender == "bob@noinc.example" && !strings.Contains(d.Text[0], "missing.example") {
			t.Errorf("%s: %q does not name the include", c.sender, d.Text[0])
		}
	}
}

// A null MX does not refuse mail from clients maxwell does not judge:
// local, authenticated; nor a "." among real MX hosts.
func TestNullMXSpares(t *testing.T) {
	env := newCodesEnv(t, false)
	for _, tr := range []policy.Transaction{
		tx("", "localhost", "bob@nullmx.example", "Hi"), // a local connection
		withAuth(tx(codesGood, "mail.sender.example", "bob@nullmx.example", "Hi"), "bob"),
		tx(codesGood, "mail.sender.example", "bob@halfnull.example", "Hi"), // not a null MX
		tx(codesGood, "mail.sender.example", "", "Hi"),                     // null sender
	} {
		if d := env.Engine.Run(tr).Final; d.Action != policy.Accept {
			t.Errorf("%+v: %s %q", tr.Mail, d.Action, d.Reply())
		}
	}
}

// The call-back path: a sender domain whose null MX the MAIL FROM did
// not see (its DNS did not answer then; the SPF policy asked for a
// call-back instead) is refused when the call-back finds it: 550
// 5.7.27, or with the legacy codes 450 4.2.0 as a call-back without an
// answer.
func TestNullMXCallback(t *testing.T) {
	for _, tt := range []struct {
		legacy bool
		reply  string
		status string
	}{
		{false, "550 5.7.27 Sender address has null MX", "status=nullmx"},
		{true, "450 4.2.0 No MX servers available", "status=nullmx"},
	} {
		t.Run(fmt.Sprintf("legacy=%v", tt.legacy), func(t *testing.T) {
			dir := t.TempDir()
			mx := smtptest.Start(t, "mx.nothing.example")
			access := filepath.Join(dir, "access")
			os.WriteFile(access, []byte("SPF-TempError:flaky.example CBV\n"), 0o644)
			env := enginetest.New(t, fmt.Sprintf(`
[milter]
hostname = "mx.example.org"
legacy_status_codes = %v
[greylist]
enabled = false
[spf]
access_file = %q
[cbv]
allow_private_mx = true
port = %d
connect_timeout = "1s"
command_timeout = "2s"
[dns]
timeout = "200ms"
attempts = 1
`, tt.legacy, access, mx.Port),
				"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
				"mail.sender.example. A 198.51.100.7",
				"flaky.example. MX 0 .",
			)
			env.Engine.EnableCallbacks()
			env.DNS.Fail("flaky.example", dnstest.ServFail)

			s := env.Engine.NewSession()
			defer s.Close()
			steps := []func() policy.Decision{
				func() policy.Decision { return s.Connect(policy.ConnInfo{IP: netip.MustParseAddr(codesGood)}) },
				func() policy.Decision { return s.Hello("mail.sender.example") },
				func() policy.Decision { return s.MailFrom(policy.MailInfo{Sender: "joe@flaky.example"}) },
				func() policy.Decision { return s.RcptTo("bob@example.org", "") },
				func() policy.Decision {
					env.DNS.Fail("flaky.example", 0) // the DNS answers again
					return s.Data()
				},
				func() policy.Decision { s.Header("Subject", "Hi"); return s.EndOfHeaders() },
			}
			for i, step := range steps {
				if d := step(); d.Action != policy.Continue {
					t.Fatalf("step %d: %s %q\n%s", i, d.Action, d.Reply(), env.Log)
				}
			}
			d := s.EndOfMessage()
			if d.Reply() != tt.reply {
				t.Errorf("end of message: %s %q, want %q\n%s", d.Action, d.Reply(), tt.reply, env.Log)
			}
			if !strings.Contains(env.Log.String(), tt.status) {
				t.Errorf("mail log lacks %q:\n%s", tt.status, env.Log)
			}
			if mx.Connections.Load() != 0 {
				t.Error("a call-back connected to a mail server of a domain with null MX")
			}
		})
	}
}
