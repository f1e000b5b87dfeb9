package policy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/srs"
)

const srsConfig = `
[milter]
internal_connect = ["192.0.2.0/24"]
check_user = ["alice@ours.example", "postmaster@ours.example"]
connection_header = ""
[greylist]
enabled = false
[spf]
headers = []
[srs]
secret = ["the secret", "the old secret"]
maxage = 5
fwdomain = "fwd.example"
ses = ["ours.example"]
sign = ["signed.example"]
reject_spoofed = true
banned_users = ["mailer-daemon"]
nosrs = ["partner.example"]
[dns]
timeout = "200ms"
attempts = 1
`

// srsEnv is an engine with [srs] on its own clock, and a Site with the
// same secrets and clock to make addresses as the MTA's map would.
func srsEnv(t *testing.T, toml string) (*enginetest.Env, *srs.Site, *testclock.Clock) {
	env := enginetest.New(t, toml)
	clock := testclock.New()
	env.Engine.SetClock(clock.Now)
	site := env.Engine.SRS()
	if site == nil {
		t.Fatal("[srs] with a secret: no SRS site")
	}
	return env, site, clock
}

func bounceTx(ip, from, rcpt string) policy.Transaction {
	return policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "mx.remote.example",
		Mail: policy.MailInfo{Sender: from}, Rcpts: []string{rcpt},
		Headers: []policy.Header{{Name: "Subject", Value: "Undelivered Mail Returned to Sender"}},
	}
}

