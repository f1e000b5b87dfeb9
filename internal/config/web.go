package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"golang.org/x/crypto/bcrypt"
)

// Web is the [web] section: the web console for the mail administrator
// (docs/web.md), served by `maxwell serve` when Listen is set.
type Web struct {
	// Listen is "" (off), "address:port" or "unix:/path".
	Listen string `toml:"listen"`
	// CertFile and KeyFile, both set, serve HTTPS (and mark the session
	// cookie Secure); both empty, plain HTTP.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file" redact:"none"` // the key's file, not the key
	// Users are the accounts that may log in.
	Users []WebUser `toml:"users"`
	// SessionTTL is how long a session lasts after its login.
	SessionTTL Duration `toml:"session_ttl"`
}

// WebUser is one [[web.users]] entry: a name, the bcrypt hash of its
// password (`maxwell web passwd` makes one), and whether the user may
// only look.
type WebUser struct {
	Name         string `toml:"name"`
	PasswordHash string `toml:"password_hash" redact:"secret"`
	ReadOnly     bool   `toml:"read_only"`
}

// WebUnixPrefix starts a Listen value naming a unix socket.
const WebUnixPrefix = "unix:"

// UnixPath is the socket path of a Listen of "unix:/path", "" for a TCP
// address.
func (w *Web) UnixPath() string {
	p, ok := strings.CutPrefix(w.Listen, WebUnixPrefix)
	if !ok {
		return ""
	}
	return p
}

// TLS reports whether the console is served over HTTPS.
func (w *Web) TLS() bool { return w.CertFile != "" && w.KeyFile != "" }

// Local reports whether only this host can reach the console: a unix
// socket, or a loopback address.
func (w *Web) Local() bool {
	if w.UnixPath() != "" {
		return true
	}
	ap, err := netip.ParseAddrPort(w.Listen)
	return err == nil && ap.Addr().IsLoopback()
}

// Warnings are what `config check` says of a console others can reach
// without TLS.
func (w *Web) Warnings() []string {
	var ws []string
	if w.Listen != "" && !w.Local() && !w.TLS() {
		ws = append(ws, "web.listen: "+w.Listen+" is reachable from other hosts over plain HTTP: passwords and session cookies cross the network in clear; set web.cert_file and web.key_file, or keep it on loopback (an SSH tunnel, a reverse proxy with TLS)")
	}
	costs := map[int]bool{}
	for _, u := range w.Users {
		if n, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			costs[n] = true
		}
	}
	if len(costs) > 1 {
		// An unknown name is compared at the highest cost: a user whose
		// hash is cheaper answers sooner, which tells the name exists.
		ws = append(ws, "web.users: the password hashes have different bcrypt costs, so how long a login takes tells which user names exist; make them all again with maxwell web passwd (cost 12)")
	}
	return ws
}

// maxWebUsers bounds the accounts.
const maxWebUsers = 100

func defaultWeb() Web { return Web{SessionTTL: Duration(12 * time.Hour)} }

func (w *Web) validate() []problem {
	var ps []problem
	if w.SessionTTL <= 0 {
		ps = append(ps, problem{"web.session_ttl", "must be a positive duration"})
	}
	if (w.CertFile == "") != (w.KeyFile == "") {
		ps = append(ps, problem{"web.cert_file", "give both cert_file and key_file for TLS, or neither"})
	}
	if len(w.Users) > maxWebUsers {
		ps = append(ps, problem{"web.users", fmt.Sprintf("%d users: at most %d", len(w.Users), maxWebUsers)})
	}
	seen := map[string]bool{}
	for i, u := range w.Users {
		key := fmt.Sprintf("web.users[%d]", i)
		switch {
		case u.Name == "" || strings.ContainsFunc(u.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) || len(u.Name) > 64:
			ps = append(ps, problem{key + ".name", fmt.Sprintf("%s: a name of 1 to 64 characters without spaces or control characters", oneline.Quote(u.Name))})
		case seen[u.Name]:
			ps = append(ps, problem{key + ".name", fmt.Sprintf("%s is listed twice", oneline.Quote(u.Name))})
		}
		seen[u.Name] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			ps = append(ps, problem{key + ".password_hash", "is not a bcrypt hash: make one with `maxwell web passwd`"})
		}
	}
	if w.Listen == "" {
		return ps
	}
	if p := w.UnixPath(); p != "" {
		if !strings.HasPrefix(p, "/") {
			ps = append(ps, problem{"web.listen", fmt.Sprintf("%s: a unix socket needs an absolute path", oneline.Quote(w.Listen))})
		}
	} else if _, err := netip.ParseAddrPort(w.Listen); err != nil {
		ps = append(ps, problem{"web.listen", fmt.Sprintf("%s is neither an address:port, e.g. \"127.0.0.1:8080\", nor unix:/path", oneline.Quote(w.Listen))})
	}
	if len(w.Users) == 0 {
		ps = append(ps, problem{"web.users", "listen is set and no user may log in: add one ([[web.users]], see `maxwell web passwd`)"})
	}
	return ps
}
