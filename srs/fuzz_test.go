package srs

import (
	"bufio"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// FuzzAddress: no address makes the rewriting panic; what Forward,
// Sign and RRS make, Reverse turns back.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{"bob@example.com", `"a b"@example.com`, "SRS0=abcd=AB=x.example=y@fwd.example",
		"SRS1=abcd=x.example==efgh=AB=y.example=z@fwd.example", "SES=ABC=u@ours.example", "srs0-x@y", "@", "a@", "=@=",
		"SES==@", "SRS0====@", "SES=" + strings.Repeat("Z", 60) + "=u@ours.example"} {
		f.Add(s)
	}
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	r, _ := New(Options{Secrets: []string{"fuzz"}, Now: now})
	ses, _ := NewSES([]string{"fuzz"}, 8, now)
	site := &Site{SRS: r, SES: ses, FwDomain: "fwd.example", SESDomains: []string{"ours.example"}, SignDomains: []string{"signed.example"}}
	f.Fuzz(func(t *testing.T, addr string) {
		site.Reverse(addr)
		ses.Verify(addr)
		if alias, err := r.RRS(addr, "alumni.example"); err == nil {
			if fwd, back, err := r.ReverseRRS(alias); err != nil || fwd != "alumni.example" || back != addr {
				t.Errorf("RRS alias %q of %q reverses to %q, %q, %v", alias, addr, fwd, back, err)
			}
		}
		for _, sender := range []string{addr, addr + "@remote.example", addr + "@ours.example", addr + "@signed.example"} {
			out, how, err := site.Outgoing(sender)
			if err != nil || how == Unchanged {
				continue
			}
			back, err := site.Reverse(out)
			at := strings.LastIndexByte(sender, '@')
			local := strings.Trim(sender[:at], `"`)
			switch {
			case IsSRS(local) && how != SignedSES:
				// SRS0 and SRS1 senders become SRS1: it reverses to
				// the first hop's address, not to sender.
				if err != nil {
					t.Errorf("%q forwarded as %q, which does not reverse: %v", sender, out, err)
				}
			case err != nil:
				t.Errorf("%q made %q (%s), which does not reverse: %v", sender, out, how, err)
			case !strings.EqualFold(back, sender):
				t.Errorf("%q made %q (%s), which reverses to %q", sender, out, how, back)
			}
		}
	})
}

// FuzzMapRequest: a connection's bytes, whatever they are, get
// netstring answers or a closed connection, never a panic or a hang.
func FuzzMapRequest(f *testing.F) {
	for _, s := range []string{"18:forward x@y.example,", "7:reverse,", "3:abc", "99999999:x", ":", "0:,0:,", "5:make_srs,"} {
		f.Add(s)
	}
	r, _ := New(Options{Secrets: []string{"fuzz"}})
	ses, _ := NewSES([]string{"fuzz"}, 8, nil)
	m := NewMapServer(&Site{SRS: r, SES: ses, FwDomain: "fwd.example"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReader(strings.NewReader(in))
		for {
			req, err := readNetstring(br, MaxRequest)
			if err != nil {
				return
			}
			mapName, key, _ := strings.Cut(req, " ")
			answer := m.Answer(mapName, key).Answer
			if answer == "" || strings.ContainsAny(answer, "\r\n") && !strings.ContainsAny(key, "\r\n") {
				t.Errorf("request %q: answer %q", req, answer)
			}
		}
	})
}
