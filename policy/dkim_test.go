package policy_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/hdrcheck"
	"github.com/maxwell-milter/maxwell/policy"
)

// dkimEnv is a site that signs for example.org with an RSA and an
// Ed25519 key and checks signatures and DMARC on the mail it receives;
// extra is added to [dmarc]. The zone publishes both keys and
// example.org's DMARC policy, p=reject.
func dkimEnv(t *testing.T, extra string) *enginetest.Env {
	t.Helper()
	dir := t.TempDir()
	var keys, zone []string
	zone = append(zone,
		`_dmarc.example.org. TXT "v=DMARC1; p=reject"`,
		`_dmarc.quiet.example. TXT "v=DMARC1; p=quarantine"`,
		`sender.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		`example.org. TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
	)
	for _, k := range []struct{ alg, sel string }{{"rsa", "r2026"}, {"ed25519", "e2026"}} {
		pem, record, err := dkim.GenerateKey(k.alg, 2048)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, k.sel+".key")
		if err := os.WriteFile(path, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("{domain = \"example.org\", selector = %q, privkey = %q}", k.sel, path))
		zone = append(zone, fmt.Sprintf("%s._domainkey.example.org. TXT %s", k.sel, strings.Join(dkim.TXTStrings(record), " ")))
	}
	return enginetest.New(t, `
[milter]
internal_connect = ["192.0.2.0/24"]
hostname = "mx.example.net"
[greylist]
enabled = false
[dkim]
keys = [`+strings.Join(keys, ", ")+`]
[dmarc]
`+extra, zone...)
}

// signed has env sign a message from an internal client and returns
// its header fields, the signatures on top, as they leave.
func signed(t *testing.T, env *enginetest.Env, headers []policy.Header, body string) []policy.Header {
	t.Helper()
	out := env.Engine.Run(policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.10")}, Helo: "pc.example.org",
		Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@sender.example"},
		Headers: headers, Body: []byte(body),
	})
	if out.Final.Action != policy.Accept {
		t.Fatalf("signing: %s %q\n%s", out.Final.Action, out.Final.Text, env.Log)
	}
	var sigs []policy.Header
	for _, e := range out.Final.Edits {
		if e.Kind == policy.InsertHeader && e.Name == "DKIM-Signature" {
			sigs = append([]policy.Header{{Name: e.Name, Value: e.Value}}, sigs...) // each inserted above the last
		}
	}
	return append(sigs, headers...)
}

func TestDKIMSignedMailVerifies(t *testing.T) {
	env := dkimEnv(t, "")
	headers := []policy.Header{
		{Name: "From", Value: "Alice <alice@example.org>"},
		{Name: "To", Value: "bob@sender.example"},
		{Name: "Subject", Value: "quarterly\n\tfigures"},
		{Name: "Date", Value: "Thu, 3 Dec 2026 10:00:00 +0000"},
	}
	const body = "Hello Bob,\r\n\r\nthe figures.\r\n\r\n\r\n"
	sent := signed(t, env, headers, body)
	if len(sent) != len(headers)+2 {
		t.Fatalf("want two signatures (RSA and Ed25519), got header %v\n%s", sent, env.Log)
	}
	for _, a := range []string{"a=rsa-sha256", "a=ed25519-sha256"} {
		if !strings.Contains(sent[0].Value+sent[1].Value, a) {
			t.Errorf("no %s signature: %v", a, sent[:2])
		}
	}
	if !strings.Contains(strings.ReplaceAll(sent[0].Value, "\n\t", ""), "h=From:From:Subject:Date:To;") {
		t.Errorf("From not over-signed: %s", sent[0].Value)
	}
	if !strings.Contains(env.Log.String(), "event=\"dkim sign\" d=example.org s=r2026 a=rsa-sha256") {
		t.Errorf("signing not logged:\n%s", env.Log)
	}

	// The same site receives it from outside, forwarded: SPF does not
	// pass for example.org from there, DKIM aligns.
	for _, tc := range []struct {
		name       string
		body       string
		extra      []policy.Header
		action     policy.Action
		dkim, dmrc string
	}{
		{"as signed", body, nil, policy.Accept, "pass", "pass"},
		{"trailing empty lines do not count (relaxed body)", body + "\r\n\r\n", nil, policy.Accept, "pass", "pass"},
		{"body changed", strings.Replace(body, "figures", "f1gures", 1), nil, policy.Reject, "fail", "fail"},
		{"a second From added above", body, []policy.Header{{Name: "From", Value: "ceo@example.org"}}, policy.Reject, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Log.Reset()
			tx := tx("198.51.100.7", "mail.sender.example", "fwd@sender.example", "")
			tx.Headers = append(append([]policy.Header{}, tc.extra...), sent...)
			tx.Body = []byte(tc.body)
			out := env.Engine.Run(tx)
			if out.Final.Action != tc.action {
				t.Fatalf("%s %q, want %s\n%s", out.Final.Action, out.Final.Text, tc.action, env.Log)
			}
			if tc.action != policy.Accept {
				return
			}
			ar := authResults(t, out.Final)
			for i, r := range ar.Results {
				if r.Method == "dkim" && (r.Result != tc.dkim || r.Props["header.d"] != "example.org") {
					t.Errorf("result %d: %+v, want dkim=%s header.d=example.org", i, r, tc.dkim)
				}
			}
			if m, ok := ar.Get("dmarc"); !ok || m.Result != tc.dmrc || m.Props["header.from"] != "example.org" {
				t.Errorf("dmarc: %+v, want %s header.from=example.org", m, tc.dmrc)
			}
		})
	}
}

