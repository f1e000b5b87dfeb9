package milter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

const testConfig = `
[milter]
internal_connect = ["192.0.2.0/24"]
internal_domains = ["example.org"]
DELAY

[blocked_senders]
senders = ["pest@annoying.example"]

[dns]
timeout = "1500ms"
attempts = 1
`

var testZone = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
	"8.100.51.198.in-addr.arpa. PTR localhost.",
}

// start runs a server on 127.0.0.1:0 and returns its address.
func start(t testing.TB, env *enginetest.Env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(env.Engine, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

func newEnv(t *testing.T, delayed bool) *enginetest.Env {
	delay := "delayed_reject = true"
	if !delayed {
		delay = "delayed_reject = false"
	}
	env := enginetest.New(t, strings.Replace(testConfig, "DELAY", delay, 1), testZone...)
	env.DNS.Fail("9.100.51.198.in-addr.arpa", dnstest.Silent)
	return env
}

var (
	external = policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7"), Hostname: "mail.sender.example", Port: 40000}
	headers  = []policy.Header{{Name: "From", Value: "Alice <alice@sender.example>"}, {Name: "Subject", Value: "Hello"}}
	body     = []byte("Hello Bob.\r\n")
)

func alice() policy.MailInfo { return policy.MailInfo{Sender: "alice@sender.example"} }

// wantReply checks an action's type and reply.
func wantReply(t *testing.T, what string, r mtaclient.Result, code int, text string) {
	t.Helper()
	c, _, lines := mtaclient.Reply(r.Action)
	if r.Action.Type != milter.ActionRejectWithCode || c != code || !strings.Contains(strings.Join(lines, "\n"), text) {
		t.Errorf("%s: got %s at %s, want %d %q", what, r.Action, r.Stage, code, text)
	}
}

func TestAcceptedMessageGetsHeader(t *testing.T) {
	addr := start(t, newEnv(t, true))
	res, err := mtaclient.Send("tcp", addr, policy.Transaction{
		Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}, Headers: headers,
	}, body)
	if err != nil {
		t.Fatal(err)
	}
	// Each field goes to the top, so they come in reverse: the message
	// starts with Received-SPF, Authentication-Results, the connection.
	if !res.Accepted() || len(res.Mods) != 3 {
		t.Fatalf("got %s with %v", res.Action, res.Mods)
	}
	for i, name := range []string{"X-Maxwell-Connection", "Authentication-Results", "Received-SPF"} {
		if m := res.Mods[i]; m.Type != milter.ActionInsertHeader || m.HeaderIndex != 0 || m.HeaderName != name {
			t.Errorf("modification %d = %s, want %s inserted at the top", i, m, name)
		}
	}
	if m := res.Mods[0]; m.HeaderValue != `class="EXTERNAL"; ip=198.51.100.7; ptr=mail.sender.example; helo=mail.sender.example; by=mx.example.org` {
		t.Errorf("connection header = %q", m.HeaderValue)
	}
}

// An Authentication-Results field claiming our name is a forgery: it is
// removed (the last first), while other servers' are kept.
func TestForgedAuthenticationResultsRemoved(t *testing.T) {
	addr := start(t, newEnv(t, true))
	hs := append([]policy.Header{
		{Name: "Authentication-Results", Value: "mx.example.org; spf=pass smtp.mailfrom=boss@example.org"},
		{Name: "Authentication-Results", Value: "other.example; spf=fail smtp.mailfrom=alice@sender.example"},
		{Name: "Authentication-Results", Value: "(forged) MX.example.org; dkim=pass"},
	}, headers...)
	res, err := mtaclient.Send("tcp", addr, policy.Transaction{
		Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}, Headers: hs,
	}, body)
	if err != nil || !res.Accepted() {
		t.Fatalf("got %v %v", res.Action, err)
	}
	var deleted []uint32
	for _, m := range res.Mods {
		if m.Type == milter.ActionChangeHeader && m.HeaderName == "Authentication-Results" && m.HeaderValue == "" {
			deleted = append(deleted, m.HeaderIndex)
		}
	}
	if !slices.Equal(deleted, []uint32{3, 1}) {
		t.Errorf("deleted Authentication-Results %v, want 3 and 1 (in that order); mods %v", deleted, res.Mods)
	}
}

