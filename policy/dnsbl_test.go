package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

const dnsblConfig = `
[milter]
internal_connect = ["192.0.2.0/24"]
hostname = "mx.example.org"
[dns]
timeout = "200ms"
attempts = 1
[spf]
SPF
[dnsbl]
strike_score = 0.5
callback_score = 0.5
EXTRA
[[dnsbl.lists]]
zone = "ip.test"
type = "ip"
[[dnsbl.lists]]
zone = "soft.test"
type = "ip"
weight = 0.5
[[dnsbl.lists]]
zone = "dbl.test"
type = "domain"
weight = 0.5
`

// The lists of these tests: ip.test (weight 1) lists 203.0.113.66,
// soft.test (0.5) lists the well-behaved 198.51.100.7 and the
// nameless 203.0.113.67, dbl.test (0.5) lists spam.example and a HELO
// name. 203.0.113.0/24 has no PTR records: its clients are DYN.
var dnsblZone = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
	`sender.example. TXT "v=spf1 ip4:198.51.100.7 ip4:203.0.113.0/24 -all"`,
	`spam.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
	"66.113.0.203.ip.test. A 127.0.0.2",
	`66.113.0.203.ip.test. TXT "listed for spam, see https://ip.test/203.0.113.66"`,
	"7.100.51.198.soft.test. A 127.0.0.3",
	"67.113.0.203.soft.test. A 127.0.0.3",
	"spam.example.dbl.test. A 127.0.1.2",
	"zombie.example.dbl.test. A 127.0.1.2",
}

// newDNSBLEnv is the engine of these tests; extra is added to
// [dnsbl], spf to [spf].
func newDNSBLEnv(t *testing.T, extra, spf string) *enginetest.Env {
	return enginetest.New(t, strings.NewReplacer("EXTRA", extra, "SPF", spf).Replace(dnsblConfig), dnsblZone...)
}

func TestDNSBL(t *testing.T) {
	const good = "mail.sender.example"
	for _, tc := range []struct {
		name string
		spf  string // [spf] settings
		tx   policy.Transaction
		want want
		log  string // in the mail log
	}{
		{"listed client refused at DATA, with the list's reason", "", tx("203.0.113.66", "h.example", "a@sender.example", "Hi"),
			want{"data", policy.Reject, 550, "Listed by ip.test\nlisted for spam, see https://ip.test/203.0.113.66"},
			`event=decision tag=REJECT reason="DNSBL: ip.test/127.0.0.2 (score 1)"`},
		{"half a listing passes", "", tx("198.51.100.7", good, "a@sender.example", "Hi"), accepted,
			`event=dnsbl what=client key=198.51.100.7 lists=2 cached=0 listed=soft.test:127.0.0.3 weight=0.5`},
		{"two halves add up", "", tx("198.51.100.7", good, "b@spam.example", "Hi"),
			want{"data", policy.Reject, 550, "Listed by soft.test, dbl.test"},
			`reason="DNSBL: soft.test/127.0.0.3 dbl.test/127.0.1.2 (score 1)"`},
		{"listed HELO name", "", tx("198.51.100.7", "zombie.example", "a@sender.example", "Hi"),
			want{"data", policy.Reject, 550, "Listed by soft.test, dbl.test"},
			"event=dnsbl what=helo key=zombie.example lists=1 cached=0 listed=dbl.test:127.0.1.2"},
		{"a listing is a strike: DYN, listed, no SPF record", "", tx("203.0.113.67", "h.example", "a@nospf.example", "Hi"),
			accepted, "event=cbv tag=CBV status=pending policy=CBV sender=a@nospf.example template=strike3"},
		{"... refused with reject_noptr", "reject_noptr = true", tx("203.0.113.67", "h.example", "a@nospf.example", "Hi"),
			want{"data", policy.Reject, 550, "Your mail server is on a DNS blocklist, it has no valid PTR name,"},
			`reason="DNSBL listed, no PTR or SPF"`},
		{"listed, DYN, but SPF passes", "reject_noptr = true", tx("203.0.113.67", "h.example", "a@sender.example", "Hi"), accepted, ""},
		{"listed, no SPF record, but a good PTR and HELO: one strike", "reject_noptr = true", tx("198.51.100.7", "mail.sender.example", "a@nospf.example", "Hi"),
			accepted, "event=spf result=none"},
		{"internal clients are not asked", "", tx("192.0.2.10", "pc10", "carol@example.org", "Hi"), accepted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newDNSBLEnv(t, "", tc.spf)
			out := env.Engine.Run(tc.tx)
			checkOutcome(t, out, tc.want)
			log := env.Log.String()
			if tc.log != "" && !strings.Contains(log, tc.log) {
				t.Errorf("the mail log lacks %q:\n%s", tc.log, log)
			}
			if tc.tx.Conn.IP.String() == "192.0.2.10" && strings.Contains(log, "event=dnsbl") {
				t.Errorf("an internal client was looked up:\n%s", log)
			}
		})
	}
}

// What a listing below the reject score does to an accepted message: a
// call-back at callback_score, the lists in the connection header.
func TestDNSBLAccepted(t *testing.T) {
	env := newDNSBLEnv(t, "", "")
	out := env.Engine.Run(tx("198.51.100.7", "mail.sender.example", "a@sender.example", "Hi"))
	checkOutcome(t, out, accepted)
	if cb := out.Final.Callback; cb == nil || cb.Sender != "a@sender.example" {
		t.Errorf("no call-back asked for at callback_score: %+v", cb)
	}
	h := connectionHeader(t, out.Final.Edits)
	if !strings.Contains(h.Value, "; dnsbl=soft.test/127.0.0.3; dnsbl_score=0.5") {
		t.Errorf("connection header %q does not show the listing", h.Value)
	}
	// An unlisted client: no call-back, nothing in the header.
	env = newDNSBLEnv(t, "", "")
	env.DNS.Add(`other.example. TXT "v=spf1 ip4:198.51.100.9 -all"`, "9.100.51.198.in-addr.arpa. PTR mx.other.example.", "mx.other.example. A 198.51.100.9")
	out = env.Engine.Run(tx("198.51.100.9", "mx.other.example", "a@other.example", "Hi"))
	checkOutcome(t, out, accepted)
	if out.Final.Callback != nil || strings.Contains(connectionHeader(t, out.Final.Edits).Value, "dnsbl") {
		t.Errorf("an unlisted client: call-back %+v, header %q", out.Final.Callback, connectionHeader(t, out.Final.Edits).Value)
	}
}

// A list that does not answer is ignored by default and logged; with
// on_error = "tempfail" the message is deferred.
func TestDNSBLTimeout(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  want
	}{
		{"", accepted},
		{`on_error = "tempfail"`, want{"data", policy.Tempfail, 451, "Temporary DNS failure"}},
	} {
		env := newDNSBLEnv(t, tc.extra, "")
		env.DNS.Fail("7.100.51.198.ip.test", dnstest.Silent)
		checkOutcome(t, env.Engine.Run(tx("198.51.100.7", "mail.sender.example", "a@sender.example", "Hi")), tc.want)
		if log := env.Log.String(); !strings.Contains(log, `error="ip.test: DNS A 7.100.51.198.ip.test.: `) {
			t.Errorf("%q: the failure is not logged:\n%s", tc.extra, log)
		}
	}
}