// authResults returns the Authentication-Results field d adds, as
// python3-authres and go-msgauth both read it.
func authResults(t *testing.T, d policy.Decision) hdrcheck.AuthResults {
	t.Helper()
	for _, e := range d.Edits {
		if e.Kind == policy.InsertHeader && e.Name == "Authentication-Results" {
			ar, err := hdrcheck.ParseAuthResults(e.Name + ": " + e.Value)
			if err != nil {
				t.Fatalf("Authentication-Results: %s: %v", e.Value, err)
			}
			return ar
		}
	}
	t.Fatalf("no Authentication-Results in %+v", d.Edits)
	return hdrcheck.AuthResults{}
}

func TestDMARCAnswers(t *testing.T) {
	spoof := func(from string, extra ...policy.Header) policy.Transaction {
		tx := tx("198.51.100.7", "mail.sender.example", "news@sender.example", "hi")
		tx.Headers = append([]policy.Header{{Name: "From", Value: from}}, extra...)
		tx.Body = []byte("hi\r\n")
		return tx
	}
	listID := policy.Header{Name: "List-Id", Value: "Friends <friends.lists.sender.example>"}
	forgedListID := policy.Header{Name: "List-Id", Value: "Friends <friends.lists.example.net>"}
	for _, tc := range []struct {
		name   string
		config string // [dmarc]
		tx     policy.Transaction
		action policy.Action
		log    string
	}{
		{"p=reject refused", "", spoof("<ceo@example.org>"), policy.Reject,
			`event=dmarc result=fail from=example.org policy_domain=example.org p=reject sp="" pct=100 adkim=r aspf=r fo=0 policy=reject disposition=reject override=none ip=198.51.100.7 mailfrom=sender.example spf=pass spf_scope=mfrom spf_aligned=false dkim_aligned=none dkim=""`},
		{"p=reject quarantined as configured", `on_reject = "quarantine"`, spoof("<ceo@example.org>"), policy.Quarantine, "disposition=quarantine override=local_policy"},
		{"p=reject only reported", `on_reject = "report"`, spoof("<ceo@example.org>"), policy.Accept, "disposition=none override=local_policy"},
		{"p=quarantine held", "", spoof("x@quiet.example"), policy.Quarantine, "event=decision tag=QUARANTINE"},
		{"p=quarantine refused as configured", `on_quarantine = "refuse"`, spoof("x@quiet.example"), policy.Reject, "disposition=reject"},
		{"a mailing list of list_ids, SPF passing for its domain", `list_ids = ["*.lists.sender.example"]`, spoof("<ceo@example.org>", listID), policy.Accept, "disposition=none override=mailing_list"},
		{"another list", `list_ids = ["other.lists.sender.example"]`, spoof("<ceo@example.org>", listID), policy.Reject, "override=none"},
		{"a list's List-Id written by someone else", `list_ids = ["*.lists.example.net"]`, spoof("<ceo@example.org>", forgedListID), policy.Reject, "override=none"},
		{"a comment between @ and the domain", "", spoof("ceo@(x)example.org"), policy.Reject, "from=example.org"},
		{"a comment in the domain", "", spoof(`"ceo"@example(x).org`), policy.Reject, "from=example.org"},
		{"an address that cannot be read", "", spoof("=?utf-8?q?ceo=40example.org?= <@>"), policy.Reject, `reason="a From: address that cannot be read"`},
		{"a label of 64 octets", "", spoof("ceo@" + strings.Repeat("a", 64) + ".example.org"), policy.Reject, "not a domain name"},
		{"a group without addresses", "", spoof("undisclosed-recipients:;"), policy.Accept, "event=dmarc result=none"},
		{"a trusted forwarder", `trusted_forwarders = ["mail.sender.example"]`, spoof("<ceo@example.org>"), policy.Accept, "override=trusted_forwarder"},
		{"aligned SPF passes", "", spoof("news@sender.example"), policy.Accept, "event=dmarc result=none from=sender.example"},
		{"two From: fields refused", "", spoof("news@sender.example", policy.Header{Name: "From", Value: "ceo@example.org"}), policy.Reject, `reason="2 From: fields"`},
		{"two From: fields accepted as configured", `malformed_from = "accept"`, spoof("news@sender.example", policy.Header{Name: "From", Value: "ceo@example.org"}), policy.Accept, "result=permerror"},
		{"one From: of two addresses: the strictest", "", spoof("news@sender.example, ceo@example.org"), policy.Reject, "from=example.org"},
		{"unparseable From: still read", "", spoof("ceo@example.org <<"), policy.Reject, "from=example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := dkimEnv(t, tc.config)
			out := env.Engine.Run(tc.tx)
			if out.Final.Action != tc.action {
				t.Fatalf("%s %d %q, want %s\n%s", out.Final.Action, out.Final.Code, out.Final.Text, tc.action, env.Log)
			}
			if tc.action == policy.Reject && (out.Final.Code != 550 || out.Final.XCode != "5.7.1") {
				t.Errorf("refused %d %s, want 550 5.7.1", out.Final.Code, out.Final.XCode)
			}
			if !strings.Contains(env.Log.String(), tc.log) {
				t.Errorf("mail log lacks %s:\n%s", tc.log, env.Log)
			}
		})
	}
}