func TestNegotiation(t *testing.T) {
	addr := start(t, newEnv(t, true))
	c, _, err := mtaclient.Dial("tcp", addr, external, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// maxwell asks for the body (attachments) but no unknown commands and
	// no reply per header field or body chunk, and only for the actions it
	// uses.
	s := c.Session()
	for _, p := range []milter.OptProtocol{milter.OptNoUnknown, milter.OptNoHeaderReply, milter.OptNoBodyReply} {
		if !s.ProtocolOption(p) {
			t.Errorf("protocol option %s not negotiated", p)
		}
	}
	if s.ProtocolOption(milter.OptNoConnect) || s.ProtocolOption(milter.OptNoData) || s.ProtocolOption(milter.OptNoBody) {
		t.Error("connect, data and body steps must stay")
	}
	for _, a := range []milter.OptAction{milter.OptAddHeader, milter.OptChangeHeader, milter.OptChangeBody, milter.OptAddRcpt, milter.OptRemoveRcpt, milter.OptQuarantine, milter.OptChangeFrom} {
		if !s.ActionOption(a) {
			t.Errorf("action %s not negotiated", a)
		}
	}
	if s.ActionOption(milter.OptAddRcptWithArgs) {
		t.Error("actions maxwell does not use were negotiated")
	}
}

func TestReplies(t *testing.T) {
	addr := start(t, newEnv(t, true))
	_, res, err := mtaclient.Dial("tcp", addr, external, "192.0.2.1")
	if err != nil || res == nil {
		t.Fatalf("numeric HELO: %v %v", res, err)
	}
	wantReply(t, "numeric HELO", *res, 550, "hello name cannot be numeric ip")
	if res.Action.SMTPReply != "550 5.7.1 hello name cannot be numeric ip" {
		t.Errorf("reply = %q", res.Action.SMTPReply)
	}

	// A multi-line reply carries the enhanced code on every line.
	r, err := mtaclient.Send("tcp", addr, policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.10")}, Helo: "pc10",
		Mail: policy.MailInfo{Sender: "x@elsewhere.example"}, Rcpts: []string{"bob@example.org"},
	}, body)
	if err != nil {
		t.Fatal(err)
	}
	want := "550-5.7.1 Your PC is using an unauthorized MAIL FROM.\r\n550 5.7.1 It is either badly misconfigured or controlled by organized crime."
	if r.Stage != "mail from" || r.Action.SMTPReply != want {
		t.Errorf("zombie: %s %q, want %q", r.Stage, r.Action.SMTPReply, want)
	}
}

