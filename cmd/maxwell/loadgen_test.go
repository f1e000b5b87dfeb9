package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// maxwell bench against a maxwell daemon: a few hundred messages, as a
// smoke test of the tool (its figures are not checked).
func TestBenchTool(t *testing.T) {
	dir := t.TempDir()
	port := mtatest.FreePort(t)
	cfg, _ := writeConfig(t, dir, fmt.Sprintf("[milter]\nsocket = \"inet:%d@127.0.0.1\"\ninternal_connect = [\"192.0.2.0/24\"]\n"+
		"[dns]\nservers = [\"DNS\"]\ntimeout = \"300ms\"\n[log]\nmail_log = %q\n", port, dir+"/mail.log"))
	m := mtatest.StartMaxwell(t, dir, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m.WaitListen(t, addr)

	code, out, errs := capture(t, func() int {
		return run([]string{"bench", "--json", "--addr", "inet:" + addr, "-n", "300", "-c", "4", "-per-conn", "3",
			"-ips", "192.0.2.7,198.51.100.7", "-from", "alice@sender.example", "-rcpt", "bob@example.org"})
	})
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil {
		t.Fatalf("status %d, %v\n%s%s", code, err, out, errs)
	}
	// Standard error is a pipe here: no progress line, no terminal codes.
	if strings.ContainsAny(errs, "\r\x1b") {
		t.Errorf("progress written into a pipe: %q", errs)
	}
	// Internal clients are accepted with a header; the external one is
	// greylisted at RCPT.
	if rep.Messages != 300 || rep.Failed != 0 || rep.Connections != 100 ||
		rep.Actions["accept"] != 150 || rep.Actions["tempfail at rcpt"] != 150 || rep.Mods["insert_header"] != 150 {
		t.Errorf("report %+v", rep)
	}
	if code, _, errs := capture(t, func() int { return run([]string{"bench", "--addr", "inet:192.0.2.1:25", "-n", "1"}) }); code != exitUsage || !strings.Contains(errs, "not on this host") {
		t.Errorf("a remote milter: status %d, %s", code, errs)
	}
	if code, _, errs := capture(t, func() int {
		return run([]string{"bench", "--addr", "inet:" + addr, "-n", "1", "-ips", "192.0.2.7,192.0.2.8", "-ptr", "a.example"})
	}); code != exitUsage || !strings.Contains(errs, "-ptr needs one name for each address") {
		t.Errorf("-ptr out of step with -ips: status %d, %s", code, errs)
	}
}

// recorder is a listener for a go-milter server that keeps every byte the
// server reads, by connection: what the MTA side sent.
type recorder struct {
	net.Listener
	mu    sync.Mutex
	conns []*bytes.Buffer
	done  sync.WaitGroup // one per connection, until the server closed it
}

func (r *recorder) Accept() (net.Conn, error) {
	c, err := r.Listener.Accept()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, &bytes.Buffer{})
	r.done.Add(1)
	return &recordedConn{Conn: c, r: r, buf: r.conns[len(r.conns)-1]}, nil
}

type recordedConn struct {
	net.Conn
	r      *recorder
	buf    *bytes.Buffer
	closed sync.Once
}

func (c *recordedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.buf.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}

func (c *recordedConn) Close() error {
	c.closed.Do(c.r.done.Done)
	return c.Conn.Close()
}

// trace renders the packets of a recorded connection: a command by its
// letter, a header field as L:name, a macro packet as D, the command it
// goes with and the names it sets, e.g. DT{i}.
func trace(t *testing.T, b []byte) []string {
	var out []string
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 1 || len(b) < 4+n {
			t.Fatalf("a packet cut short: %q", b)
		}
		code, data := b[4], b[5:4+n]
		b = b[4+n:]
		switch code {
		case 'D':
			var names []string
			for i, s := range strings.Split(strings.TrimSuffix(string(data[1:]), "\x00"), "\x00") {
				if i%2 == 0 && s != "" {
					names = append(names, s)
				}
			}
			out = append(out, "D"+string(data[0])+"{"+strings.Join(names, ",")+"}")
		case 'L':
			name, _, _ := strings.Cut(string(data), "\x00")
			out = append(out, "L:"+name)
		default:
			out = append(out, string(code))
		}
	}
	if len(b) > 0 {
		t.Fatalf("%d bytes left over", len(b))
	}
	return out
}

