package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"golang.org/x/crypto/bcrypt"
)

// The console's configuration page shows the file serve read, and
// after a reload (SIGHUP) the configuration that replaced it.
func TestServeWebConfigReload(t *testing.T) {
	dir := t.TempDir()
	sock, mailLog := filepath.Join(dir, "maxwell.sock"), filepath.Join(dir, "mail.log")
	addr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	h, _ := bcrypt.GenerateFromPassword([]byte("battery staple"), bcrypt.MinCost)
	web := fmt.Sprintf("[web]\nlisten = %q\n[[web.users]]\nname = \"viewer\"\npassword_hash = %q\nread_only = true\n", addr, h)
	conf := func(helo string) string {
		return strings.NewReplacer("SOCK", sock, "LOG", mailLog, "HELO", helo).Replace(serveConfig) + web
	}
	cfgPath, dnsAddr := writeConfig(t, dir, conf(""))
	m := mtatest.StartMaxwell(t, dir, cfgPath)
	m.WaitListen(t, addr)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	if resp, err := client.PostForm("http://"+addr+"/login", url.Values{"user": {"viewer"}, "password": {"battery staple"}}); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	page := func() string {
		t.Helper()
		resp, err := client.Get("http://" + addr + "/config")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /config: %s\n%s", resp.Status, b)
		}
		return html.UnescapeString(string(b))
	}
	if p := page(); !strings.Contains(p, cfgPath) || strings.Contains(p, "reloaded.example") || strings.Contains(p, string(h)) {
		t.Fatalf("before the reload:\n%s", p)
	}

	if err := os.WriteFile(cfgPath, []byte(strings.Replace(conf(`hello_blacklist = ["reloaded.example"]`), "DNS", dnsAddr, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Cmd.Process.Signal(syscall.SIGHUP)
	m.WaitFor(t, "the reload", func() bool { return strings.Contains(m.Stderr.String(), "configuration reloaded") })
	if p := page(); !strings.Contains(p, `hello_blacklist = ["reloaded.example"]`) {
		t.Errorf("after the reload:\n%s", p)
	}
}
