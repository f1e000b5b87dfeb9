package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

var hostile = Fields{
	Sender:     "joe@sender.example",
	Receiver:   "mx.example.org",
	IP:         "198.51.100.7",
	Helo:       "evil\r\nBcc: victim@example.net",
	Domain:     "sender.example",
	Result:     "softfail",
	SPFHeader:  "Received-SPF: softfail (mx.example.org: ...)\r\n\tclient-ip=198.51.100.7;",
	PermError:  "bad term\r\n.\r\nQUIT",
	Recipients: "bob@example.org, carol@example.org",
	Subject:    "Hello\r\nX-Injected: yes " + strings.Repeat("long ", 100),
}

// Every template renders into a message whose header is maxwell's own,
// whatever the fields hold.
func TestEveryTemplateWithHostileFields(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	now := testclock.Epoch()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			msg, err := set.DSN(name, hostile, now)
			if err != nil {
				t.Fatal(err)
			}
			head := checkDSN(t, msg)
			for _, want := range []string{"From: postmaster@mx.example.org\r\n", "To: <joe@sender.example>\r\n",
				"Date: " + now.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n", "Auto-Submitted: auto-generated\r\n"} {
				if !strings.Contains(head+"\r\n", want) {
					t.Errorf("header lacks %q", want)
				}
			}
		})
	}
}

// FuzzDSN renders every template with fields made of arbitrary bytes:
// the message keeps maxwell's header, a short Subject, CRLF lines only,
// and no body line ends the SMTP data or starts a field.
func FuzzDSN(f *testing.F) {
	f.Add(hostile.Sender, hostile.Helo, hostile.PermError, hostile.Subject)
	f.Add("a@b", "x\x00y", "\xff\xfe", "=?utf-8?b?SGVsbG8=?=")
	set, err := Load("")
	if err != nil {
		f.Fatal(err)
	}
	now := testclock.Epoch()
	f.Fuzz(func(t *testing.T, sender, helo, permerror, subject string) {
		fields := hostile
		fields.Sender, fields.Helo, fields.PermError, fields.Subject = sender, helo, permerror, subject
		for _, name := range Names {
			msg, err := set.DSN(name, fields, now)
			if err != nil {
				t.Fatal(err)
			}
			checkDSN(t, msg)
		}
	})
}

// checkDSN checks what every DSN must be, whatever its fields hold, and
// returns its header.
func checkDSN(t *testing.T, msg []byte) string {
	t.Helper()
	head, body, ok := strings.Cut(string(msg), "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of header:\n%s", msg)
	}
	var names []string
	for _, l := range strings.Split(head, "\r\n") {
		n, _, _ := strings.Cut(l, ":")
		names = append(names, n)
	}
	if got := strings.Join(names, " "); got != "From To Subject Date Message-ID Auto-Submitted MIME-Version Content-Type Content-Transfer-Encoding" {
		t.Errorf("header fields %s:\n%s", got, head)
	}
	if subj := head[strings.Index(head, "Subject: "):]; len(strings.SplitN(subj, "\r\n", 2)[0]) > 220 {
		t.Errorf("subject not shortened: %q", subj)
	}
	for _, l := range strings.Split(body, "\r\n") {
		if l == "." || strings.Contains(l, "\r") || strings.Contains(l, "\n") || strings.HasPrefix(l, "X-Injected") || strings.HasPrefix(l, "Bcc:") {
			t.Errorf("body line %q escaped its field", l)
		}
	}
	if strings.Count(string(msg), "\n") != strings.Count(string(msg), "\r\n") {
		t.Error("bare LF in the message")
	}
	return head
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "softfail.txt"), []byte("Subject: ours\n\nDear {{.Sender}}, softfail from {{.IP}}.\n"), 0o644)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := set.DSN("softfail", hostile, testclock.Epoch())
	if !strings.Contains(string(msg), "Subject: ours\r\n") || !strings.Contains(string(msg), "Dear joe@sender.example, softfail from 198.51.100.7.\r\n") {
		t.Errorf("override not used:\n%s", msg)
	}
	for name, src := range map[string]string{
		"unknown field": "Subject: x\n\n{{.Nonsense}}\n",
		"syntax":        "Subject: x\n\n{{.Sender\n",
		"no subject":    "Dear {{.Sender}}\n",
	} {
		os.WriteFile(filepath.Join(dir, "fail.txt"), []byte(src), 0o644)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "fail.txt") {
			t.Errorf("%s: Load = %v, want an error naming fail.txt", name, err)
		}
	}
}

// A templates directory that is not there is an error, not a silent
// fallback to the embedded texts.
func TestLoadMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), dir+" is not a directory of templates") {
		t.Errorf("Load(a missing directory) = %v", err)
	}
}
