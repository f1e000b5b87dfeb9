package policy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every event the engine logs, and every tag, is listed in docs/logs.md.
func TestLogEventsDocumented(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "docs", "logs.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	events := regexp.MustCompile(`\.log\("([^"]+)"`)
	tags := regexp.MustCompile(`Tag(?::| =) +"([A-Z]+)"`)
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		for _, re := range []*regexp.Regexp{events, tags} {
			for _, m := range re.FindAllSubmatch(src, -1) {
				found++
				if name := string(m[1]); !strings.Contains(string(docs), "| `"+name+"` |") {
					t.Errorf("%s: %q is not in the tables of docs/logs.md", f, name)
				}
			}
		}
	}
	if found < 10 {
		t.Fatalf("found only %d events and tags in the source; the patterns are stale", found)
	}
}
