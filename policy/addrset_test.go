package policy

import "testing"

// An address set matches whole addresses, @domains and local parts at any
// domain ("user@"), and bare local parts as has asks; local parts as
// written only when case-sensitive, domains in any case always.
func TestAddrSet(t *testing.T) {
	entries := []string{"Joe@Example.org", "@Lists.example", "Postmaster@", "Abuse"}
	for _, tc := range []struct {
		addr            string
		insensitive, cs bool
	}{
		{"Joe@example.ORG", true, true},
		{"joe@example.org", true, false},
		{"anyone@LISTS.example", true, true},
		{"Postmaster@elsewhere.example", true, true},
		{"postmaster@elsewhere.example", true, false},
		{"someone@example.org", false, false},
	} {
		for _, cs := range []bool{false, true} {
			want := tc.insensitive
			if cs {
				want = tc.cs
			}
			if got := newAddrSet(entries, cs).match(tc.addr); got != want {
				t.Errorf("case-sensitive %v: match(%q) = %v, want %v", cs, tc.addr, got, want)
			}
		}
	}
	if s := newAddrSet(entries, true); !s.has("Abuse") || s.has("abuse") {
		t.Errorf("case-sensitive: a bare local part matches otherwise than as written")
	}
	if s := newAddrSet(entries, false); !s.has("abuse") {
		t.Errorf("case-insensitive: a bare local part does not match in another case")
	}
}
