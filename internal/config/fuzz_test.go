package config

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds the parser arbitrary files: it answers a *Config or an
// error naming the file, never panics, and what it accepts is valid and
// reads back from what WriteRedacted writes, but for the markers.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../maxwell.toml.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add("[milter]\nsocket = \"inet:8895@127.0.0.1\"\ntimeout = \"35d\"\n")
	f.Add("[greylist]\nwhitelisted_triples = [[\"192.0.2\", \"a@b\", \"c@d\"]]\n")
	f.Add("[defang]\nzip_max_expand = \"20MiB\"\nmalformed = \"quarantine\"\n")
	f.Add("[store]\ndriver = \"postgres\"\ndsn = \"host=db password='a\\\\'b' user=m\"\n")
	f.Add("[reputation]\n[[reputation.peers]]\nname = \"p\"\nurl = \"https://u:pw@peer.example/?a=b\"\nsecret = \"s\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("f.toml", []byte(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if ps := c.validate(); len(ps) != 0 {
			t.Errorf("accepted a configuration with problems: %v", ps)
		}
		if len(c.Web.Users) > 0 || c.SRS.Config != "" {
			return // a password hash's marker is refused; pysrs's file would be read again
		}
		var b bytes.Buffer
		if err := c.WriteRedacted(&b); err != nil {
			t.Fatalf("writing: %v", err)
		}
		back, err := Parse("written", b.Bytes())
		if err != nil {
			t.Fatalf("reading back: %v\n%s", err, b.String())
		}
		want := *c
		redact(reflect.ValueOf(&want).Elem())
		if !reflect.DeepEqual(back, &want) {
			t.Errorf("read back:\n%+v\nwant\n%+v\nfrom\n%s", back, &want, b.String())
		}
	})
}
