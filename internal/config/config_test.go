package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	if ps := Default().validate(); len(ps) > 0 {
		t.Fatalf("defaults do not validate: %v", ps)
	}
	if got := Default().Milter.Socket; got.Network != "tcp" || got.Address != "127.0.0.1:8895" || !got.Loopback() {
		t.Errorf("default socket = %+v, want loopback tcp 127.0.0.1:8895", got)
	}
}

func TestParseValues(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[milter]
socket = "unix:/run/maxwell/maxwell.sock"
timeout = 300          # bms.py style: seconds
shutdown_timeout = "1m30s"
exception_policy = "REJECT"
internal_connect = ["192.0.2.0/24", "127.*", "*.lan.example"]
internal_domains = ["example.org", "*.example.org"]

[dns]
servers = ["127.0.0.1:5353", "192.0.2.53"]
`))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Milter
	if m.Socket.Network != "unix" || m.Socket.Address != "/run/maxwell/maxwell.sock" {
		t.Errorf("socket = %+v", m.Socket)
	}
	if m.Timeout.D() != 300*time.Second || m.ShutdownTimeout.D() != 90*time.Second {
		t.Errorf("timeouts = %v, %v", m.Timeout, m.ShutdownTimeout)
	}
	if m.ExceptionPolicy != ExceptionReject {
		t.Errorf("exception_policy = %q", m.ExceptionPolicy)
	}
	if len(m.InternalConnect) != 3 || len(m.InternalDomains) != 2 {
		t.Errorf("lists = %v, %v", m.InternalConnect, m.InternalDomains)
	}
	if got := cfg.DNS.Servers; len(got) != 2 {
		t.Errorf("dns servers = %v", got)
	}
	if !cfg.Milter.DelayedReject || cfg.Milter.ConnectionHeader != "X-Maxwell-Connection" {
		t.Error("keys not in the file must keep their defaults")
	}
}

func TestParseGreylist(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[greylist]
pass_ttl = "1d12h"
whitelisted_triples = [["192.0.2.0/24", "<>", "Bob@Example.org"]]
whitelisted_nonstandard_triples = [["Relay.Example", "198.51.100", "bob@example.org"]]
`))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Greylist
	if g.PassTTL.D() != 36*time.Hour {
		t.Errorf("pass_ttl = %v, want 36h", g.PassTTL)
	}
	std, non := g.WhitelistedTriples[0], g.WhitelistedNonstd[0]
	if !std.Standard() || std.Client != netip.MustParsePrefix("192.0.2.0/24") || std.Sender != "" || std.Rcpt != "bob@example.org" {
		t.Errorf("standard triple = %+v", std)
	}
	if non.Standard() || non.Helo != "relay.example" || non.Client != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("non-standard triple = %+v", non)
	}
	if cfg.Greylist.Delay.D() != 5*time.Minute {
		t.Error("keys not in the file must keep their defaults")
	}
}

