package policy_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

// Resource bombs from an external client: each is answered as documented,
// and the time and memory it cost are logged (bounded by maxwell's limits,
// not asserted: a benchmark's job).
func TestResourceBombs(t *testing.T) {
	zone := []string{"7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`}
	// An SPF record whose includes go on and on: RFC 7208 allows 10.
	zone = append(zone, `deep.example. TXT "v=spf1 include:i0.deep.example -all"`)
	for i := range 60 {
		zone = append(zone, fmt.Sprintf(`i%d.deep.example. TXT "v=spf1 include:i%d.deep.example -all"`, i, i+1))
	}
	env := enginetest.New(t, "[milter]\ndelayed_reject = false\ninternal_domains = [\"example.org\"]\n[greylist]\nenabled = false\n[dns]\ntimeout = \"300ms\"\nattempts = 1\n", zone...)

	var nested strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&nested, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	headers := []policy.Header{{Name: "Subject", Value: "hello"}}
	for i := range 100000 {
		headers = append(headers, policy.Header{Name: "X-Filler", Value: fmt.Sprint(i)})
	}
	var rcpts []string
	for i := range 10000 {
		rcpts = append(rcpts, fmt.Sprintf("user%d@example.org", i))
	}
	tx := func(sender string) policy.Transaction {
		return policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
			Mail: policy.MailInfo{Sender: sender}, Rcpts: []string{"bob@example.org"},
			Headers: []policy.Header{{Name: "Subject", Value: "hello"}}, Body: []byte("hi\r\n")}
	}
	for _, tc := range []struct {
		name  string
		tx    func() policy.Transaction
		reply string // the final answer's start
		log   string // and a line the mail log must have
	}{
		{"10 000 nested multiparts", func() policy.Transaction {
			m := tx("alice@sender.example")
			m.Headers = append(m.Headers, policy.Header{Name: "MIME-Version", Value: "1.0"}, policy.Header{Name: "Content-Type", Value: "multipart/mixed; boundary=b0"})
			m.Body = []byte(nested.String())
			return m
		}, "554 5.7.7 Cannot check this message for dangerous attachments", `reason="MALFORMED: parts nested deeper than 32"`},
		{"100 000 header fields", func() policy.Transaction {
			m := tx("alice@sender.example")
			m.Headers = headers
			return m
		}, "554 5.7.7", `reason="MALFORMED: more than 1000 header fields`},
		{"1 000 000 MIME parts", func() policy.Transaction {
			m := tx("alice@sender.example")
			m.Headers = append(m.Headers, policy.Header{Name: "MIME-Version", Value: "1.0"}, policy.Header{Name: "Content-Type", Value: "multipart/mixed; boundary=b"})
			m.Body = []byte(strings.Repeat("--b\r\n\r\nx\r\n", 1000000))
			return m
		}, "554 5.7.7", `reason="MALFORMED: more than 1000 MIME parts"`},
		{"10 000 recipients", func() policy.Transaction {
			m := tx("alice@sender.example")
			m.Rcpts = rcpts
			return m
		}, "", "event=eom action=accept rcpts=10000"},
		{"SPF includes without end", func() policy.Transaction { return tx("mallory@deep.example") },
			"550 5.7.24 SPF permerror: more than 10 DNS-querying terms (RFC 7208 section 4.6.4): include:i10.deep.example in the SPF record of i9.deep.example", "event=spf result=permerror"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Log.Reset()
			m := tc.tx()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now() // wall clock: a stopwatch for the log, no date
			out := env.Engine.Run(m)
			took := time.Since(start) // wall clock: the stopwatch
			runtime.ReadMemStats(&after)
			if got := out.Final.Reply(); !strings.HasPrefix(got, tc.reply) || tc.reply == "" && out.Final.Action != policy.Accept {
				t.Errorf("answer %v %q, want %q…", out.Final.Action, got, tc.reply)
			}
			if !strings.Contains(env.Log.String(), tc.log) {
				t.Errorf("mail log lacks %q:\n%.2000s", tc.log, env.Log)
			}
			t.Logf("%s: %v, %.1f MiB allocated, answer %q", tc.name, took.Round(time.Millisecond),
				float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), out.Final.Reply())
		})
	}
}
