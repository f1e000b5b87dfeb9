package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// config check loads the certificate and its key as serve does at
// start: a pair serve would refuse (a key of another certificate, a file
// that holds no PEM, the two swapped) is refused by the check too, and
// a good one passes.
func TestWebPreflightCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o700)
	_, otherKey, _ := selfSigned(t, other)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not PEM\n"), 0o600)
	for _, tc := range []struct {
		name, cert, key string
		ok              bool
	}{
		{"the pair", certFile, keyFile, true},
		{"another certificate's key", certFile, otherKey, false},
		{"no PEM", junk, keyFile, false},
		{"swapped", keyFile, certFile, false},
	} {
		cfg := config.Default()
		cfg.Milter.DataDir = t.TempDir()
		cfg.Web.Listen = "127.0.0.1:1"
		cfg.Web.CertFile, cfg.Web.KeyFile = tc.cert, tc.key
		errs, _ := preflight("t.toml", cfg, false)
		var got []string
		for _, e := range errs {
			if strings.Contains(e.Error(), "web.") {
				got = append(got, e.Error())
			}
		}
		if tc.ok != (len(got) == 0) {
			t.Errorf("%s: problems %q", tc.name, got)
		}
		if !tc.ok && len(got) > 0 && !strings.Contains(got[0], tc.cert) {
			t.Errorf("%s: %q does not name the certificate's file", tc.name, got[0])
		}
	}
}

// serve starts the console when [web] listen is set, over HTTP, or
// HTTPS with cert_file and key_file (HSTS, a __Host- cookie that is
// Secure); a login is logged in the mail log.
func TestServeWeb(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "maxwell.sock")
			mailLog := filepath.Join(dir, "mail.log")
			addr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
			h, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
			web := fmt.Sprintf("[web]\nlisten = %q\n", addr)
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			scheme, cookie := "http", "maxwell_session"
			if tlsOn {
				certFile, keyFile, pool := selfSigned(t, dir)
				web += fmt.Sprintf("cert_file = %q\nkey_file = %q\n", certFile, keyFile)
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
				scheme, cookie = "https", "__Host-maxwell_session"
			}
			web += fmt.Sprintf("[[web.users]]\nname = \"admin\"\npassword_hash = %q\n", h)
			cfgPath, _ := writeConfig(t, dir, strings.NewReplacer("SOCK", sock, "LOG", mailLog, "HELO", "").Replace(serveConfig)+web)
			m := mtatest.StartMaxwell(t, dir, cfgPath)
			m.WaitListen(t, sock)
			m.WaitListen(t, addr)
			base := scheme + "://" + addr
			resp, err := client.Get(base + "/")
			if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Fatalf("GET /: %v %v", resp, err)
			}
			resp.Body.Close()
			if hsts := resp.Header.Get("Strict-Transport-Security"); (hsts != "") != tlsOn {
				t.Errorf("Strict-Transport-Security %q over %s", hsts, scheme)
			}
			resp, err = client.PostForm(base+"/login", url.Values{"user": {"admin"}, "password": {"correct horse"}})
			if err != nil || resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
				t.Fatalf("login: %v %v", resp, err)
			}
			resp.Body.Close()
			if c := resp.Cookies()[0]; c.Name != cookie || c.Secure != tlsOn || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie over %s: %+v", scheme, c)
			}
			m.WaitFor(t, "the login in the mail log", func() bool {
				b, _ := os.ReadFile(mailLog)
				return strings.Contains(string(b), "event=web user=admin action=login result=ok")
			})
		})
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir,
// and returns their files and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // wall clock: the TLS handshake checks the certificate against it
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
