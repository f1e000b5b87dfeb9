package milter

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// Listen opens the milter socket. A unix socket replaces a stale socket
// file (never any other kind of file) and gets mode 0660 and, if group is
// set, that group, so that the MTA's user can be let in by group.
func Listen(sock config.Socket, group string) (net.Listener, error) {
	if sock.Network != "unix" {
		return net.Listen(sock.Network, sock.Address)
	}
	path := sock.Address
	if err := CheckSocketPath(path); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil { // a socket: in use, or stale
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	gid, err := SocketGroup(group)
	if err != nil {
		return nil, err
	}
	// Create the socket without group or world access, then open it to
	// the group: no moment where anyone else may connect.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("socket group: %w", err)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// CheckSocketPath tells, without touching anything, whether Listen could
// make a unix socket at path: its directory exists, and what is there
// already, if anything, is a socket (stale or in use: only Listen tells).
func CheckSocketPath(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("%s exists and is not a socket; not removing it", path)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	if di, err := os.Stat(dir); err != nil || !di.IsDir() {
		return fmt.Errorf("%s does not exist or is not a directory: create it, or give a socket path in one that does", dir)
	}
	return nil
}

// SocketGroup is the id of the socket's group, -1 for none.
func SocketGroup(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("unknown group %q", group)
	}
	return strconv.Atoi(g.Gid)
}