// A message maxwell changes before it leaves (the whole message was a
// banned attachment: new body, new Content-* fields) is signed as it
// leaves, and verifies where it arrives.
func TestDKIMSignsTheChangedMessage(t *testing.T) {
	env := dkimEnv(t, "")
	headers := []policy.Header{
		{Name: "From", Value: "Alice <alice@example.org>"},
		{Name: "To", Value: "bob@sender.example"},
		{Name: "Subject", Value: "update"},
		{Name: "MIME-Version", Value: "1.0"},
		{Name: "Content-Type", Value: `application/octet-stream; name="update.exe"`},
		{Name: "Content-Transfer-Encoding", Value: "base64"},
		{Name: "Content-Disposition", Value: `attachment; filename="update.exe"`},
	}
	out := env.Engine.Run(policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.10")}, Helo: "pc.example.org",
		Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@sender.example"},
		Headers: headers, Body: []byte("TVqQAE1akABNWpAATVqQAA==\r\n"),
	})
	if out.Final.Action != policy.Accept || out.Body == nil {
		t.Fatalf("%s, body replaced %v\n%s", out.Final.Action, out.Body != nil, env.Log)
	}
	delivered := applyHeaderEdits(headers, out.Final.Edits)
	tx := tx("198.51.100.7", "mail.sender.example", "fwd@sender.example", "")
	tx.Headers, tx.Body = delivered, out.Body
	env.Log.Reset()
	in := env.Engine.Run(tx)
	if in.Final.Action != policy.Accept {
		t.Fatalf("on the way in: %s %q\n%s", in.Final.Action, in.Final.Text, env.Log)
	}
	for _, r := range authResults(t, in.Final).Results {
		if r.Method == "dkim" && r.Result != "pass" {
			t.Errorf("%+v, want pass\n%s", r, env.Log)
		}
	}
}

