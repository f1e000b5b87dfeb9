package spool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A spool directory that is a symbolic link is not followed: the body
// does not spill through it.
func TestSpoolDirLinkNotFollowed(t *testing.T) {
	elsewhere := t.TempDir()
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	s := New(dir, 4, 100)
	defer s.Close()
	if _, err := s.Write([]byte("past the threshold")); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("Write = %v, want the link refused", err)
	}
	if files, _ := os.ReadDir(elsewhere); len(files) != 0 {
		t.Errorf("the body spilled through the link: %v", files)
	}
}
