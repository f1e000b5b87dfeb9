package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Load reads regular files only, and only so much of them: what is not a
// configuration file is an error naming it, never a read without end.
func TestLoadRefusesWhatIsNotAConfigFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.toml")
	if err := os.WriteFile(real, []byte("[milter]\nmax_demerits = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.toml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(link); err != nil || cfg.Milter.MaxDemerits != 3 {
		t.Fatalf("a symbolic link to a configuration file: %v", err)
	}

	zero := filepath.Join(dir, "zero.toml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.toml")
	if err := os.WriteFile(huge, []byte(strings.Repeat("# a comment line of forty characters..\n", 9<<20/40)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"a link to /dev/zero", zero, "is not a regular file (a character device)"},
		{"a named pipe", fifo, "is not a regular file (a named pipe)"},
		{"a directory", dir, "is a directory"},
		{"a file over the limit", huge, "is larger than 8 MiB"},
		{"no file", filepath.Join(dir, "missing.toml"), "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			var es Errors
			if !errors.As(err, &es) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load(%s) = %v (%T), want Errors saying %q", tc.path, err, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.path+": ") {
				t.Errorf("the error does not start with the file: %v", err)
			}
		})
	}
}

// Values in errors are quoted (no control character reaches a terminal)
// and cut: a 1 MiB value gives one short line, not 1 MiB of stderr.
func TestErrorValuesQuotedAndCut(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, tc := range []struct{ name, src, want string }{
		{"a long value", "[milter]\nsocket = \"inet:" + long + "\"\n", `"inet:xxxxxxxx`},
		{"escapes in a value", "[milter]\nsocket = \"\\u001b[2J\\u001b]0;pwned\\u0007\"\n", `"\x1b[2J\x1b]0;pwned\a"`},
		{"escapes in a key", "[milter]\n\"\\u001b[2J\" = 1\n", `milter."\x1b[2J"`},
		{"a long key", "[milter]\n" + long + " = 1\n", `milter."xxxxxxxx`},
		{"escapes in a defined-twice key", "[milter]\n\"\\u001b[2J\" = 1\n\"\\u001b[2J\" = 2\n", `\x1b[2J`},
		{"escapes in a list", "[defang]\nbanned_exts = [\"\\u001b[2J.exe\"]\n", `"\x1b[2J.exe"`},
		{"a long list entry", "[milter]\ncheck_user = [\"" + long + "\"]\n", `"xxxxxxxx`},
		{"a long domain", "[spf]\ndelegate = \"" + long + "\"\n", `"xxxxxxxx`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if len(msg) > 400 {
				t.Errorf("the error is %d bytes long: %.200s…", len(msg), msg)
			}
			if i := strings.IndexFunc(msg, func(r rune) bool { return r < ' ' && r != '\n' || r == 0x7f }); i >= 0 {
				t.Errorf("the error carries a raw control character at %d: %q", i, msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("the error %q does not show %s", msg, tc.want)
			}
		})
	}
}

// Unknown keys and sections cost linear work: 4 times the keys, about 4
// times the allocations (it was 16 times: each key's line was looked up
// by rereading the whole file).
func TestManyUnknownKeysLinear(t *testing.T) {
	for _, shape := range []struct {
		name string
		src  func(n int) []byte
	}{{"keys", unknownKeys}, {"sections", unknownSections}} {
		allocs := func(n int) float64 {
			src := shape.src(n)
			return testing.AllocsPerRun(1, func() {
				if _, err := Parse("t.toml", src); err == nil {
					t.Fatal("unknown keys accepted")
				}
			})
		}
		small, large := allocs(1000), allocs(4000)
		if ratio := large / small; ratio > 6 {
			t.Errorf("%s: 4x as many took %.1fx the allocations (%.0f, %.0f): not linear", shape.name, ratio, small, large)
		}
	}
}

// However many problems a file has, the report stays short: the first
// ones, then how many more.
func TestErrorsCapped(t *testing.T) {
	_, err := Parse("t.toml", unknownKeys(40000))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v", err)
	}
	if len(es) != maxErrors+1 {
		t.Errorf("%d errors, want %d and a summary", len(es), maxErrors)
	}
	if last := es[len(es)-1].Error(); !strings.Contains(last, fmt.Sprintf("and %d more problems", 40000-maxErrors)) {
		t.Errorf("the summary is %q", last)
	}
}

func unknownKeys(n int) []byte {
	var b strings.Builder
	b.WriteString("[milter]\n")
	for i := range n {
		fmt.Fprintf(&b, "unknown_key_%d = %d\n", i, i)
	}
	return []byte(b.String())
}

func unknownSections(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[unknown_%d]\nkey = %d\n", i, i)
	}
	return []byte(b.String())
}

func BenchmarkParseUnknownKeys(b *testing.B) {
	for _, n := range []int{1000, 10000, 40000} {
		src := unknownKeys(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Parse("t.toml", src)
			}
		})
	}
}