// applyHeaderEdits makes the header edits of a decision as an MTA
// does: deletions and changes by the index of the field among those of
// its name, insertions on top (orderEdits has them last first).
func applyHeaderEdits(hs []policy.Header, edits []policy.Edit) []policy.Header {
	out := append([]policy.Header{}, hs...)
	for _, e := range edits {
		switch e.Kind {
		case policy.ChangeHeader, policy.DeleteHeader:
			n := 0
			for i := range out {
				if strings.EqualFold(out[i].Name, e.Name) {
					if n++; n == e.Index {
						if e.Kind == policy.DeleteHeader || e.Value == "" {
							out = append(out[:i], out[i+1:]...)
						} else {
							out[i].Value = e.Value
						}
						break
					}
				}
			}
		case policy.InsertHeader:
			out = append([]policy.Header{{Name: e.Name, Value: e.Value}}, out...)
		}
	}
	return out
}

// A message refused at its end by an internal client's site leaves no
// signer running.
func TestDKIMRefusedMessageLeavesNoSigner(t *testing.T) {
	env := dkimEnv(t, "[scrub]\nreject_virus_from = [\"example.org\"]\n")
	refused := func() policy.Outcome {
		return env.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.10")}, Helo: "pc.example.org",
			Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@sender.example"},
			Headers: []policy.Header{{Name: "From", Value: "alice@example.org"},
				{Name: "Content-Type", Value: `application/octet-stream; name="update.exe"`}},
			Body: []byte("TVqQAE1akABNWpAATVqQAA==\r\n"),
		})
	}
	refused() // whatever starts once
	before := runtime.NumGoroutine()
	for range 50 {
		if out := refused(); out.Final.Action != policy.Reject {
			t.Fatalf("%s, want refused by reject_virus_from", out.Final.Action)
		}
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after 50 refused messages, %d before", n, before)
	}
}

// A From: domain whose policy cannot be fetched now, or whose
// signatures' keys cannot, is deferred when a policy would refuse it:
// a failure then may be a pass.
func TestDMARCTemporaryFailures(t *testing.T) {
	env := dkimEnv(t, "")
	env.DNS.Fail("_dmarc.slow.example.", dnstest.ServFail)
	env.DNS.Fail("gone._domainkey.example.org.", dnstest.ServFail)
	for _, tc := range []struct {
		name    string
		from    string
		extra   []policy.Header
		code    int
		logLine string
	}{
		{"the policy cannot be fetched", "x@slow.example", nil, 451, "event=dmarc result=temperror from=slow.example"},
		{"a domain that cannot be fetched hides no other", "x@slow.example, ceo@example.org", nil, 550, "event=dmarc result=fail from=example.org"},
		{"an aligned key cannot be fetched", "ceo@example.org",
			[]policy.Header{{Name: "DKIM-Signature", Value: "v=1; a=rsa-sha256; d=example.org; s=gone; h=From; bh=AAAA; b=AAAA"}}, 451, "event=dkim result=temperror d=example.org s=gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Log.Reset()
			tx := tx("198.51.100.7", "mail.sender.example", "news@sender.example", "hi")
			tx.Headers = append(append([]policy.Header{}, tc.extra...), policy.Header{Name: "From", Value: tc.from})
			tx.Body = []byte("hi\r\n")
			out := env.Engine.Run(tx)
			if out.Final.Code != tc.code {
				t.Errorf("%s %d %q, want %d\n%s", out.Final.Action, out.Final.Code, out.Final.Text, tc.code, env.Log)
			}
			if !strings.Contains(env.Log.String(), tc.logLine) {
				t.Errorf("mail log lacks %s:\n%s", tc.logLine, env.Log)
			}
		})
	}
}
