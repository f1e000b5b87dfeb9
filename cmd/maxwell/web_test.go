package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"golang.org/x/crypto/bcrypt"
)

// web passwd: a cost-12 hash of the line read, and the entry to paste,
// which the configuration then accepts.
func TestWebPasswd(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := webPasswd([]string{"alice"}, strings.NewReader("correct horse\n"), &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	hash, entry, _ := strings.Cut(out.String(), "\n\n")
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != webPasswordCost {
		t.Errorf("hash %q: cost %d, %v", hash, cost, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")) != nil {
		t.Error("the hash is not of the password read")
	}
	cfg, err := config.Parse("t.toml", []byte("[web]\nlisten = \"127.0.0.1:8080\"\n"+entry))
	if err != nil || len(cfg.Web.Users) != 1 || cfg.Web.Users[0].Name != "alice" || cfg.Web.Users[0].PasswordHash != hash {
		t.Errorf("the entry printed does not configure alice: %v\n%s", err, entry)
	}
	for _, tc := range []struct {
		args  []string
		stdin string
	}{{nil, "\n"}, {nil, ""}, {[]string{"a b"}, "pw\n"}, {[]string{"a", "b"}, "pw\n"}, {nil, strings.Repeat("x", 80) + "\n"}} {
		if code := webPasswd(tc.args, strings.NewReader(tc.stdin), &out, &errOut); code != exitUsage {
			t.Errorf("web passwd %q <%q: exit %d, want %d", tc.args, tc.stdin, code, exitUsage)
		}
	}
}

// config check warns of a console others reach over plain HTTP.
func TestWebPreflightWarning(t *testing.T) {
	cfg := config.Default()
	cfg.Milter.DataDir = t.TempDir()
	cfg.Web.Listen = "192.0.2.1:8080" // not this host's: not bound
	_, warnings := preflight("t.toml", cfg, false)
	if !strings.Contains(strings.Join(warnings, "\n"), "web.listen: 192.0.2.1:8080 is reachable from other hosts over plain HTTP") {
		t.Errorf("warnings: %q", warnings)
	}
	cfg.Web.Listen = "127.0.0.1:1"
	if _, warnings := preflight("t.toml", cfg, false); strings.Contains(strings.Join(warnings, "\n"), "web.listen") {
		t.Errorf("a warning for loopback: %q", warnings)
	}
}

// serve starts the console when [web] listen is set; a login is logged
// in the mail log.
func TestServeWeb(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "maxwell.sock")
	mailLog := filepath.Join(dir, "mail.log")
	addr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	h, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	web := fmt.Sprintf("[web]\nlisten = %q\n[[web.users]]\nname = \"admin\"\npassword_hash = %q\n", addr, h)
	cfgPath, _ := writeConfig(t, dir, strings.NewReplacer("SOCK", sock, "LOG", mailLog, "HELO", "").Replace(serveConfig)+web)
	m := mtatest.StartMaxwell(t, dir, cfgPath)
	m.WaitListen(t, sock)
	m.WaitListen(t, addr)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("GET /: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.PostForm("http://"+addr+"/login", url.Values{"user": {"admin"}, "password": {"correct horse"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	m.WaitFor(t, "the login in the mail log", func() bool {
		b, _ := os.ReadFile(mailLog)
		return strings.Contains(string(b), "event=web user=admin action=login result=ok")
	})
}
