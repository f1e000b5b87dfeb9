package policy_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

const baseConfig = `
[milter]
MILTER
internal_connect = ["192.0.2.0/24"]
trusted_relay = ["198.51.100.50"]
internal_domains = ["example.org"]
internal_mta = ["192.0.2.25"]
hello_blacklist = ["mx.example.org", "example.org"]

[defang]
spam_words = ["$$$"]
porn_words = ["v{i}{a}gr{a}"]

[srs]
banned_users = ["mailer-daemon"]

[blocked_senders]
senders = ["pest@annoying.example", "@spam.example"]
exceptions = ["abuse@example.org"]
BLOCKED

[dns]
timeout = "200ms"
attempts = 1
`

var zone = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
	"8.100.51.198.in-addr.arpa. PTR localhost.",
	"9.100.51.198.in-addr.arpa. PTR .",
	"10.100.51.198.in-addr.arpa. PTR forged.example.",
	"forged.example. A 192.0.2.99",
	"11.100.51.198.in-addr.arpa. PTR flaky.example.",
	"20.2.0.192.in-addr.arpa. PTR pc20.lan.example.org.",
	"pc20.lan.example.org. A 192.0.2.20",
}

// newEnv builds the engine of these tests; milter and blocked are added to
// those sections of the base configuration.
func newEnv(t *testing.T, milter, blocked string) *enginetest.Env {
	conf := strings.NewReplacer("MILTER", milter, "BLOCKED", blocked).Replace(baseConfig)
	env := enginetest.New(t, conf, zone...)
	env.DNS.Fail("12.100.51.198.in-addr.arpa", dnstest.Silent)
	env.DNS.Fail("11.2.0.192.in-addr.arpa", dnstest.Silent)
	env.DNS.Fail("flaky.example", dnstest.ServFail)
	return env
}

// tx is a transaction from ip, with the given HELO and sender, to
// bob@example.org, with a Subject.
func tx(ip, helo, from, subject string) policy.Transaction {
	t := policy.Transaction{
		Helo:    helo,
		Mail:    policy.MailInfo{Sender: from},
		Rcpts:   []string{"bob@example.org"},
		Headers: []policy.Header{{Name: "From", Value: "<" + from + ">"}, {Name: "Subject", Value: subject}},
	}
	if ip != "" {
		t.Conn.IP = netip.MustParseAddr(ip)
	}
	return t
}

func withAuth(t policy.Transaction, user string) policy.Transaction {
	t.Mail.AuthUser = user
	return t
}

func withRcpt(t policy.Transaction, rcpt string) policy.Transaction {
	t.Rcpts = []string{rcpt}
	return t
}

// want is the stage where a transaction ends, the action, the SMTP code
// and a piece of the reply text.
type want struct {
	stage  string
	action policy.Action
	code   int
	text   string
}

var accepted = want{"end of message", policy.Accept, 0, ""}

