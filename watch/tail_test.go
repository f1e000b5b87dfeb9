package watch

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// read returns the lines a Read hands over.
func read(t *testing.T, tl *Tail) []string {
	t.Helper()
	var lines []string
	if err := tl.Read(func(l string) error { lines = append(lines, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return lines
}

func appendTo(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(text)
	f.Close()
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maillog")
	tl := NewTail(path, Position{})
	defer tl.Close()
	if got := read(t, tl); got != nil {
		t.Errorf("no file yet: %q", got)
	}
	appendTo(t, path, "one\ntwo\nthr")
	if got := read(t, tl); !reflect.DeepEqual(got, []string{"one", "two"}) {
		t.Errorf("first read: %q", got)
	}
	appendTo(t, path, "ee\r\n")
	if got := read(t, tl); !reflect.DeepEqual(got, []string{"three"}) {
		t.Errorf("a line finished later: %q", got)
	}

	// Rotation: the rest of the old file, then the new one.
	appendTo(t, path, "four\n")
	os.Rename(path, path+".1")
	appendTo(t, path, "five\n")
	if got := read(t, tl); !reflect.DeepEqual(got, []string{"four", "five"}) {
		t.Errorf("across rotation: %q", got)
	}

	// Truncation (copytruncate): from the start again.
	os.Truncate(path, 0)
	appendTo(t, path, "six\n")
	if got := read(t, tl); !reflect.DeepEqual(got, []string{"six"}) {
		t.Errorf("after truncation: %q", got)
	}

	// A line longer than maxLine is skipped, in whatever pieces it comes.
	appendTo(t, path, strings.Repeat("x", maxLine))
	read(t, tl)
	appendTo(t, path, strings.Repeat("x", 100)+"\nseven\n")
	if got := read(t, tl); !reflect.DeepEqual(got, []string{"seven"}) {
		t.Errorf("after a long line: %d lines, want only \"seven\"", len(got))
	}

	// A Tail resumes at a saved position in the same file only.
	appendTo(t, path, "eight\nnin")
	read(t, tl)
	again := NewTail(path, tl.Position())
	defer again.Close()
	appendTo(t, path, "e\n")
	if got := read(t, again); !reflect.DeepEqual(got, []string{"nine"}) {
		t.Errorf("resumed: %q", got)
	}
	// Rotated while no Tail ran: the old file's last lines, then the
	// new file.
	appendTo(t, path, "ten\n")
	os.Rename(path, path+".2")
	appendTo(t, path, "eleven\n")
	other := NewTail(path, again.Position())
	defer other.Close()
	if got := read(t, other); !reflect.DeepEqual(got, []string{"ten", "eleven"}) {
		t.Errorf("resumed across a rotation: %q", got)
	}
	// The old file gone (compressed, deleted): the new file from its start.
	os.Remove(path + ".2")
	os.Rename(path, path+".3")
	os.Remove(path + ".3")
	appendTo(t, path, "twelve\n")
	last := NewTail(path, other.Position())
	defer last.Close()
	if got := read(t, last); !reflect.DeepEqual(got, []string{"twelve"}) {
		t.Errorf("resumed on a new file: %q", got)
	}
}
