package milter

import (
	"net/netip"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/policy"
)

// BenchmarkMessage sends 8 KiB messages through the real server, one per
// milter connection as Postfix does, with every check off (the cost of
// the protocol, the session and the body spool) and with the default
// policy for an internal client. Server and client share the process:
// compare the two, not the absolute figure.
//
//	go test -run '^$' -bench Message -cpuprofile cpu.out ./milter
func BenchmarkMessage(b *testing.B) {
	for _, tc := range []struct{ name, config string }{
		{"noop", "[milter]\ninternal_connect = [\"0.0.0.0/0\"]\nconnection_header = \"\"\n[defang]\nbanned_exts = []\nscan_zip = false\nscan_rfc822 = false\n"},
		{"internal-default", "[milter]\ninternal_connect = [\"0.0.0.0/0\"]\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			env := enginetest.New(b, tc.config+"[dns]\ntimeout = \"1s\"\n")
			addr := start(b, env)
			body := make([]byte, 0, 8192)
			for len(body) < 8192 {
				body = append(body, "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"...)
			}
			tx := policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.7")}, Helo: "pc.example.org",
				Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@example.org"}, Headers: headers}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r, err := mtaclient.Send("tcp", addr, tx, body); err != nil || !r.Accepted() {
						b.Fatal(r.Action, err)
					}
				}
			})
		})
	}
}
