package logindex

import (
	"bytes"
	"io"
	"os"
	"syscall"
)

// headLen is how much of the log's beginning identifies it besides its
// inode: logrotate may give a new log the inode of one it removed, and
// the first line's time stamp tells them apart.
const headLen = 128

// fileID is what tells whether the log is the file the index was made
// of: a rotated log is another inode, a truncated (copytruncate) one is
// shorter than the offset reached or begins otherwise.
type fileID struct {
	dev, ino uint64
	size     int64
	head     []byte
}

func identify(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	id := fileID{size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino)
	}
	head := make([]byte, headLen)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return fileID{}, err
	}
	id.head = head[:n]
	return id, nil
}

// same tells whether the file now is the one the index knew, of which
// off bytes were indexed, head its first bytes then.
func (id fileID) same(dev, ino uint64, head []byte, off int64) bool {
	if id.dev != dev || id.ino != ino || id.size < off {
		return false
	}
	// The head read then may be shorter than now (a log younger than
	// headLen bytes): what there was must still be there.
	return len(id.head) >= len(head) && bytes.Equal(id.head[:len(head)], head)
}
