package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/milter"
	"github.com/maxwell-milter/maxwell/policy"
)

const checkConfig = `
[milter]
internal_connect = ["192.0.2.0/24"]
internal_domains = ["example.org"]
hello_blacklist = ["mx.example.org"]
hostname = "mx.example.org"

[defang]
spam_words = ["$$$"]

[blocked_senders]
senders = ["pest@annoying.example"]

[dns]
servers = ["DNS"]
timeout = "300ms"
attempts = 1
`

// writeConfig starts a DNS server and writes a configuration using it
// (text's DNS placeholder); it returns the file and the server's address.
func writeConfig(t *testing.T, dir, text string) (path, dnsAddr string) {
	t.Helper()
	srv, err := dnstest.Start(
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		"8.100.51.198.in-addr.arpa. PTR localhost.",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`forged.example. TXT "v=spf1 mx -all"`,
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.Fail("9.100.51.198.in-addr.arpa", dnstest.Silent)
	path = filepath.Join(dir, "maxwell.toml")
	if err := os.WriteFile(path, []byte(strings.Replace(text, "DNS", srv.Addr, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, srv.Addr
}

// capture runs f with os.Stdout and os.Stderr going to strings.
func capture(t *testing.T, f func() int) (code int, stdout, stderr string) {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(outR); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(errR); errC <- string(b) }()
	code = f()
	os.Stdout, os.Stderr = oldOut, oldErr
	outW.Close()
	errW.Close()
	return code, <-outC, <-errC
}

// maxwell check gives the daemon's decision for the same input.
func TestCheckMatchesDaemon(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeConfig(t, dir, checkConfig)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(io.Discard), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(eng, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Second)
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	eml := filepath.Join(dir, "message.eml")
	tests := []struct {
		name, ip, helo, from, rcpt, subject string
		exit                                int
	}{
		{"clean", "198.51.100.7", "mail.sender.example", "alice@sender.example", "bob@example.org", "Hello", exitOK},
		{"numeric HELO", "198.51.100.7", "198.51.100.7", "alice@sender.example", "bob@example.org", "Hello", exitReject},
		{"HELO blacklist", "198.51.100.7", "mx.example.org", "alice@sender.example", "bob@example.org", "Hello", exitReject},
		{"zombie", "192.0.2.10", "pc10", "alice@sender.example", "bob@example.org", "Hello", exitReject},
		{"forgery, delayed", "198.51.100.7", "mail.sender.example", "boss@example.org", "bob@example.org", "Hello", exitReject},
		{"PTR localhost, delayed", "198.51.100.8", "h.example", "alice@sender.example", "bob@example.org", "Hello", exitReject},
		{"blocked sender", "198.51.100.7", "mail.sender.example", "pest@annoying.example", "bob@example.org", "Hello", exitTempfail},
		{"subject", "198.51.100.7", "mail.sender.example", "alice@sender.example", "bob@example.org", "Win $$$", exitReject},
		{"silent DNS", "198.51.100.9", "h.example", "alice@sender.example", "bob@example.org", "Hello", exitTempfail},
		{"internal", "192.0.2.10", "pc10", "carol@example.org", "bob@example.org", "Win $$$", exitOK},
	}
	resultRE := regexp.MustCompile(`(?m)^result +(\w+)(?: (.*))?$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := "From: <" + tt.from + ">\r\nTo: <" + tt.rcpt + ">\r\nSubject: " + tt.subject + "\r\n\r\nHello.\r\n"
			os.WriteFile(eml, []byte(msg), 0o644)
			code, out, errOut := capture(t, func() int {
				return run([]string{"check", "-c", cfgPath, "-ip", tt.ip, "-helo", tt.helo, "-from", tt.from, "-rcpt", tt.rcpt, eml})
			})
			if code != tt.exit {
				t.Fatalf("maxwell check exited %d, want %d\n%s%s", code, tt.exit, out, errOut)
			}
			m := resultRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no result line in:\n%s", out)
			}

			res, err := mtaclient.Send("tcp", ln.Addr().String(), policy.Transaction{
				Conn: policy.ConnInfo{IP: netip.MustParseAddr(tt.ip), Hostname: "unknown"}, Helo: tt.helo,
				Mail: policy.MailInfo{Sender: tt.from}, Rcpts: []string{tt.rcpt},
				Headers: []policy.Header{{Name: "From", Value: "<" + tt.from + ">"}, {Name: "To", Value: "<" + tt.rcpt + ">"}, {Name: "Subject", Value: tt.subject}},
			}, []byte("Hello.\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			daemonReply := regexp.MustCompile(`(?m)^(\d{3})-`).ReplaceAllString(res.Action.SMTPReply, "$1 ")
			daemonReply = strings.ReplaceAll(daemonReply, "\r\n", " | ")
			if res.Accepted() {
				if tt.exit != exitOK || m[1] != "accept" {
					t.Errorf("daemon accepted, check said %q", m[0])
				}
				return
			}
			if m[2] != daemonReply {
				t.Errorf("check: %q\ndaemon: %q (%s)", m[2], daemonReply, res.Stage)
			}
		})
	}
}

func TestConfigCheckExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[milter]\nsocket = \"inet:8895@127.0.0.1\"\n\nhelo_blacklist = [\"mx.example.org\"]\n"), 0o644)
	code, _, stderr := capture(t, func() int { return run([]string{"config", "check", bad}) })
	if code != 2 || !strings.Contains(stderr, "bad.toml:4: milter.helo_blacklist: unknown key") {
		t.Errorf("exit %d, stderr %q; want 2 naming the key and line 4", code, stderr)
	}
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[milter]\nhello_blacklist = [\"mx.example.org\"]\n"), 0o644)
	if code, out, _ := capture(t, func() int { return run([]string{"config", "check", good}) }); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("valid file: exit %d, %q", code, out)
	}
	if code, _, stderr := capture(t, func() int { return run([]string{"config", "check", filepath.Join(dir, "missing.toml")}) }); code != exitUsage || !strings.Contains(stderr, "missing.toml: does not exist") {
		t.Errorf("missing file: exit %d, %q; want %d, as documented", code, stderr, exitUsage)
	}
	access := filepath.Join(dir, "access")
	os.WriteFile(access, []byte("Connect:192.0.2.1 RELAY\nSPF-Neutral:aol.com MAYBE\n"), 0o644)
	withAccess := filepath.Join(dir, "access.toml")
	os.WriteFile(withAccess, []byte("[spf]\naccess_file = \""+access+"\"\n"), 0o644)
	if code, _, stderr := capture(t, func() int { return run([]string{"config", "check", withAccess}) }); code != exitUsage || !strings.Contains(stderr, access+":2: \"MAYBE\" is not a policy") {
		t.Errorf("bad access file: exit %d, %q; want 2 naming its line 2", code, stderr)
	}

	// Without FILE: the file serve reads without -c, if there is one.
	useDefaultConfig(t, filepath.Join(dir, "etc-maxwell.toml"))
	if code, _, stderr := capture(t, func() int { return run([]string{"config", "check"}) }); code != exitUsage || !strings.Contains(stderr, "no FILE given, and "+defaultConfigFile+" does not exist") {
		t.Errorf("no FILE, no %s: exit %d, %q; want %d naming it", defaultConfigFile, code, stderr, exitUsage)
	}
	os.WriteFile(defaultConfigFile, []byte("[milter]\nhello_blacklist = [\"mx.example.org\"]\n"), 0o644)
	if code, out, _ := capture(t, func() int { return run([]string{"config", "check"}) }); code != 0 || out != defaultConfigFile+": ok\n" {
		t.Errorf("no FILE, %s there: exit %d, %q", defaultConfigFile, code, out)
	}
}

func TestCheckPrintsTheMessage(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeConfig(t, dir, checkConfig)
	eml := filepath.Join(dir, "m.eml")
	os.WriteFile(eml, []byte("Return-Path: <alice@sender.example>\nTo: Bob <bob@example.org>, carol@example.org\nSubject: Hi\n\nBody line.\n"), 0o644)
	code, out, _ := capture(t, func() int {
		return run([]string{"check", "-c", cfgPath, "-ip", "198.51.100.7", "-helo", "mail.sender.example", eml})
	})
	for _, want := range []string{
		"rcpt to bob@example.org", "rcpt to carol@example.org", // recipients from To
		`event="mail from" from=alice@sender.example`, // sender from Return-Path
		"--- message\nReceived-SPF: pass (mx.example.org: ",
		"\nX-Maxwell-Connection: class=\"EXTERNAL\"; ip=198.51.100.7; ptr=mail.sender.example; helo=mail.sender.example\nReturn-Path:",
		"\n\nBody line.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestTemplatesCheck(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "softfail.txt"), []byte("Subject: x\n\n{{.Sender}} from {{.IP}}\n"), 0o644)
	if code, out, errs := capture(t, func() int { return run([]string{"templates", "check", dir}) }); code != exitOK || !strings.Contains(out, "ok") {
		t.Errorf("good dir: %d %s%s", code, out, errs)
	}
	os.WriteFile(filepath.Join(dir, "fail.txt"), []byte("Subject: x\n\n{{.Sendr}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "softfial.txt"), []byte("Subject: x\n"), 0o644)
	code, _, errs := capture(t, func() int { return run([]string{"templates", "check", dir}) })
	if code != exitUsage || !strings.Contains(errs, "fail.txt") || !strings.Contains(errs, "Sendr") || !strings.Contains(errs, "softfial.txt: not a DSN template") {
		t.Errorf("bad dir: status %d\n%s", code, errs)
	}
}

// maxwell report reads gzipped logs as well as plain ones.
func TestReportGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log.gz")
	f, _ := os.Create(path)
	zw := gzip.NewWriter(f)
	stamp := time.Now().UTC().Format(time.RFC3339) // maxwell's commands run on the real clock, and so do their tests
	zw.Write([]byte(stamp + " conn=1 event=connect ip=192.0.2.1\n" + stamp + " conn=1 event=eom action=accept\n"))
	zw.Close()
	f.Close()
	code, out, errs := capture(t, func() int { return run([]string{"report", path}) })
	if code != exitOK || !strings.Contains(out, "total            1         0         1") {
		t.Errorf("status %d\n%s%s", code, out, errs)
	}
}

// The envelope sender of maxwell check: --from '<>' and --from ” are the
// null sender, as MAIL FROM:<> is; without --from, the Return-Path of the
// message (Return-Path: <> too), else its From.
func TestCheckEnvelopeSender(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeConfig(t, dir, checkConfig)
	eml := filepath.Join(dir, "m.eml")
	tests := []struct {
		name    string
		flags   []string
		header  string
		logLine string
	}{
		{"--from '<>'", []string{"-from", "<>"}, "From: <alice@sender.example>\n", `from="" bounce=true`},
		{"--from ''", []string{"-from", ""}, "From: <alice@sender.example>\n", `from="" bounce=true`},
		{"--from in brackets", []string{"-from", "<alice@sender.example>"}, "", "from=alice@sender.example"},
		{"Return-Path: <>", nil, "Return-Path: <>\nFrom: Mail Delivery System <MAILER-DAEMON@sender.example>\n", `from="" bounce=true`},
		{"Return-Path", nil, "Return-Path: <alice@sender.example>\nFrom: <carol@sender.example>\n", "from=alice@sender.example"},
		{"From", nil, "From: Alice <alice@sender.example>\n", "from=alice@sender.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(eml, []byte(tt.header+"To: <bob@example.org>\nSubject: Hi\n\nHello.\n"), 0o644)
			args := append([]string{"check", "-c", cfgPath, "-ip", "198.51.100.7", "-helo", "mail.sender.example"}, tt.flags...)
			code, out, errs := capture(t, func() int { return run(append(args, eml)) })
			if !strings.Contains(out, `event="mail from" `+tt.logLine) {
				t.Errorf("exit %d; the mail log lacks %q:\n%s%s", code, `event="mail from" `+tt.logLine, out, errs)
			}
		})
	}
}

// A message saved from a mailbox starts with an mbox "From " line: it is
// not a header field, and maxwell check skips it (only as the first line).
func TestCheckMboxFromLine(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeConfig(t, dir, checkConfig)
	eml := filepath.Join(dir, "saved.mbox")
	fromLine := "From alice@sender.example " + time.Now().UTC().Format(time.ANSIC) // the line mbox writers put first
	os.WriteFile(eml, []byte(fromLine+"\nFrom: <alice@sender.example>\nTo: <bob@example.org>\nSubject: Hi\n\nHello.\n"), 0o644)
	code, out, errs := capture(t, func() int {
		return run([]string{"check", "-c", cfgPath, "-ip", "198.51.100.7", "-helo", "mail.sender.example", eml})
	})
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	_, msg, _ := strings.Cut(out, "--- message\n")
	if strings.Contains(msg, "From alice") || !strings.Contains(msg, "\nFrom: <alice@sender.example>\nTo: <bob@example.org>\nSubject: Hi\n\nHello.\n") {
		t.Errorf("the message as delivered:\n%s", msg)
	}

	// Further down, a line without a colon is no header field at all.
	os.WriteFile(eml, []byte("From: <alice@sender.example>\n"+fromLine[:len("From alice@sender.example")]+"\nTo: <bob@example.org>\n\nHello.\n"), 0o644)
	code, out, errs = capture(t, func() int { return run([]string{"check", "-c", cfgPath, eml}) })
	if code != exitFailure || !strings.Contains(errs, `malformed header line "From alice@sender.example"`) {
		t.Errorf("a From line after the first: exit %d\n%s%s", code, out, errs)
	}
}

// maxwell check and maxwell spf are dry runs: with every path of the
// configuration pointing into one directory (datadir, the store, the mail
// log, the wiretap archive, the watcher's state), and a message that is
// spooled, defanged (its original saved), wiretapped and archived, that
// directory is left as it was.
func TestDryRunsWriteNothing(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o750)
	os.Mkdir(filepath.Join(state, "data"), 0o750)
	os.WriteFile(filepath.Join(state, "archive.mbox"), []byte("From old@sender.example Thu Jan  1 00:00:00 1970\nSubject: old\n\nold\n\n"), 0o600)
	os.WriteFile(filepath.Join(state, "mail.log"), []byte("an older line\n"), 0o640)
	cfgPath, _ := writeConfig(t, dir, fmt.Sprintf(`
[milter]
datadir = %[1]q
spool_threshold = 16
internal_connect = ["192.0.2.0/24"]
[store]
path = %[2]q
[wiretap]
archive = %[3]q
users = ["bob@example.org"]
dest = "tap@example.org"
[log]
mail_log = %[4]q
[watch]
state_file = %[5]q
[dns]
servers = ["DNS"]
timeout = "300ms"
`, filepath.Join(state, "data"), filepath.Join(state, "maxwell.db"), filepath.Join(state, "archive.mbox"),
		filepath.Join(state, "mail.log"), filepath.Join(state, "watch.state")))
	eml := filepath.Join(dir, "m.eml")
	os.WriteFile(eml, []byte("From: <alice@sender.example>\nTo: <bob@example.org>\nSubject: the file\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nHere it is, a long enough text to be spooled.\n"+
		"--b\nContent-Type: application/octet-stream; name=\"run.exe\"\nContent-Disposition: attachment; filename=\"run.exe\"\n"+
		"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n--b--\n"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		want []string // in the output: the message went all the way
	}{
		{"check", []string{"check", "-c", cfgPath, "-ip", "198.51.100.7", "-helo", "mail.sender.example", eml},
			[]string{"WARNING.TXT", "rcpt=tap@example.org", "result                 accept"}},
		{"spf", []string{"spf", "-c", cfgPath, "--ip", "192.0.2.7", "--helo", "pc7.example.org", "--sender", "bob@example.org"},
			[]string{"accept (2 edits) at end of message"}}, // the wiretap's recipient and Cc
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, state)
			code, out, errs := capture(t, func() int { return run(tt.args) })
			for _, w := range tt.want {
				if code != exitOK || !strings.Contains(out, w) {
					t.Fatalf("want the message accepted (%q): exit %d\n%s%s", w, code, out, errs)
				}
			}
			if after := snapshot(t, state); after != before {
				t.Errorf("maxwell %s changed %s:\nbefore:\n%safter:\n%s", tt.name, state, before, after)
			}
		})
	}
}

// snapshot describes every file under dir: name, mode, size, contents'
// modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %s\n", strings.TrimPrefix(path, dir), fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// maxwell config check refuses a blocked-senders exception written as a
// bare local part when no domain of ours says where that user is.
func TestConfigCheckBlockedSenders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maxwell.toml")
	os.WriteFile(path, []byte("[blocked_senders]\nsenders = [\"pest@annoying.example\"]\nexceptions = [\"bob\"]\n"), 0o644)
	code, _, stderr := capture(t, func() int { return run([]string{"config", "check", path}) })
	if code != exitUsage || !strings.Contains(stderr, `maxwell.toml:3: blocked_senders.exceptions: "bob" means bob at one of our domains`) {
		t.Errorf("exit %d, stderr %q; want %d naming the entry", code, stderr, exitUsage)
	}
	os.WriteFile(path, []byte("[milter]\ninternal_domains = [\"example.org\"]\n[blocked_senders]\nsenders = [\"pest@annoying.example\"]\nexceptions = [\"bob\"]\n"), 0o644)
	if code, out, errs := capture(t, func() int { return run([]string{"config", "check", path}) }); code != exitOK {
		t.Errorf("with internal_domains: exit %d %s%s", code, out, errs)
	}
}

// A whole bms.py configuration (pymilter's template, every key set),
// imported, is a file config check accepts; what could not be carried is
// said on standard error. Its paths are moved under the test's directory,
// where config check finds them.
func TestConfigImport(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../internal/config/testdata/milter.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"run", "mail", "log"} {
		os.Mkdir(filepath.Join(dir, d), 0o750)
	}
	os.WriteFile(filepath.Join(dir, "mail", "access"), []byte("SPF-Neutral:aol.example REJECT\n"), 0o640)
	os.MkdirAll(filepath.Join(dir, "lib"), 0o750)
	os.WriteFile(filepath.Join(dir, "lib", "bigcorp.example"), []byte("joe mary\n"), 0o640) // check_user's file:
	cfg := strings.NewReplacer("/var/lib/milter", filepath.Join(dir, "lib"), "/var/run/milter", filepath.Join(dir, "run"),
		"/etc/mail/", filepath.Join(dir, "mail")+"/", "/var/log/", filepath.Join(dir, "log")+"/",
		"testdata/pysrs.cfg", mustAbs(t, "../../internal/config/testdata/pysrs.cfg")).Replace(string(src))
	milterCfg := filepath.Join(dir, "milter.cfg")
	os.WriteFile(milterCfg, []byte(cfg), 0o644)

	code, out, stderr := capture(t, func() int { return run([]string{"config", "import", milterCfg}) })
	if code != exitOK || !strings.Contains(stderr, "22 keys of "+milterCfg+" not carried over") || !strings.Contains(stderr, "[dspam] honeypot: dspam") {
		t.Fatalf("config import: exit %d\n%s", code, stderr)
	}
	imported := filepath.Join(dir, "maxwell.toml")
	os.WriteFile(imported, []byte(out), 0o644)
	if code, out, stderr := capture(t, func() int { return run([]string{"config", "check", imported}) }); code != exitOK {
		t.Errorf("config check of the imported file: exit %d\n%s%s\n%s", code, out, stderr, mustRead(t, imported))
	}
}

func mustAbs(t *testing.T, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
