package policy_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/policy"
)

const attachConfig = `
[milter]
datadir = "DATADIR"
internal_connect = ["192.0.2.0/24"]
hostname = "mx.example.org"
EXTRA
[dns]
timeout = "200ms"
attempts = 1
`

// newAttachEnv is an engine whose data directory is a fresh temporary
// one; extra is more configuration (sections included).
func newAttachEnv(t *testing.T, extra string) (*enginetest.Env, string) {
	dir := t.TempDir()
	return enginetest.New(t, strings.NewReplacer("DATADIR", dir, "EXTRA", extra).Replace(attachConfig)), dir
}

// corpusTx is a transaction from ip carrying a message of mime/testdata.
func corpusTx(t *testing.T, ip, file string) policy.Transaction {
	raw, err := os.ReadFile(filepath.Join("..", "mime", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	h, body := mime.SplitMessage(raw)
	tx := policy.Transaction{
		Conn:    policy.ConnInfo{IP: netip.MustParseAddr(ip)},
		Helo:    "mail.sender.example",
		Mail:    policy.MailInfo{Sender: "alice@sender.example"},
		Rcpts:   []string{"bob@example.org"},
		Headers: h,
		Body:    body,
	}
	return tx
}

func TestDefang(t *testing.T) {
	env, dir := newAttachEnv(t, "")
	out := env.Engine.Run(corpusTx(t, "198.51.100.7", "vbs.eml"))
	if out.Final.Action != policy.Accept || out.BodyErr != nil {
		t.Fatalf("%v %q, body error %v", out.Final.Action, out.Final.Reply(), out.BodyErr)
	}
	if !bytes.Contains(out.Body, []byte(`name="WARNING.TXT"`)) || !bytes.Contains(out.Body, []byte("LOVE-LETTER-FOR-YOU.TXT.vbs")) {
		t.Errorf("new body lacks the warning or the name of what it replaced:\n%s", out.Body)
	}
	saved, _ := filepath.Glob(filepath.Join(dir, "save", "*.eml"))
	if len(saved) != 1 {
		t.Fatalf("%d saved originals, want 1", len(saved))
	}
	fi, _ := os.Stat(saved[0])
	if fi.Mode().Perm() != 0o600 || strings.Contains(saved[0], "LOVE") {
		t.Errorf("saved original %s, mode %v; want 0600 and a name of maxwell's", saved[0], fi.Mode().Perm())
	}
	orig, _ := os.ReadFile(saved[0])
	if !bytes.Contains(orig, []byte("Subject: test\r\n")) || !bytes.Contains(orig, []byte("LOVE-LETTER-FOR-YOU.TXT.vbs")) {
		t.Errorf("the saved original is not the message:\n%s", orig)
	}
	if !bytes.Contains(out.Body, []byte("mx.example.org:"+saved[0])) {
		t.Errorf("the warning does not say where the original is (%s):\n%s", saved[0], out.Body)
	}
	for _, want := range []string{
		`event=defang name=LOVE-LETTER-FOR-YOU.TXT.vbs reason="banned extension .vbs" type=application/octet-stream`,
		`event="temp file" path=` + saved[0] + ` why=defang`,
	} {
		if !strings.Contains(env.Log.String(), want) {
			t.Errorf("mail log lacks %q:\n%s", want, env.Log)
		}
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "spool")); len(files) != 0 {
		t.Errorf("%d spool files left after the message", len(files))
	}
}

// A message that is one banned part becomes the warning, its header
// changed to say so.
func TestDefangWholeMessage(t *testing.T) {
	env, _ := newAttachEnv(t, "")
	out := env.Engine.Run(corpusTx(t, "198.51.100.7", "single-exe.eml"))
	got := map[string]string{}
	for _, e := range out.Final.Edits {
		if e.Kind == policy.ChangeHeader {
			got[e.Name] = e.Value
		}
	}
	want := map[string]string{
		"Content-Type":              `text/plain; charset=us-ascii; name="WARNING.TXT"`,
		"Content-Transfer-Encoding": "7bit",
		"Content-Disposition":       `inline; filename="WARNING.TXT"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("header changes %v, want %v", got, want)
	}
	if !bytes.HasPrefix(out.Body, []byte("WARNING: this message contained an attachment")) {
		t.Errorf("body:\n%s", out.Body)
	}
}

func TestAttachmentAnswers(t *testing.T) {
	tests := []struct {
		name, extra, ip, file string
		action                policy.Action
		code                  int
		replaced              bool
	}{
		{"clean mail is left alone", "", "198.51.100.7", "alternative.eml", policy.Accept, 0, false},
		{"allowed odd names are left alone", "", "198.51.100.7", "long-names.eml", policy.Accept, 0, false},
		{"outgoing mail is defanged too", "", "192.0.2.10", "pif.eml", policy.Accept, 0, true},
		{"reject_virus_from", "[scrub]\nreject_virus_from = [\"sender.example\"]", "198.51.100.7", "pif.eml", policy.Reject, 550, false},
		{"malformed external mail", "", "198.51.100.7", "too-deep.eml", policy.Reject, 554, false},
		{"malformed, accepted by choice", "[defang]\nmalformed = \"accept\"", "198.51.100.7", "too-deep.eml", policy.Accept, 0, false},
		{"malformed, quarantined by choice", "[defang]\nmalformed = \"quarantine\"", "198.51.100.7", "too-deep.eml", policy.Quarantine, 0, false},
		{"malformed internal mail", "", "192.0.2.10", "too-deep.eml", policy.Accept, 0, false},
		{"malformed internal mail, defanged as far as the scan went", "", "192.0.2.10", "pif-then-too-deep.eml", policy.Accept, 0, true},
		{"a real bounce: pymilter's bounce1", "", "198.51.100.7", "pymilter-bounce1.eml", policy.Accept, 0, false},
		{"a real bounce: Sendmail's", "", "198.51.100.7", "sendmail-dsn.eml", policy.Accept, 0, false},
		{"a real bounce returning a banned attachment", "", "198.51.100.7", "postfix-dsn.eml", policy.Accept, 0, true},
		{"a multipart with no delimiter", "", "198.51.100.7", "no-boundary.eml", policy.Accept, 0, false},
		{"banned_exts empty", "[defang]\nbanned_exts = []", "198.51.100.7", "vbs.eml", policy.Accept, 0, false},
		{"too large to scan: accepted", "spool_threshold = 100\nmax_scan_size = 200", "198.51.100.7", "vbs.eml", policy.Accept, 0, false},
		{"too large to scan: tempfail", "spool_threshold = 100\nmax_scan_size = 200\nlarge_message = \"tempfail\"", "198.51.100.7", "vbs.eml", policy.Tempfail, 452, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, dir := newAttachEnv(t, tt.extra)
			out := env.Engine.Run(corpusTx(t, tt.ip, tt.file))
			if out.Final.Action != tt.action || out.Final.Code != tt.code || (out.Body != nil) != tt.replaced {
				t.Errorf("%v %d %q, body replaced %v; want %v %d, replaced %v\n%s", out.Final.Action, out.Final.Code,
					out.Final.Reply(), out.Body != nil, tt.action, tt.code, tt.replaced, env.Log)
			}
			if tt.file == "too-deep.eml" {
				if saved, _ := filepath.Glob(filepath.Join(dir, "save", "*.eml")); len(saved) != 1 {
					t.Errorf("malformed message: %d originals saved, want 1", len(saved))
				}
			}
		})
	}
}

// A Content-Type past the header fields a session keeps would go unseen
// by the scan: such a message cannot be defanged safely.
func TestDefangHeaderPastTheLimit(t *testing.T) {
	var filler []policy.Header
	for i := range 1000 {
		filler = append(filler, policy.Header{Name: "X-Filler", Value: fmt.Sprint(i)})
	}
	for _, tt := range []struct {
		ip     string
		action policy.Action
		code   int
		log    string
	}{
		{"198.51.100.7", policy.Reject, 554, `event=decision tag=REJECT reason="MALFORMED: more than 1000 header fields`},
		{"192.0.2.10", policy.Accept, 0, `event=note reason="MALFORMED: more than 1000 header fields`},
	} {
		env, _ := newAttachEnv(t, "")
		tx := corpusTx(t, tt.ip, "vbs.eml")
		tx.Headers = append(filler, tx.Headers...)
		out := env.Engine.Run(tx)
		if out.Final.Action != tt.action || out.Final.Code != tt.code || !strings.Contains(env.Log.String(), tt.log) {
			t.Errorf("from %s: %v %q, body replaced %v; want %v %d and %q in the log\n%s", tt.ip, out.Final.Action,
				out.Final.Reply(), out.Body != nil, tt.action, tt.code, tt.log, env.Log)
		}
	}
}

// Messages built to carry a banned attachment past the scan (issue 17's
// review): from an external client, each is defanged or refused as
// malformed (docs/attachments.md), never accepted as it came.
func TestDefangBypasses(t *testing.T) {
	tests := []struct {
		file   string
		code   int    // 554 for malformed, 250 for accepted as it came, 0 for defanged
		warned string // the name the warning gives
	}{
		// The second review (docs/attachments.md).
		{"bypass-multipart-base64-sent-plain.eml", 0, "evil.exe"},
		{"bypass-top-base64-sent-plain.eml", 0, "evil.exe"},
		{"bypass-rfc822-base64-sent-plain.eml", 0, "evil.exe"},
		{"bypass-boundary-2231.eml", 554, ""},
		{"bypass-rfc822-uue.eml", 554, ""},
		{"digest-empty-content-type.eml", 250, ""},
		{"bypass-rfc822-comment.eml", 0, "evil.exe"},
		{"bypass-header-line-not-a-field.eml", 0, "evil.exe"},
		{"bypass-rfc822-mbox-from.eml", 0, "evil.exe"},
		{"bypass-name-token-space.eml", 0, "evil.exe"},
		{"bypass-name-2231-repeated-segment.eml", 0, "evil.exe"},
		{"bypass-name-2231-2047.eml", 0, "evil.exe"},
		{"bypass-name-2047-language.eml", 0, "evil.exe"},
		{"bypass-rfc822-named-exe.eml", 0, "evil.exe"},
		{"bypass-rfc822-base64-padding.eml", 0, "evil.exe"},
		{"bypass-zip-unicode-path.eml", 0, "a.zip: evil.exe"},
		{"bypass-zip-concatenated.eml", 0, "a.zip: evil.exe"},
		{"exe-type.eml", 0, "(application/x-msdownload)"},
		{"bypass-bare-cr.eml", 554, ""},
		// The first.
		{"bypass-rfc822-base64.eml", 0, "evil.exe"},
		{"bypass-rfc822-qp.eml", 0, "evil.exe"},
		{"bypass-multipart-base64.eml", 0, "evil.exe"},
		{"bypass-message-global.eml", 0, "evil.exe"},
		{"bypass-message-x-rfc822.eml", 0, "evil.exe"},
		{"bypass-message-partial.eml", 554, ""},
		{"bypass-two-content-types.eml", 554, ""},
		{"bypass-space-before-colon.eml", 0, "evil.exe"},
		{"bypass-zip-type.eml", 0, "(application/zip): run.exe"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			env, _ := newAttachEnv(t, "")
			out := env.Engine.Run(corpusTx(t, "198.51.100.7", tt.file))
			switch {
			case tt.code == 250:
				if out.Final.Action != policy.Accept || out.Body != nil {
					t.Errorf("%v %q, body replaced %v; want it accepted as it came\n%s", out.Final.Action, out.Final.Reply(), out.Body != nil, env.Log)
				}
			case tt.code != 0:
				if out.Final.Action != policy.Reject || out.Final.Code != tt.code || !strings.Contains(env.Log.String(), `reason="MALFORMED: `) {
					t.Errorf("%v %q; want %d, MALFORMED in the log\n%s", out.Final.Action, out.Final.Reply(), tt.code, env.Log)
				}
			case out.Final.Action != policy.Accept || out.Body == nil:
				t.Errorf("%v %q, body replaced %v; want it defanged\n%s", out.Final.Action, out.Final.Reply(), out.Body != nil, env.Log)
			case !bytes.Contains(out.Body, []byte("    "+tt.warned+"\r\n")) || bytes.Contains(out.Body, []byte("TVqQ")) ||
				!strings.Contains(env.Log.String(), "event=defang name="):
				t.Errorf("the warning does not name %q, or the attachment is left:\n%s\n%s", tt.warned, out.Body, env.Log)
			}
		})
	}
}

