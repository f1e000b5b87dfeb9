// Package condemned is end-to-end scenario t-14: greylisting does not
// run for a transaction that is refused at DATA anyway. With
// delayed_reject (the default), forgers — SPF fail, a PTR of localhost —
// get 250 at RCPT and their refusal at DATA, every time, without a
// triplet; retrying never puts their network on the auto-whitelist, and a
// new sender from there is greylisted as anyone. And only a message
// accepted at end of data counts towards the auto-whitelist: retries
// refused for their Subject do not.
package condemned

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
hostname = "mx.example.org"

[defang]
spam_words = ["$$$"]

[greylist]
delay = "1s"
auto_whitelist_clients = 2
`

// send is one message from a client at ip (HELO helo): the RCPT TO
// reply, and the reply at the end of data (or to DATA) if RCPT passed.
func send(t *testing.T, st *mtatest.Stack, ip, helo, sender, subject string) (rcpt, data mtatest.Reply) {
	t.Helper()
	c, _ := mtatest.Session(t, st.Postfix.Addr, ip, helo)
	defer c.Cmd("QUIT")
	if r := c.Cmd("MAIL FROM:<%s>", sender); r.Code != 250 {
		t.Fatalf("MAIL FROM:<%s>: %s (delayed_reject answers at DATA)", sender, r)
	}
	if rcpt = c.Cmd("RCPT TO:<bob@example.org>"); rcpt.Code != 250 {
		return rcpt, data
	}
	return rcpt, c.Data("From: <" + sender + ">\r\nSubject: " + subject + "\r\n\r\nHello.\r\n")
}

func TestPostfixCondemnedNotGreylisted(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"77.113.0.203.in-addr.arpa. PTR localhost.",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`fail.example. TXT "v=spf1 -all"`,
	)
	for _, tc := range []struct {
		name, ip, sender, refusal string
	}{
		{"SPF fail", "203.0.113.9", "joe%d@fail.example", "5.7.23 SPF fail: fail.example does not designate 203.0.113.9 as a permitted sender"},
		{"PTR localhost", "203.0.113.77", "joe%d@other.example", `5.7.25 "localhost" is not a reasonable PTR name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Three senders, each retried past the delay: before the fix,
			// each retry passed its triplet and the second listed the network.
			for i := range 3 {
				for attempt := range 2 {
					rcpt, data := send(t, st, tc.ip, "x.example", fmt.Sprintf(tc.sender, i), "hi")
					if rcpt.Code != 250 {
						t.Fatalf("sender %d, attempt %d: RCPT TO: %s, want 250: no greylisting for a condemned transaction", i, attempt, rcpt)
					}
					if data.Code != 550 || !strings.HasPrefix(data.Text, tc.refusal) {
						t.Fatalf("sender %d, attempt %d: DATA: %s, want 550 %s", i, attempt, data, tc.refusal)
					}
					time.Sleep(1200 * time.Millisecond) // past the delay: a retry that would pass
				}
			}
		})
	}
	log := st.Log()
	if n := strings.Count(log, `step=skip reason="refused at DATA" tag=REJECT`); n != 12 {
		t.Errorf("%d greylist skips for refusals at DATA logged, want 12", n)
	}
	for _, never := range []string{"step=new", "step=pass", "step=listed", "auto_whitelisted"} {
		if strings.Contains(log, never) {
			t.Errorf("the mail log has %q: a condemned transaction touched the greylist", never)
		}
	}
	// Neither network is on the auto-whitelist: a new, innocent sender
	// from either is greylisted.
	for _, ip := range []string{"203.0.113.10", "203.0.113.78"} {
		if rcpt, _ := send(t, st, ip, "mail.other.example", "new@other.example", "hi"); rcpt.Code != 451 || !strings.HasPrefix(rcpt.Text, "4.7.1 Greylisted") {
			t.Errorf("a new sender from %s: RCPT TO: %s, want 451 4.7.1 Greylisted", ip, rcpt)
		}
	}

	t.Run("only accepted mail counts towards the auto-whitelist", func(t *testing.T) {
		// pass has a new sender of sender.example (SPF pass from
		// 198.51.100.7: the client is known by that domain) greylisted,
		// then retry past the delay, and returns the reply at end of data.
		pass := func(sender, subject string) mtatest.Reply {
			t.Helper()
			if rcpt, _ := send(t, st, "198.51.100.7", "mail.sender.example", sender, subject); rcpt.Code != 451 {
				t.Fatalf("%s, first attempt: RCPT TO: %s, want 451 (greylisted)", sender, rcpt)
			}
			time.Sleep(1200 * time.Millisecond)
			rcpt, data := send(t, st, "198.51.100.7", "mail.sender.example", sender, subject)
			if rcpt.Code != 250 {
				t.Fatalf("%s, retry: RCPT TO: %s, want 250", sender, rcpt)
			}
			return data
		}
		for i := range 2 {
			if r := pass(fmt.Sprintf("spammer%d@sender.example", i), "$$$ cheap"); r.Code != 550 {
				t.Fatalf("a spam Subject: end of data %s, want 550", r)
			}
		}
		for i := range 2 { // these are the two passes that count
			if r := pass(fmt.Sprintf("user%d@sender.example", i), "hello"); r.Code != 250 {
				t.Fatalf("an honest message: end of data %s, want 250", r)
			}
			st.Sink.Wait(t, 30*time.Second)
		}
		if rcpt, data := send(t, st, "198.51.100.7", "mail.sender.example", "newest@sender.example", "hello"); rcpt.Code != 250 || data.Code != 250 {
			t.Errorf("after two accepted passes: RCPT %s, DATA %s; want sender.example auto-whitelisted", rcpt, data)
		}
		if n := strings.Count(st.Log(), "client=sender.example step=listed auto_whitelisted=true"); n != 1 {
			t.Errorf("%d listings of sender.example logged, want 1 (after the second accepted message, not the refused ones)", n)
		}
	})
}