// preset = "kamaelia" gives the Kamaelia server's timers to the keys the
// file does not set; those it sets stay as set.
func TestGreylistPresetKamaelia(t *testing.T) {
	cfg, err := Parse("t.toml", []byte("[greylist]\npreset = \"kamaelia\"\npass_ttl = \"10d\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Greylist
	if g.Delay.D() != time.Hour || g.TooSoon.D() != 3*time.Minute || g.RetryWindow.D() != 25000*time.Second || g.PassTTL.D() != 10*24*time.Hour {
		t.Errorf("timers = %v %v %v %v, want 1h 3m 25000s and the file's 10d", g.Delay, g.TooSoon, g.RetryWindow, g.PassTTL)
	}
	if cfg, _ := Parse("t.toml", []byte("[greylist]\npreset = \"kamaelia\"\n")); cfg.Greylist.PassTTL.D() != 3000000*time.Second {
		t.Errorf("pass_ttl = %v, want max_grey, 3000000s", cfg.Greylist.PassTTL)
	}
	for src, msg := range map[string]string{
		"[greylist]\npreset = \"postgrey\"\n":                 `"postgrey" is not a preset`,
		"[greylist]\ntoo_soon = \"5m\"\n":                     "must be shorter than greylist.delay",
		"[greylist]\npreset = \"kamaelia\"\ndelay = \"2m\"\n": "greylist.too_soon", // 3m, not shorter than 2m
	} {
		if _, err := Parse("t.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", src, err, msg)
		}
	}
}

// Every error names the key and the line it is on.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		key, msg  string
	}{
		{"typo'd key", "[milter]\nsocket = \"inet:1@127.0.0.1\"\ninteral_connect = [\"10.0.0.0/8\"]\n",
			3, "milter.interal_connect", "unknown key"},
		{"unknown section", "\n[miltr]\nsocket = \"x\"\n", 2, "miltr", "unknown section; did you mean [milter]?"},
		{"misspelt key", "[greylist]\nretry_windw = \"2d\"\n", 2, "greylist.retry_windw", "unknown key; did you mean `retry_window`?"},
		{"swapped letters", "[greylist]\nretry_widnow = \"2d\"\n", 2, "greylist.retry_widnow", "did you mean `retry_window`?"},
		{"key of another section", "[greylist]\ndelayed_reject = false\n", 2, "greylist.delayed_reject", "unknown key; `delayed_reject` belongs in [milter]"},
		{"nothing like it", "[greylist]\nfrobnicate = 1\n", 2, "greylist.frobnicate", "unknown key"},
		{"unknown key in a list of tables", "[[dkim.keys]]\ndomain = \"example.org\"\nselectr = \"a\"\n", 3, "dkim.keys.selectr", "unknown key"},
		{"wrong type", "[milter]\ndelayed_reject = \"yes\"\n", 2, "milter.delayed_reject", "true or false is expected, not a string"},
		{"list expected", "[milter]\ninternal_connect = \"10.0.0.0/8\"\n", 2, "milter.internal_connect", `a list is expected, not a string: write ["a", "b"]`},
		{"number expected", "[milter]\nmax_demerits = \"5\"\n", 2, "milter.max_demerits", "a number is expected, not a string: write it without quotes"},
		{"whole number expected", "[milter]\nmax_demerits = 1.5\n", 2, "milter.max_demerits", "a whole number is expected"},
		{"string expected", "[milter]\nhostname = 5\n", 2, "milter.hostname", `a string is expected, not a number: write it in double quotes`},
		{"one value expected", "[milter]\nsocket = [\"unix:/a\"]\n", 2, "milter.socket", "one value is expected, not a list"},
		{"section expected", "milter = 5\n", 1, "milter", "a section is expected, not a number: write [milter] on a line of its own, its keys below it"},
		{"bad CIDR", "[milter]\n\ntrusted_relay = [\"192.0.2.0/33\"]\n", 3, "milter.trusted_relay", "invalid CIDR"},
		{"bad duration", "[dns]\ntimeout = \"5 parsecs\"\n", 2, "dns.timeout", "invalid duration"},
		{"negative duration", "[milter]\ntimeout = -5\n", 2, "milter.timeout", "positive"},
		{"bad socket", "[milter]\nsocket = \"tcp:8895\"\n", 2, "milter.socket", "unknown kind"},
		{"socket on a host name", "[milter]\nsocket = \"inet:8895@mx.example.org\"\n", 2, "milter.socket", `the host "mx.example.org" is not an address: write one of this host's addresses (inet:8895@127.0.0.1), localhost, or none`},
		{"negative max_sessions", "[milter]\nmax_sessions = -1\n", 2, "milter.max_sessions", "must not be negative"},
		{"negative flush_interval", "[log]\nflush_interval = \"-1s\"\n", 2, "log.flush_interval", "must not be negative"},
		{"bad policy", "[milter]\nexception_policy = \"explode\"\n", 2, "milter.exception_policy", "not one of"},
		{"bad porn word", "[defang]\nporn_words = [\"v{x}agra\"]\n", 2, "defang.porn_words", "unknown class"},
		{"bad dns server", "[dns]\nservers = [\"dns.example\"]\n", 2, "dns.servers", "invalid DNS server"},
		{"syntax", "[milter]\nsocket = \n", 2, "milter.socket", "expected value"},
		{"retry window", "[greylist]\ndelay = \"10m\"\nretry_window = \"5m\"\n", 3, "greylist.retry_window", "longer than greylist.delay"},
		{"short triple", "[greylist]\nwhitelisted_triples = [[\"192.0.2.1\", \"a@b.example\"]]\n", 2, "greylist.whitelisted_triples", "three strings"},
		{"triple of the other kind", "[greylist]\nwhitelisted_triples = [[\"mx.example\", \"192.0.2\", \"a@b.example\"]]\n", 2, "greylist.whitelisted_triples", "want [IP or CIDR"},
		{"bad prefix", "[greylist]\nipv4_prefix = 33\n", 2, "greylist.ipv4_prefix", "between 8 and 32"},
		{"bad days", "[greylist]\npass_ttl = \"35days\"\n", 2, "greylist.pass_ttl", "invalid duration"},
		{"store driver", "[store]\ndriver = \"mysql\"\n", 2, "store.driver", "is not \"sqlite\" or \"postgres\""},
		{"postgres without dsn", "[store]\n\ndriver = \"postgres\"\n", 0, "store.dsn", "needs a connection string"},
		{"srs without secret", "[srs]\nfwdomain = \"fwd.example\"\n", 2, "srs.fwdomain", "needs srs.secret"},
		{"srs empty secret", "[srs]\nsecret = [\"\"]\n", 2, "srs.secret", "secret 1 is empty"},
		{"srs secret of a number", "[srs]\nsecret = 5\n", 2, "srs.secret", "a secret (a string) or a list of them is expected"},
		{"srs separator", "[srs]\nsecret = \"s\"\nseparator = \"_\"\n", 3, "srs.separator", "must be =, + or -"},
		{"srs short hash", "[srs]\nsecret = \"s\"\nhashlength = 2\n", 3, "srs.hashlength", "between 4 and 27"},
		{"srs maxage", "[srs]\nsecret = \"s\"\nmaxage = 0\n", 3, "srs.maxage", "between 1 and 1023"},
		{"srs database", "[srs]\nsecret = \"s\"\ndatabase = \"/var/lib/srs\"\n", 3, "srs.database", "keeps no SRS database"},
		{"srs socketmap without a domain", "[srs]\nsecret = \"s\"\nsocketmap = \"inet:8896@127.0.0.1\"\n", 3, "srs.socketmap", "needs srs.fwdomain"},
		{"srs socketmap", "[srs]\nsecret = \"s\"\nfwdomain = \"f.example\"\nsocketmap = \"srs.sock\"\n", 4, "srs.socketmap", "invalid socket"},
		{"srs bad domain", "[srs]\nsecret = \"s\"\nses = [\"not a domain\"]\n", 3, "srs.ses", "is not a domain name"},
		{"srs missing pysrs file", "[srs]\nsecret = \"s\"\nconfig = \"testdata/no-such-pysrs.cfg\"\n", 3, "srs.config", "no-such-pysrs.cfg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.src))
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("err = %v, want Errors", err)
			}
			e := es[0]
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got line %d key %q msg %q; want line %d key %q msg containing %q", e.Line, e.Key, e.Msg, tt.line, tt.key, tt.msg)
			}
			if !strings.HasPrefix(e.Error(), "t.toml:") {
				t.Errorf("error %q does not start with the file name", e.Error())
			}
		})
	}
}

