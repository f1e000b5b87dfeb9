package web

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/srs"
)

// checkFixture is a console whose configuration asks a DNS server of
// the test's: the sender's domain, and its client's PTR.
func checkFixture(t *testing.T) *fixture {
	t.Helper()
	srv, err := dnstest.Start(
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return newFixture(t, func(cfg *config.Config, _ *Deps) {
		cfg.DNS.Servers, cfg.DNS.Timeout, cfg.DNS.Attempts = []string{srv.Addr}, config.Duration(2*time.Second), 1
	})
}

// postCheck posts the check form as a browser does: the CSRF token
// first, then the fields, then the file (nil: no file chosen).
func (f *fixture) postCheck(c *http.Client, csrf string, fields map[string]string, file []byte) (*http.Response, string) {
	f.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if csrf != "" {
		mw.WriteField("csrf", csrf)
	}
	for _, k := range []string{"ip", "helo", "from", "rcpt", "auth"} {
		mw.WriteField(k, fields[k])
	}
	name := "message.eml"
	if file == nil {
		name = ""
	}
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(file)
	mw.Close()
	req, err := http.NewRequest("POST", f.srv.URL+"/check", &b)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// external is the envelope of a client of sender.example.
var external = map[string]string{"ip": "198.51.100.7", "helo": "mail.sender.example"}

const cleanMessage = "Return-Path: <alice@sender.example>\nFrom: Alice <alice@sender.example>\nTo: Bob <bob@example.org>\nSubject: Hi\n\nBody line.\n"

// bannedAttachment is a message with an .exe attached, which [defang]
// banned_exts bans by default.
const bannedAttachment = "From: <alice@sender.example>\nTo: <bob@example.org>\nSubject: the file\nMIME-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nHere it is.\n" +
	"--b\nContent-Type: application/octet-stream; name=\"run.exe\"\nContent-Disposition: attachment; filename=\"run.exe\"\n" +
	"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n--b--\n"

// A check shows each stage's decision, the mail log and the message as
// delivered, for any user, read-only ones too; the form stays filled;
// the mail log says who checked, and nothing of the message.
func TestCheckShowsStagesAndMessage(t *testing.T) {
	f := checkFixture(t)
	tests := []struct {
		name, user, pw string
		fields         map[string]string
		msg            string
		want           []string
	}{
		{"clean", "admin", "correct horse", external, cleanMessage, []string{
			"Result: accept", "<td>connect</td>", "<td>helo</td>", "<td>mail from</td>", "<td>rcpt to bob@example.org</td>", "<td>end of message</td>",
			"event=&#34;mail from&#34; from=alice@sender.example", // the mail log; the sender from Return-Path
			"The message as delivered", "Received-SPF: pass (", "X-Maxwell-Connection: class=&#34;EXTERNAL&#34;; ip=198.51.100.7",
			"Subject: Hi\n\nBody line.\n</pre>",
			`name="ip" value="198.51.100.7"`, `name="helo" value="mail.sender.example"`, // filled for another try
		}},
		{"banned attachment, read-only user", "viewer", "battery staple", external, bannedAttachment, []string{
			"Result: accept", "name=&#34;WARNING.TXT&#34;", "(banned extension .exe)",
		}},
		{"given envelope", "admin", "correct horse",
			map[string]string{"ip": "198.51.100.7", "helo": "mail.sender.example", "from": "<>", "rcpt": "carol@example.org\r\n<dave@example.org>\r\n"}, cleanMessage, []string{
				"<td>rcpt to carol@example.org</td>", "<td>rcpt to dave@example.org</td>", "from=&#34;&#34; bounce=true", "carol@example.org\r\n&lt;dave@example.org&gt;",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.login(tt.user, tt.pw)
			resp, body := f.do(c, "GET", "/check", nil)
			if resp.StatusCode != 200 || !strings.Contains(body, `enctype="multipart/form-data"`) || !strings.Contains(body, `type="file" name="file"`) {
				t.Fatalf("GET /check: %s\n%s", resp.Status, body)
			}
			resp, body = f.postCheck(c, f.csrf(c), tt.fields, []byte(tt.msg))
			if resp.StatusCode != 200 {
				t.Fatalf("POST /check: %s\n%s", resp.Status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q:\n%s", w, body)
				}
			}
			if want := "event=web user=" + tt.user + " action=check remote=127.0.0.1"; !strings.Contains(f.log.String(), want) {
				t.Errorf("the mail log lacks %q:\n%s", want, f.log)
			}
		})
	}
	if strings.Contains(f.log.String(), "alice@sender.example") || strings.Contains(f.log.String(), "event=connect") {
		t.Errorf("the check wrote into the daemon's mail log:\n%s", f.log)
	}
}

// Values from the message and the form are shown as text, never as HTML.
func TestCheckEscapes(t *testing.T) {
	f := checkFixture(t)
	c := f.login("admin", "correct horse")
	csrf := f.csrf(c)
	xss := "<script>alert(1)</script>"
	for _, tt := range []struct {
		name   string
		fields map[string]string
		msg    string
		want   []string
	}{
		{"Subject", external, "From: <alice@sender.example>\nTo: <bob@example.org>\nSubject: " + xss + "\n\n" + xss + "\n",
			[]string{"Subject: &lt;script&gt;alert(1)&lt;/script&gt;\n\n&lt;script&gt;alert(1)&lt;/script&gt;"}},
		{"HELO and sender", map[string]string{"ip": "198.51.100.7", "helo": xss, "from": xss + "@sender.example"}, cleanMessage,
			[]string{`name="helo" value="&lt;script&gt;alert(1)&lt;/script&gt;"`, "helo=&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.postCheck(c, csrf, tt.fields, []byte(tt.msg))
			if resp.StatusCode != 200 {
				t.Fatalf("POST /check: %s\n%s", resp.Status, body)
			}
			if strings.Contains(body, "<script") {
				t.Errorf("a script in the page:\n%s", body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q:\n%s", w, body)
				}
			}
		})
	}
}

// A check is a POST with the session's CSRF token, as every form; it
// is refused past MaxChecks running at once, and its upload past
// MaxUpload; bad or hostile input is told why, never answered 500.
func TestCheckRefusals(t *testing.T) {
	f := checkFixture(t)
	c := f.login("admin", "correct horse")
	csrf := f.csrf(c)
	rcpt := map[string]string{"ip": "198.51.100.7", "helo": "mail.sender.example", "rcpt": "bob@example.org"}
	tests := []struct {
		name   string
		csrf   string
		fields map[string]string
		msg    []byte
		status int
		want   string
	}{
		{"no CSRF token", "", external, []byte(cleanMessage), http.StatusForbidden, "CSRF"},
		{"another CSRF token", token(), external, []byte(cleanMessage), http.StatusForbidden, "CSRF"},
		{"over-size upload", csrf, external, bytes.Repeat([]byte("x"), MaxUpload+1), http.StatusRequestEntityTooLarge, "The message is over 10 MiB: check it with maxwell check on the mail server."},
		{"bad IP", csrf, map[string]string{"ip": "198.51.100.300", "helo": "mail.sender.example"}, []byte(cleanMessage), http.StatusBadRequest, "Client IP: &#34;198.51.100.300&#34; is not an IP address."},
		{"HELO with CR LF", csrf, map[string]string{"helo": "a\r\nMAIL FROM:<x@y>"}, []byte(cleanMessage), http.StatusBadRequest, "HELO name: one word"},
		{"too many recipients", csrf, map[string]string{"rcpt": strings.Repeat("r@example.org\n", maxRcpts+1)}, []byte(cleanMessage), http.StatusBadRequest, "At most 100 recipients."},
		{"no file", csrf, external, nil, http.StatusBadRequest, "Choose a message file"},
		{"empty file", csrf, external, []byte{}, http.StatusBadRequest, "Choose a message file"},
		{"no recipient", csrf, external, []byte("From: <alice@sender.example>\n\nHello.\n"), http.StatusBadRequest, "No recipient: give one"},
		{"binary file", csrf, rcpt, append([]byte("\x7fELF\x02\x01\x01\x00"), bytes.Repeat([]byte{0}, 4096)...), http.StatusBadRequest, "That file is not a mail message: malformed header line"},
		{"huge line", csrf, rcpt, []byte("From: <alice@sender.example>\n" + strings.Repeat("x", 1<<20) + "\n\nHello.\n"), http.StatusBadRequest, "That file is not a mail message: malformed header line"},
		// The engine's own answers: not the page's to refuse.
		{"header with CR", csrf, rcpt, []byte("From: <alice@sender.example>\r\nSubject: a\rb\r\r\nTo: <bob@example.org>\r\n\r\nHello.\r\n"), http.StatusOK, "Result: "},
		{"broken MIME", csrf, rcpt, []byte("From: <alice@sender.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: application/octet-stream; name=\"a.exe\"\nContent-Transfer-Encoding: base64\n\n%%%not base64\n"), http.StatusOK, "Result: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(f.log.String(), "action=check")
			resp, body := f.postCheck(c, tt.csrf, tt.fields, tt.msg)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%s, want %d and %q:\n%.3000s", resp.Status, tt.status, tt.want, body)
			}
			if len(body) > 64<<10 {
				t.Errorf("an answer of %d bytes", len(body))
			}
			if ran := strings.Count(f.log.String(), "action=check") > before; ran != (tt.status == http.StatusOK) {
				t.Errorf("logged as run: %v", ran)
			}
		})
	}

	// MaxChecks running: another is told to come back.
	con := f.srv.Config.Handler.(*console)
	for range MaxChecks {
		con.checking <- struct{}{}
	}
	resp, body := f.postCheck(c, csrf, external, []byte(cleanMessage))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "2 checks are running already") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a check past MaxChecks: %s\n%s", resp.Status, body)
	}
	for range MaxChecks {
		<-con.checking
	}
	if resp, body := f.postCheck(c, csrf, external, []byte(cleanMessage)); resp.StatusCode != http.StatusOK {
		t.Errorf("once they ended: %s\n%s", resp.Status, body)
	}
}

