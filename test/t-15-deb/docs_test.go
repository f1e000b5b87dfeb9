//go:build debtest

package deb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docBlock is a fenced block of a setup document: a file's lines (its
// first line names the file, "# /etc/postfix/main.cf"), or commands
// ("$ swaks …") with the lines of their output the document shows.
type docBlock struct {
	doc  string // the document's name
	text string // between the fences
	used bool
}

// setupDocs are the fenced blocks of the setup documents: the test
// takes each one it runs or applies, and fails for any it did not.
type setupDocs []*docBlock

// readSetupDocs reads the fenced blocks of docs/NAME for each name.
func readSetupDocs(t *testing.T, names ...string) setupDocs {
	t.Helper()
	var blocks setupDocs
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("../../docs", name))
		if err != nil {
			t.Fatal(err)
		}
		var cur *docBlock
		for _, line := range strings.SplitAfter(string(b), "\n") {
			switch {
			case strings.HasPrefix(line, "```") && cur == nil:
				cur = &docBlock{doc: name}
			case strings.HasPrefix(line, "```"):
				blocks = append(blocks, cur)
				cur = nil
			case cur != nil:
				cur.text += line
			}
		}
		if cur != nil {
			t.Fatalf("docs/%s: a fenced block is not closed", name)
		}
	}
	return blocks
}

// take returns the text of the blocks of doc whose first line is first
// (without it), in order, and marks them used; it fails unless there
// are n of them.
func (d setupDocs) take(t *testing.T, doc, first string, n int) []string {
	t.Helper()
	var texts []string
	for _, b := range d {
		if head, rest, _ := strings.Cut(b.text, "\n"); b.doc == doc && head == first {
			b.used = true
			texts = append(texts, rest)
		}
	}
	if len(texts) != n {
		t.Fatalf("docs/%s: %d blocks start %q, want %d", doc, len(texts), first, n)
	}
	return texts
}

// commands returns the blocks of doc that start with "$ ": commands and
// their output.
func (d setupDocs) commands(doc string) []*docBlock {
	var out []*docBlock
	for _, b := range d {
		if b.doc == doc && strings.HasPrefix(b.text, "$ ") {
			out = append(out, b)
		}
	}
	return out
}

// checkAllUsed fails for every block the test did not take.
func (d setupDocs) checkAllUsed(t *testing.T) {
	t.Helper()
	for _, b := range d {
		if !b.used {
			t.Errorf("docs/%s: this block is not tested:\n%s", b.doc, b.text)
		}
	}
}

// runCommand runs a block's command ("$ COMMAND", one line) with sh in
// dir and checks that every output line the block shows (after a "..."
// line standing for those it leaves out) is a line of the output, in
// order, where a "…" in a shown line stands for any text.
func runCommand(t *testing.T, b *docBlock, dir string) string {
	t.Helper()
	b.used = true
	lines := strings.Split(strings.TrimSuffix(b.text, "\n"), "\n")
	command := strings.TrimPrefix(lines[0], "$ ")
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput() // swaks exits non-zero on a refusal
	got := strings.Split(string(out), "\n")
	i := 0
	for _, want := range lines[1:] {
		if want == "..." {
			continue
		}
		for i < len(got) && !matchEllipsis(got[i], want) {
			i++
		}
		if i == len(got) {
			t.Errorf("docs/%s: `%s` printed no line %q after the ones before it; it printed:\n%s", b.doc, command, want, out)
			return string(out)
		}
		i++
	}
	return string(out)
}

// matchEllipsis says whether line is pattern, with each "…" in it
// standing for any text.
func matchEllipsis(line, pattern string) bool {
	pieces := strings.Split(pattern, "…")
	if len(pieces) == 1 {
		return line == pattern
	}
	if !strings.HasPrefix(line, pieces[0]) {
		return false
	}
	line = line[len(pieces[0]):]
	for _, p := range pieces[1 : len(pieces)-1] {
		i := strings.Index(line, p)
		if i < 0 {
			return false
		}
		line = line[i+len(p):]
	}
	return strings.HasSuffix(line, pieces[len(pieces)-1])
}
