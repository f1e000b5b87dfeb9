package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/spf"
)

// The clients of the SPF tests: one with a good PTR name, one without
// any (DYN), one whose PTR name looks dynamic.
const (
	goodIP = "198.51.100.7"  // mail.sender.example
	dynIP  = "203.0.113.9"   // no PTR
	dslIP  = "203.0.113.20"  // dsl-203-0-113-20.isp.example
	fwdIP  = "198.51.100.60" // the trusted forwarder's server
)

var spfZone = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
	"20.113.0.203.in-addr.arpa. PTR dsl-203-0-113-20.isp.example.",
	"dsl-203-0-113-20.isp.example. A 203.0.113.20",
	`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	`fail.example. TXT "v=spf1 ip4:192.0.2.200 -all"`,
	`sub.fail.example. TXT "v=spf1 -all"`,
	`soft.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`,
	`neutral.example. TXT "v=spf1 ip4:192.0.2.200 ?all"`,
	`perm.example. TXT "v=spf1 ip4:192.0.2.200 frobnicate -all"`,
	`both.example. TXT "v=spf1 -all"`,
	`both.example. TXT "v=spf1 +all"`,
	`inc.example. TXT "v=spf1 include:sender.example -all"`,
	// No records: best guess territory.
	"guess.example. A 198.51.100.99", // within the /24 of goodIP
	"guessmx.example. MX 10 mx.guessmx.example.",
	"mx.guessmx.example. A 203.0.113.77", // within the /24 of dynIP
	"nothing.example. A 192.0.2.250",
	"isp.example. A 192.0.2.251",
	// HELO names.
	`helo-pass.example. TXT "v=spf1 ip4:203.0.113.9 -all"`,
	`helo-fail.example. TXT "v=spf1 -all"`,
	`helo-neutral.example. TXT "v=spf1 ?all"`,
	"near.example. A 203.0.113.200",                                    // same /24 as dynIP, no record
	`nothing.example.local.example. TXT "v=spf1 ip4:203.0.113.9 -all"`, // delegate: ignored (wrong name)
	`delegated.example._spf.local.example. TXT "v=spf1 ip4:203.0.113.9 -all"`,
	"delegated.example. A 192.0.2.252",
	`fwd.example. TXT "v=spf1 ip4:198.51.100.60 -all"`,
	`banned.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
	`example.org. TXT "v=spf1 ip4:198.51.100.50 -all"`,
}

const spfConfig = `
[milter]
internal_domains = ["example.org", "example.net"]
hostname = "mx.example.org"
[dns]
timeout = "200ms"
attempts = 1
[spf]
delegate = "local.example"
trusted_forwarder = ["fwd.example"]
reject_neutral = ["rneutral.example"]
accept_softfail = ["asoft.example"]
accept_fail = ["afail.example"]
EXTRA
`

func newSPFEnv(t *testing.T, extra string) *enginetest.Env {
	env := enginetest.New(t, strings.Replace(spfConfig, "EXTRA", extra, 1), spfZone...)
	env.DNS.Add(
		`rneutral.example. TXT "v=spf1 ip4:192.0.2.200 ?all"`,
		`rsoft.rneutral.example. TXT "v=spf1 ~all"`,
		`asoft.example. TXT "v=spf1 ~all"`,
		`afail.example. TXT "v=spf1 -all"`,
	)
	env.DNS.Fail("temp.example", dnstest.Silent)
	return env
}

// spfCase is a message from ip with helo and sender, and what should
// become of it.
type spfCase struct {
	name             string
	ip, helo, sender string
	want             want
	log              string // a piece of the mail log
}

func runSPFCases(t *testing.T, env *enginetest.Env, cases []spfCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(env.Log.String())
			out := env.Engine.Run(tx(c.ip, c.helo, c.sender, "Hello"))
			checkOutcome(t, out, c.want)
			if log := env.Log.String()[before:]; !strings.Contains(log, c.log) {
				t.Errorf("mail log lacks %q:\n%s", c.log, log)
			}
		})
	}
}

var callback = accepted // accepted, with a call-back pending

