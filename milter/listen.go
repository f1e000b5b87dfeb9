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
		return ListenTCP(sock.Network, tcpAddress(sock))
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

// CheckListen tells, without keeping the socket, whether Listen could
// open sock: a unix socket's directory is there (CheckSocketPath); a TCP
// address is listened on and closed at once, so that an address this
// host does not have, or a port it may not take, is found as Listen
// would find it. A port in use passes: it may be the running daemon's
// (config check beside it, a reload); only starting tells.
func CheckListen(sock config.Socket) error {
	if sock.Network == "unix" {
		return CheckSocketPath(sock.Address)
	}
	return CheckTCP(sock.Network, tcpAddress(sock))
}

// ListenTCP listens on a TCP address of this host (the milter socket,
// the metrics), saying why it cannot.
func ListenTCP(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, listenError(address, err)
	}
	return ln, nil
}

// CheckTCP is CheckListen for a TCP address.
func CheckTCP(network, address string) error {
	ln, err := net.Listen(network, address)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil
	case err != nil:
		return listenError(address, err)
	}
	return ln.Close()
}

// tcpAddress is where a TCP socket listens: its address, with localhost
// as the loopback address. Nothing is looked up: the configuration
// refuses any other name (see config.Socket.CheckHost).
func tcpAddress(sock config.Socket) string {
	host, port, _ := net.SplitHostPort(sock.Address)
	if host != "localhost" {
		return sock.Address
	}
	if sock.Network == "tcp6" {
		return net.JoinHostPort("::1", port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// listenError says why address cannot be listened on, in words for the
// usual reasons.
func listenError(address string, err error) error {
	host, port, _ := net.SplitHostPort(address)
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("cannot listen on %s: %s is not an address of this host", address, host)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: port %s needs root, or the capability CAP_NET_BIND_SERVICE", address, port)
	}
	return fmt.Errorf("cannot listen on %s: %w", address, err)
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
