package testclock

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The class of bug where a test fixes a date on one side and asks the
// wall clock on the other (make test red from one day on, on every
// machine) cannot come back: no test writes a date of its own, and in a
// package whose tests run on fixed dates or a Clock, a test reads the
// wall clock only for a socket's deadline, or where a "// wall clock:
// why" comment on the line says it is not a date (a stopwatch).
func TestOneClockPerTest(t *testing.T) {
	var (
		ownDate   = regexp.MustCompile(`time\.Date\(\s*[0-9]`)
		fixedDate = regexp.MustCompile(`time\.Date\(|testclock\.|SetClock\(|"(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]T`)
		wallClock = regexp.MustCompile(`\btime\.(Now|Since|Until)\(`)
		// A socket's deadline is on the wall clock, whatever the test's dates.
		socketDeadline = regexp.MustCompile(`\.Set(Read|Write)?Deadline\(time\.Now\(\)`)
	)
	root := filepath.Join("..", "..")
	type file struct {
		path  string
		lines []string
	}
	packages := map[string][]file{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == "." {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		packages[filepath.Dir(path)] = append(packages[filepath.Dir(path)], file{path, strings.Split(string(src), "\n")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(packages) < 20 {
		t.Fatalf("only %d packages with tests found under %s", len(packages), root)
	}
	for dir, files := range packages {
		if dir == "." { // this package: its own dates are the epoch
			continue
		}
		var fixed string // where the package's tests fix a date, if they do
		for _, f := range files {
			for i, l := range f.lines {
				if ownDate.MatchString(l) {
					t.Errorf("%s:%d: a date of its own; take it from testclock (Epoch, At, Day)", f.path, i+1)
				}
				if fixed == "" && fixedDate.MatchString(l) {
					fixed = fmt.Sprintf("%s:%d", f.path, i+1)
				}
			}
		}
		if fixed == "" {
			continue
		}
		for _, f := range files {
			for i, l := range f.lines {
				if wallClock.MatchString(l) && !strings.Contains(l, "// wall clock: ") && !socketDeadline.MatchString(l) {
					t.Errorf("%s:%d: the wall clock in a package on fixed dates (%s); use the test's clock, or say why this is no date with \"// wall clock: why\"", f.path, i+1, fixed)
				}
			}
		}
	}
}

func TestEpoch(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", "2026-11-23T10:00:00Z"},
		{"2031-02-27", "2031-02-27T00:00:00Z"},
		{"2039-12-31T23:30:00+01:00", "2039-12-31T22:30:00Z"},
	} {
		if got := parseEpoch(tc.env).Format(time.RFC3339); got != tc.want {
			t.Errorf("%s=%q: epoch %s, want %s", EnvVar, tc.env, got, tc.want)
		}
	}
	c := New()
	c.Advance(36 * time.Hour)
	if got := c.Now().Sub(Epoch()); got != 36*time.Hour {
		t.Errorf("advanced 36h, moved %v", got)
	}
	// Day is in local time, whatever zone the epoch falls in.
	if d := Day(1, 90*time.Minute, time.UTC); d.Hour() != 1 || d.Minute() != 30 || d.YearDay() != Epoch().AddDate(0, 0, 1).YearDay() {
		t.Errorf("Day(1, 1h30m) = %v", d)
	}
}