func TestSPFPolicy(t *testing.T) {
	runSPFCases(t, newSPFEnv(t, ""), []spfCase{
		{"pass", goodIP, "mail.sender.example", "alice@sender.example", accepted,
			"event=spf result=pass identity=mailfrom domain=sender.example mechanism=ip4:198.51.100.0/24 policy=OK"},
		{"pass through an include", goodIP, "mail.sender.example", "alice@inc.example", accepted,
			"mechanism=include:sender.example"},
		{"fail is refused at DATA, with the why link", goodIP, "mail.sender.example", "bob@fail.example",
			want{"data", policy.Reject, 550, "see https://www.open-spf.org/Why?s=mfrom&id=bob%40fail.example&ip=198.51.100.7&r=mx.example.org"},
			`reason="SPF fail: -all"`},
		{"softfail gets a call-back", goodIP, "mail.sender.example", "bob@soft.example", callback,
			"event=cbv tag=CBV status=pending policy=CBV sender=bob@soft.example template=softfail"},
		{"neutral is accepted", goodIP, "mail.sender.example", "bob@neutral.example", accepted,
			"result=neutral identity=mailfrom domain=neutral.example mechanism=?all"},
		{"permerror names the problem", goodIP, "mail.sender.example", "bob@perm.example",
			want{"data", policy.Reject, 550, `unknown mechanism "frobnicate"`}, "xcode=5.7.24"},
		{"two records are a permerror", goodIP, "mail.sender.example", "bob@both.example",
			want{"data", policy.Reject, 550, "both.example publishes more than one SPF record"}, "result=permerror"},
		{"temperror", goodIP, "mail.sender.example", "bob@temp.example",
			want{"data", policy.Tempfail, 451, "until the DNS server for temp.example"}, "xcode=4.7.24"},
		{"reject_neutral refuses neutral", goodIP, "mail.sender.example", "bob@rneutral.example",
			want{"data", policy.Reject, 550, "rneutral.example domain is one that spammers love to forge"}, "policy=REJECT"},
		{"reject_neutral refuses softfail of subdomains? no: exact patterns", goodIP, "mail.sender.example", "bob@rsoft.rneutral.example", callback,
			"policy=CBV"},
		{"accept_softfail", goodIP, "mail.sender.example", "bob@asoft.example", accepted, "result=softfail identity=mailfrom domain=asoft.example mechanism=~all helo_result=none helo_guess=pass policy=OK"},
		{"accept_fail calls back instead", goodIP, "mail.sender.example", "bob@afail.example", callback, "template=fail"},
		{"null sender: the HELO identity", goodIP, "mail.sender.example", "", accepted,
			"result=none identity=helo domain=mail.sender.example guess=pass"},
		{"null sender from a failing HELO", dynIP, "helo-fail.example", "",
			want{"data", policy.Reject, 550, "SPF fail"}, "identity=helo domain=helo-fail.example"},

		{"HELO fail refused when MAIL FROM does not pass", dynIP, "helo-fail.example", "bob@neutral.example",
			want{"data", policy.Reject, 550, "The hostname given in your MTA's HELO response is not listed"}, `reason="hello SPF: fail"`},
		{"HELO neutral refused too", dynIP, "helo-neutral.example", "bob@neutral.example",
			want{"data", policy.Reject, 550, "hello SPF neutral"}, `reason="hello SPF: neutral"`},
		{"HELO fail does not matter when MAIL FROM passes", goodIP, "helo-fail.example", "alice@sender.example", accepted, "result=pass"},

		{"external use of our domain without SPF", goodIP, "mail.sender.example", "boss@example.net",
			want{"data", policy.Reject, 550, "I hate talking to myself!"}, `reason="spam from self: example.net"`},
		{"our domain with its SPF: the SPF result decides", goodIP, "mail.sender.example", "boss@example.org",
			want{"data", policy.Reject, 550, "SPF fail"}, "domain=example.org"},

		{"trusted forwarder skips the MAIL FROM", fwdIP, "relay.fwd.example", "bob@fail.example", accepted,
			"tag=TRUSTED_FORWARDER forwarder=fwd.example"},
		{"delegate record", dynIP, "x.example", "bob@delegated.example", accepted,
			"result=pass identity=mailfrom domain=delegated.example mechanism=ip4:203.0.113.9 delegated=true"},
	})
}

// Three strikes: no good PTR, no SPF record (not even a guessed pass),
// and a HELO that is not validated. Each identity, validated in turn,
// spares the message.
func TestThreeStrikes(t *testing.T) {
	cases := []spfCase{
		{"all three missing: call-back", dynIP, "x.example", "bob@nothing.example", callback,
			"template=strike3"},
		{"PTR confirmed and not dynamic", goodIP, "x.example", "bob@nothing.example", accepted, "result=none"},
		{"the domain publishes a passing record", dynIP, "x.example", "bob@helo-pass.example", accepted, "result=pass"},
		{"best guess passes: MX within /24", dynIP, "x.example", "bob@guessmx.example", accepted, "guess=pass"},
		{"HELO passes SPF", dynIP, "helo-pass.example", "bob@nothing.example", accepted, "helo_result=pass"},
		{"HELO address within /24", dynIP, "near.example", "bob@nothing.example", accepted, "helo_result=none helo_guess=neutral"},
		{"a dynamic-looking HELO does not count", dslIP, "dsl-203-0-113-20.isp.example", "bob@nothing.example", callback, "template=strike3"},
	}
	runSPFCases(t, newSPFEnv(t, ""), cases)

	t.Run("reject_noptr", func(t *testing.T) {
		runSPFCases(t, newSPFEnv(t, "reject_noptr = true"), []spfCase{
			{"refused", dynIP, "x.example", "bob@nothing.example",
				want{"data", policy.Reject, 550, "nothing tells us that 203.0.113.9 may send mail for nothing.example"},
				`reason="no PTR, HELO or SPF"`},
			{"a valid HELO spares it", dynIP, "helo-pass.example", "bob@nothing.example", accepted, "policy=OK"},
		})
	})
}