func TestParseSocket(t *testing.T) {
	tests := []struct {
		in, network, address string
		loopback             bool
	}{
		{"inet:8895@127.0.0.1", "tcp", "127.0.0.1:8895", true},
		{"inet:127.0.0.1:8895", "tcp", "127.0.0.1:8895", true},
		{"inet:8895@localhost", "tcp", "localhost:8895", true},
		{"inet:8895@localhost.", "tcp", "localhost:8895", true},
		{"inet:8895@LOCALHOST", "tcp", "localhost:8895", true},
		{"inet:LocalHost.:8895", "tcp", "localhost:8895", true},
		{"inet6:8895@localhost.", "tcp6", "localhost:8895", true},
		{"inet6:8895@::1", "tcp6", "[::1]:8895", true},
		{"inet:[::1]:8895", "tcp", "[::1]:8895", true},
		{"inet:8895", "tcp", ":8895", false},
		{"inet:8895@192.0.2.1", "tcp", "192.0.2.1:8895", false},
		{"unix:/run/m.sock", "unix", "/run/m.sock", true},
		{"local:/run/m.sock", "unix", "/run/m.sock", true},
	}
	for _, tt := range tests {
		s, err := ParseSocket(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if err := s.CheckHost(); err != nil {
			t.Errorf("%s: %v", tt.in, err)
		}
		if s.Network != tt.network || s.Address != tt.address || s.Loopback() != tt.loopback {
			t.Errorf("%s = %s %s loopback=%v; want %s %s %v", tt.in, s.Network, s.Address, s.Loopback(), tt.network, tt.address, tt.loopback)
		}
	}
	for _, bad := range []string{"8895", "inet:99999@127.0.0.1", "unix:relative.sock", "tcp:127.0.0.1:1", "inet:x@127.0.0.1"} {
		if _, err := ParseSocket(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestHostPattern(t *testing.T) {
	tests := []struct {
		pattern, ip, ptr string
		want             bool
	}{
		{"192.0.2.0/24", "192.0.2.77", "", true},
		{"192.0.2.0/24", "192.0.3.1", "", false},
		{"192.0.2.7", "192.0.2.7", "", true},
		{"192.0.2.7", "::ffff:192.0.2.7", "", true},
		{"2001:db8::/32", "2001:db8:1::5", "", true},
		{"127.*", "127.0.0.2", "", true},
		{"10.*.*.1", "10.9.8.1", "", true},
		{"10.*.*.1", "10.9.8.2", "", false},
		{"*.lan.example", "198.51.100.1", "pc7.lan.example", true},
		{"*.lan.example", "198.51.100.1", "", false},
		{"mx.example.net", "198.51.100.1", "MX.example.net.", true},
	}
	for _, tt := range tests {
		p, err := ParseHostPattern(tt.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		if got := p.Match(netip.MustParseAddr(tt.ip), tt.ptr); got != tt.want {
			t.Errorf("%s matches %s (%s) = %v, want %v", tt.pattern, tt.ip, tt.ptr, got, tt.want)
		}
	}
}

func TestWordPattern(t *testing.T) {
	re, err := WordPattern("v{i}{a}gr{a}")
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"VIAGRA": true, "v1@gra": true, "víägrã": true, "vagra": false, "v.i.a": false} {
		if re.MatchString(s) != want {
			t.Errorf("%q: got %v, want %v", s, !want, want)
		}
	}
	if re, _ := WordPattern("x.y"); re.MatchString("xzy") {
		t.Error("regexp metacharacters in words must be literal")
	}
}

// The example file shows every key with its default value, commented
// out, so uncommented it must parse to exactly the defaults.
func TestExampleFileIsTheDefaults(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "maxwell.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("maxwell.toml.example", []byte(uncomment(string(src))))
	if err != nil {
		t.Fatalf("example file, uncommented: %v", err)
	}
	if got, want := fmt.Sprintf("%+v", cfg), fmt.Sprintf("%+v", Default()); got != want {
		t.Errorf("the example file's values differ from the embedded defaults:\n got %s\nwant %s", got, want)
	}
}

// Every key is documented: in the example file and in docs/configuration.md.
func TestEveryKeyDocumented(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "maxwell.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := reflect.TypeOf(Config{})
	for i := 0; i < sections.NumField(); i++ {
		sec := sections.Field(i)
		name := sec.Tag.Get("toml")
		if !strings.Contains(string(example), "["+name+"]") || !strings.Contains(string(docs), "## ["+name+"]") {
			t.Errorf("section [%s] is missing from the example file or docs/configuration.md", name)
		}
		for j := 0; j < sec.Type.NumField(); j++ {
			key := sec.Type.Field(j).Tag.Get("toml")
			if !regexp.MustCompile(`(?m)^# ` + key + ` = `).Match(example) {
				t.Errorf("%s.%s is missing from maxwell.toml.example", name, key)
			}
			if !strings.Contains(string(docs), "`"+key+"`") {
				t.Errorf("%s.%s is missing from docs/configuration.md", name, key)
			}
		}
	}
}

// uncomment turns "# key = value" lines (a key with its default) into
// settings, leaving prose comments alone.
func uncomment(src string) string {
	var out []string
	for _, line := range strings.Split(src, "\n") {
		if body, ok := strings.CutPrefix(line, "# "); ok {
			if k, _, ok := strings.Cut(body, " = "); ok && !strings.ContainsAny(k, " \t") {
				line = body
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// [blocked_senders]: a sender is an address, a domain or a local part at
// any domain; an exception may also be a bare local part (Exim's
// exceptions.list), meaning that user at one of our domains, which
// internal_domains or hostname must then name.
func TestBlockedSendersEntries(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		key, msg  string // "" for a valid file
	}{
		{"bare sender", "[blocked_senders]\nsenders = [\"pest@annoying.example\", \"pest\"]\n",
			2, "blocked_senders.senders", `"pest" is not an address: write "pest@example.com", "@example.com" (a whole domain) or "pest@" (that local part at any domain)`},
		{"bare exception, no domain of ours", "[blocked_senders]\n\nexceptions = [\"bob\"]\n",
			3, "blocked_senders.exceptions", `"bob" means bob at one of our domains, and neither milter.internal_domains nor milter.hostname names one: set internal_domains, or write "bob@example.org"`},
		{"bare exception at internal_domains", "[milter]\ninternal_domains = [\"example.org\"]\n[blocked_senders]\nexceptions = [\"bob\", \"abuse@\"]\n", 0, "", ""},
		{"bare exception at hostname", "[milter]\nhostname = \"mx.example.org\"\n[blocked_senders]\nexceptions = [\"Bob\"]\n", 0, "", ""},
		{"whole addresses and domains", "[blocked_senders]\nsenders = [\"@spam.example\", \"pest@annoying.example\", \"pest@\"]\nexceptions = [\"abuse@example.org\", \"@example.net\"]\n", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.src))
			if tt.key == "" {
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				return
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("err = %v, want one error", err)
			}
			if e := es[0]; e.Line != tt.line || e.Key != tt.key || e.Msg != tt.msg {
				t.Errorf("got line %d key %q msg %q;\nwant line %d key %q msg %q", e.Line, e.Key, e.Msg, tt.line, tt.key, tt.msg)
			}
		})
	}
}

// A file that sets a list the defaults have leaves the defaults alone:
// the decoder writes into the slice it is given, which must not be the
// package's own (a reload would then start from the last file's list).
func TestParseLeavesDefaultsAlone(t *testing.T) {
	if _, err := Parse("t.toml", []byte("[defang]\nbanned_exts = [\"zzz\"]\n")); err != nil {
		t.Fatal(err)
	}
	if got := Default().Defang.BannedExts; got[0] != "ade" || BannedExts[0] != "ade" {
		t.Errorf("the default banned_exts now start with %q", got[0])
	}
}

// One run shows every problem of a file, a value of the wrong type
// among them (it hid the unknown keys), in the order of the file: the
// example of docs/configuration.md is testdata/broken.toml, and what the
// doc shows is what Parse says.
func TestEveryProblemAtOnce(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "broken.toml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, shown, ok := strings.Cut(string(docs), "$ maxwell config check broken.toml\n")
	shown, _, ok2 := strings.Cut(shown, "$ echo $?")
	if !ok || !ok2 {
		t.Fatal("docs/configuration.md no longer shows config check on broken.toml")
	}
	_, err = Parse("broken.toml", src)
	if err == nil || err.Error()+"\n" != shown {
		t.Errorf("Parse says:\n%v\ndocs/configuration.md shows:\n%s", err, shown)
	}
}

// A section is read however TOML writes it: a [milter] header, dotted
// keys, an inline table.
func TestSectionForms(t *testing.T) {
	for _, src := range []string{
		"[milter]\nsocket = \"inet:7@127.0.0.1\"\n",
		"milter.socket = \"inet:7@127.0.0.1\"\n",
		"milter = {socket = \"inet:7@127.0.0.1\"}\n",
	} {
		cfg, err := Parse("t.toml", []byte(src))
		if err != nil || cfg.Milter.Socket.Address != "127.0.0.1:7" {
			t.Errorf("%q: %v, socket %v", src, err, cfg)
		}
	}
}