// Mail as clients and servers really send it (mime/testdata/clean-*.eml,
// the shapes the second review checked) is accepted as it came from an
// external client.
func TestAcceptCleanMail(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "mime", "testdata", "clean-*.eml"))
	if len(files) < 14 {
		t.Fatalf("%d clean-*.eml messages, want 14", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			env, _ := newAttachEnv(t, "")
			out := env.Engine.Run(corpusTx(t, "198.51.100.7", filepath.Base(file)))
			if out.Final.Action != policy.Accept || out.Body != nil || strings.Contains(env.Log.String(), "MALFORMED") {
				t.Errorf("%v %q, body replaced %v; want it accepted as it came\n%s", out.Final.Action, out.Final.Reply(), out.Body != nil, env.Log)
			}
		})
	}
}

// A message that is one banned part, its Content-Type written with
// whitespace before the colon, is announced as the warning: the field is
// changed, not a second one added.
func TestDefangWholeMessageOddFieldName(t *testing.T) {
	env, _ := newAttachEnv(t, "")
	tx := corpusTx(t, "198.51.100.7", "single-exe.eml")
	for i, h := range tx.Headers {
		if h.Is("Content-Type") {
			tx.Headers[i].Name = "Content-Type "
		}
	}
	out := env.Engine.Run(tx)
	var kinds []policy.EditKind
	for _, e := range out.Final.Edits {
		if strings.EqualFold(e.Name, "Content-Type") {
			kinds = append(kinds, e.Kind)
		}
	}
	if len(kinds) != 1 || kinds[0] != policy.ChangeHeader || out.Body == nil {
		t.Errorf("Content-Type edits of kinds %v (change is %v), body replaced %v; want one change", kinds, policy.ChangeHeader, out.Body != nil)
	}
}