// The best guess includes ptr only for clients whose PTR is good.
func TestBestGuess(t *testing.T) {
	runSPFCases(t, newSPFEnv(t, ""), []spfCase{
		{"A within /24", goodIP, "mail.sender.example", "bob@guess.example", accepted, "result=none identity=mailfrom domain=guess.example guess=pass"},
		{"ptr: the client's name is in the domain", goodIP, "mail.sender.example", "bob@mail.sender.example", accepted, "guess=pass"},
		{"no ptr for a dynamic PTR", dslIP, "x.example", "bob@isp.example", accepted, "result=none identity=mailfrom domain=isp.example guess=neutral"},
		{"a HELO within the sender's domain that passes", dynIP, "mail.helo-pass.example", "bob@helo-pass.example", accepted, "result=pass"},
	})
	runSPFCases(t, newSPFEnv(t, "best_guess = false"), []spfCase{
		{"off", goodIP, "mail.sender.example", "bob@guess.example", accepted, "result=none identity=mailfrom domain=guess.example helo_result=none policy=OK"},
	})
}

func TestAccessMap(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access")
	os.WriteFile(access, []byte(`# sendmail's own entries are ignored
Connect:192.0.2.1 RELAY
SPF-Neutral:neutral.example REJECT
SPF-Softfail:bob@soft.example OK
SPF-Softfail: DSN
SPF-Fail:.fail.example CBV
HELO-Fail:helo-fail.example OK
SPF-Pass:sender.example WHITELIST
spf-none: reject
SPF-Pass:banned.example REJECT
SPF-PermError:perm.example TEMPFAIL
SPF-TempError:temp.example OK
HELO-Neutral:helo-neutral.example BAN
`), 0o644)
	runSPFCases(t, newSPFEnv(t, `access_file = "`+access+`"`), []spfCase{
		{"per-domain neutral", goodIP, "mail.sender.example", "x@neutral.example",
			want{"data", policy.Reject, 550, "must pass SPF"}, "policy=REJECT"},
		{"per-user softfail", goodIP, "mail.sender.example", "bob@soft.example", accepted, "policy=OK"},
		{"default softfail", goodIP, "mail.sender.example", "carol@soft.example", callback, "policy=DSN sender=carol@soft.example template=softfail"},
		{"parent domain", goodIP, "mail.sender.example", "x@sub.fail.example", callback, "result=fail identity=mailfrom domain=sub.fail.example mechanism=-all helo_result=none helo_guess=pass policy=CBV"},
		{"not the domain itself", goodIP, "mail.sender.example", "x@fail.example", want{"data", policy.Reject, 550, "SPF fail"}, "policy=REJECT"},
		{"per-domain HELO entry", dynIP, "helo-fail.example", "bob@neutral.example",
			want{"data", policy.Reject, 550, "must pass SPF"}, "helo_result=fail policy=REJECT"},
		{"whitelist", goodIP, "mail.sender.example", "alice@sender.example", accepted, "policy=WHITELIST"},
		{"none policy for three strikes", dynIP, "x.example", "bob@nothing.example",
			want{"data", policy.Reject, 550, "no valid PTR"}, "policy=REJECT"},
		{"pass refused", goodIP, "mail.sender.example", "x@banned.example",
			want{"mail from", policy.Reject, 550, "We don't accept mail from banned.example"}, `reason="SPF pass for x@banned.example"`},
		{"TEMPFAIL turns a refusal into 451", goodIP, "mail.sender.example", "x@perm.example",
			want{"data", policy.Tempfail, 451, "There is an error in the SPF record for perm.example"}, "xcode=4.7.24"},
		{"temperror let through", goodIP, "mail.sender.example", "x@temp.example", accepted, "result=temperror"},
		{"BAN refuses", dynIP, "helo-neutral.example", "bob@neutral.example",
			want{"data", policy.Reject, 550, "hello SPF neutral"}, "policy=BAN"},
	})
}