// A bounce to one of our protected domains is let through when its
// recipient is an address we signed; otherwise refused as bms.py did.
func TestSignedBounces(t *testing.T) {
	env, site, clock := srsEnv(t, srsConfig)
	forwarded, _ := site.SRS.Forward("carol@orig.example", "fwd.example")
	signedSRS, _ := site.SRS.Sign("bob@signed.example")
	signedSES, _ := site.SES.Sign("alice@ours.example")
	oldSecret, _ := srs.New(srs.Options{Secrets: []string{"the old secret"}, MaxAge: 5, Now: clock.Now})
	rotated, _ := oldSecret.Forward("dan@orig.example", "fwd.example")
	other, _ := srs.New(srs.Options{Secrets: []string{"someone else's"}, Now: clock.Now})
	foreign, _ := other.Forward("carol@orig.example", "fwd.example")
	sesParts := strings.SplitN(signedSES, "=", 3)
	badSES := sesParts[0] + "=" + sesParts[1][:len(sesParts[1])-1] + flip(sesParts[1][len(sesParts[1])-1:]) + "=" + sesParts[2]

	const (
		invalidSRS = "550 5.7.1 Invalid SRS signature"
		invalidSES = "550 5.7.1 Invalid SES signature"
		noSRS      = "550 5.7.1 I did not send you that message. Please consider implementing SPF"
	)
	tests := []struct {
		name, ip, from, rcpt string
		want                 string // the start of the reply, "" for accepted
	}{
		{"bounce to our SRS0", "198.51.100.7", "", forwarded, ""},
		{"to our SRS0, upper case", "198.51.100.7", "", strings.ToUpper(forwarded), ""},
		{"to SRS0 under the old secret", "198.51.100.7", "", rotated, ""},
		{"to SRS0 in signing mode", "198.51.100.7", "", signedSRS, ""},
		{"to our SES", "198.51.100.7", "", signedSES, ""},
		{"SES, user list skipped", "198.51.100.7", "", signedSES, ""},
		{"to another site's SRS0", "198.51.100.7", "", foreign, invalidSRS},
		{"to a made-up SRS0", "198.51.100.7", "", "SRS0=AAAAAAAA=AA=orig.example=carol@fwd.example", invalidSRS},
		{"to a malformed SRS1", "198.51.100.7", "", "SRS1=x@fwd.example", invalidSRS},
		{"to a forged SES", "198.51.100.7", "", badSES, invalidSES},
		{"unsigned bounce, reject_spoofed", "198.51.100.7", "", "alice@ours.example", noSRS},
		{"unsigned, from a banned user", "198.51.100.7", "Mailer-Daemon@remote.example", "alice@ours.example",
			"550 5.7.1 I do not accept normal mail from Mailer-Daemon.\n550 5.7.1 All such mail has turned out to be Delivery Status Notifications"},
		{"unsigned, not a protected domain", "198.51.100.7", "", "bob@elsewhere.example", ""},
		{"forged, from inside", "192.0.2.7", "", foreign, ""},
		// The MTA's reverse map would relay it: refused for any sender.
		{"not a bounce, to a forged SRS0", "198.51.100.7", "someone@remote.example", foreign, invalidSRS},
		{"not a bounce, to our SRS0", "198.51.100.7", "someone@remote.example", forwarded, ""},
		{"not a bounce, to a plain address", "198.51.100.7", "someone@remote.example", "alice@ours.example", ""},
		// As the MTA delivers them: a final dot, a source route.
		{"unsigned, domain with a final dot", "198.51.100.7", "", "alice@ours.example.", noSRS},
		{"forged, with a source route", "198.51.100.7", "", "@relay.example:" + foreign, invalidSRS},
	}
	for _, tt := range tests {
		out := env.Engine.Run(bounceTx(tt.ip, tt.from, tt.rcpt))
		got := out.Final.Reply()
		if out.Final.Action == policy.Accept {
			got = ""
		}
		if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s (%s): %q, want %q", tt.name, tt.rcpt, got, tt.want)
		}
	}
	if !strings.Contains(env.Log.String(), `event=srs rcpt="`+signedSES+`" original=alice@ours.example signed=ses`) {
		t.Errorf("mail log lacks the signed recipient:\n%s", env.Log)
	}

	// Nearly maxage days later the addresses still pass (SRS counts
	// days, up to maxage after the day it was made; SES quarter days,
	// fewer than maxage days after): a day more, not.
	clock.Advance(5*24*time.Hour - 6*time.Hour)
	for _, rcpt := range []string{forwarded, signedSES} {
		if f := env.Engine.Run(bounceTx("198.51.100.7", "", rcpt)).Final; f.Action != policy.Accept {
			t.Errorf("%s after maxage days: %q", rcpt, f.Reply())
		}
	}
	clock.Advance(30 * time.Hour)
	for rcpt, want := range map[string]string{forwarded: invalidSRS, signedSES: invalidSES} {
		if f := env.Engine.Run(bounceTx("198.51.100.7", "", rcpt)).Final; f.Reply() != want {
			t.Errorf("%s expired: %q, want %q", rcpt, f.Reply(), want)
		}
	}
	if !strings.Contains(env.Log.String(), "(Invalid timestamp)") || !strings.Contains(env.Log.String(), "(Expired SES signature)") {
		t.Errorf("the mail log does not say the addresses expired:\n%s", env.Log)
	}
}

func flip(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}

// An unsigned bounce to postmaster or abuse passes RCPT (a call-back
// verifier may ask for them) and is refused at DATA; without
// reject_spoofed it is delivered.
func TestUnsignedBounceToPostmaster(t *testing.T) {
	env, _, _ := srsEnv(t, srsConfig)
	out := env.Engine.Run(bounceTx("198.51.100.7", "", "postmaster@ours.example"))
	rcpt := out.Stages[len(out.Stages)-2]
	if !strings.HasPrefix(rcpt.Stage, "rcpt to") || rcpt.Decision.Action != policy.Continue {
		t.Errorf("RCPT postmaster: %+v", rcpt)
	}
	if out.Final.Action != policy.Reject || !strings.Contains(out.Final.Reply(), "I did not send you that message") {
		t.Errorf("DATA: %v %q, want the forged-bounce refusal", out.Final.Action, out.Final.Reply())
	}

	lenient, _, _ := srsEnv(t, strings.Replace(srsConfig, "reject_spoofed = true", "reject_spoofed = false", 1))
	for _, rcpt := range []string{"postmaster@ours.example", "alice@ours.example"} {
		if f := lenient.Engine.Run(bounceTx("198.51.100.7", "", rcpt)).Final; f.Action != policy.Accept {
			t.Errorf("without reject_spoofed, to %s: %q", rcpt, f.Reply())
		}
	}
}

