package config

import (
	"strings"
	"testing"
)

// [dnsbl] and [dnsbl_server]: what is refused, with the key it
// concerns, and what is read.
func TestDNSBLConfig(t *testing.T) {
	list := func(keys string) string { return "[[dnsbl.lists]]\nzone = \"bl.example\"\ntype = \"ip\"\n" + keys }
	for _, tc := range []struct{ src, err string }{
		{list(""), ""},
		{list("weight = 0"), ""},
		{list("weight = -1"), "dnsbl.lists[0].weight"},
		{list("weight = nan"), "dnsbl.lists[0].weight"},
		{list(`server = "127.0.0.1"`), ""},
		{list(`server = "127.0.0.1:5353"`), ""},
		{list(`server = "ns.bl.example:5353"`), "not a name"},
		{list(`codes = ["0.0.0.0/0"]`), ""},
		{list(`codes = ["127.0.0.9-127.0.0.2"]`), "dnsbl.lists[0].codes"},
		{list(`check = ["sender"]`), "dnsbl.lists[0].check"},
		{list("mask = 256"), "dnsbl.lists[0].mask"},
		{"[[dnsbl.lists]]\nzone = \"bl.example\"\n", "dnsbl.lists[0].type"},
		{"[[dnsbl.lists]]\nzone = \"bl\"\ntype = \"ip\"\n", "dnsbl.lists[0].zone"},
		{"[[dnsbl.lists]]\nzone = \"b l.example\"\ntype = \"ip\"\n", "dnsbl.lists[0].zone"},
		{"[dnsbl]\nreject_score = -1\n", "dnsbl.reject_score"},
		{"[dnsbl]\non_error = \"panic\"\n", "on_error"},
		{"[dnsbl_server]\nlisten = \"127.0.0.1:5353\"\n", "dnsbl_server.zone"},
		{"[dnsbl_server]\nlisten = \"127.0.0.1\"\nzone = \"rats.example\"\n", "dnsbl_server.listen"},
		{"[dnsbl_server]\nlisten = \"127.0.0.1:5353\"\nzone = \"rats.example\"\nttl = \"0s\"\n", "dnsbl_server.ttl"},
		{"[[reputation.peers]]\nname = \"a\"\nurl = \"http://127.0.0.1:8026\"\nsecret = \"0123456789abcdef0123456789\"\nweight = 0\n", "must be above 0"},
	} {
		cfg, err := Parse("t.toml", []byte(tc.src))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.src, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want an error about %s", tc.src, err, tc.err)
		case tc.src == list("weight = 0") && cfg.DNSBL.Lists[0].EffectiveWeight() != 0:
			t.Errorf("weight = 0 read as %v", cfg.DNSBL.Lists[0].EffectiveWeight())
		case tc.src == list("") && cfg.DNSBL.Lists[0].EffectiveWeight() != 1:
			t.Errorf("no weight read as %v", cfg.DNSBL.Lists[0].EffectiveWeight())
		}
	}
}