// [defang] scan_html: the active content of an HTML part is removed, the
// rest of the message delivered as it came (mime TestCleanAmazon checks
// the bytes); the log says what went. It is no virus: reject_virus_from
// does not refuse it.
func TestCleanHTML(t *testing.T) {
	const on = "[defang]\nscan_html = true\n"
	for _, tt := range []struct {
		name, extra string
		cleaned     bool
	}{
		{"scan_html on", on, true},
		{"scan_html off (the default)", "", false},
		{"scan_html on, and reject_virus_from the sender", on + "[scrub]\nreject_virus_from = [\"sender.example\"]\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, dir := newAttachEnv(t, tt.extra)
			out := env.Engine.Run(corpusTx(t, "198.51.100.7", "html-amazon.eml"))
			if out.Final.Action != policy.Accept || out.BodyErr != nil || (out.Body != nil) != tt.cleaned {
				t.Fatalf("%v %q, body replaced %v, body error %v\n%s", out.Final.Action, out.Final.Reply(), out.Body != nil, out.BodyErr, env.Log)
			}
			if !tt.cleaned {
				return
			}
			for _, e := range out.Final.Edits {
				if strings.HasPrefix(e.Name, "Content-") {
					t.Errorf("the message's header is changed: %+v", e)
				}
			}
			if bytes.Contains(out.Body, []byte("<script")) || !bytes.Contains(out.Body, []byte("<!-- WARNING: embedded script removed -->")) ||
				bytes.Contains(out.Body, []byte(mime.WarningName)) {
				t.Errorf("body:\n%s", out.Body)
			}
			saved, _ := filepath.Glob(filepath.Join(dir, "save", "*.eml"))
			log := env.Log.String()
			if len(saved) != 1 || strings.Contains(log, "event=defang") || !strings.Contains(log, `event="temp file" path=`+saved[0]+` why=defang`) ||
				!strings.Contains(log, `event=html name=103-3111065-2579065 removed="script 1, iframe 1, on* attribute 2, script URL 1" type=text/html`) {
				t.Errorf("%d originals saved; log:\n%s", len(saved), log)
			}
		})
	}
}