// A check signs nothing with the site's own keys and secrets, which
// would make the page a signing service for every user of the console,
// read-only ones too: a DKIM signature of the site's key on any message
// (From: ceo@example.org), an SES signature on any sender of ours. The
// fields are shown, their signatures not; SES signs with a throwaway
// secret, the site's still verifying.
func TestCheckSignsNothingWithTheSitesKeys(t *testing.T) {
	dir := t.TempDir()
	key, _, err := dkim.GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "example.org.s1.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "the site's own SES secret, 32 chars"
	f := newFixture(t, func(cfg *config.Config, _ *Deps) {
		cfg.DNS.Servers, cfg.DNS.Timeout, cfg.DNS.Attempts = []string{"127.0.0.1:1"}, config.Duration(time.Second), 1
		var ours config.DomainPattern
		if err := ours.UnmarshalText([]byte("example.org")); err != nil {
			t.Fatal(err)
		}
		cfg.Milter.InternalDomains = []config.DomainPattern{ours}
		cfg.DKIM.Keys = []config.DKIMKey{{Domain: "example.org", Selector: "s1", PrivKey: keyFile}}
		cfg.SRS.Secret, cfg.SRS.SES = config.Secrets{secret}, []string{"example.org"}
	})
	c := f.login("viewer", "battery staple")
	msg := "From: CEO <ceo@example.org>\nTo: <victim@bank.example>\nSubject: Wire the money\n\nNow.\n"
	resp, body := f.postCheck(c, f.csrf(c), map[string]string{"from": "ceo@example.org"}, []byte(msg))
	if resp.StatusCode != 200 || !strings.Contains(body, "The message as delivered") {
		t.Fatalf("POST /check: %s\n%s", resp.Status, body)
	}
	sig := regexp.MustCompile(`(?s)DKIM-Signature: .*?\nFrom: CEO`).FindString(body)
	if !strings.Contains(sig, "d=example.org") || !strings.Contains(sig, "bh=") || !regexp.MustCompile(`(^|[;\s])b=\(not shown\)`).MatchString(sig) ||
		regexp.MustCompile(`(^|[;\s])b=[A-Za-z0-9+/]{20}`).MatchString(sig) {
		t.Errorf("the DKIM-Signature shown: %q", sig)
	}
	m := regexp.MustCompile(`sender changed to: (SES=[^<]*@example.org)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the sender is not signed:\n%s", body)
	}
	ses, _ := srs.NewSES([]string{secret}, 0, nil)
	if got, err := ses.Verify(html.UnescapeString(m[1])); err == nil {
		t.Errorf("%s, signed with the site's secret, verifies as %s", m[1], got)
	}
	// The site's secrets still verify in a check: they come after the
	// throwaway one, which signs.
	cfg := config.Default()
	cfg.SRS.Secret = config.Secrets{secret, "an old one"}
	if got := checkConfig(cfg).SRS.Secret; len(got) != 3 || got[0] == secret || got[1] != secret || got[2] != "an old one" || len(cfg.SRS.Secret) != 2 {
		t.Errorf("the check's secrets: %q", got)
	}
}
