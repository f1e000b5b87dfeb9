package maillog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A link planted where the mail log is to be (at start, or after
// logrotate moved the file away) is not followed: Open and Reopen refuse
// it, the target is left alone, and Reopen keeps the old file.
func TestPlantedLinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	path := filepath.Join(dir, "mail.log")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(path, 0, 0); err == nil {
		l.Log(1, "connect")
		l.Close()
		t.Error("Open followed the link")
	} else if !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("Open: %v", err)
	}
	if err := Check(path); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("Check: %v", err)
	}

	os.Remove(path)
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Rename(path, path+".1")
	os.Symlink(victim, path)
	if err := l.Reopen(); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("Reopen: %v", err)
	}
	l.Log(1, "connect")
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if b, _ := os.ReadFile(path + ".1"); !strings.Contains(string(b), "event=connect") {
		t.Errorf("the old file, kept, lacks the line: %q", b)
	}
}