func TestAccessMapLookupOrder(t *testing.T) {
	m, err := spf.ParseAccessMap("test", strings.NewReader(`
SPF-Fail:bob@a.b.example OK
SPF-Fail:a.b.example CBV
SPF-Fail:.b.example DSN
SPF-Fail:.example TEMPFAIL
SPF-Fail: REJECT
HELO-Neutral:.Example.COM WHITELIST
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ prefix, who, want string }{
		{"spf-fail", "bob@a.b.example", "OK"},
		{"SPF-FAIL", "BOB@A.B.EXAMPLE", "OK"},
		{"spf-fail", "carol@a.b.example", "CBV"},
		{"spf-fail", "carol@c.a.b.example", "DSN"},
		{"spf-fail", "carol@b.example", "TEMPFAIL"},
		{"spf-fail", "carol@other.test", "REJECT"},
		{"helo-neutral", "mail.example.com", "WHITELIST"},
		{"helo-neutral", "example.com", ""},
		{"spf-softfail", "bob@a.b.example", ""},
	} {
		got, _ := m.Lookup(c.prefix, c.who)
		if string(got) != c.want {
			t.Errorf("Lookup(%s, %s) = %q, want %q", c.prefix, c.who, got, c.want)
		}
	}
}

func TestAccessMapErrors(t *testing.T) {
	for _, text := range []string{"SPF-Fial:x.example REJECT", "SPF-Fail:x.example MAYBE", "HELO-Fail:x.example"} {
		if _, err := spf.ParseAccessMap("access", strings.NewReader("# c\n"+text+"\n")); err == nil || !strings.Contains(err.Error(), "access:2:") {
			t.Errorf("%q: error %v, want one at access:2", text, err)
		}
	}
}

// What the headers and the mail log report, as opposed to what the policy
// does: iprev by RFC 8601 §2.7.3, and a HELO without an SPF record
// reported as none, its best guess in a comment (issue 18 item 4).
func TestSPFReporting(t *testing.T) {
	env := newSPFEnv(t, "")
	env.DNS.Add(
		"30.113.0.203.in-addr.arpa. PTR liar.example.", // does not lead back
		"liar.example. A 192.0.2.99",
	)
	for _, c := range []struct {
		name, ip, helo, sender string
		rspf, ar               []string // pieces of Received-SPF and Authentication-Results
		log                    string
	}{
		{"forward-confirmed PTR", goodIP, "mail.sender.example", "alice@sender.example",
			nil, []string{"iprev=pass (mail.sender.example) policy.iprev=198.51.100.7"}, "result=pass"},
		{"no PTR record", dynIP, "helo-pass.example", "bob@nothing.example",
			nil, []string{"iprev=permerror policy.iprev=203.0.113.9"}, "result=none"},
		{"a forward-confirmed PTR that looks dynamic", dslIP, "helo-pass.example", "bob@nothing.example",
			nil, []string{"iprev=pass (dsl-203-0-113-20.isp.example) policy.iprev=203.0.113.20"}, "result=none"},
		{"a PTR that does not lead back", "203.0.113.30", "helo-pass.example", "bob@sender.example",
			nil, []string{"iprev=fail policy.iprev=203.0.113.30"}, "result=fail"},
		{"HELO without a record: none, the guess in a comment", dynIP, "near.example", "bob@nothing.example",
			[]string{"x-helo-spf=none; x-helo-bestguess=neutral"},
			[]string{"spf=none (best guess neutral) smtp.helo=near.example"},
			"helo_result=none helo_guess=neutral"},
		{"HELO with a record", dynIP, "helo-pass.example", "bob@nothing.example",
			[]string{"x-helo-spf=pass"}, []string{"spf=pass smtp.helo=helo-pass.example"}, "helo_result=pass"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(env.Log.String())
			out := env.Engine.Run(tx(c.ip, c.helo, c.sender, "Hello"))
			if out.SPF == nil {
				t.Fatalf("no SPF verdict; ended with %+v", out.Final)
			}
			rspf, ar := out.SPF.Report.ReceivedSPF(), out.SPF.Report.AuthenticationResults()
			for _, want := range c.rspf {
				if !strings.Contains(strings.ReplaceAll(rspf, "\n\t", " "), want) {
					t.Errorf("Received-SPF lacks %q:\n%s", want, rspf)
				}
			}
			for _, want := range c.ar {
				if !strings.Contains(strings.ReplaceAll(ar, "\n\t", " "), want) {
					t.Errorf("Authentication-Results lacks %q:\n%s", want, ar)
				}
			}
			if log := env.Log.String()[before:]; !strings.Contains(log, c.log) {
				t.Errorf("mail log lacks %q:\n%s", c.log, log)
			}
		})
	}
}
