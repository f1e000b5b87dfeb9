package policy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

// BenchmarkDefaultPolicyMessage runs one message from an external client
// through the default policy, as make bench's maxwell-default does: PTR
// and HELO, SPF (pass, answers cached), greylisting on SQLite with the
// triplet already passed, the bans and auto-whitelist read through the
// daemon's cache ([store] cache_ttl), the MIME scan of an 8 KiB body, the
// headers.
// allocs/op and B/op are the figures that matter (issue 19: at most 20 KB
// a message).
//
//	go test -run '^$' -bench DefaultPolicyMessage -benchmem ./policy
func BenchmarkDefaultPolicyMessage(b *testing.B) { benchPolicyMessage(b, "") }

// BenchmarkDNSBLPolicyMessage is BenchmarkDefaultPolicyMessage with three
// DNS blocklists (two IP lists, a domain list) that list nothing, their
// answers cached: what asking them costs a message beyond the lookups.
//
//	go test -run '^$' -bench DNSBLPolicyMessage -benchmem ./policy
func BenchmarkDNSBLPolicyMessage(b *testing.B) {
	benchPolicyMessage(b, `
[[dnsbl.lists]]
zone = "ip.bl.test"
type = "ip"
[[dnsbl.lists]]
zone = "soft.bl.test"
type = "ip"
weight = 0.5
[[dnsbl.lists]]
zone = "dbl.bl.test"
type = "domain"
weight = 0.5
`)
}

// benchPolicyMessage runs one accepted message at each iteration, the
// default policy with extra configuration.
func benchPolicyMessage(b *testing.B, extra string) {
	env := enginetest.New(b, "[milter]\nhostname = \"mx.example.org\"\ninternal_domains = [\"example.org\"]\n"+extra, spfZone...)
	st, clock, _ := withStore(b, env, 5*time.Second)
	env.Engine.UseStore(store.Cached(st, 10*time.Second, store.DefaultCacheKeys))
	body := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog, again and again and again.\r\n", 112))
	tx := policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr(goodIP)}, Helo: "mail.sender.example",
		Mail:  policy.MailInfo{Sender: "alice@sender.example"},
		Rcpts: []string{"bob@example.org"},
		Headers: []policy.Header{
			{Name: "From", Value: "Alice <alice@sender.example>"}, {Name: "To", Value: "<bob@example.org>"},
			{Name: "Subject", Value: "Lunch on Thursday"}, {Name: "Date", Value: "Thu, 26 Nov 2026 10:00:00 +0000"},
			{Name: "Message-ID", Value: "<20261126100000.12345@sender.example>"}, {Name: "MIME-Version", Value: "1.0"},
			{Name: "Content-Type", Value: "text/plain; charset=utf-8"},
		},
		Body: body,
	}
	// The first message is greylisted; after the delay, the triplet passes.
	env.Engine.Run(tx)
	clock.Advance(10 * time.Minute)
	if out := env.Engine.Run(tx); out.Final.Action != policy.Accept {
		b.Fatalf("the message is not accepted: %v", out.Final)
	}
	b.ReportAllocs()
	for b.Loop() {
		// The daemon writes its log to a file; the test's buffer is
		// emptied so that its growth is not counted as the engine's.
		env.Log.Reset()
		if out := env.Engine.Run(tx); out.Final.Action != policy.Accept {
			b.Fatalf("the message is not accepted: %v", out.Final)
		}
	}
}

// BenchmarkCorpusMessage runs the .eml corpus of the attachment tests
// (mime/testdata: real and hostile MIME, many of them defanged) through
// the default policy as BenchmarkDefaultPolicyMessage does, a message of
// the corpus in turn per iteration: what make bench's corpus row costs
// the engine, without the milter protocol.
//
//	go test -run '^$' -bench CorpusMessage -benchmem ./policy
func BenchmarkCorpusMessage(b *testing.B) {
	env := enginetest.New(b, "[milter]\nhostname = \"mx.example.org\"\ninternal_domains = [\"example.org\"]\n", spfZone...)
	st, clock, _ := withStore(b, env, 5*time.Second)
	env.Engine.UseStore(store.Cached(st, 10*time.Second, store.DefaultCacheKeys))
	files, err := filepath.Glob(filepath.Join("..", "mime", "testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus: %v", err)
	}
	var txs []policy.Transaction
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		h, body := mime.SplitMessage(raw)
		txs = append(txs, policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr(goodIP)}, Helo: "mail.sender.example",
			Mail: policy.MailInfo{Sender: "alice@sender.example"}, Rcpts: []string{"bob@example.org"},
			Headers: h, Body: body,
		})
	}
	// The triplet passes greylisting once, as in make bench.
	env.Engine.Run(txs[0])
	clock.Advance(10 * time.Minute)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		env.Log.Reset()
		env.Engine.Run(txs[i%len(txs)])
	}
}
