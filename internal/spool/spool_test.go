package spool

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestSpool(t *testing.T) {
	tests := []struct {
		name             string
		threshold, limit int64
		chunks           []string
		disk, truncated  bool
		want             string
	}{
		{"small stays in memory", 10, 100, []string{"abc", "def"}, false, false, "abcdef"},
		{"past the threshold goes to a file", 4, 100, []string{"abc", "def", "ghi"}, true, false, "abcdefghi"},
		{"past the limit is dropped", 4, 7, []string{"abc", "def", "ghi"}, true, true, "abcdefg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := New(dir, tt.threshold, tt.limit)
			for _, c := range tt.chunks {
				if n, err := s.Write([]byte(c)); err != nil || n != len(c) {
					t.Fatalf("Write(%q) = %d, %v", c, n, err)
				}
			}
			if s.OnDisk() != tt.disk || s.Truncated() != tt.truncated || s.Size() != int64(len(tt.want)) {
				t.Errorf("disk %v truncated %v size %d; want %v %v %d", s.OnDisk(), s.Truncated(), s.Size(), tt.disk, tt.truncated, len(tt.want))
			}
			got, _ := io.ReadAll(s.Reader())
			if string(got) != tt.want {
				t.Errorf("content %q, want %q", got, tt.want)
			}
			part := make([]byte, 3)
			if n, _ := s.ReadAt(part, 2); n != 3 || !bytes.Equal(part, []byte(tt.want[2:5])) {
				t.Errorf("ReadAt(2) = %q", part[:n])
			}
			files, _ := os.ReadDir(dir)
			if len(files) != map[bool]int{true: 1, false: 0}[tt.disk] {
				t.Errorf("%d files in the spool directory", len(files))
			}
			for _, f := range files {
				if fi, _ := f.Info(); fi.Mode().Perm() != 0o600 || !strings.HasPrefix(f.Name(), "body-") {
					t.Errorf("spool file %s mode %v, want 0600", f.Name(), fi.Mode().Perm())
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if files, _ := os.ReadDir(dir); len(files) != 0 {
				t.Errorf("Close left %d files", len(files))
			}
		})
	}
}

// A closed spool's memory serves the next one: the next body reads as
// itself, nothing of the one before.
func TestMemoryReusedClean(t *testing.T) {
	dir := t.TempDir()
	for i, body := range []string{"a first body, longer than the next ones\r\n", "second\r\n", "", "4th\r\n"} {
		s := New(dir, 1<<20, 1<<20)
		if _, err := s.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(s.Reader())
		if err != nil || string(got) != body {
			t.Errorf("body %d reads %q (%v), want %q", i, got, err, body)
		}
		s.Close()
	}
}