// One milter connection carries several messages; connection state (HELO,
// PTR) stays, message state goes with RSET and with each new MAIL FROM.
func TestSeveralMessagesAndAbort(t *testing.T) {
	env := newEnv(t, true)
	addr := start(t, env)
	c, _, err := mtaclient.Dial("tcp", addr, external, "mail.sender.example")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	r, err := c.Message(policy.MailInfo{Sender: "pest@annoying.example"}, []string{"bob@example.org"}, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	wantReply(t, "blocked sender", r, 452, "Mailbox full")

	// Abort in the middle of the header.
	sess := c.Session()
	if _, err := sess.Mail("alice@sender.example", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Rcpt("bob@example.org", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.DataStart(); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.HeaderField("Subject", "half", nil); err != nil {
		t.Fatal(err)
	}
	if err := sess.Abort(nil); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 2; i++ {
		r, err = c.Message(alice(), []string{"bob@example.org"}, headers, body)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Accepted() || len(r.Mods) != 3 || !strings.Contains(r.Mods[0].HeaderValue, "helo=mail.sender.example") {
			t.Errorf("message %d after the abort: %s %v", i+2, r.Action, r.Mods)
		}
	}
	c.Close()
	waitFor(t, func() bool { return len(env.Log.Lines("event=close", "messages=2")) == 1 })
	if got := len(env.Log.Lines("event=abort")); got != 2 {
		t.Errorf("%d abort lines, want 2 (refused message, RSET):\n%s", got, env.Log.String())
	}
	if got := len(env.Log.Lines("event=connect")); got != 1 {
		t.Errorf("%d connect lines for one connection", got)
	}
}

func TestDelayedRejectAndAuth(t *testing.T) {
	addr := start(t, newEnv(t, true))
	ptrLocalhost := policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.8")}
	tx := policy.Transaction{Conn: ptrLocalhost, Helo: "h.example", Mail: alice(), Rcpts: []string{"bob@example.org", "carol@example.org"}, Headers: headers}
	r, err := mtaclient.Send("tcp", addr, tx, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stage != "data" {
		t.Errorf("delayed reject answered at %s, want data", r.Stage)
	}
	wantReply(t, "PTR localhost", r, 550, "not a reasonable PTR name")

	tx.Mail.AuthUser = "alice"
	if r, err = mtaclient.Send("tcp", addr, tx, body); err != nil || !r.Accepted() {
		t.Errorf("after SMTP AUTH: %v %v, want accepted", r.Action, err)
	}
}

// The PTR name the MTA found ({client_ptr}) saves maxwell its own PTR
// query: this client's PTR zone never answers, yet it gets through.
func TestMTAPTR(t *testing.T) {
	env := newEnv(t, false)
	env.DNS.Add("mail9.sender.example. A 198.51.100.9")
	addr := start(t, env)
	ci := policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.9"), MTAPTR: "mail9.sender.example"}
	r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: ci, Helo: "mail9.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}}, body)
	if err != nil || !r.Accepted() || !strings.Contains(r.Mods[0].HeaderValue, "ptr=mail9.sender.example") {
		t.Fatalf("got %v %v, want accepted with the MTA's PTR confirmed", r, err)
	}
	if got := env.DNS.QueriesFor("9.100.51.198.in-addr.arpa"); got != 0 {
		t.Errorf("%d PTR queries, want none", got)
	}
}

// A panic in a check is answered by the exception policy, and the daemon
// goes on serving.
func TestPanicInCheck(t *testing.T) {
	env := newEnv(t, true)
	env.Engine.Append(policy.Check{Name: "boom", Stage: policy.StageHelo, Run: func(s *policy.Session) (*policy.Decision, error) {
		if s.Helo == "panic.example" {
			var p *policy.Decision
			return nil, nilDeref(p)
		}
		return nil, nil
	}})
	addr := start(t, env)
	_, res, err := mtaclient.Dial("tcp", addr, external, "panic.example")
	if err != nil || res == nil {
		t.Fatalf("got %v, %v", res, err)
	}
	wantReply(t, "panic", *res, 451, "Internal error")
	if res.Action.SMTPReply[:9] != "451 4.3.0" {
		t.Errorf("reply = %q, want 451 4.3.0", res.Action.SMTPReply)
	}
	r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}}, body)
	if err != nil || !r.Accepted() {
		t.Errorf("next session: %v %v", r.Action, err)
	}
}

// nilDeref dereferences p: a real nil-pointer panic.
func nilDeref(p *policy.Decision) error {
	_ = p.Code
	return nil
}

// A DNS server that never answers gets the client a 451, and other
// sessions are served in the meantime.
func TestDNSNeverAnswers(t *testing.T) {
	env := newEnv(t, false)
	addr := start(t, env)
	slow := make(chan *mtaclient.Result, 1)
	go func() {
		_, res, err := mtaclient.Dial("tcp", addr, policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.9")}, "h.example")
		if err != nil {
			t.Error(err)
		}
		slow <- res
	}()
	waitFor(t, func() bool { return env.DNS.Queries() > 0 })

	r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}}, body)
	if err != nil || !r.Accepted() {
		t.Fatalf("session beside the stuck one: %v %v", r.Action, err)
	}
	select {
	case <-slow:
		t.Error("the stuck session ended before the other was served")
	default:
	}
	res := <-slow
	if res == nil {
		t.Fatal("no decision at connect")
	}
	wantReply(t, "silent DNS", *res, 451, "Temporary DNS failure")
	if !strings.HasPrefix(res.Action.SMTPReply, "451 4.4.3 ") {
		t.Errorf("reply = %q, want 451 4.4.3", res.Action.SMTPReply)
	}
}

