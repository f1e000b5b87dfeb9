// Package templates holds the texts of the explanatory DSNs maxwell sends
// to alleged senders (SPF policy DSN): one per reason, embedded, each
// overridable by a file of the same name in [cbv] templates_dir.
package templates

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
)

//go:embed dsn/*.txt
var embedded embed.FS

// Names are the templates there are: the reasons a DSN is sent.
var Names = []string{"strike3", "softfail", "fail", "neutral", "permerror", "temperror", "quarantine", "heloerror", "pass"}

// Fields are what a template may use, all made safe to print: no control
// characters, so nothing in them can start a header line or end the
// message.
type Fields struct {
	Sender     string // the alleged sender, to whom the DSN goes
	Receiver   string // our host name
	IP         string // the client's address
	Helo       string // the name it gave in HELO
	Domain     string // the sender's domain
	Result     string // the SPF result that called for the DSN
	SPFHeader  string // the Received-SPF field maxwell made
	PermError  string // what is wrong with the sender's SPF record
	Recipients string // the message's recipients, joined by ", "
	Subject    string // the message's Subject, shortened
}

// Set is a loaded set of templates.
type Set struct{ t map[string]*template.Template }

// Load reads the embedded templates and, if dir is not empty, replaces
// those that have a NAME.txt file there (a regular file of at most
// safefile.MaxSize bytes). Every template is checked by rendering it with
// sample fields.
func Load(dir string) (*Set, error) {
	s := &Set{t: map[string]*template.Template{}}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory of templates", oneline.Name(dir))
		}
	}
	var errs []error
	for _, name := range Names {
		src, err := embedded.ReadFile("dsn/" + name + ".txt")
		if err != nil {
			return nil, err
		}
		file := "(embedded) " + name + ".txt"
		if dir != "" {
			path := filepath.Join(dir, name+".txt")
			b, err := safefile.Read(path)
			switch {
			case err == nil:
				src, file = b, path
			case !errors.Is(err, fs.ErrNotExist):
				errs = append(errs, err)
				continue
			}
		}
		t, err := parse(file, string(src))
		if err != nil {
			// The text of a parse error quotes the file: shown escaped
			// and cut, it cannot drive a terminal or flood it.
			errs = append(errs, errors.New(oneline.Escape(err.Error(), 400)))
			continue
		}
		s.t[name] = t
	}
	return s, errors.Join(errs...)
}

// parse compiles a template and renders it once with sample fields, so
// that an unknown field is an error at load time, not when mail comes.
func parse(file, src string) (*template.Template, error) {
	t, err := template.New(file).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, Fields{}); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if !strings.HasPrefix(b.String(), "Subject: ") {
		return nil, fmt.Errorf("%s: the first line must be \"Subject: ...\"", file)
	}
	return t, nil
}

// DSN renders the named template into a whole message from
// postmaster@Receiver to Sender, CRLF line ends.
func (s *Set) DSN(name string, f Fields, now time.Time) ([]byte, error) {
	t, ok := s.t[name]
	if !ok {
		return nil, fmt.Errorf("no DSN template %q", name)
	}
	f = f.safe()
	var out bytes.Buffer
	if err := t.Execute(&out, f); err != nil {
		return nil, err
	}
	first, body, _ := strings.Cut(out.String(), "\n")
	subject := oneline.Cut(oneline.Clean(strings.TrimPrefix(strings.TrimRight(first, "\r"), "Subject: ")), 200)
	id := make([]byte, 12)
	rand.Read(id)
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: postmaster@%s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"+
		"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Content-Transfer-Encoding: 8bit\r\n\r\n",
		f.Receiver, f.Sender, subject, now.UTC().Format(time.RFC1123Z), hex.EncodeToString(id), f.Receiver)
	for _, line := range strings.Split(strings.TrimLeft(body, "\r\n"), "\n") {
		m.WriteString(strings.TrimRight(line, "\r") + "\r\n")
	}
	return m.Bytes(), nil
}

// safe returns the fields with control characters replaced, and long
// values cut: what a client sent must not shape the DSN.
func (f Fields) safe() Fields {
	f.Sender, f.Receiver, f.IP = oneline.Cut(oneline.Clean(f.Sender), 320), oneline.Clean(f.Receiver), oneline.Clean(f.IP)
	f.Helo, f.Domain, f.Result = oneline.Cut(oneline.Clean(f.Helo), 255), oneline.Cut(oneline.Clean(f.Domain), 255), oneline.Clean(f.Result)
	f.PermError, f.Recipients = oneline.Cut(oneline.Clean(f.PermError), 500), oneline.Cut(oneline.Clean(f.Recipients), 1000)
	f.Subject = oneline.Cut(oneline.Clean(f.Subject), 100)
	// The header keeps its folding: each line indented, so it stays one
	// block of text.
	f.SPFHeader = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, f.SPFHeader)), " ")
	f.SPFHeader = oneline.Cut(oneline.Clean(f.SPFHeader), 2000)
	return f
}
