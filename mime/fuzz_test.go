package mime

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzScan feeds the scanner whole messages: whatever they hold, it must
// not panic, and defanging must not grow the body by more than the
// warnings it puts in. The corpus messages are the seeds;
// testdata/fuzz/FuzzScan keeps what fuzzing found.
func FuzzScan(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(raw) < 4096 { // the zip bomb would slow every round down
			f.Add(raw)
		}
	}
	o := testOptions(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, body := SplitMessage(raw)
		res := Scan(h, bytes.NewReader(body), int64(len(body)), o)
		banned := res.Banned
		for _, p := range banned {
			if p.Start < 0 || p.End < p.Start || p.End > int64(len(body)) {
				t.Fatalf("part %+v outside the body (%d bytes)", p, len(body))
			}
		}
		if len(banned) == 0 {
			return
		}
		var out bytes.Buffer
		if err := Defang(&out, bytes.NewReader(body), int64(len(body)), banned, "host:/path"); err != nil {
			t.Fatal(err)
		}
		if limit := len(body) + len(banned)*2048; out.Len() > limit {
			t.Fatalf("defanged body of %d bytes from %d", out.Len(), len(body))
		}
	})
}
