// Package spool holds a message body while it arrives: in memory up to a
// threshold, in a temporary file (mode 0600) beyond it, and nothing past
// a limit. It is read back with ReadAt, so that a scan may look at parts
// of it without loading it whole.
package spool

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// Spool is one body. The zero value is not usable; use New.
type Spool struct {
	dir       string
	threshold int64
	limit     int64
	mem       bytes.Buffer
	file      *os.File
	fw        *bufio.Writer // writes to file, flushed before reads
	size      int64         // bytes written and kept
	truncated bool          // more than limit bytes were offered
}

// New returns a spool that keeps up to threshold bytes in memory, spills
// to a file in dir beyond that, and keeps at most limit bytes.
func New(dir string, threshold, limit int64) *Spool {
	return &Spool{dir: dir, threshold: threshold, limit: limit}
}

// pooledMax is the largest memory a closed spool gives back for the next
// one: most bodies are small, and a big buffer kept idle would only pin
// memory.
const pooledMax = 64 << 10

// buffers holds the memory of closed spools: a busy server takes one
// body after another, and each would otherwise grow its own buffer from
// nothing.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// Write keeps p, up to the limit; what is past the limit is dropped and
// Truncated reports it. It fails only if the temporary file does.
func (s *Spool) Write(p []byte) (int, error) {
	n := len(p)
	if room := s.limit - s.size; int64(len(p)) > room {
		s.truncated = true
		p = p[:max(room, 0)]
	}
	if s.file == nil && s.size+int64(len(p)) > s.threshold {
		if err := safefile.MakeDir(s.dir); err != nil { // a real directory of maxwell's
			return 0, err
		}
		f, err := os.CreateTemp(s.dir, "body-*.tmp") // CreateTemp makes it 0600
		if err != nil {
			return 0, err
		}
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			os.Remove(f.Name())
			return 0, err
		}
		s.file, s.fw = f, bufio.NewWriterSize(f, 64<<10)
		s.release()
	}
	var err error
	if s.file != nil {
		_, err = s.fw.Write(p)
	} else {
		if s.mem.Cap() == 0 {
			s.mem = *bytes.NewBuffer((*buffers.Get().(*[]byte))[:0])
		}
		s.mem.Write(p)
	}
	if err != nil {
		return 0, err
	}
	s.size += int64(len(p))
	return n, nil
}

// release gives the memory back for the next spool, unless it is big.
func (s *Spool) release() {
	if c := s.mem.Cap(); c > 0 && c <= pooledMax {
		b := s.mem.Bytes()[:0]
		buffers.Put(&b)
	}
	s.mem = bytes.Buffer{}
}

// Size is the number of bytes kept.
func (s *Spool) Size() int64 { return s.size }

// Truncated reports whether more than the limit was written.
func (s *Spool) Truncated() bool { return s.truncated }

// OnDisk reports whether the body went to a file.
func (s *Spool) OnDisk() bool { return s.file != nil }

// ReadAt reads what was written, as an io.ReaderAt. Reads and writes
// must not overlap in time.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	if s.file != nil {
		if err := s.fw.Flush(); err != nil {
			return 0, err
		}
		return s.file.ReadAt(p, off)
	}
	return bytes.NewReader(s.mem.Bytes()).ReadAt(p, off)
}

// Reader reads the whole content from the start.
func (s *Spool) Reader() io.Reader { return io.NewSectionReader(s, 0, s.size) }

// Close removes the temporary file, if any, and forgets the content. The
// spool must not be read after Close: its memory goes to the next one.
func (s *Spool) Close() error {
	s.release()
	if s.file == nil {
		return nil
	}
	f := s.file
	s.file = nil
	return errors.Join(f.Close(), os.Remove(f.Name()))
}