func TestChecks(t *testing.T) {
	const ext, good = "198.51.100.7", "mail.sender.example"
	tests := []struct {
		name string
		tx   policy.Transaction
		want want
	}{
		{"clean external mail", tx(ext, good, "alice@sender.example", "Hello"), accepted},
		{"local connection", tx("", "localhost", "root@host.example", "cron"), accepted},

		{"numeric HELO", tx(ext, "198.51.100.7", "alice@sender.example", "Hi"),
			want{"helo", policy.Reject, 550, "hello name cannot be numeric ip"}},
		{"address literal HELO", tx(ext, "[198.51.100.7]", "alice@sender.example", "Hi"),
			want{"helo", policy.Reject, 550, "hello name cannot be numeric ip"}},
		{"IPv6 literal HELO", tx(ext, "[IPv6:2001:db8::1]", "alice@sender.example", "Hi"),
			want{"helo", policy.Reject, 550, "hello name cannot be numeric ip"}},
		{"numeric HELO from inside", tx("192.0.2.10", "192.0.2.10", "carol@example.org", "Hi"), accepted},
		{"HELO blacklist", tx(ext, "MX.example.org", "alice@sender.example", "Hi"),
			want{"helo", policy.Reject, 550, "Your mail server lies.  Its name is *not* MX.example.org."}},
		{"HELO blacklist from inside", tx("192.0.2.10", "mx.example.org", "carol@example.org", "Hi"), accepted},
		{"missing HELO", tx(ext, "", "alice@sender.example", "Hi"),
			want{"mail from", policy.Reject, 503, "It's polite to say HELO first."}},
		{"missing HELO from inside", tx("192.0.2.10", "", "carol@example.org", "Hi"), accepted},

		{"PTR localhost, delayed to DATA", tx("198.51.100.8", "host.example", "a@b.example", "Hi"),
			want{"data", policy.Reject, 550, `"localhost" is not a reasonable PTR name`}},
		{"PTR root", tx("198.51.100.9", "host.example", "a@b.example", "Hi"),
			want{"data", policy.Reject, 550, `"." is not a reasonable PTR name`}},
		{"PTR localhost cancelled by SMTP AUTH", withAuth(tx("198.51.100.8", "host.example", "carol@example.org", "Hi"), "carol"), accepted},
		{"unconfirmed PTR is only DYN", tx("198.51.100.10", "host.example", "a@b.example", "Hi"), accepted},

		{"zombie PC", tx("192.0.2.10", "pc10", "someone@elsewhere.example", "Hi"),
			want{"mail from", policy.Reject, 550, "Your PC is using an unauthorized MAIL FROM."}},
		{"internal user, own domain", tx("192.0.2.10", "pc10", "carol@example.org", "Hi"), accepted},
		{"internal by PTR name", tx("192.0.2.20", "pc20", "carol@example.org", "Hi"), accepted},
		{"authenticated user, other domain", withAuth(tx(ext, good, "carol@elsewhere.example", "Hi"), "carol"), accepted},
		{"external forging our domain", tx(ext, good, "boss@example.org", "Hi"),
			want{"data", policy.Reject, 550, "I hate talking to myself!"}},
		{"trusted relay with our domain", tx("198.51.100.50", "backup-mx.example.net", "boss@example.org", "Hi"), accepted},
		{"null sender from an internal PC", tx("192.0.2.10", "pc10", "", "Hi"),
			want{"mail from", policy.Reject, 550, "Your PC is trying to send a DSN even though it is not an MTA."}},
		{"null sender from the internal MTA", tx("192.0.2.25", "mta.example.org", "", "Hi"), accepted},
		{"banned user counts as a DSN", tx("192.0.2.10", "pc10", "MAILER-DAEMON@example.org", "Hi"),
			want{"mail from", policy.Reject, 550, "not an MTA"}},

		{"blocked sender deferred", tx(ext, good, "pest@annoying.example", "Hi"),
			want{"rcpt to bob@example.org", policy.Tempfail, 452, "Mailbox full, retry later"}},
		{"blocked domain deferred", tx(ext, good, "any@SPAM.example", "Hi"),
			want{"rcpt to bob@example.org", policy.Tempfail, 452, "Mailbox full, retry later"}},
		{"blocked sender to an exception", withRcpt(tx(ext, good, "pest@annoying.example", "Hi"), "Abuse@example.org"), accepted},

		{"spam word", tx(ext, good, "alice@sender.example", "Make $$$ fast"),
			want{"end of headers", policy.Reject, 550, "That subject is not allowed"}},
		{"porn word, encoded and disguised", tx(ext, good, "alice@sender.example", "=?utf-8?b?Q2hlYXAgdjFAZ3JhIQ==?="),
			want{"end of headers", policy.Reject, 550, "That subject is not allowed"}},
		{"advertising prefix", tx(ext, good, "alice@sender.example", "ADV: buy now"),
			want{"end of headers", policy.Reject, 550, "No soliciting allowed"}},
		{"advertising suffix", tx(ext, good, "alice@sender.example", "great offer (ADV)"),
			want{"end of headers", policy.Reject, 550, "No soliciting allowed"}},
		{"subject words from inside", tx("192.0.2.10", "pc10", "carol@example.org", "Make $$$ fast"), accepted},
		{"harmless subject", tx(ext, good, "alice@sender.example", "Advice on the advert"), accepted},

		{"PTR lookup times out", tx("198.51.100.12", "host.example", "a@b.example", "Hi"),
			want{"data", policy.Tempfail, 451, "Temporary DNS failure"}},
		{"forward lookup SERVFAIL", tx("198.51.100.11", "host.example", "a@b.example", "Hi"),
			want{"data", policy.Tempfail, 451, "Temporary DNS failure"}},
		{"PTR timeout from inside does not matter", tx("192.0.2.11", "pc11", "carol@example.org", "Hi"), accepted},
	}
	env := newEnv(t, "", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := env.Engine.Run(tt.tx)
			checkOutcome(t, out, tt.want)
		})
	}
}

