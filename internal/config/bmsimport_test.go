package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// pymilter's milter.cfg, every key set (testdata/milter.cfg), carried
// over: each key is either in the result, with bms.py's meaning, or
// listed as not carried, with a reason; the result parses.
func TestImportBMS(t *testing.T) {
	src, err := os.ReadFile("testdata/milter.cfg")
	if err != nil {
		t.Fatal(err)
	}
	out, dropped, err := ImportBMS("milter.cfg", src)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("imported", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"socket", cfg.Milter.Socket.String(), "unix:/var/run/milter/pythonsock"},
		{"tempdir", cfg.Milter.TempDir, "/var/log/milter/save"},
		{"timeout", cfg.Milter.Timeout.D(), 10 * time.Minute},
		{"log_headers", cfg.Milter.LogHeaders, true},
		{"internal_connect", len(cfg.Milter.InternalConnect), 2},
		{"check_user, its file: entry too", cfg.Milter.CheckUser, []string{"joe@mycorp.example", "mary@mycorp.example", "file:bigcorp.example"}},
		{"max_demerits", cfg.Milter.MaxDemerits, 3},
		{"case_sensitive_localpart", cfg.Milter.CaseSensitiveLocalpart, true},
		{"scan_zip (yes)", cfg.Defang.ScanZip, true},
		{"scan_html (0)", cfg.Defang.ScanHTML, false},
		{"block_chinese = 0: no charset blocked", len(cfg.Defang.BlockCharsets), 0},
		{"porn_words over continuation lines", len(cfg.Defang.PornWords), 14},
		{"from_words, the ; comment cut", cfg.Defang.FromWords, []string{"Stimulus", "Diabetes", "Trivia"}},
		{"banned_exts", len(cfg.Defang.BannedExts), 17},
		{"srs banned_users", cfg.SRS.BannedUsers, []string{"postmaster", "mailer-daemon", "clamav"}},
		// pysrs.cfg is read after milter.cfg, as bms.py read it: its
		// values win; ConfigParser keeps quotes.
		{"srs secret: pysrs.cfg's, its old one after it", []string(cfg.SRS.Secret), []string{`"from pysrs.cfg"`, "an older secret"}},
		{"srs maxage: pysrs.cfg's over milter.cfg's", cfg.SRS.MaxAge, 30},
		{"srs hashlength: pysrs.cfg's", cfg.SRS.HashLength, 6},
		{"srs fwdomain", cfg.SRS.FwDomain, "mydomain.example"},
		{"srs reject_spoofed (0)", cfg.SRS.RejectSpoofed, false},
		{"srs separator from pysrs.cfg", cfg.SRS.Separator, "+"},
		{"srs ses from pysrs.cfg", cfg.SRS.SES, []string{"ours.example", "other.example"}},
		{"srs sign from pysrs.cfg", cfg.SRS.Sign, []string{"signed.example"}},
		{"srs nosrs from pysrs.cfg", cfg.SRS.NoSRS, []string{"braindead.example"}},
		{"access_file: the text beside access.db", cfg.SPF.AccessFile, "/etc/mail/access"},
		{"supply_sender", cfg.SPF.SupplySender, true},
		{"hide_path, its tab trimmed", len(cfg.Scrub.HidePath), 1},
		{"wiretap discard_users", cfg.Wiretap.Discard, []string{"canned@bigcorp.example"}},
		{"wiretap mail_archive", cfg.Wiretap.Archive, "/var/log/mail_archive"},
		{"smart_alias without destination: the alias", cfg.Wiretap.SmartAlias[1], []string{"client@clientcorp.example", "sue@bigcorp.example", "copycust"}},
		{"smart_alias over a continuation line", len(cfg.Wiretap.SmartAlias[2]), 4},
		{"dspam whitelist_senders", len(cfg.Whitelist.Senders), 1},
		{"greylist time (minutes)", cfg.Greylist.Delay.D(), 5 * time.Minute},
		{"greylist expire (hours)", cfg.Greylist.RetryWindow.D(), 6 * time.Hour},
		{"greylist retain (days)", cfg.Greylist.PassTTL.D(), 36 * 24 * time.Hour},
	} {
		if g, w := toString(c.got), toString(c.want); g != w {
			t.Errorf("%s: %s, want %s", c.what, g, w)
		}
	}

	entries, _ := parseINI("milter.cfg", src)
	carried := 0
	for _, e := range entries {
		if k, ok := bmsKeys[e.section+"."+e.key]; ok && k.why == "" || e.section == "smart_alias" {
			carried++
		}
	}
	var droppedKeys []string
	for _, d := range dropped {
		if d.Why == "" {
			t.Errorf("%s: no reason", d)
		}
		droppedKeys = append(droppedKeys, d.Section+"."+d.Key)
	}
	if carried+len(dropped) != len(entries) {
		t.Errorf("%d keys carried and %d dropped of %d: some key vanished\n%v", carried, len(dropped), len(entries), droppedKeys)
	}
	for _, want := range []string{"srs.database",
		"dspam.honeypot", "dspam.whitelist_mx", "gossip.peers", "greylist.dbfile"} {
		if !slices.Contains(droppedKeys, want) {
			t.Errorf("%s is not listed as not carried over", want)
		}
	}
	if !strings.Contains(string(out), "\nscan_html = false\n") {
		t.Errorf("scan_html = 0 is not carried over as false:\n%s", out)
	}
	if !strings.Contains(string(out), "# Not carried over from \"milter.cfg\":\n#   line 38: [srs] database: ") {
		t.Errorf("the output does not list what it left out:\n%s", out)
	}
}

