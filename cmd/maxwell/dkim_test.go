package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/dkim"
)

// maxwell dkim keygen writes a key only it may read, never over another,
// in a directory it makes, and prints the record that publishes it.
func TestDKIMKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dkim")
	for _, alg := range []string{"rsa", "ed25519"} {
		code, out, stderr := capture(t, func() int {
			return run([]string{"dkim", "keygen", "--algorithm", alg, "--dir", dir, "example.org", alg + ".s1"})
		})
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", alg, code, stderr)
		}
		path := filepath.Join(dir, "example.org."+alg+".s1.key")
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", path, err, fi.Mode())
		}
		key, err := dkim.LoadKey(path)
		if err != nil {
			t.Fatal(err)
		}
		record, _ := dkim.KeyRecord(key)
		if !strings.Contains(out, alg+".s1._domainkey.example.org. IN TXT ( "+strings.Join(dkim.TXTStrings(record), "\n\t")+" )") ||
			!strings.Contains(out, "privkey = \""+path+"\"") {
			t.Errorf("%s: the output lacks the record or the configuration:\n%s", alg, out)
		}
		if code, _, stderr := capture(t, func() int {
			return run([]string{"dkim", "keygen", "--algorithm", alg, "--dir", dir, "example.org", alg + ".s1"})
		}); code != exitFailure || !strings.Contains(stderr, "exists; not overwritten") {
			t.Errorf("%s again: exit %d: %s", alg, code, stderr)
		}
	}
	for _, args := range [][]string{{"example", "s1"}, {"example.org", "s_1"}, {"--algorithm", "dsa", "example.org", "s1"}, {"--bits", "1024", "example.org", "s1"}, {"example.org"}} {
		if code, _, stderr := capture(t, func() int { return run(append([]string{"dkim", "keygen", "--dir", dir}, args...)) }); code != exitUsage || stderr == "" {
			t.Errorf("keygen %v: exit %d, %q", args, code, stderr)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "example.org.rsa.s1.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dkim.LoadKey(filepath.Join(dir, "example.org.rsa.s1.key")); err == nil || !strings.Contains(err.Error(), "every user may read") {
		t.Errorf("a key every user may read: %v", err)
	}
}