func checkOutcome(t *testing.T, out policy.Outcome, w want) {
	t.Helper()
	last := out.Stages[len(out.Stages)-1]
	d := out.Final
	if last.Stage != w.stage || d.Action != w.action || d.Code != w.code || !strings.Contains(strings.Join(d.Text, "\n"), w.text) {
		t.Errorf("ended at %s with %s %d %q; want %s with %s %d containing %q",
			last.Stage, d.Action, d.Code, d.Text, w.stage, w.action, w.code, w.text)
	}
	if w.code != 0 && w.code/100 == 5 && d.XCode[0] != '5' || w.code/100 == 4 && d.XCode[0] != '4' {
		t.Errorf("enhanced code %q does not match reply code %d", d.XCode, d.Code)
	}
}

func TestWithoutDelayedReject(t *testing.T) {
	env := newEnv(t, "delayed_reject = false", "")
	t.Run("PTR localhost at connect", func(t *testing.T) {
		checkOutcome(t, env.Engine.Run(tx("198.51.100.8", "h.example", "a@b.example", "Hi")),
			want{"connect", policy.Reject, 550, "not a reasonable PTR name"})
	})
	t.Run("DNS timeout at connect", func(t *testing.T) {
		checkOutcome(t, env.Engine.Run(tx("198.51.100.12", "h.example", "a@b.example", "Hi")),
			want{"connect", policy.Tempfail, 451, "Temporary DNS failure"})
	})
	t.Run("forgery at MAIL FROM", func(t *testing.T) {
		checkOutcome(t, env.Engine.Run(tx("198.51.100.7", "mail.sender.example", "boss@example.org", "Hi")),
			want{"mail from", policy.Reject, 550, "I hate talking to myself!"})
	})
}

func TestBlockedSenderRejected(t *testing.T) {
	env := newEnv(t, "", `action = "reject"`)
	checkOutcome(t, env.Engine.Run(tx("198.51.100.7", "mail.sender.example", "pest@annoying.example", "Hi")),
		want{"rcpt to bob@example.org", policy.Reject, 550, "Mailbox unavailable"})
}

// The connection header says what maxwell knows, and nothing a client
// sends can add a line to it.
func TestConnectionHeader(t *testing.T) {
	env := newEnv(t, "", "")
	out := env.Engine.Run(tx("198.51.100.7", "mail.sender.example", "alice@sender.example", "Hi"))
	e := connectionHeader(t, out.Final.Edits)
	want := `class="EXTERNAL"; ip=198.51.100.7; ptr=mail.sender.example; helo=mail.sender.example`
	if e.Kind != policy.InsertHeader || e.Index != 0 || e.Name != "X-Maxwell-Connection" || e.Value != want {
		t.Errorf("edit = %+v, want X-Maxwell-Connection: %s at the top", e, want)
	}

	out = env.Engine.Run(withAuth(tx("203.0.113.5", "evil\r\nX-Injected: yes", "carol@example.org", "Hi"), "carol\nX: y"))
	v := connectionHeader(t, out.Final.Edits).Value
	if strings.ContainsAny(v, "\r\n") || !strings.Contains(v, `class="INTERNAL DYN AUTH"`) {
		t.Errorf("header value %q: want one line, class INTERNAL DYN AUTH", v)
	}
}