// Garbage on the socket closes that connection, never the daemon.
func TestGarbage(t *testing.T) {
	env := newEnv(t, true)
	addr := start(t, env)
	negotiate := []byte{0, 0, 0, 13, 'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff}
	tests := map[string][]byte{
		"random bytes":           []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"zero-length packet":     append(append([]byte{}, negotiate...), 0, 0, 0, 0),
		"2 GiB packet":           {0x7f, 0xff, 0xff, 0xff, 'O'},
		"connect without NUL":    append(append([]byte{}, negotiate...), 0, 0, 0, 4, 'C', 'a', 'b', 'c'),
		"mail without NUL":       append(append([]byte{}, negotiate...), 0, 0, 0, 4, 'M', 'a', '@', 'b'),
		"connect without family": append(append([]byte{}, negotiate...), 0, 0, 0, 3, 'C', 'h', 0),
		"truncated packet":       {0, 0, 0, 50, 'O', 0, 0},
	}
	for name, garbage := range tests {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(garbage)
			if tc, ok := conn.(*net.TCPConn); ok && name == "truncated packet" {
				tc.CloseWrite() // and then the peer goes away
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the server did not close the connection: %v", err)
			}
			r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}}, body)
			if err != nil || !r.Accepted() {
				t.Fatalf("next session: %v %v", r.Action, err)
			}
		})
	}
}

// An MTA that disappears in the middle of a message loses that message
// only.
func TestClientGoneMidMessage(t *testing.T) {
	env := newEnv(t, true)
	addr := start(t, env)
	c, _, err := mtaclient.Dial("tcp", addr, external, "mail.sender.example")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Session()
	s.Mail("alice@sender.example", "")
	s.Rcpt("bob@example.org", "")
	s.DataStart()
	s.HeaderField("Subject", "cut short", nil)
	c.Net.Close() // no QUIT, no abort
	waitFor(t, func() bool { return len(env.Log.Lines("event=abort", "from=alice@sender.example")) == 1 })
	waitFor(t, func() bool { return len(env.Log.Lines("event=close")) == 1 })

	r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}}, body)
	if err != nil || !r.Accepted() {
		t.Fatalf("next session: %v %v", r.Action, err)
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maxwell.sock")
	sock := config.MustSocket("unix:" + path)

	// A stale socket left by a crash is replaced...
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, err := Listen(sock, "")
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, %v; want 0660", fi.Mode().Perm(), err)
	}
	// ... but a socket in use, or any other file, is not.
	if _, err := Listen(sock, ""); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener: err = %v", err)
	}
	other := filepath.Join(dir, "not-a-socket")
	os.WriteFile(other, []byte("precious"), 0o600)
	if _, err := Listen(config.MustSocket("unix:"+other), ""); err == nil {
		t.Error("a regular file was replaced by a socket")
	}

	env := newEnv(t, true)
	srv := NewServer(env.Engine, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Second)
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	r, err := mtaclient.Send("unix", path, policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}}, body)
	if err != nil || !r.Accepted() {
		t.Fatalf("over the unix socket: %v %v", r.Action, err)
	}
}