// postfixTrace is what Postfix 3.7 sends a milter for one SMTP connection
// with two messages of mailgen.Text, given the macros it sends at each
// command (recorded from a private Postfix with smtpd_milters and
// default milter settings, by a milter answering as the profile does).
func postfixTrace(macros map[byte]string) []string {
	out := []string{"O", "DC{" + macros['C'] + "}", "C", "DH{}", "H"}
	fields := []string{"Received", "Received", "Message-ID", "Date", "MIME-Version", "User-Agent", "Content-Language",
		"To", "From", "Subject", "Content-Type", "Content-Transfer-Encoding"}
	for range 2 {
		out = append(out, "DM{"+macros['M']+"}", "M", "DR{{rcpt_addr},{rcpt_host},{rcpt_mailer}}", "R", "DT{i}", "T")
		for _, f := range fields {
			out = append(out, "DL{i}", "L:"+f)
		}
		out = append(out, "DN{i}", "N", "DB{i}", "B", "DE{i}", "E", "A")
	}
	return append(out, "A", "Q")
}

// maxwell bench speaks to a milter as Postfix does with its default
// settings: the same negotiation, the same macro packets before the same
// commands (the milter's own lists where it names some, Postfix's
// defaults elsewhere), Postfix's own Received field left out, ABORT after
// each message, ABORT and QUIT at the end.
func TestBenchSendsWhatPostfixSends(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []milter.Option
		macros map[byte]string // the names of the macro packets before CONNECT and MAIL
	}{
		{"a milter that asks for every step and no macros (libmilter's default)",
			[]milter.Option{milter.WithProtocols(0)},
			map[byte]string{'C': "j,{daemon_name},{daemon_addr},v,_", 'M': "{mail_addr},{mail_host},{mail_mailer}"}},
		{"maxwell's negotiation: its own macros, no reply to header fields and body chunks",
			[]milter.Option{milter.WithProtocols(milter.OptNoUnknown | milter.OptNoHeaderReply | milter.OptNoBodyReply),
				milter.WithMacroRequest(milter.StageConnect, []string{"j", "{daemon_port}", "{client_ptr}"}),
				milter.WithMacroRequest(milter.StageMail, []string{"{auth_authen}", "i"}),
				milter.WithMacroRequest(milter.StageData, []string{"i"}),
				milter.WithMacroRequest(milter.StageEOM, []string{"i"})},
			map[byte]string{'C': "j,{daemon_port},{client_ptr}", 'M': ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{Listener: ln}
			srv := milter.NewServer(append(tc.opts, milter.WithMilter(func() milter.Milter { return milter.NoOpMilter{} }))...)
			go srv.Serve(rec)
			defer srv.Close()

			code, out, errs := capture(t, func() int {
				return run([]string{"bench", "-q", "-addr", "inet:" + ln.Addr().String(), "-n", "2", "-c", "1", "-per-conn", "2",
					"-ips", "198.51.100.7", "-ptr", "mail7.sender.example", "-from", "alice@sender.example", "-rcpt", "bob@example.org"})
			})
			if code != exitOK || !strings.Contains(out, "accept=2") {
				t.Fatalf("status %d\n%s%s", code, out, errs)
			}
			rec.done.Wait()
			if len(rec.conns) != 1 {
				t.Fatalf("%d milter connections, want 1", len(rec.conns))
			}
			got, want := trace(t, rec.conns[0].Bytes()), postfixTrace(tc.macros)
			if !slices.Equal(got, want) {
				t.Errorf("maxwell bench sent\n%s\nPostfix sends\n%s", strings.Join(got, " "), strings.Join(want, " "))
			}
		})
	}
}
