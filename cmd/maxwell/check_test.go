package main

import (
	"compress/gzip"
	"context"
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
