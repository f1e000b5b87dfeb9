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

// Every row of docs/logs.md's tables is in a table: a run of rows under a
// header and its |---| line. A row after a paragraph renders as text,
// and is then missing from the table it belongs to.
func TestLogsTablesWellFormed(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "docs", "logs.md"))
	if err != nil {
		t.Fatal(err)
	}
	separator := regexp.MustCompile(`^\|( *:?-+:? *\|)+ *$`)
	lines := strings.Split(string(docs), "\n")
	fenced, tables := false, 0
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(lines[i], "|") {
			continue
		}
		if i+1 == len(lines) || !separator.MatchString(lines[i+1]) {
			t.Errorf("docs/logs.md:%d: a table row outside a table (no header and |---| line above it): %s", i+1, lines[i])
		} else {
			tables++
		}
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|") {
			i++
		}
	}
	if tables < 3 {
		t.Fatalf("found only %d tables in docs/logs.md", tables)
	}
}