// With loopback_internal = false, a loopback client is classed as any
// other, but for mail submitted locally: Postfix hands non_smtpd_milters
// the sendmail(1) submissions as 127.0.0.1 port 0, and those stay LOCAL
// and INTERNAL.
func TestLocalSubmissionWithoutLoopbackInternal(t *testing.T) {
	env := newEnv(t, "loopback_internal = false", "")
	local := tx("127.0.0.1", "", "root@example.org", "cron")
	local.Conn.Hostname = "localhost"
	if v := connectionHeader(t, env.Engine.Run(local).Final.Edits).Value; !strings.HasPrefix(v, `class="INTERNAL LOCAL"`) {
		t.Errorf("127.0.0.1 port 0 (a local submission): %s, want INTERNAL LOCAL", v)
	}
	remote := tx("127.0.0.1", "mail.sender.example", "alice@sender.example", "Hi")
	remote.Conn.Port = 40000
	env.Engine.Run(remote)
	for _, line := range strings.Split(env.Log.String(), "\n") {
		if strings.Contains(line, "event=connect") && strings.Contains(line, "port=40000") && strings.Contains(line, "INTERNAL") {
			t.Errorf("127.0.0.1 port 40000 (a TCP client) classed INTERNAL: %s", line)
		}
	}
	if !strings.Contains(env.Log.String(), "port=40000") {
		t.Errorf("no connect line for the TCP client:\n%s", env.Log.String())
	}
}

// connectionHeader returns the edit that inserts X-Maxwell-Connection.
func connectionHeader(t *testing.T, edits []policy.Edit) policy.Edit {
	t.Helper()
	for _, e := range edits {
		if e.Name == "X-Maxwell-Connection" {
			return e
		}
	}
	t.Fatalf("no X-Maxwell-Connection among the edits %+v", edits)
	return policy.Edit{}
}

// Reply text never carries a client's CR or LF either.
func TestReplyTextIsOneLinePerLine(t *testing.T) {
	env := newEnv(t, "", "")
	out := env.Engine.Run(tx("198.51.100.7", "example.org\r\n250 fake", "a@b.example", "Hi"))
	for _, line := range out.Final.Text {
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("reply line %q holds CR or LF", line)
		}
	}
}

func TestMailLog(t *testing.T) {
	env := newEnv(t, "", "")
	env.Engine.Run(tx("198.51.100.8", "host.example", "a@b.example", "Hi"))
	for _, w := range [][]string{
		{"event=connect", "ip=198.51.100.8", "ptr=localhost", `class="EXTERNAL DYN"`},
		{"event=hello", "helo=host.example"},
		{`event="mail from"`, "from=a@b.example"},
		{`event="rcpt to"`, "to=bob@example.org"},
		{"event=delay", "tag=REJECT", `reason="PTR is localhost"`, "stage=connect"},
		{"event=decision", "tag=REJECT", "delayed=true", "code=550", "xcode=5.7.25"},
		{"event=close", "messages=0"},
	} {
		if len(env.Log.Lines(w...)) != 1 {
			t.Errorf("want one log line with %q in:\n%s", w, env.Log.String())
		}
	}
}