// A message that is one HTML part: its Content-Transfer-Encoding is made
// quoted-printable (changed, the others of its name deleted, or added),
// the rest of its header left alone.
func TestCleanHTMLWholeMessage(t *testing.T) {
	env, _ := newAttachEnv(t, "[defang]\nscan_html = true\n")
	tx := corpusTx(t, "198.51.100.7", "html-top.eml")
	var cte []policy.Header
	tx.Headers = slices.DeleteFunc(tx.Headers, func(h policy.Header) bool {
		if h.Is("Content-Transfer-Encoding") {
			cte = append(cte, h)
		}
		return h.Is("Content-Transfer-Encoding")
	})
	edits := func(tx policy.Transaction) (got []string, body []byte) {
		t.Helper()
		out := env.Engine.Run(tx)
		if out.Final.Action != policy.Accept || out.Body == nil {
			t.Fatalf("%v %q, body replaced %v\n%s", out.Final.Action, out.Final.Reply(), out.Body != nil, env.Log)
		}
		for _, e := range out.Final.Edits {
			if strings.HasPrefix(e.Name, "Content-") {
				got = append(got, fmt.Sprintf("%d %s[%d]=%s", e.Kind, e.Name, e.Index, e.Value))
			}
		}
		return got, out.Body
	}
	base64Tx := tx
	base64Tx.Headers = append(slices.Clone(tx.Headers), cte...)
	twice := tx
	twice.Headers = append(slices.Clone(tx.Headers), cte[0], cte[0])
	plain := tx
	plain.Body = []byte("<p onclick=\"x()\">Hello</p>\r\n")
	for _, c := range []struct {
		name  string
		tx    policy.Transaction
		edits []string
		body  string
	}{
		{"base64", base64Tx, []string{fmt.Sprintf("%d Content-Transfer-Encoding[1]=quoted-printable", policy.ChangeHeader)},
			"<html><head><!-- WARNING: embedded script removed --></head>\r\n<body><p>Your invoice is attached.</p></body></html>\r\n"},
		{"base64 twice", twice, []string{fmt.Sprintf("%d Content-Transfer-Encoding[2]=", policy.DeleteHeader),
			fmt.Sprintf("%d Content-Transfer-Encoding[1]=quoted-printable", policy.ChangeHeader)}, ""},
		{"no Content-Transfer-Encoding", plain, []string{fmt.Sprintf("%d Content-Transfer-Encoding[1]=quoted-printable", policy.InsertHeader)},
			"<p>Hello</p>\r\n"},
	} {
		got, body := edits(c.tx)
		if !slices.Equal(got, c.edits) || c.body != "" && string(body) != c.body {
			t.Errorf("%s: edits %q, body %q; want %q, %q", c.name, got, body, c.edits, c.body)
		}
	}
}

// Real mail with HTML (mime/testdata/clean-*.eml) has nothing to remove:
// with scan_html on it is delivered as it came.
func TestCleanHTMLLeavesCleanMail(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "mime", "testdata", "clean-*.eml"))
	for _, file := range append(files, "alternative.eml") {
		env, _ := newAttachEnv(t, "[defang]\nscan_html = true\n")
		out := env.Engine.Run(corpusTx(t, "198.51.100.7", filepath.Base(file)))
		if out.Final.Action != policy.Accept || out.Body != nil || strings.Contains(env.Log.String(), "event=html") {
			t.Errorf("%s: %v %q, body replaced %v; want it accepted as it came\n%s", file, out.Final.Action, out.Final.Reply(), out.Body != nil, env.Log)
		}
	}
}
