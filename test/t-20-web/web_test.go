// Package webconsole is end-to-end scenario t-20: the web console in a
// real browser (Debian's chromium, driven by chromedp), on a maxwell
// that is a private Postfix's milter. A message is greylisted; the
// administrator logs in, finds its triplet, lets it through, and the
// message sent again is accepted. A page without a session leads to the
// login, a change without its CSRF token is refused, and what a client
// wrote (an envelope sender made of HTML) shows as text. A client
// blacklisted from the console is refused at connect by Postfix, and let
// in again when its ban is deleted; a message with a program attached is
// checked from the browser; the configuration shows without its
// secrets; the overview sums up the messages that went through.
//
// With MAXWELL_SCREENSHOTS=DIR the test saves the pages it sees there
// (make screenshots: docs/web/), for docs/web.md.
package webconsole

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/maxwell-milter/maxwell/internal/browsertest"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const password = "correct horse battery staple"

func TestWebConsoleInBrowser(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webPort := mtatest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	config := fmt.Sprintf(`
[milter]
socket = "inet:{port}@127.0.0.1"
internal_connect = ["192.0.2.0/24"]

[web]
listen = "127.0.0.1:%d"

[[web.users]]
name = "admin"
password_hash = %q
`, webPort, hash)
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
	)
	st.Maxwell.WaitListen(t, fmt.Sprintf("127.0.0.1:%d", webPort))
	const xss = `"<img src=x onerror=alert(1)>"@sender.example`

	// Two messages are greylisted: a plain one, and one whose sender is HTML.
	for _, from := range []string{"alice@sender.example", xss} {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		if r := c.Cmd("MAIL FROM:<%s>", from); r.Code != 250 {
			t.Fatalf("MAIL FROM:<%s>: %s", from, r)
		}
		if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 451 {
			t.Fatalf("RCPT TO from %s: %s, want 451 (greylisted)", from, r)
		}
	}

	ctx := browsertest.Start(t, 60*time.Second)
	shots := os.Getenv("MAXWELL_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		if err := browsertest.Screenshot(ctx, filepath.Join(shots, name+".png")); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	location := func() string {
		u, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	t.Run("a page without a session leads to the login", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/greylist")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(`input[name="password"]`)); err != nil {
			t.Fatal(err)
		}
		if u := location(); !strings.Contains(u, "/login") {
			t.Errorf("at %s, want the login page", u)
		}
		shot("login")
	})

	t.Run("log in, find the greylisted triplet, allow it", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.SendKeys(`input[name="user"]`, "admin"), chromedp.SendKeys(`input[name="password"]`, password)); err != nil {
			t.Fatal(err)
		}
		if err := browsertest.Submit(ctx, `form[action="/login"] button`, `form[action="/logout"]`); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/greylist?sender="+url.QueryEscape("alice@sender.example"))); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(`form[action="/greylist/allow"] button`)); err != nil {
			t.Fatal(err)
		}
		shot("greylist")
		if err := browsertest.Submit(ctx, `form[action="/greylist/allow"] button`, "p.note"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(st.Log(), "event=web user=admin action=allow") {
			t.Errorf("the mail log lacks the change by admin:\n%s", st.Log())
		}
	})

	t.Run("the message sent again is accepted", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s", cmd, r)
			}
		}
		if r := c.Data("From: alice@sender.example\r\nSubject: again\r\n\r\nHello.\r\n"); r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		st.Sink.Wait(t, 30*time.Second)
	})

	t.Run("what a client wrote shows as text", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/greylist?sender="+url.QueryEscape(`"<img*`))); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible("h1")); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text("main"))
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main img").length`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, `"<img src=x onerror=alert(`) || imgs != 0 { // the store keeps digits of senders as #
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
			t.Log(html)
			t.Errorf("the sender made of HTML: %d img elements, text %q", imgs, text)
		}
	})

	// A connection whose HELO name, sender and Subject are HTML: its
	// trace, found by searching the mail log, shows them as text.
	t.Run("a connection found in the mail log shows as text", func(t *testing.T) {
		const helo, subject = "<b>bold</b>.example", "<script>document.title='pwned'</script>"
		c, _ := mtatest.Session(t, st.Postfix.Addr, "192.0.2.10", helo)
		for _, cmd := range []string{`MAIL FROM:<"<i>it</i>"@example.org>`, "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s", cmd, r)
			}
		}
		if r := c.Data("From: x@example.org\r\nSubject: " + subject + "\r\n\r\nHi.\r\n"); r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		st.Sink.Wait(t, 30*time.Second)
		search := base + "/log?kind=helo&q=" + url.QueryEscape(helo)
		found := false
		for deadline := time.Now().Add(20 * time.Second); !found && time.Now().Before(deadline); {
			if err := chromedp.Do(ctx, chromedp.Navigate(search)); err != nil {
				t.Fatal(err)
			}
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("a[href^='/conn']").length`))
			if err != nil {
				t.Fatal(err)
			}
			if found = n == 1; !found {
				time.Sleep(500 * time.Millisecond) // the index is updated every 2 seconds
			}
		}
		if !found {
			t.Fatal("the connection is not found by its HELO name")
		}
		shot("log")
		if err := browsertest.Submit(ctx, "a[href^='/conn']", "h1"); err != nil {
			t.Fatal(err)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("pre.trace").length`)); err != nil || n != 1 {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
			t.Fatalf("no trace (%v):\n%s", err, html)
		}
		shot("connection")
		text, err := chromedp.Run(ctx, chromedp.Text("pre.trace"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{helo, subject, "<i>it</i>"} {
			if !strings.Contains(text, want) {
				t.Errorf("the trace lacks %q as text:\n%s", want, text)
			}
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main b, main i, main script").length`))
		if err != nil || n != 0 {
			t.Errorf("%d elements made of the client's HTML (%v)", n, err)
		}
		if title, _ := chromedp.Run(ctx, chromedp.Title()); strings.Contains(title, "pwned") {
			t.Errorf("the Subject's script ran: title %q", title)
		}
	})

	// A client blacklisted from the browser is answered 421 at connect by
	// Postfix; its ban deleted, it is let in again. The reason typed,
	// made of HTML, shows as text.
	t.Run("blacklist a client, then lift the ban", func(t *testing.T) {
		const rat, reason = "203.0.113.66", "<b>spam run</b>"
		greeting := func() int {
			c := mtatest.DialSMTP(t, st.Postfix.Addr)
			defer c.Drop()
			c.Cmd("EHLO test.client")
			return c.Cmd("XCLIENT ADDR=%s NAME=[UNAVAILABLE]", rat).Code
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/blacklist?kind=client")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.SendKeys(`form[action="/blacklist/add"] input[name="key"]`, rat),
			chromedp.SendKeys(`form[action="/blacklist/add"] input[name="reason"]`, reason)); err != nil {
			t.Fatal(err)
		}
		if err := browsertest.Submit(ctx, `form[action="/blacklist/add"] button`, "p.note"); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text("main"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, rat) || !strings.Contains(text, reason) {
			t.Errorf("the ban added is not listed with its reason:\n%s", text)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main b").length`)); err != nil || n != 0 {
			t.Errorf("%d elements made of the reason's HTML (%v)", n, err)
		}
		shot("blacklist")
		if code := greeting(); code != 421 {
			t.Errorf("the client blacklisted from the console: XCLIENT answered %d, want 421", code)
		}
		if err := browsertest.Submit(ctx, `form[action="/blacklist/delete"] button`, "p.note"); err != nil {
			t.Fatal(err)
		}
		// What the daemon read of the client's bans is kept for
		// [store] cache_ttl.
		var code int
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			if code = greeting(); code == 220 {
				break
			}
		}
		if code != 220 {
			t.Errorf("the client whose ban was deleted: XCLIENT answered %d, want 220", code)
		}
		if log := st.Log(); !strings.Contains(log, "event=web user=admin action=ban kind=client key="+rat) || !strings.Contains(log, "event=web user=admin action=unban kind=client key="+rat+" deleted=1") {
			t.Errorf("the ban and its lifting are not in the mail log")
		}
	})

	// A message with a program attached, checked from the browser: the
	// page shows the stages and the message as delivered, the program
	// replaced by WARNING.TXT.
	t.Run("check a message", func(t *testing.T) {
		eml := filepath.Join(t.TempDir(), "invoice.eml")
		msg := "From: carol@sender.example\r\nTo: bob@example.org\r\nSubject: <u>invoice</u>\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
			"--b\r\nContent-Type: application/octet-stream; name=invoice.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"
		if err := os.WriteFile(eml, []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/check")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(`input[name="file"]`, []string{eml}),
			chromedp.SendKeys(`input[name="ip"]`, "192.0.2.20"), chromedp.SendKeys(`input[name="helo"]`, "pc.example.org")); err != nil {
			t.Fatal(err)
		}
		if err := browsertest.Submit(ctx, `form[action="/check"] button`, "h2"); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text("main"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Result: accept", "The message as delivered", "WARNING.TXT", "Subject: <u>invoice</u>"} {
			if !strings.Contains(text, want) {
				t.Errorf("the check's page lacks %q:\n%s", want, text)
			}
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main u").length`)); err != nil || n != 0 {
			t.Errorf("%d elements made of the message's HTML (%v)", n, err)
		}
		shot("check")
	})

	t.Run("the configuration, its secrets hidden", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/config")); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text("pre"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "[web]") || !strings.Contains(text, `password_hash = "(redacted)"`) || strings.Contains(text, string(hash)) {
			t.Errorf("the configuration page:\n%s", text)
		}
		shot("config")
	})

	// The overview sums up what went through: greylisted and accepted
	// messages in its chart, the client in its top list.
	t.Run("the overview", func(t *testing.T) {
		var text string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
				t.Fatal(err)
			}
			var err error
			if text, err = chromedp.Run(ctx, chromedp.Text("main")); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text, "GREYLISTED") && strings.Contains(text, "ACCEPT") && strings.Contains(text, "198.51.100.7") {
				break
			}
		}
		if !strings.Contains(text, "GREYLISTED") || !strings.Contains(text, "ACCEPT") || !strings.Contains(text, "198.51.100.7") {
			t.Errorf("the overview lacks the greylisted and accepted messages or their client:\n%s", text)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main svg").length`)); err != nil || n == 0 {
			t.Errorf("the overview has no chart (%v)", err)
		}
		shot("overview")
	})

	t.Run("a change without its CSRF token is refused", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		if _, err := client.PostForm(base+"/login", url.Values{"user": {"admin"}, "password": {password}}); err != nil {
			t.Fatal(err)
		}
		r, err := client.PostForm(base+"/greylist/delete", url.Values{"client": {"sender.example"}, "sender": {"alice@sender.example"}, "rcpt": {"bob@example.org"}})
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("delete without a token: %s, want 403", r.Status)
		}
	})
}
