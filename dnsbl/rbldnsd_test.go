package dnsbl

import (
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/store"
)

// A reason comes from outside (an administrator's --reason, a log line
// watch read): it stays on its line of the zone, without rbldnsd's '$',
// and cut to one TXT string; what is not an address is left out.
func TestWriteRbldnsdHostileReasons(t *testing.T) {
	var b strings.Builder
	err := WriteRbldnsd(&b, []store.Ban{
		{Kind: store.BanIP, Key: "192.0.2.1", Reason: "x\n192.0.2.99 :127.0.0.2:injected\r\n$DATASET ip4set:evil @"},
		{Kind: store.BanClient, Key: "::ffff:192.0.2.2", Reason: strings.Repeat("long ", 100)},
		{Kind: store.BanClient, Key: "not-an-ip", Reason: "?"},
		{Kind: store.BanSender, Key: "a@example.com", Reason: "sender"},
	}, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	zone := b.String()
	lines := strings.Split(strings.TrimSpace(zone), "\n")
	var entries []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "$") {
			entries = append(entries, l)
		}
	}
	if len(entries) != 4 { // two bans, two RFC 5782 test entries
		t.Fatalf("%d entries, want 4:\n%s", len(entries), zone)
	}
	if strings.Count(zone, "$DATASET") != 2 || strings.Contains(zone, "not-an-ip") || strings.Contains(zone, "a@example.com") {
		t.Errorf("zone:\n%s", zone)
	}
	for _, e := range entries {
		if strings.HasPrefix(e, "192.0.2.2 ") && len(e) > len("192.0.2.2 :127.0.0.2:")+255 {
			t.Errorf("a TXT of %d bytes", len(e))
		}
	}
	if !strings.Contains(zone, "192.0.2.2 :127.0.0.2:client: long") {
		t.Errorf("the IPv4-mapped address is not written as IPv4:\n%s", zone)
	}
}
