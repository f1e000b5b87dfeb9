package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/performance.md carries a whole make bench run, as bench/docs.sh
// wrote it: the date, the machine and the commit, and one line per
// target of bench/run.sh, met or missed. A target added to the script
// without a new run, or a block edited into another shape, fails here.
func TestPerformanceDocHoldsAMakeBenchRun(t *testing.T) {
	doc, err := os.ReadFile("../../docs/performance.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("../../bench/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	const begin = "<!-- make bench: begin. bench/docs.sh writes this block from the latest run; do not edit it by hand. -->\n"
	const end = "<!-- make bench: end -->\n"
	_, rest, ok := strings.Cut(string(doc), begin)
	block, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("docs/performance.md has no make bench block (%q … %q)", begin, end)
	}
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if len(lines) < 4 || lines[0] != "```text" || lines[len(lines)-1] != "```" {
		t.Fatalf("the make bench block is not one text block:\n%s", block)
	}
	if !regexp.MustCompile(`^make bench \d{4}-\d\d-\d\dT\d\d:\d\dZ, commit [0-9a-f]{7,}`).MatchString(lines[1]) {
		t.Errorf("the block does not start with the run's date and commit: %q", lines[1])
	}
	if !regexp.MustCompile(`^\d+ CPUs: \S`).MatchString(lines[2]) {
		t.Errorf("the block does not say the machine: %q", lines[2])
	}

	var want []string
	for _, m := range regexp.MustCompile(`(?m)^\t\t(?:ratio|limit) "([^"]+)"`).FindAllStringSubmatch(string(script), -1) {
		want = append(want, m[1])
	}
	if len(want) == 0 {
		t.Fatal("no targets found in bench/run.sh")
	}
	i := slices.Index(lines, "targets")
	if i < 0 {
		t.Fatalf("the block has no targets section:\n%s", block)
	}
	line := regexp.MustCompile(`^(met|missed) +(.+?)  +\S`)
	var got []string
	for _, l := range lines[i+1 : len(lines)-1] {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("a target line that is neither met nor missed: %q", l)
			continue
		}
		got = append(got, strings.TrimSpace(m[2]))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the block's targets %q are not bench/run.sh's %q: run make bench again", got, want)
	}
}
