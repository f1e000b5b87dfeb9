// Package bounces is end-to-end scenario t-13: real delivery status
// notifications reach a private Postfix with maxwell as its milter from
// an external client, and are accepted. Postfix's and Sendmail's are made
// fresh by a second private Postfix and a private Sendmail that cannot
// deliver (their relay refuses the recipient); pymilter's come from
// mime/testdata. A returned message is scanned as far as it goes: a
// banned attachment in it is defanged, a returned header alone is left
// alone.
//
// go test ./test/t-13-postfix-bounces -args -capture also writes the
// bounces made into mime/testdata, where the unit tests read them.
package bounces

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

var capture = flag.Bool("capture", false, "write the bounces made into mime/testdata")

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
hostname = "mx.example.org"

[greylist]
enabled = false  # t-03-postfix-greylist's subject
`

// The remote MTA that bounces is mx.remote.example at 198.51.100.7.
var zone = []string{
	"7.100.51.198.in-addr.arpa. PTR mx.remote.example.",
	"mx.remote.example. A 198.51.100.7",
	`mx.remote.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
}

// unknown is the recipient the remote MTAs' relay refuses.
const unknown = "nobody@remote.example"

// original is what Bob sends to the unknown recipient: a multipart with
// an attachment called name (its content base64 data), Subject subject.
func original(subject, name, data string) string {
	return "From: Bob <bob@example.org>\r\nTo: <" + unknown + ">\r\nSubject: " + subject + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_orig\"\r\n\r\n" +
		"This is a multi-part message in MIME format.\r\n" +
		"--=_orig\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello, the file.\r\n" +
		"--=_orig\r\nContent-Type: application/octet-stream; name=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" +
		data + "\r\n--=_orig--\r\n"
}

// pif is an attachment that must be defanged wherever it is.
const pif = "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// A bounce: what made it, the file it is captured to, what maxwell must
// do with it.
type bounce struct {
	name     string
	file     string // in mime/testdata
	text     string // the DSN as the sink got it
	defanged string // the name of the attachment replaced, "" if none
}

func TestBounces(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org", zone...)
	var bounces []bounce

	// Postfix: full return, RET=HDRS, and a message over
	// bounce_size_limit (50 000 bytes), of which only the header returns.
	sink := mtatest.StartSink(t, unknown)
	remote := mtatest.StartPostfix(t, mtatest.PostfixOptions{RelayTo: sink.Addr, Domains: "remote.example", Hostname: "mx.remote.example"})
	big := original("too big", "pictures.pif", pif+strings.Repeat("\r\n"+strings.Repeat("A", 76), 1000))
	bounces = append(bounces,
		makeBounce(t, remote.Addr, sink, "", original("returned whole", "pictures.pif", pif),
			bounce{name: "Postfix, the whole message returned", file: "postfix-dsn.eml", defanged: "pictures.pif"}),
		makeBounce(t, remote.Addr, sink, " RET=HDRS", original("header returned", "pictures.pif", pif),
			bounce{name: "Postfix, RET=HDRS", file: "postfix-dsn-headers.eml"}),
		makeBounce(t, remote.Addr, sink, "", big,
			bounce{name: "Postfix, over bounce_size_limit", file: "postfix-dsn-large.eml"}))

	// Sendmail, with maxwell as its milter too (mail from 127.0.0.1 is
	// internal: the clean attachment passes).
	smSink := mtatest.StartSink(t, unknown)
	sm := mtatest.StartSendmail(t, mtatest.SendmailOptions{Milter: fmt.Sprintf("inet:%d@127.0.0.1", st.Port), RelayTo: smSink.Addr, Domains: "remote.example"})
	bounces = append(bounces,
		makeBounce(t, sm.Addr, smSink, "", original("returned whole", "report.pdf", "JVBERi0xLjQK"),
			bounce{name: "Sendmail, the whole message returned", file: "sendmail-dsn.eml"}),
		makeBounce(t, sm.Addr, smSink, " RET=HDRS", original("header returned", "report.pdf", "JVBERi0xLjQK"),
			bounce{name: "Sendmail, RET=HDRS", file: "sendmail-dsn-headers.eml"}))

	if *capture {
		for _, b := range bounces {
			if err := os.WriteFile(filepath.Join("..", "..", "mime", "testdata", b.file), []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// pymilter's: a returned header that announces a multipart with no
	// body, and a returned DSN cut short in its own delivery report.
	for _, f := range []string{"pymilter-bounce1.eml", "pymilter-bound.eml"} {
		text, err := os.ReadFile(filepath.Join("..", "..", "mime", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		bounces = append(bounces, bounce{name: "pymilter's " + f, text: string(text)})
	}

	for _, b := range bounces {
		t.Run(b.name, func(t *testing.T) {
			c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mx.remote.example")
			for _, cmd := range []string{"MAIL FROM:<>", "RCPT TO:<bob@example.org>"} {
				if r := c.Cmd("%s", cmd); r.Code != 250 {
					t.Fatalf("%s: %s", cmd, r)
				}
			}
			if r := c.Data(b.text); r.Code != 250 {
				t.Fatalf("the bounce was refused: %s", r)
			}
			m := st.Sink.Wait(t, 30*time.Second)
			_, sent, _ := strings.Cut(strings.ReplaceAll(strings.ReplaceAll(b.text, "\r\n", "\n"), "\n", "\r\n"), "\r\n\r\n")
			_, got, _ := strings.Cut(m.Data, "\r\n\r\n")
			if b.defanged == "" {
				if got != sent {
					t.Errorf("the bounce's body changed:\n%s", got)
				}
				return
			}
			if strings.Contains(got, pif) || !strings.Contains(got, "    "+b.defanged+"\r\n") || !strings.Contains(got, `name="WARNING.TXT"`) {
				t.Errorf("%s was not replaced by WARNING.TXT:\n%s", b.defanged, got)
			}
			if !strings.Contains(got, "Content-Type: message/delivery-status") || !strings.Contains(got, "Subject: returned whole") {
				t.Errorf("the rest of the bounce is gone:\n%s", got)
			}
			if want := "event=defang name=" + b.defanged; !strings.Contains(st.Log(), want) {
				t.Errorf("mail log lacks %q", want)
			}
		})
	}
	if strings.Contains(st.Log(), "MALFORMED") {
		t.Errorf("a bounce was taken for malformed")
	}
}

// makeBounce sends msg from Bob to the unknown recipient through the MTA
// at addr (MAIL FROM with params), whose relay (sink) refuses it, and
// returns b with the bounce the MTA sent back to Bob.
func makeBounce(t *testing.T, addr string, sink *mtatest.Sink, params, msg string, b bounce) bounce {
	t.Helper()
	c := mtatest.DialSMTP(t, addr)
	if r := c.Cmd("EHLO client.example.org"); r.Code != 250 {
		t.Fatalf("EHLO: %s", r)
	}
	for _, cmd := range []string{"MAIL FROM:<bob@example.org>" + params, "RCPT TO:<" + unknown + ">"} {
		if r := c.Cmd("%s", cmd); r.Code != 250 {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	if r := c.Data(msg); r.Code != 250 {
		t.Fatalf("end of data: %s", r)
	}
	c.Cmd("QUIT")
	m := sink.Wait(t, 60*time.Second)
	if m.From != "" || len(m.To) != 1 || m.To[0] != "bob@example.org" || !strings.Contains(m.Data, "report-type=delivery-status") {
		t.Fatalf("not a bounce to Bob: from <%s> to %v:\n%s", m.From, m.To, m.Data)
	}
	b.text = m.Data
	return b
}
