package web

import (
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
)

// The secrets of secretConfig, each where the configuration keeps one.
const (
	srsSecret    = "srs-secret-Zq81"
	srsOldSecret = "srs-old-secret-Lp27"
	peerSecret   = "peer-secret-Wx55-0123456789abcdef"
	peerURLPass  = "peer-url-pass-Mn09"
	dsnPass      = "dsn-pass-Kt43"
)

// secretConfig is a configuration with a secret in every setting that
// holds one, the fixture's users among them, and a text that is HTML.
func secretConfig(t *testing.T) (*config.Config, []string) {
	admin, viewer := hash(t, "correct horse"), hash(t, "battery staple")
	cfg, err := config.Parse("maxwell.toml", []byte(`
[srs]
secret = ["`+srsSecret+`", "`+srsOldSecret+`"]
fwdomain = "srs.example.org"

[greylist]
text = "</pre><script>alert(1)</script>"

[store]
driver = "postgres"
dsn = "postgres://maxwell:`+dsnPass+`@db.example.org/maxwell"

[reputation]
enabled = true
[[reputation.peers]]
name = "friend"
url = "https://gossip:`+peerURLPass+`@peer.example.net/gossip"
secret = "`+peerSecret+`"

[web]
listen = "127.0.0.1:0"
[[web.users]]
name = "admin"
password_hash = "`+admin+`"
[[web.users]]
name = "viewer"
password_hash = "`+viewer+`"
read_only = true
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, []string{srsSecret, srsOldSecret, peerSecret, peerURLPass, dsnPass, admin, viewer}
}

// newConfigFixture is newFixture's console on cfg, served as the daemon
// serves it: the configuration in use read from running, which a
// reload replaces, and its file named.
func newConfigFixture(t *testing.T, cfg *config.Config, running *atomic.Pointer[config.Config]) *fixture {
	f := newFixture(t)
	f.srv.Close()
	f.srv = httptest.NewServer(New(cfg, Deps{Store: f.st, Log: maillog.New(f.log), Now: f.clock,
		Config: running.Load, ConfigFile: "/etc/maxwell/maxwell.toml"}))
	t.Cleanup(f.srv.Close)
	return f
}

// Every user, read-only ones too, sees the configuration in use with
// its file, and none of its secrets; a value that is HTML is text.
func TestConfigPage(t *testing.T) {
	cfg, secrets := secretConfig(t)
	var running atomic.Pointer[config.Config]
	running.Store(cfg)
	f := newConfigFixture(t, cfg, &running)
	for _, u := range []struct{ name, pw string }{{"admin", "correct horse"}, {"viewer", "battery staple"}} {
		c := f.login(u.name, u.pw)
		resp, body := f.do(c, "GET", "/config", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /config: %s\n%s", u.name, resp.Status, body)
		}
		text := html.UnescapeString(body)
		for _, want := range []string{
			"/etc/maxwell/maxwell.toml", "[milter]", `socket = "inet:8895@127.0.0.1"`, `fwdomain = "srs.example.org"`,
			`secret = ["(redacted)", "(redacted)"]`, `dsn = "postgres://maxwell:(redacted)@db.example.org/maxwell"`,
			`url = "https://gossip:(redacted)@peer.example.net/gossip"`, `name = "viewer"`, `password_hash = "(redacted)"`,
			`href="/config"`, "systemctl reload maxwell", "change only at restart",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: %q is not on the page:\n%s", u.name, want, text)
			}
		}
		for _, s := range secrets {
			if strings.Contains(body, s) || strings.Contains(text, s) {
				t.Errorf("%s: the secret %q is on the page", u.name, s)
			}
		}
		if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;/pre&gt;&lt;script&gt;") {
			t.Errorf("%s: [greylist] text not escaped:\n%s", u.name, body)
		}
	}
}

// The page shows the configuration a reload put in use.
func TestConfigPageAfterReload(t *testing.T) {
	cfg, _ := secretConfig(t)
	var running atomic.Pointer[config.Config]
	running.Store(cfg)
	f := newConfigFixture(t, cfg, &running)
	c := f.login("viewer", "battery staple")
	reloaded := *cfg
	reloaded.Milter.HelloBlacklist = []string{"reloaded.example"}
	running.Store(&reloaded)
	if _, body := f.do(c, "GET", "/config", nil); !strings.Contains(html.UnescapeString(body), `hello_blacklist = ["reloaded.example"]`) {
		t.Errorf("the reloaded configuration is not shown:\n%s", body)
	}
}

// Without a session, the page sends the browser to the login form; the
// defaults, with no file, are said to be.
func TestConfigPageSession(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do(f.client(), "GET", "/config", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET /config without a session: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	c := f.login("admin", "correct horse")
	resp, body := f.do(c, "GET", "/config", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "the embedded defaults") || !strings.Contains(body, "password_hash = &#34;(redacted)&#34;") {
		t.Errorf("GET /config: %s\n%s", resp.Status, body)
	}
}
