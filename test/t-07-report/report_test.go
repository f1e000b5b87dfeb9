// Package report checks maxwell report on a mail log that maxwell wrote
// itself, behind a private Postfix, for traffic the test knows.
package report

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
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
delayed_reject = false

[greylist]
delay = "1s"
`

const pif = "From: <alice@sender.example>\r\nSubject: pictures\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream; name=\"x.pif\"\r\n\r\nMZ\r\n--b--\r\n"

func TestReportOnARealLog(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`strict.example. TXT "v=spf1 ip4:192.0.2.1 -all"`,
	)
	// send one SMTP session; it returns the reply to RCPT TO, or to
	// MAIL FROM when that is refused, and to the data.
	send := func(from, body string) (rcpt, data int) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		if r := c.Cmd("MAIL FROM:<%s>", from); r.Code != 250 {
			return r.Code, 0
		}
		r := c.Cmd("RCPT TO:<bob@example.org>")
		if r.Code != 250 {
			return r.Code, 0
		}
		return r.Code, c.Data(body).Code
	}
	start := time.Now()
	if r, _ := send("alice@sender.example", "Subject: one\r\n\r\nhello\r\n"); r != 451 {
		t.Fatalf("first attempt: %d, want greylisted", r)
	}
	if r, _ := send("carol@sender.example", "Subject: two\r\n\r\nhello\r\n"); r != 451 { // never retried
		t.Fatalf("other sender: %d", r)
	}
	if r, _ := send("mallory@strict.example", "x"); r != 550 {
		t.Fatalf("SPF fail: %d", r)
	}
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	if r, d := send("alice@sender.example", "Subject: one\r\n\r\nhello\r\n"); r != 250 || d != 250 {
		t.Fatalf("retry: %d %d", r, d)
	}
	if r, d := send("alice@sender.example", pif); r != 250 || d != 250 {
		t.Fatalf("defanged message: %d %d", r, d)
	}
	st.Sink.Wait(t, 30*time.Second)
	st.Sink.Wait(t, 30*time.Second)

	bin := st.Maxwell.Cmd.Path
	out, err := exec.Command(bin, "report", "--json", st.MailLog).Output()
	if err != nil {
		t.Fatalf("maxwell report: %v", err)
	}
	var rep struct {
		Total struct {
			Connections, Messages, Accepted, Rejected, Tempfailed, Greylisted, Defanged int
		}
		Greylist struct {
			Triplets, Passed int
			NeverRetried     float64 `json:"never_retried"`
		}
		Unparsed   int `json:"unparsed_lines"`
		TopClients []struct {
			Key string
			N   int
		} `json:"top_clients"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	// Postfix's XCLIENT (how the harness sets the client address) shows
	// as a connection from 127.0.0.1 first: count the client's own.
	clientConns := 0
	for _, c := range rep.TopClients {
		if c.Key == "198.51.100.7" {
			clientConns = c.N
		}
	}
	tot := rep.Total
	if clientConns != 5 || tot.Messages != 5 || tot.Accepted != 2 || tot.Rejected != 1 || tot.Tempfailed != 2 ||
		tot.Greylisted != 2 || tot.Defanged != 1 || rep.Greylist.Triplets != 2 || rep.Greylist.Passed != 1 ||
		rep.Greylist.NeverRetried != 0.5 || rep.Unparsed != 0 {
		t.Errorf("report does not match the traffic sent:\n%s", out)
	}

	// The HTML page: well-formed, self-contained, with its charts.
	page := filepath.Join(t.TempDir(), "report.html")
	if err := exec.Command(bin, "report", "--html", page, st.MailLog).Run(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(page)
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	svgs := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "svg" {
			svgs++
		}
	}
	if svgs != 4 || strings.Contains(string(b), "<script") || strings.Contains(string(b), "http://") && !strings.Contains(string(b), `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("%d charts in the page, want 4, and nothing from elsewhere", svgs)
	}
}