// A listing at greylist_score greylists a client that greylisting would
// spare: only_suspicious's well-named client with SPF pass, and a
// client on the auto-whitelist.
func TestDNSBLGreylists(t *testing.T) {
	env := newDNSBLEnv(t, "[greylist]\nonly_suspicious = true\nauto_whitelist_clients = 1", "")
	env.DNS.Add(`other.example. TXT "v=spf1 ip4:198.51.100.9 -all"`, "9.100.51.198.in-addr.arpa. PTR mx.other.example.", "mx.other.example. A 198.51.100.9")
	_, clock, _ := withStore(t, env, 5*time.Second)
	checkOutcome(t, env.Engine.Run(tx("198.51.100.9", "mx.other.example", "a@other.example", "Hi")), accepted)
	if !strings.Contains(env.Log.String(), `step=skip reason="not suspicious"`) {
		t.Errorf("the unlisted client was not spared as not suspicious:\n%s", env.Log)
	}
	listed := tx("198.51.100.7", "mail.sender.example", "a@sender.example", "Hi")
	checkOutcome(t, env.Engine.Run(listed), want{"rcpt to bob@example.org", policy.Tempfail, 451, "Greylisted"})

	// Once it has retried and passed, the client is on the
	// auto-whitelist (after one pass here), which a listing overrides
	// too: its next triplet is greylisted.
	clock.Advance(10 * time.Minute)
	checkOutcome(t, env.Engine.Run(listed), accepted)
	checkOutcome(t, env.Engine.Run(withRcpt(listed, "carol@example.org")), want{"rcpt to carol@example.org", policy.Tempfail, 451, "Greylisted"})
}