// Mail an internal client sends from an ses or sign domain to someone
// outside leaves with its envelope sender signed (chgfrom); the
// signature verifies. Nothing else is signed.
func TestSignSender(t *testing.T) {
	env, site, _ := srsEnv(t, srsConfig)
	tx := func(ip, from string, rcpts ...string) policy.Transaction {
		return policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "pc.ours.example",
			Mail: policy.MailInfo{Sender: from}, Rcpts: rcpts,
			Headers: []policy.Header{{Name: "Subject", Value: "hello"}},
		}
	}
	sender := func(out policy.Outcome) string {
		for _, e := range out.Final.Edits {
			if e.Kind == policy.ChangeSender {
				return e.Name
			}
		}
		return ""
	}
	got := sender(env.Engine.Run(tx("192.0.2.7", "Alice@ours.example", "alice@ours.example", "carol@remote.example")))
	if !strings.HasPrefix(got, "SES=") || !strings.HasSuffix(got, "=alice@ours.example") {
		t.Fatalf("internal mail out from an ses domain: sender %q, want SES=…=alice@ours.example (signed in lower case)", got)
	}
	if orig, err := site.SES.Verify(got); err != nil || orig != "alice@ours.example" {
		t.Errorf("the signed sender %q verifies as %q, %v", got, orig, err)
	}
	got = sender(env.Engine.Run(tx("192.0.2.7", "bob@signed.example", "carol@remote.example")))
	if orig, err := site.SRS.Reverse(got); err != nil || orig != "bob@signed.example" || !strings.Contains(got, "==bob@signed.example") {
		t.Errorf("internal mail out from a sign domain: sender %q (%q, %v)", got, orig, err)
	}
	signed, _ := site.SES.Sign("alice@ours.example")
	for name, tx := range map[string]policy.Transaction{
		"to our own domains only":   tx("192.0.2.7", "alice@ours.example", "bob@signed.example", "x@fwd.example", "local"),
		"to a nosrs domain":         tx("192.0.2.7", "alice@ours.example", "y@partner.example"),
		"from outside":              tx("198.51.100.7", "alice@ours.example", "carol@remote.example"),
		"from another domain":       tx("192.0.2.7", "alice@else.example", "carol@remote.example"),
		"the null sender":           tx("192.0.2.7", "", "carol@remote.example"),
		"a sender already signed":   tx("192.0.2.7", signed, "carol@remote.example"),
		"a banned user (a DSN too)": tx("192.0.2.7", "mailer-daemon@ours.example", "carol@remote.example"),
	} {
		if got := sender(env.Engine.Run(tx)); got != "" {
			t.Errorf("%s: sender changed to %q", name, got)
		}
	}
}

// Without a secret nothing of this runs: a bounce to an SRS-looking
// address of any domain goes through.
func TestSRSOff(t *testing.T) {
	env := enginetest.New(t, "[greylist]\nenabled = false\n[dns]\ntimeout = \"200ms\"\nattempts = 1\n")
	if env.Engine.SRS() != nil {
		t.Fatal("SRS on without a secret")
	}
	if f := env.Engine.Run(bounceTx("198.51.100.7", "", "SRS0=AAAAAAAA=AA=orig.example=carol@fwd.example")).Final; f.Action != policy.Accept {
		t.Errorf("SRS off: %q", f.Reply())
	}
}

