package watch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// maxLine bounds a line held in memory; the rest of a longer line is
// skipped (no MTA writes such lines, and none matter to the watcher).
const maxLine = 64 << 10

// Position is where a Tail is in its file: the file's identity and the
// offset just after the last whole line read.
type Position struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
}

// Tail reads the lines appended to a log file, following it when it is
// rotated (renamed, and a new file created at its path: the old one is
// read to its end first) or truncated (logrotate's copytruncate).
type Tail struct {
	path    string
	f       *os.File
	pos     Position
	partial []byte // the start of a line not yet ended
	skip    bool   // inside a line longer than maxLine
	buf     []byte
}

// NewTail returns a Tail of path that resumes at pos if the file there is
// still the one pos was taken in and is not shorter, and starts at the
// beginning otherwise. The file need not exist yet.
func NewTail(path string, pos Position) *Tail {
	return &Tail{path: path, pos: pos, buf: make([]byte, 32<<10)}
}

// Position returns where the next Read starts.
func (t *Tail) Position() Position { return t.pos }

// Close closes the file.
func (t *Tail) Close() error {
	if t.f == nil {
		return nil
	}
	return t.f.Close()
}

// Read calls fn for every whole line appended since the last Read, in
// order, without its line end. If fn fails, Read stops and returns the
// error, and the line is read again next time.
func (t *Tail) Read(fn func(line string) error) error {
	if t.f == nil {
		if err := t.open(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // not created yet: tried again next time
			}
			return err
		}
	}
	for {
		if err := t.drain(fn); err != nil {
			return err
		}
		st, err := os.Stat(t.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // rotated away and not created again yet
		}
		if err != nil {
			return err
		}
		dev, ino := identity(st)
		switch {
		case dev != t.pos.Dev || ino != t.pos.Ino: // rotated: the old file is read to its end
			t.f.Close()
			t.f, t.partial, t.skip = nil, nil, false
			t.pos = Position{}
			if err := t.open(); err != nil {
				return err
			}
		case st.Size() < t.pos.Offset: // truncated
			t.pos.Offset, t.partial, t.skip = 0, nil, false
		default:
			return nil
		}
	}
}

// open opens the file at path, at the saved offset if it is the same
// file. If the log was rotated since the position was saved, the old
// file is opened instead when it is still in the same directory under
// another name (maillog.1, maillog.20261129-…): its last lines are read
// first, then Read moves on to the new file.
func (t *Tail) open() error {
	f, err := os.Open(t.path)
	if err != nil {
		return fmt.Errorf("mta log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("mta log: %w", err)
	}
	dev, ino := identity(st)
	if (dev != t.pos.Dev || ino != t.pos.Ino) && t.pos.Ino != 0 {
		if old := t.rotated(); old != nil {
			f.Close()
			t.f = old
			return nil
		}
	}
	if dev != t.pos.Dev || ino != t.pos.Ino || st.Size() < t.pos.Offset {
		t.pos = Position{Dev: dev, Ino: ino}
	}
	t.f = f
	return nil
}

// rotated opens the file of the saved position under whatever name it
// has now in the log's directory, if it is there and not shorter.
func (t *Tail) rotated() *os.File {
	dir := filepath.Dir(t.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if dev, ino := identity(info); dev == t.pos.Dev && ino == t.pos.Ino && info.Size() >= t.pos.Offset {
			if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
				return f
			}
		}
	}
	return nil
}

// drain reads the open file to its end.
func (t *Tail) drain(fn func(string) error) error {
	for {
		n, err := t.f.ReadAt(t.buf, t.pos.Offset+int64(len(t.partial)))
		if err := t.lines(t.buf[:n], fn); err != nil {
			return err
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mta log: %w", err)
		}
	}
}

// lines hands the whole lines of data (after what partial holds) to fn.
func (t *Tail) lines(data []byte, fn func(string) error) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.keep(data)
			return nil
		}
		line := data[:i]
		if len(t.partial) > 0 {
			line = append(t.partial, line...)
		}
		if !t.skip && len(line) <= maxLine {
			if err := fn(string(bytes.TrimSuffix(line, []byte("\r")))); err != nil {
				return err
			}
		}
		t.pos.Offset += int64(len(line)) + 1
		t.partial, t.skip = t.partial[:0], false
		data = data[i+1:]
	}
	return nil
}

// keep holds the start of an unfinished line, up to maxLine; past it the
// line is skipped to its end.
func (t *Tail) keep(data []byte) {
	if t.skip || len(t.partial)+len(data) > maxLine {
		t.pos.Offset += int64(len(t.partial) + len(data))
		t.partial, t.skip = t.partial[:0], true
		return
	}
	t.partial = append(t.partial, data...)
}

func identity(st fs.FileInfo) (dev, ino uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), s.Ino
	}
	return 0, 0
}
