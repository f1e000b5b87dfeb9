// Package defang is the end-to-end attachment scenario: a private Postfix
// with maxwell as its milter; a message with a banned attachment reaches
// the sink with WARNING.TXT in its place, the original saved.
package defang

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
hostname = "mx.example.org"

[greylist]
enabled = false  # t-03-postfix-greylist's subject
`

const message = "From: Alice <alice@sender.example>\r\n" +
	"To: Bob <bob@example.org>\r\n" +
	"Subject: the pictures\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"=_part\"\r\n" +
	"\r\n" +
	"--=_part\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Hello Bob, here they are.\r\n" +
	"\r\n" +
	"--=_part\r\n" +
	"Content-Type: application/octet-stream; name=\"pictures.pif\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"pictures.pif\"\r\n" +
	"\r\n" +
	"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n" +
	"--=_part--\r\n"

func TestPostfixDefang(t *testing.T) {
	st, c := start(t, config)
	if r := c.Data(message); r.Code != 250 {
		t.Fatalf("end of data: %s", r)
	}
	m := st.Sink.Wait(t, 30*time.Second)
	head, body, _ := strings.Cut(m.Data, "\r\n\r\n")
	if !strings.Contains(head, "\r\nSubject: the pictures\r\n") {
		t.Errorf("the header changed:\n%s", head)
	}
	saved, _ := filepath.Glob(filepath.Join(filepath.Dir(st.MailLog), "data", "save", "*.eml"))
	if len(saved) != 1 {
		t.Fatalf("%d originals saved, want 1", len(saved))
	}
	wantBody := "--=_part\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"\r\n" +
		"Hello Bob, here they are.\r\n" +
		"\r\n" +
		"--=_part\r\n" +
		"Content-Type: text/plain; charset=us-ascii; name=\"WARNING.TXT\"\r\n" +
		"Content-Disposition: inline; filename=\"WARNING.TXT\"\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"\r\n" +
		"WARNING: this message contained an attachment that can carry a virus\r\n"
	if !strings.HasPrefix(body, wantBody) || !strings.Contains(body, "    pictures.pif\r\n") ||
		!strings.Contains(body, "mx.example.org:"+saved[0]) || !strings.HasSuffix(body, "quote that location.\r\n--=_part--\r\n") {
		t.Errorf("delivered body:\n%s\nwant it to start with:\n%s", body, wantBody)
	}
	orig, err := os.ReadFile(saved[0])
	if err != nil || !strings.Contains(string(orig), "TVqQAAMAAAAEAAAA") {
		t.Errorf("the saved original lacks the attachment: %v\n%s", err, orig)
	}
	for _, want := range []string{
		`event=defang name=pictures.pif reason="banned extension .pif"`,
		`event="temp file" path=` + saved[0] + ` why=defang`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}

// With [defang] malformed = "quarantine", a message that cannot be
// defanged safely (parts nested deeper than maxwell looks) is accepted
// into Postfix's hold queue, not delivered.
func TestPostfixQuarantine(t *testing.T) {
	st, c := start(t, config+"\n[defang]\nmalformed = \"quarantine\"\n")
	r := c.Data(tooDeep())
	if r.Code != 250 {
		t.Fatalf("end of data: %s", r)
	}
	if held := st.Postfix.Held(10 * time.Second); len(held) != 1 {
		t.Errorf("%d messages in the hold queue, want 1", len(held))
	}
	if m, ok := st.Sink.Next(2 * time.Second); ok {
		t.Errorf("the quarantined message was delivered:\n%s", m.Data)
	}
	if !strings.Contains(st.Log(), `event=decision tag=QUARANTINE reason="MALFORMED: `) {
		t.Errorf("no QUARANTINE decision in the mail log")
	}
}