// event=close counts the messages accepted on the connection, as
// docs/logs.md says: not those refused at end of message.
func TestCloseCountsAcceptedMessages(t *testing.T) {
	env := newEnv(t, "", "")
	env.Engine.Append(policy.Check{Name: "test: refuse 'spam'", Stage: policy.StageEOM, Run: func(s *policy.Session) (*policy.Decision, error) {
		if s.Msg.Subjects[0] == "spam" {
			return &policy.Decision{Action: policy.Reject, Code: 550, XCode: "5.7.1", Text: []string{"spam"}}, nil
		}
		return nil, nil
	}})
	s := env.Engine.NewSession()
	s.Connect(policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")})
	s.Hello("mail.sender.example")
	for _, subject := range []string{"spam", "hello", "spam"} {
		s.MailFrom(policy.MailInfo{Sender: "alice@sender.example"})
		s.RcptTo("bob@example.org", "")
		s.Data()
		s.Header("Subject", subject)
		s.EndOfHeaders()
		if d, want := s.EndOfMessage(), subject == "hello"; (d.Action == policy.Accept) != want {
			t.Fatalf("%q: %v %q", subject, d.Action, d.Reply())
		}
	}
	s.Close()
	if l := env.Log.Lines("event=close"); len(l) != 1 || !strings.HasSuffix(l[0], " messages=1") {
		t.Errorf("close line %q, want messages=1 (one accepted, two refused)", l)
	}
}

// Connection state lasts across messages and RSET; message state does not.
func TestSessionState(t *testing.T) {
	env := newEnv(t, "", "")
	s := env.Engine.NewSession()
	defer s.Close()
	s.Connect(policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")})
	s.Hello("mail.sender.example")

	// A blocked sender's message is refused, then aborted (RSET).
	s.MailFrom(policy.MailInfo{Sender: "pest@annoying.example"})
	if d := s.RcptTo("bob@example.org", ""); d.Action != policy.Tempfail {
		t.Fatalf("blocked sender: %v", d.Action)
	}
	s.Abort()

	// The next message on the same connection is judged afresh, with the
	// connection's HELO and PTR.
	s.MailFrom(policy.MailInfo{Sender: "alice@sender.example"})
	if d := s.RcptTo("bob@example.org", ""); d.Action != policy.Continue {
		t.Fatalf("second message, rcpt: %v", d.Action)
	}
	s.Data()
	d := s.EndOfMessage()
	if d.Action != policy.Accept || !strings.Contains(d.Edits[0].Value, "helo=mail.sender.example") ||
		!strings.Contains(d.Edits[0].Value, "ptr=mail.sender.example") {
		t.Errorf("second message: %v %+v", d.Action, d.Edits)
	}
	if len(env.Log.Lines("event=abort", "from=pest@annoying.example")) != 1 {
		t.Errorf("no abort line:\n%s", env.Log.String())
	}
}

func TestPanicInCheck(t *testing.T) {
	for _, tt := range []struct {
		policy string
		want   policy.Action
		code   int
	}{
		{"tempfail", policy.Tempfail, 451},
		{"reject", policy.Reject, 550},
		{"continue", policy.Continue, 0},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			env := newEnv(t, "exception_policy = \""+tt.policy+"\"", "")
			env.Engine.Append(policy.Check{Name: "boom", Stage: policy.StageHelo, Run: func(s *policy.Session) (*policy.Decision, error) {
				var names []string
				return nil, errors.New(names[len(s.Helo)]) // index out of range: a real panic
			}})
			s := env.Engine.NewSession()
			s.Connect(policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")})
			d := s.Hello("mail.sender.example")
			if d.Action != tt.want || d.Code != tt.code {
				t.Errorf("got %v %d, want %v %d", d.Action, d.Code, tt.want, tt.code)
			}
			if !strings.Contains(env.Diag.String(), "index out of range") ||
				!strings.Contains(env.Diag.String(), "goroutine") {
				t.Errorf("diagnostic log lacks the panic and its stack:\n%s", env.Diag.String())
			}
			if len(env.Log.Lines("event=error", "helo/boom")) != 1 {
				t.Errorf("mail log lacks the error line:\n%s", env.Log.String())
			}
		})
	}
}

// A bare local part among the exceptions ("lawyer", as the Exim ACL's
// exceptions.list has them) is that user at any of our domains
// (internal_domains, hostname), and nowhere else.
func TestBlockedSenderBareException(t *testing.T) {
	env := enginetest.New(t, `
[milter]
internal_domains = ["example.org", "*.example.org"]
hostname = "mx.example.net"
[blocked_senders]
senders = ["pest@annoying.example"]
exceptions = ["Lawyer", "abuse@example.org"]
[dns]
timeout = "200ms"
attempts = 1
`, zone...)
	deferred := func(rcpt string) want {
		return want{"rcpt to " + rcpt, policy.Tempfail, 452, "Mailbox full, retry later"}
	}
	for _, tt := range []struct {
		rcpt string
		want want
	}{
		{"lawyer@example.org", accepted},
		{"LAWYER@Branch.Example.org", accepted},
		{"lawyer@mx.example.net", accepted},
		{"abuse@example.org", accepted},
		{"lawyer@other.example", deferred("lawyer@other.example")},
		{"bob@example.org", deferred("bob@example.org")},
		{"lawyer.assistant@example.org", deferred("lawyer.assistant@example.org")},
	} {
		t.Run(tt.rcpt, func(t *testing.T) {
			checkOutcome(t, env.Engine.Run(withRcpt(tx("198.51.100.7", "mail.sender.example", "pest@annoying.example", "Hi"), tt.rcpt)), tt.want)
		})
	}
}