// A TCP socket: localhost (in any case, with or without the final dot)
// is the loopback address, looked up nowhere;
// CheckListen finds what Listen would refuse, and passes a port in use
// (the running daemon's, when config check runs beside it).
func TestTCPSocket(t *testing.T) {
	for _, tc := range []struct{ socket, ip string }{
		{"inet:0@localhost", "127.0.0.1"},
		{"inet:0@LocalHost.", "127.0.0.1"},
		{"inet6:0@localhost", "::1"},
	} {
		ln, err := Listen(config.MustSocket(tc.socket), "")
		if err != nil {
			t.Errorf("%s: %v", tc.socket, err)
			continue
		}
		if got := ln.Addr().(*net.TCPAddr).IP.String(); got != tc.ip {
			t.Errorf("%s listens on %s, want %s", tc.socket, got, tc.ip)
		}
		inUse := config.MustSocket(fmt.Sprintf("inet:%d@localhost", ln.Addr().(*net.TCPAddr).Port))
		if tc.ip == "127.0.0.1" {
			if err := CheckListen(inUse); err != nil {
				t.Errorf("CheckListen(a port in use) = %v", err)
			}
			if _, err := Listen(inUse, ""); err == nil {
				t.Error("Listen on a port in use succeeded")
			}
		}
		ln.Close()
	}
	if err := CheckListen(config.MustSocket("inet:7906@192.0.2.1")); err == nil || !strings.Contains(err.Error(), "192.0.2.1 is not an address of this host") {
		t.Errorf("CheckListen(an address of another host) = %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !testclock.Poll(5*time.Second, 10*time.Millisecond, cond) {
		t.Fatal("condition not met within 5s")
	}
}

// Defanging over the protocol: the body arrives in chunks, is spooled to
// a file past spool_threshold, and a banned attachment comes back as a
// replace-body action; a clean message gets none.
func TestDefangOverTheProtocol(t *testing.T) {
	dir := t.TempDir()
	env := enginetest.New(t, "[milter]\nspool_threshold = \"1KiB\"\ndatadir = \""+dir+"\"\n[dns]\ntimeout = \"1s\"\n", testZone...)
	addr := start(t, env)
	send := func(file string, opts ...milter.Option) mtaclient.Result {
		raw, err := os.ReadFile(filepath.Join("..", "mime", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		h, b := mime.SplitMessage(raw)
		tx := policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(), Rcpts: []string{"bob@example.org"}, Headers: h}
		res, err := mtaclient.Send("tcp", addr, tx, b, opts...)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return res
	}
	bodyOf := func(res mtaclient.Result) (body []byte, changed []string) {
		for _, m := range res.Mods {
			switch m.Type {
			case milter.ActionReplaceBody:
				body = append(body, m.Body...)
			case milter.ActionChangeHeader:
				changed = append(changed, m.HeaderName+": "+m.HeaderValue)
			}
		}
		return body, changed
	}
	for _, file := range []string{"zip-bomb.eml", "vbs.eml"} {
		res := send(file)
		body, changed := bodyOf(res)
		if !res.Accepted() || !bytes.Contains(body, []byte(`name="WARNING.TXT"`)) || len(changed) != 0 {
			t.Errorf("%s: new body %q..., header changes %v", file, body[:min(len(body), 200)], changed)
		}
	}
	if body, changed := bodyOf(send("single-exe.eml")); !bytes.HasPrefix(body, []byte("WARNING:")) ||
		len(changed) != 3 || changed[0] != `Content-Type: text/plain; charset=us-ascii; name="WARNING.TXT"` {
		t.Errorf("single-part exe: header changes %v, body %q", changed, body)
	}
	if res := send("alternative.eml"); !res.Accepted() {
		t.Errorf("clean message: %v", res.Action)
	} else if body, changed := bodyOf(res); body != nil || changed != nil {
		t.Errorf("clean message changed: %v %q", changed, body)
	}
	// An MTA that does not let the milter replace the body: the message
	// is deferred, not delivered with its attachment.
	noBody := milter.WithActions(milter.AllClientSupportedActionMasks &^ milter.OptChangeBody)
	if r := send("vbs.eml", noBody); r.Accepted() {
		t.Errorf("without replace-body: %v, want a tempfail", r.Action)
	} else {
		wantReply(t, "without replace-body", r, 451, "Cannot remove a dangerous attachment")
	}
	if r := send("alternative.eml", noBody); !r.Accepted() {
		t.Errorf("clean message without replace-body: %v, want accepted", r.Action)
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "spool")); len(files) != 0 {
		t.Errorf("%d spool files left", len(files))
	}
	if saved, _ := filepath.Glob(filepath.Join(dir, "save", "*.eml")); len(saved) != 4 {
		t.Errorf("%d originals saved, want 4", len(saved))
	}
}

// [defang] scan_html over the protocol: an HTML part's scripts are
// removed with a replace-body action, the text parts around it sent
// back as they came; a message that is one HTML part also gets its
// Content-Transfer-Encoding changed to quoted-printable.
func TestCleanHTMLOverTheProtocol(t *testing.T) {
	env := enginetest.New(t, "[milter]\ndatadir = \""+t.TempDir()+"\"\n[defang]\nscan_html = true\n[dns]\ntimeout = \"1s\"\n", testZone...)
	addr := start(t, env)
	for _, c := range []struct {
		file    string
		changed []string // header changes
		kept    string   // a part of the body sent back as it came
		cleaned string   // and what the cleaned part now holds
	}{
		{"html-amazon.eml", nil, "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhttp://www.amazon.example/",
			"<!-- WARNING: embedded script removed -->\r\n</head>\r\n<body bgcolor=3D"},
		{"html-top.eml", []string{"Content-Transfer-Encoding[1]: quoted-printable"}, "",
			"<html><head><!-- WARNING: embedded script removed --></head>\r\n<body><p>Your invoice is attached.</p></body></html>\r\n"},
	} {
		raw, err := os.ReadFile(filepath.Join("..", "mime", "testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		h, b := mime.SplitMessage(raw)
		res, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: external, Helo: "mail.sender.example", Mail: alice(),
			Rcpts: []string{"bob@example.org"}, Headers: h}, b)
		if err != nil || !res.Accepted() {
			t.Fatalf("%s: %v %v", c.file, res.Action, err)
		}
		var body []byte
		var changed []string
		for _, m := range res.Mods {
			switch m.Type {
			case milter.ActionReplaceBody:
				body = append(body, m.Body...)
			case milter.ActionChangeHeader, milter.ActionInsertHeader, milter.ActionAddHeader:
				if strings.HasPrefix(m.HeaderName, "Content-") {
					changed = append(changed, fmt.Sprintf("%s[%d]: %s", m.HeaderName, m.HeaderIndex, m.HeaderValue))
				}
			}
		}
		if !slices.Equal(changed, c.changed) || !bytes.Contains(body, []byte(c.kept)) || !bytes.Contains(body, []byte(c.cleaned)) ||
			bytes.Contains(body, []byte("<script")) || bytes.Contains(body, []byte("WARNING.TXT")) {
			t.Errorf("%s: header changes %q, body\n%s", c.file, changed, body)
		}
	}
	if !strings.Contains(env.Log.String(), "event=html name=(text/html) removed=\"script 1, on* attribute 1\" type=text/html") {
		t.Errorf("log:\n%s", env.Log)
	}
}

// A slow call-back: the MTA gets progress packets while maxwell waits for
// the sender's mail server, so its own read timeout (here 500 ms) never
// runs out although the answer takes 1.5 s.
func TestProgressDuringCallback(t *testing.T) {
	defer func(old time.Duration) { progressInterval = old }(progressInterval)
	progressInterval = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a mail server that takes 1.5 s to say hello, then takes anything
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				time.Sleep(1500 * time.Millisecond)
				fmt.Fprintf(c, "220 slow.example ESMTP\r\n")
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					reply := "250 ok\r\n"
					if strings.HasPrefix(string(buf[:n]), "QUIT") {
						reply = "221 bye\r\n"
					}
					c.Write([]byte(reply))
				}
			}()
		}
	}()
	env := enginetest.New(t, fmt.Sprintf("[milter]\nhostname = \"mx.example.org\"\n[cbv]\nallow_private_mx = true\nport = %d\n[dns]\ntimeout = \"1s\"\n",
		ln.Addr().(*net.TCPAddr).Port), append(testZone,
		`soft.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`, "soft.example. MX 10 mx.soft.example.", "mx.soft.example. A 127.0.0.1")...)
	env.Engine.EnableCallbacks()
	addr := start(t, env)
	start := time.Now() // wall clock: a stopwatch for the failure message
	res, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: external, Helo: "mail.sender.example",
		Mail: policy.MailInfo{Sender: "joe@soft.example"}, Rcpts: []string{"bob@example.org"}, Headers: headers},
		body, milter.WithReadTimeout(500*time.Millisecond))
	if err != nil || !res.Accepted() {
		t.Fatalf("after %v: %v %v\n%s", time.Since(start), res.Action, err, env.Log) // wall clock: the stopwatch
	}
	if !strings.Contains(env.Log.String(), "status=accepted") {
		t.Errorf("the call-back was not made:\n%s", env.Log)
	}
}

