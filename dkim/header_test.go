package dkim

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestHeaderBuilder: the header block is rebuilt as the client sent it,
// from the fields as the MTA hands them over.
func TestHeaderBuilder(t *testing.T) {
	type f struct {
		name, value string
		raw         bool
	}
	cases := []struct {
		name   string
		fields []f
		want   string
	}{
		{"the swallowed space put back", []f{{"Subject", "hello", false}}, "Subject: hello\r\n"},
		{"a second space kept", []f{{"Subject", " hello", false}}, "Subject:  hello\r\n"},
		{"a tab is not swallowed", []f{{"X-Tab", "\tvalue", false}}, "X-Tab:\tvalue\r\n"},
		{"raw: as given", []f{{"Subject", " hello", true}}, "Subject: hello\r\n"},
		{"raw: no space", []f{{"Subject", "hello", true}}, "Subject:hello\r\n"},
		{"raw: a tab", []f{{"X-Tab", "\tvalue", true}}, "X-Tab:\tvalue\r\n"},
		{"empty", []f{{"Subject", "", false}}, "Subject: \r\n"},
		{"raw: empty", []f{{"Subject", "", true}}, "Subject:\r\n"},
		{"folded lines get CRLF", []f{{"To", "a@example.org,\n\tb@example.org,\n c@example.org", false}},
			"To: a@example.org,\r\n\tb@example.org,\r\n c@example.org\r\n"},
		{"CRLF folds stay CRLF", []f{{"To", "a@example.org,\r\n\tb@example.org", false}},
			"To: a@example.org,\r\n\tb@example.org\r\n"},
		{"raw folded", []f{{"Subject", " a\n  b", true}}, "Subject: a\r\n  b\r\n"},
		{"trailing blanks kept", []f{{"Subject", "a \t", false}}, "Subject: a \t\r\n"},
		{"several, in order", []f{{"From", "a@example.org", false}, {"To", "b@example.org", false}, {"From", "c@example.org", false}},
			"From: a@example.org\r\nTo: b@example.org\r\nFrom: c@example.org\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hb HeaderBuilder
			for _, x := range c.fields {
				hb.Add(x.name, x.value, x.raw)
			}
			if got := string(hb.Bytes()); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if n := len(splitFields(string(hb.Bytes()))); n != len(c.fields) {
				t.Errorf("splitFields found %d fields, want %d", n, len(c.fields))
			}
		})
	}
}

// TestSignedNames: each field signed as often as present, the over-signed
// ones once more (RFC 6376 §8.15), whatever the case of their names.
func TestSignedNames(t *testing.T) {
	header := "Received: x\r\nFrom: a@example.org\r\nto: b@example.org\r\nTo: c@example.org\r\n" +
		"Subject: folded\r\n two\r\n\tlines\r\nDate: now\r\n"
	headers := []string{"From", "To", "Cc", "Subject", "Date", "Reply-To"}
	cases := []struct {
		name     string
		oversign []string
		want     []string
	}{
		{"as present", nil, []string{"From", "To", "To", "Subject", "Date"}},
		{"From once more", []string{"From"}, []string{"From", "From", "To", "To", "Subject", "Date"}},
		{"case of the names", []string{"fROM", "to"}, []string{"From", "From", "To", "To", "To", "Subject", "Date"}},
		{"absent: signed as absent", []string{"Reply-To", "Cc"}, []string{"From", "To", "To", "Cc", "Subject", "Date", "Reply-To"}},
		{"a folded field counts once", []string{"Subject"}, []string{"From", "To", "To", "Subject", "Subject", "Date"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := signedNames([]byte(header), SignOptions{Headers: headers, Oversign: c.oversign})
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestOversignedFrom: a From added to a message whose From maxwell
// signed once more than present breaks the signature; without the extra
// From in h=, it would not.
func TestOversignedFrom(t *testing.T) {
	pemKey, record, err := GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ParseKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, name string) ([]string, error) {
		if name != "sel._domainkey.example.org" {
			return nil, nil
		}
		return []string{record}, nil
	}
	const header = "From: a@example.org\r\nSubject: hi\r\n"
	for _, c := range []struct {
		oversign []string
		want     Status
	}{{nil, Pass}, {[]string{"From"}, Fail}} {
		s, err := NewSigning([]byte(header),
			[]Key{{Domain: "example.org", Selector: "sel", Signer: signer}},
			SignOptions{Headers: []string{"From", "Subject"}, Oversign: c.oversign, HeaderCanon: "relaxed", BodyCanon: "relaxed"})
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte("body\r\n"))
		sigs, err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
		received := "DKIM-Signature: " + strings.ReplaceAll(sigs[0], "\n", "\r\n") + "\r\n" +
			"From: mallory@example.net\r\n" + header
		v := NewVerifier(context.Background(), []byte(received), 5, lookup)
		v.Write([]byte("body\r\n"))
		if rs := v.Close(); len(rs) != 1 || rs[0].Status != c.want {
			t.Errorf("oversign %q, a From added: %+v, want %s", c.oversign, rs, c.want)
		}
	}
}