// An RRS alias takes mail from its forwarder, whose MAIL FROM (not
// rewritten) fails SPF: the refusal kept for DATA goes, the headers tell
// the forwarder's pass. From anyone else, or with a hash not ours, it is
// refused.
func TestRRSAlias(t *testing.T) {
	blacklist := filepath.Join(t.TempDir(), "blacklist")
	os.WriteFile(blacklist, []byte("spammer@orig.example\n"), 0o644)
	env := enginetest.New(t, strings.Replace(srsConfig, "headers = []", "headers = [\"received-spf\"]", 1)+
		"[whitelist]\nblacklist_file = \""+blacklist+"\"\n",
		`alumni.example. TXT "v=spf1 ip4:203.0.113.5 -all"`,
		`orig.example. TXT "v=spf1 ip4:198.51.100.7 -all"`)
	site := env.Engine.SRS()
	alias, err := site.SRS.RRS("alice@ours.example", "Alumni.Example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(alias, "RRS=") || !strings.HasSuffix(alias, "=alumni.example=alice@ours.example") {
		t.Fatalf("RRS alias %q", alias)
	}
	from := func(sender, ip string, rcpts ...string) policy.Outcome {
		return env.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "mx.alumni.example",
			Mail: policy.MailInfo{Sender: sender}, Rcpts: rcpts,
			Headers: []policy.Header{{Name: "Subject", Value: "forwarded"}},
		})
	}
	forwarded := func(ip, rcpt string) policy.Outcome { return from("bob@orig.example", ip, rcpt) }
	out := forwarded("203.0.113.5", alias)
	if out.Final.Action != policy.Accept {
		t.Fatalf("from the forwarder: %q", out.Final.Reply())
	}
	spfHeader := ""
	for _, e := range out.Final.Edits {
		if e.Name == "Received-SPF" {
			spfHeader = e.Value
		}
	}
	if !strings.HasPrefix(spfHeader, "pass") || !strings.Contains(spfHeader, "x-trusted-forwarder=alumni.example") {
		t.Errorf("Received-SPF: %s", spfHeader)
	}
	for _, want := range []string{"event=spf result=fail", "event=srs rcpt=\"" + alias + "\" original=alice@ours.example signed=rrs forwarder=alumni.example",
		"event=cancel tag=REJECT reason=\"SPF fail"} {
		if !strings.Contains(env.Log.String(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
	// An alias vouches for its own recipient only: with another one,
	// the message is refused; and the sender checks after SPF still run.
	if f := from("bob@orig.example", "203.0.113.5", alias, "alice@ours.example").Final; f.Action != policy.Reject || !strings.Contains(f.Reply(), "SPF fail") {
		t.Errorf("to the alias and a plain address: %q, want the SPF refusal", f.Reply())
	}
	if f := from("spammer@orig.example", "203.0.113.5", alias).Final; f.Reply() != "550 5.7.1 Sender email local blacklist" {
		t.Errorf("a blacklisted sender through the alias: %q", f.Reply())
	}
	// Without the alias, the same message is refused.
	if f := forwarded("203.0.113.5", "alice@ours.example").Final; f.Action != policy.Reject || !strings.Contains(f.Reply(), "SPF fail") {
		t.Errorf("to the plain address: %q, want the SPF refusal", f.Reply())
	}
	if f := forwarded("198.51.100.99", alias).Final; f.Reply() != "550 5.7.1 This address takes mail from alumni.example only" {
		t.Errorf("from another client: %q", f.Reply())
	}
	other, _ := srs.New(srs.Options{Secrets: []string{"not ours"}})
	forged, _ := other.RRS("alice@ours.example", "alumni.example")
	if f := forwarded("203.0.113.5", forged).Final; f.Reply() != "550 5.7.1 Invalid RRS alias" {
		t.Errorf("an alias made with another secret: %q", f.Reply())
	}
}

// A bounce to an address we signed answers mail we sent: greylisting
// spares it (and the user list), as it does not a bounce to another
// address.
func TestSignedBounceSkipsGreylisting(t *testing.T) {
	env := enginetest.New(t, strings.Replace(srsConfig, "enabled = false", "enabled = true", 1))
	withStore(t, env, time.Second)
	site := env.Engine.SRS()
	signed, _ := site.SES.Sign("alice@ours.example")
	if f := env.Engine.Run(bounceTx("198.51.100.7", "", signed)).Final; f.Action != policy.Accept {
		t.Errorf("a bounce to %s: %q, want accepted at once", signed, f.Reply())
	}
	if !strings.Contains(env.Log.String(), `reason="bounce to an address we signed"`) {
		t.Errorf("the mail log does not say why greylisting skipped it:\n%s", env.Log)
	}
	if f := env.Engine.Run(bounceTx("198.51.100.7", "", "bob@elsewhere.example")).Final; f.Code != 451 {
		t.Errorf("a bounce to another address: %q, want greylisted", f.Reply())
	}
}