// bms.py's remaining features over the protocol, on one engine with an
// SQLite store: recipient changes and header edits reach the MTA as
// milter actions, refusals as replies, and the auto-whitelist learnt
// from an outgoing message spares the answer.
func TestBmsFeaturesOverTheProtocol(t *testing.T) {
	dir := t.TempDir()
	env := enginetest.New(t, fmt.Sprintf(`
[milter]
internal_connect = ["192.0.2.0/24"]
internal_domains = ["example.org"]
connection_header = ""
datadir = %q
[spf]
headers = []
supply_sender = true
[defang]
spam_words = ["$$$"]
[greylist]
enabled = false
[whitelist]
senders = ["boss@example.org"]
[wiretap]
users = ["suspect@example.org"]
dest = "audit@example.org"
blind = false
smart_alias = [["@sender.example", "sales@example.org", "ann@example.org"]]
[dns]
timeout = "1s"
`, dir), append(testZone, `sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`)...)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "s.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env.Engine.UseStore(st)
	addr := start(t, env)
	internal := policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.7")}
	send := func(ci policy.ConnInfo, from, rcpt string, hs ...policy.Header) mtaclient.Result {
		r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: ci, Helo: "mail.sender.example",
			Mail: policy.MailInfo{Sender: from}, Rcpts: []string{rcpt}, Headers: hs}, body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mods := func(r mtaclient.Result) string {
		var out []string
		for _, m := range r.Mods {
			switch m.Type {
			case milter.ActionAddRcpt:
				out = append(out, "+"+m.Rcpt)
			case milter.ActionDelRcpt:
				out = append(out, "-"+m.Rcpt)
			case milter.ActionInsertHeader, milter.ActionAddHeader:
				out = append(out, m.HeaderName+": "+m.HeaderValue)
			}
		}
		return strings.Join(out, " ")
	}
	h := func(n, v string) policy.Header { return policy.Header{Name: n, Value: v} }

	if got := mods(send(external, "alice@sender.example", "sales@example.org", h("From", "alice@sender.example"))); got != "-<sales@example.org> +<ann@example.org>" {
		t.Errorf("smart alias: %q", got)
	}
	if got := mods(send(external, "alice@sender.example", "suspect@example.org", h("From", "alice@sender.example"))); got != "Cc: audit@example.org +<audit@example.org>" {
		t.Errorf("wiretap: %q", got)
	}
	if got := mods(send(external, "alice@sender.example", "bob@example.org", h("From", `"Bank" <service@bank.example>`))); got != "Sender: <alice@sender.example>" {
		t.Errorf("supply_sender: %q", got)
	}
	wantReply(t, "short Message-ID", send(external, "alice@sender.example", "bob@example.org", h("Message-ID", "<>")), 550, "Message-ID too short")
	// The boss writes to a partner; the partner's answer, with a Subject
	// that would otherwise be refused, gets through.
	if r := send(internal, "boss@example.org", "partner@sender.example"); !r.Accepted() {
		t.Fatalf("outgoing: %v", r.Action)
	}
	wantReply(t, "spam word from a stranger", send(external, "stranger@sender.example", "boss@example.org", h("Subject", "$$$")), 550, "That subject is not allowed")
	if r := send(external, "partner@sender.example", "boss@example.org", h("Subject", "$$$")); !r.Accepted() {
		t.Errorf("answer from an auto-whitelisted correspondent: %v", r.Action)
	}
}