// toString prints a value of the table above.
func toString(v any) string {
	if l, ok := v.([]string); ok {
		return strings.Join(l, ",")
	}
	return fmt.Sprint(v)
}

// Errors name the line: a value bms.py would have refused, a line that is
// no INI.
func TestImportBMSErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[milter]\nlog_headers = maybe\n", `m.cfg:2: [milter] log_headers: "maybe" is not a boolean`},
		{"[milter]\nmax_demerits = three\n", `m.cfg:2: [milter] max_demerits: "three" is not a whole number`},
		{"[greylist]\ntime = soon\n", `m.cfg:2: [greylist] time: "soon" is not a number`},
		{"log_headers = 1\n", "m.cfg:1: a key before any [section]"},
		{"[milter\n", "m.cfg:1: a section header without ]"},
		{"[milter]\njust words\n", "m.cfg:2: neither a section, a key = value nor a comment"},
		{"[smart_alias]\nx = only@one.example\n", "m.cfg:2: [smart_alias] x: a sender and a recipient are needed"},
		{"[defang]\nblock_chinese = sometimes\n", `m.cfg:2: [defang] block_chinese: "sometimes" is not a boolean`},
	} {
		_, _, err := ImportBMS("m.cfg", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}

// block_chinese = 1 becomes the two charsets bms.py refused for it.
func TestImportBlockChinese(t *testing.T) {
	out, _, err := ImportBMS("m.cfg", []byte("[defang]\nblock_chinese = yes\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "block_charsets = [\"big5\", \"iso-2022-jp\"]\n") {
		t.Errorf("block_chinese = yes:\n%s", out)
	}
}

// What ConfigParser makes of a file, the import makes too: %(key)s
// from the section or [DEFAULT] and %% (interpolation), line ends of
// any kind; values TOML would read otherwise are written so that they
// read back as they were; odd key names do not break the output.
func TestImportBMSAsConfigParser(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		check     func(cfg *Config) bool
	}{
		{"%(key)s in the section", "[milter]\ndatadir = /var/lib/milter\ntempdir = %(datadir)s/save\n",
			func(c *Config) bool { return c.Milter.TempDir == "/var/lib/milter/save" }},
		{"%(key)s from [DEFAULT], %%", "[DEFAULT]\nbase = /srv\n[milter]\ndatadir = %(base)s/milter\n[defang]\nspam_words = 100%% free\n",
			func(c *Config) bool { return c.Milter.DataDir == "/srv/milter" && c.Defang.SpamWords[0] == "100% free" }},
		{"CR line ends", "[milter]\rdatadir = /a\rlog_headers = 1\r", func(c *Config) bool { return c.Milter.DataDir == "/a" && c.Milter.LogHeaders }},
		{"CRLF line ends", "[milter]\r\ndatadir = /a\r\n", func(c *Config) bool { return c.Milter.DataDir == "/a" }},
		{"a backslash and a quote", "[wiretap]\ndest = a\\b\"c@example.org\n", func(c *Config) bool { return c.Wiretap.Dest == "a\\b\"c@example.org" }},
		{"a control character", "[defang]\nspam_words = a\vb\n", func(c *Config) bool { return c.Defang.SpamWords[0] == "a\vb" }},
		{"an odd key name", "[milter]\nx\x01y = 1\ndatadir = /a\n", func(c *Config) bool { return c.Milter.DataDir == "/a" }},
	} {
		out, _, err := ImportBMS("m.cfg", []byte(tc.src))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		cfg, err := Parse("imported", out)
		if err != nil || !tc.check(cfg) {
			t.Errorf("%s: %v\n%s", tc.name, err, out)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{"[milter]\ndatadir = caf\xe9\n", "m.cfg:2: [milter] datadir: the value is not UTF-8"},
		{"[milter]\ntempdir = %(nowhere)s\n", "m.cfg:2: [milter] tempdir: %(nowhere)s names no key of [milter] or [DEFAULT]"},
		{"[defang]\nspam_words = 100% free\n", "m.cfg:2: [defang] spam_words: a % that is neither %% nor %(key)s"},
		{"[greylist]\ntime = nan\n", `m.cfg:2: [greylist] time: "nan" is not a number of minutes`},
		{"[greylist]\nretain = 1e300\n", `m.cfg:2: [greylist] retain: "1e300" is not a number of days`},
	} {
		if _, _, err := ImportBMS("m.cfg", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}

// A long value over continuation lines is read in time linear in its
// length (it was quadratic: an hour for a file of the largest size).
func TestImportBMSLongValue(t *testing.T) {
	var b strings.Builder
	b.WriteString("[defang]\nspam_words = w0")
	for i := 1; i < 200_000; i++ {
		fmt.Fprintf(&b, ",\n\tw%d", i)
	}
	out, _, err := ImportBMS("m.cfg", []byte(b.String()+"\n"))
	if err != nil || !strings.Contains(string(out), `"w199999"]`) {
		t.Errorf("%v", err)
	}
}
