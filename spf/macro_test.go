package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// expand keeps only the end of a long expansion as it goes; what it
// returns must be what expanding everything and then dropping labels on
// the left until the name fits gives (RFC 7208 §7.3).
func TestExpandLongNames(t *testing.T) {
	fit := func(name string) string {
		for len(strings.TrimSuffix(name, ".")) > 253 && strings.Contains(name, ".") {
			name = name[strings.IndexByte(name, '.')+1:]
		}
		return name
	}
	long := strings.Repeat("a", 300) // longer than an address can be: cut to its last 256 bytes
	for _, c := range []struct {
		spec, local, want string
	}{
		{"%{l}.x.example", "alice", "alice.x.example"},
		{strings.Repeat("%{l}.", 100) + "x.example", "abcdefghij", fit(strings.Repeat("abcdefghij.", 100) + "x.example")},
		{strings.Repeat("%{l}.", 100) + "x.example", "a.b.c", fit(strings.Repeat("a.b.c.", 100) + "x.example")},
		{strings.Repeat("%{l}", 3000) + ".x.example", "ab", "x.example"},
		{"%{l}.x.example", long, "x.example"},
		{"%{l}." + strings.Repeat("y.", 120) + "x.example", "alice", fit("alice." + strings.Repeat("y.", 120) + "x.example")},
		{"%{l}.%{l1r}.%{l}.x.example", "a.b", "a.b.a.a.b.x.example"},
	} {
		ev := &evaluation{client: netip.MustParseAddr("192.0.2.1"), sender: c.local + "@sender.example"}
		if got := ev.expand(context.Background(), c.spec, "sender.example"); got != c.want {
			t.Errorf("expand(%.40q…, local %.20q…) = %q, want %q", c.spec, c.local, got, c.want)
		}
	}
}

// A record of many macros of a client's long local part, as the review
// of issue 18 published one: 15 000 %{l} of a 2 000-byte local part.
func BenchmarkExpandManyMacros(b *testing.B) {
	spec := strings.Repeat("%{l}", 15000) + ".x.example"
	ev := &evaluation{client: netip.MustParseAddr("192.0.2.1"), sender: strings.Repeat("a", 2000) + "@sender.example"}
	for b.Loop() {
		if got := ev.expand(context.Background(), spec, "sender.example"); got != "x.example" {
			b.Fatal(got)
		}
	}
}