// Messages built to carry a banned attachment past the scan (issue 17's
// two reviews; mime/testdata/bypass-*.eml), sent through Postfix from an
// external client on one connection: those maxwell cannot defang safely
// are refused as malformed, the others delivered defanged, and a digest
// part with an empty Content-Type delivered as it came.
func TestPostfixBypasses(t *testing.T) {
	st, c := start(t, config)
	const asItCame = "" // reported: no warning, the message unchanged
	tests := []struct {
		file     string
		code     int    // the answer to the message
		reported string // what the warning names
	}{
		// The first review.
		{"bypass-two-content-types.eml", 554, ""},
		{"bypass-rfc822-base64.eml", 250, "evil.exe"},
		{"bypass-space-before-colon.eml", 250, "evil.exe"},
		// The second.
		{"bypass-multipart-base64-sent-plain.eml", 250, "evil.exe"},
		{"bypass-top-base64-sent-plain.eml", 250, "evil.exe"},
		{"bypass-rfc822-base64-sent-plain.eml", 250, "evil.exe"},
		{"bypass-boundary-2231.eml", 554, ""},
		{"bypass-rfc822-uue.eml", 554, ""},
		{"digest-empty-content-type.eml", 250, asItCame},
		{"bypass-rfc822-comment.eml", 250, "evil.exe"},
		{"bypass-header-line-not-a-field.eml", 250, "evil.exe"},
		{"bypass-rfc822-mbox-from.eml", 250, "evil.exe"},
		{"bypass-name-token-space.eml", 250, "evil.exe"},
		{"bypass-name-2231-repeated-segment.eml", 250, "evil.exe"},
		{"bypass-name-2231-2047.eml", 250, "evil.exe"},
		{"bypass-name-2047-language.eml", 250, "evil.exe"},
		{"bypass-rfc822-named-exe.eml", 250, "evil.exe"},
		{"bypass-rfc822-base64-padding.eml", 250, "evil.exe"},
		{"bypass-zip-unicode-path.eml", 250, "a.zip: evil.exe"},
		{"bypass-zip-concatenated.eml", 250, "a.zip: evil.exe"},
		{"exe-type.eml", 250, "(application/x-msdownload)"},
		// Postfix turns a bare CR into a space before maxwell sees the
		// message: the delimiter and the part's header become one line
		// of text, delivered so (from an MTA that passes bare CRs on,
		// maxwell refuses it: the policy and mime tests).
		{"bypass-bare-cr.eml", 250, asItCame},
	}
	for i, tt := range tests {
		raw, err := os.ReadFile(filepath.Join("..", "..", "mime", "testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		msg := string(raw)
		if i > 0 {
			for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
				if r := c.Cmd("%s", cmd); r.Code != 250 {
					t.Fatalf("%s: %s", cmd, r)
				}
			}
		}
		r := c.Data(msg)
		if r.Code != tt.code || tt.code == 554 && !strings.Contains(r.String(), "5.7.7") {
			t.Errorf("%s: end of data %s, want %d", tt.file, r, tt.code)
			continue
		}
		if tt.code != 250 {
			continue
		}
		m := st.Sink.Wait(t, 30*time.Second)
		if tt.reported == asItCame {
			_, body, _ := strings.Cut(msg, "\r\n\r\n")
			body = strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", " "), "\n", "\r\n") // as Postfix passes bare CRs
			if strings.Contains(m.Data, "WARNING.TXT") || !strings.Contains(m.Data, body) {
				t.Errorf("%s: not delivered as it came:\n%s", tt.file, m.Data)
			}
			continue
		}
		removed := bannedLine(msg)
		if !strings.Contains(m.Data, "WARNING.TXT") || !strings.Contains(m.Data, "    "+tt.reported+"\r\n") || strings.Contains(m.Data, removed) {
			t.Errorf("%s: delivered without the warning for %s, or with %q:\n%s", tt.file, tt.reported, removed, m.Data)
		}
	}
	if m, ok := st.Sink.Next(2 * time.Second); ok {
		t.Errorf("a refused message was delivered:\n%s", m.Data)
	}
	if log := st.Log(); !strings.Contains(log, `reason="MALFORMED: two Content-Type fields that disagree (text/plain and multipart/mixed)"`) {
		t.Errorf("the mail log does not say why the message was refused:\n%s", log)
	}
}

// bannedLine is a line of msg that only its banned attachment holds: the
// start of a program in base64 (MZ), or else the first line of the last
// base64 part (the zip, or the attached message, that holds it).
func bannedLine(msg string) string {
	if strings.Contains(msg, "TVqQ") {
		return "TVqQ"
	}
	i := strings.LastIndex(msg, "Content-Transfer-Encoding: base64\r\n\r\n")
	line, _, _ := strings.Cut(msg[i+len("Content-Transfer-Encoding: base64\r\n\r\n"):], "\r\n")
	return line
}

// start runs the stack with config and opens a message from Alice, SPF
// pass, to Bob, ready for DATA.
func start(t *testing.T, config string) (*mtatest.Stack, *mtatest.Client) {
	t.Helper()
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	)
	c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
	for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
		if r := c.Cmd("%s", cmd); r.Code != 250 {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	return st, c
}

// tooDeep is a message whose parts are nested 40 levels deep, deeper
// than maxwell looks: malformed.
func tooDeep() string {
	var b strings.Builder
	b.WriteString("From: Alice <alice@sender.example>\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	return b.String()
}

// With [defang] scan_html, HTML parts reach the recipient without their
// scripts, through Postfix's body and header replacement: pymilter's
// amazon message (HTML with script, onLoad, javascript: and an iframe,
// beside a text/plain alternative) and a message that is one HTML part
// in base64.
func TestPostfixScanHTML(t *testing.T) {
	const htmlConfig = config + "\n[defang]\nscan_html = true\n"
	for _, tc := range []struct {
		fixture  string
		removed  string // the event=html line's removed=
		keep     string // a part the filter leaves byte for byte
		wantHTML string // in the delivered HTML, decoded
	}{
		{"html-amazon.eml", `removed="script 1, iframe 1, on* attribute 2, script URL 1"`,
			"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhttp://www.amazon.example/exec/obidos/subst/home/redirect.html/103-3111065-2579065\r\n",
			`<body bgcolor="#FFFFFF" link="#003399" alink="#FF9933" vlink="#996633" text="#000000">`},
		{"html-top.eml", `removed="script 1, on* attribute 1"`, "",
			"<html><head><!-- WARNING: embedded script removed --></head>\n<body><p>Your invoice is attached.</p></body></html>\n"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("../../mime/testdata", tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			msg := strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n", "\r\n")
			st, c := start(t, htmlConfig)
			if r := c.Data(msg); r.Code != 250 {
				t.Fatalf("end of data: %s", r)
			}
			m := st.Sink.Wait(t, 30*time.Second)
			if tc.keep != "" && !strings.Contains(m.Data, tc.keep) {
				t.Errorf("the part without HTML changed; delivered:\n%s", m.Data)
			}
			html := deliveredHTML(t, m.Data)
			for _, gone := range []string{"<script", "onLoad", "onload", "javascript:", "<iframe"} {
				if strings.Contains(html, gone) {
					t.Errorf("%q left in the delivered HTML:\n%s", gone, html)
				}
			}
			if !strings.Contains(html, tc.wantHTML) || !strings.Contains(html, "<!-- WARNING: embedded script removed -->") {
				t.Errorf("delivered HTML lacks %q and the warning comment:\n%s", tc.wantHTML, html)
			}
			if !strings.Contains(st.Log(), "event=html ") || !strings.Contains(st.Log(), tc.removed) {
				t.Errorf("mail log lacks event=html with %s:\n%s", tc.removed, st.Log())
			}
		})
	}
}

// deliveredHTML is the last text/html part of a delivered message,
// decoded as a mail reader would: Go's net/mail and mime/multipart, its
// transfer encoding undone, its line breaks LF.
func deliveredHTML(t *testing.T, data string) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("delivered message: %v", err)
	}
	var html string
	var walk func(h textproto.MIMEHeader, body io.Reader)
	walk = func(h textproto.MIMEHeader, body io.Reader) {
		if len(h.Values("Content-Transfer-Encoding")) > 1 {
			t.Errorf("two Content-Transfer-Encoding fields: %q", h.Values("Content-Transfer-Encoding"))
		}
		mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
		if err != nil {
			t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				walk(p.Header, p)
			}
		}
		if mt != "text/html" {
			return
		}
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		} else if h.Get("Content-Transfer-Encoding") != "7bit" {
			t.Errorf("an HTML part in %q", h.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("HTML part: %v", err)
		}
		// Line breaks in canonical form, as quoted-printable writes them.
		html = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	walk(textproto.MIMEHeader(m.Header), m.Body)
	if html == "" {
		t.Fatalf("no HTML part delivered:\n%s", data)
	}
	return html
}
