package dryrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/policy"
)

var discard = slog.New(slog.DiscardHandler)

// dnsServer serves the sender's records; 198.51.100.9's PTR never
// answers.
func dnsServer(t *testing.T) *dnstest.Server {
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
	srv.Fail("9.100.51.198.in-addr.arpa", dnstest.Silent)
	return srv
}

// attachment is a message from alice@sender.example to to, with an .exe
// attached.
func attachment(to string) string {
	return "From: <alice@sender.example>\nTo: <" + to + ">\nSubject: the file\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nHere it is.\n" +
		"--b\nContent-Type: application/octet-stream; name=\"run.exe\"\nContent-Disposition: attachment; filename=\"run.exe\"\n" +
		"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n--b--\n"
}

// A run reads what the configuration keeps in datadir (check_user
// files, DKIM keys) from there, and writes nothing outside its scratch
// directory: not even with an absolute tempdir, where saved originals
// would otherwise go.
func TestRunReadsDatadirWritesScratch(t *testing.T) {
	dir := t.TempDir()
	data, save := filepath.Join(dir, "data"), filepath.Join(dir, "save")
	for _, d := range []string{data, save} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(data, "example.org"), []byte("bob carol\n"), 0o640)
	key, _, err := dkim.GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "example.org.key"), key, 0o600)
	srv := dnsServer(t)
	cfg, err := config.Parse("maxwell.toml", []byte(fmt.Sprintf(`
[milter]
datadir = %q
tempdir = %q
spool_threshold = 16
internal_domains = ["example.org"]
check_user = ["file:example.org"]
[wiretap]
archive = %q
users = ["bob@example.org"]
dest = "tap@example.org"
[dkim]
keys = [{domain = "example.org", selector = "s1", privkey = "example.org.key"}]
[dns]
servers = [%q]
timeout = "2s"
`, data, save, filepath.Join(dir, "archive.mbox"), srv.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	external := Envelope{IP: netip.MustParseAddr("198.51.100.7"), Helo: "mail.sender.example"}
	tests := []struct {
		name string
		env  Envelope
		msg  string
		want []string // in the reply, or the message as delivered
	}{
		{"defanged, tapped", external, attachment("bob@example.org"), []string{"accept", "WARNING.TXT", "X-Maxwell-Connection:"}},
		{"not a user of example.org", external, attachment("nobody@example.org"), []string{"reject", "550 5.1.1"}},
		{"signed", Envelope{AuthUser: "carol"}, "From: <carol@example.org>\nTo: <dave@elsewhere.example>\nSubject: hi\n\nHello.\n",
			[]string{"accept", "DKIM-Signature: a=ed25519-sha256;", " d=example.org;", " s=s1;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := Transaction(tt.env, strings.NewReader(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), cfg, tx, discard)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString(res.Outcome.Final.Action.String() + " " + res.Outcome.Final.Reply() + "\n")
			if res.Delivered() {
				res.WriteMessage(&b)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("no %q in:\n%s\nmail log:\n%s", w, b.String(), res.MailLog)
				}
			}
		})
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("the runs changed %s:\nbefore:\n%safter:\n%s", dir, before, after)
	}
	if cfg.Milter.DataDir != data || cfg.Milter.TempDir != save || cfg.DKIM.Keys[0].PrivKey != "example.org.key" || cfg.Milter.CheckUser[0] != "file:example.org" {
		t.Errorf("the configuration given was changed: %+v %+v", cfg.Milter, cfg.DKIM.Keys)
	}
}

// A run whose context has ended asks no DNS server: its lookups fail at
// once, as temporary errors, and the message is tempfailed, as when the
// server is silent.
func TestRunContextEnded(t *testing.T) {
	srv := dnsServer(t)
	cfg := config.Default()
	cfg.DNS.Servers, cfg.DNS.Attempts = []string{srv.Addr}, 1
	cfg.DNS.Timeout = config.Duration(time.Hour) // never reached: the lookups end with the run's context
	tx, err := Transaction(Envelope{IP: netip.MustParseAddr("198.51.100.9"), Helo: "h.example"},
		strings.NewReader("From: <alice@sender.example>\nTo: <bob@example.org>\n\nHello.\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, cfg, tx, discard)
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Outcome.Final; f.Action != policy.Tempfail || srv.Queries() != 0 {
		t.Errorf("%s %s after %d queries; want a tempfail and none\n%s", f.Action, f.Reply(), srv.Queries(), res.MailLog)
	}
}

// The envelope a message names when none is given, and the messages
// that are no RFC 5322 message.
func TestTransaction(t *testing.T) {
	tests := []struct {
		name     string
		env      Envelope
		msg      string
		sender   string
		rcpts    []string
		headers  int
		err      string
		noRcpt   bool
		bodyWant string
	}{
		{name: "Return-Path and To, Cc", msg: "Return-Path: <a@x.example>\nFrom: <b@x.example>\nTo: Bob <bob@example.org>, carol@example.org\nCc: <dave@example.org>\n\nbody\n",
			sender: "a@x.example", rcpts: []string{"bob@example.org", "carol@example.org", "dave@example.org"}, headers: 4, bodyWant: "body\n"},
		{name: "Return-Path: <>", msg: "Return-Path: <>\nFrom: <MAILER-DAEMON@x.example>\nTo: <bob@example.org>\n\n", sender: "", rcpts: []string{"bob@example.org"}, headers: 3},
		{name: "given", env: Envelope{Sender: "", SenderSet: true, Rcpts: []string{"r@example.org"}}, msg: "From: <b@x.example>\nTo: <bob@example.org>\n\n",
			sender: "", rcpts: []string{"r@example.org"}, headers: 2},
		{name: "mbox From line, folded field", msg: "From b@x.example Thu Jan  1 00:00:00 1970\nFrom: <b@x.example>\nTo: <bob@example.org>\nSubject: a\n long one\n\nx",
			sender: "b@x.example", rcpts: []string{"bob@example.org"}, headers: 3, bodyWant: "x"},
		{name: "no recipient", msg: "From: <b@x.example>\n\nbody\n", noRcpt: true},
		{name: "empty", msg: "", noRcpt: true},
		{name: "binary", msg: "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 1000) + "\n", err: `malformed header line "\x7fELF\x02\x01\x01\x00`},
		{name: "a huge line", msg: "From: <b@x.example>\n" + strings.Repeat("x", 1<<20) + "\n\n", err: "malformed header line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := Transaction(tt.env, strings.NewReader(tt.msg))
			switch {
			case tt.noRcpt:
				if !errors.Is(err, ErrNoRecipient) {
					t.Errorf("error %v, want ErrNoRecipient", err)
				}
				return
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) || len(err.Error()) > 4*maxQuoted+50 {
					t.Errorf("error %.300q, want %q, short", err, tt.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if tx.Mail.Sender != tt.sender || strings.Join(tx.Rcpts, " ") != strings.Join(tt.rcpts, " ") || len(tx.Headers) != tt.headers || string(tx.Body) != tt.bodyWant {
				t.Errorf("sender %q, rcpts %q, %d fields, body %q", tx.Mail.Sender, tx.Rcpts, len(tx.Headers), tx.Body)
			}
		})
	}
}

// A field folded over many lines keeps its lines, and is read in time
// linear in its size: a check page's upload of 10 MiB folded every few
// bytes took hours when each line copied the value so far.
func TestTransactionFoldedField(t *testing.T) {
	tx, err := Transaction(Envelope{}, strings.NewReader("To: <bob@example.org>\nSubject: a\n b\r\n\tc\nX: y\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tx.Headers; len(got) != 3 || got[1].Value != "a\r\n b\r\n\tc" || got[2].Value != "y" {
		t.Fatalf("fields %q", got)
	}
	const lines = 1 << 20 / 4 // 1 MiB; before the fix, minutes
	msg := "To: <bob@example.org>\nX-Fold: a\n" + strings.Repeat(" x\r\n", lines) + "\nbody"
	start := time.Now()
	tx, err = Transaction(Envelope{}, strings.NewReader(msg))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if err != nil {
		t.Fatal(err)
	}
	if v := tx.Headers[1].Value; len(v) != 1+lines*4 || !strings.HasSuffix(v, "\r\n x") {
		t.Errorf("the folded value: %d bytes, ending %q", len(v), v[max(0, len(v)-10):])
	}
}

func TestEnvelopeAddress(t *testing.T) {
	for in, want := range map[string]string{"<>": "", "": "", " < a@b.example > ": "a@b.example", "a@b.example": "a@b.example"} {
		if got := EnvelopeAddress(in); got != want {
			t.Errorf("EnvelopeAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// snapshot describes every file under dir: name, mode, size, contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %s\n", strings.TrimPrefix(path, dir), fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		if fi.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			io.Copy(&b, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
