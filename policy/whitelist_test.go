package policy_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

func TestAutoWhitelistFromOutgoingMail(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "blacklist"), []byte("# pests\nspammer@pest.example\n@worse.example\n"), 0o644)
	env := enginetest.New(t, `
[milter]
internal_connect = ["192.0.2.0/24"]
internal_domains = ["example.org"]
[defang]
spam_words = ["$$$"]
[whitelist]
senders = ["boss@example.org"]
blacklist_file = "`+filepath.Join(dir, "blacklist")+`"
[dns]
timeout = "200ms"
attempts = 1
`, "7.100.51.198.in-addr.arpa. PTR mail.partner.example.", "mail.partner.example. A 198.51.100.7",
		`partner.example. TXT "v=spf1 ip4:198.51.100.7 ?all"`)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "s.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env.Engine.UseStore(st)
	clock := testclock.New()
	env.Engine.SetClock(clock.Now)
	run := func(ip, from, rcpt, subject string, extra ...policy.Header) policy.Outcome {
		return env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "mail.partner.example",
			Mail: policy.MailInfo{Sender: from}, Rcpts: []string{rcpt},
			Headers: append([]policy.Header{{Name: "Subject", Value: subject}}, extra...)})
	}
	// The boss writes to a partner, and an auto-reply goes to someone else.
	run("192.0.2.7", "boss@example.org", "Ann@Partner.example", "the contract")
	run("192.0.2.7", "boss@example.org", "robot@partner.example", "Read: the contract")
	run("192.0.2.7", "boss@example.org", "holiday@partner.example", "away", policy.Header{Name: "User-Agent", Value: "vacation 1.2"})
	run("192.0.2.7", "clerk@example.org", "joe@partner.example", "hello") // not a listed sender
	ws, _ := st.Whitelist(context.Background(), store.KindSender)
	if len(ws) != 1 || ws[0].Key != "ann@partner.example" {
		t.Fatalf("auto-whitelist %+v, want ann@partner.example only", ws)
	}
	// Her answer, SPF pass: spared greylisting and the Subject check.
	if f := run("198.51.100.7", "ann@partner.example", "boss@example.org", "$$$ the price").Final; f.Action != policy.Accept {
		t.Errorf("whitelisted sender: %v %q", f.Action, f.Reply())
	}
	if !strings.Contains(env.Log.String(), "event=auto-whitelist status=listed sender=ann@partner.example") {
		t.Errorf("no listing logged:\n%s", env.Log)
	}
	// The same address from a server SPF does not vouch for: probation,
	// greylisted like anyone.
	if f := run("203.0.113.9", "ann@partner.example", "boss@example.org", "$$$ the price").Final; f.Tag != "GREYLISTED" {
		t.Errorf("whitelisted sender without SPF pass: %v %q, want greylisted like anyone", f.Action, f.Reply())
	}
	if !strings.Contains(env.Log.String(), "status=probation sender=ann@partner.example tag=PROBATION") {
		t.Errorf("no probation logged:\n%s", env.Log)
	}
	// The sender blacklist: the file, and the store.
	st.Ban(context.Background(), store.Ban{Kind: store.BanSender, Key: "pest@other.example", Reason: "by hand", Created: clock.Now()})
	for _, from := range []string{"spammer@pest.example", "anyone@worse.example", "pest@other.example"} {
		if f := run("198.51.100.7", from, "boss@example.org", "hi").Final; f.Code != 550 || !strings.Contains(f.Reply(), "Sender email local blacklist") {
			t.Errorf("%s: %q, want the local blacklist", from, f.Reply())
		}
	}
}
