package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds the parser arbitrary files: it answers a *Config or an
// error naming the file, never panics, and what it accepts is valid.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../maxwell.toml.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add("[milter]\nsocket = \"inet:8895@127.0.0.1\"\ntimeout = \"35d\"\n")
	f.Add("[greylist]\nwhitelisted_triples = [[\"192.0.2\", \"a@b\", \"c@d\"]]\n")
	f.Add("[defang]\nzip_max_expand = \"20MiB\"\nmalformed = \"quarantine\"\n")
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
	})
}
