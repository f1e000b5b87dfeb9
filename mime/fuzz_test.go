package mime

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzScan feeds the scanner whole messages: whatever they hold, it must
// not panic, and defanging must not grow the body by more than the
// warnings it puts in and the HTML parts it cleans (re-encoded, a
// comment for each tag removed). A message whose parts are only
// cleaned has nothing more to clean or replace after. The corpus
// messages are the seeds; testdata/fuzz/FuzzScan keeps what fuzzing
// found.
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
	o.ScanHTML = true
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
		limit, cleanOnly := int64(len(body)), true
		for _, p := range banned {
			limit += 2048
			if p.Clean {
				limit += 8 * (p.End - p.Start)
			}
			cleanOnly = cleanOnly && p.Clean
		}
		if int64(out.Len()) > limit {
			t.Fatalf("defanged body of %d bytes from %d", out.Len(), len(body))
		}
		if !cleanOnly {
			return
		}
		if banned[0].Top { // the milter changes the header so
			h = slices.DeleteFunc(slices.Clone(h), func(f Header) bool { return f.Is("Content-Transfer-Encoding") })
			h = append(h, Header{Name: "Content-Transfer-Encoding", Value: "quoted-printable"})
		}
		if again := Scan(h, bytes.NewReader(out.Bytes()), int64(out.Len()), o); len(again.Banned) > 0 {
			t.Fatalf("cleaned, then %+v found in\n%q\nfrom\n%q", again.Banned, out.Bytes(), body)
		}
	})
}
