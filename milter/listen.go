package milter

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// Listen opens the milter socket. A unix socket replaces a stale socket
// file (never any other kind of file) and is made with mode 0660 and, if
// group is set, that group, so that the MTA's user can be let in by
// group. Listen sets the process's umask while it binds a unix socket:
// call it before other goroutines make files (serve listens at start,
// before it starts any; a reload does not listen again).
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
	return listenUnix(path, gid)
}

// backlog is the most connections waiting to be accepted that the
// socket asks for; the kernel caps it at net.core.somaxconn.
const backlog = 1<<16 - 1

// listenUnix makes a unix socket at path, its mode 0660 from the moment
// it is bound (umask 0117), never changed by name afterwards: a chmod of
// path would follow a link someone swapped in for the new socket. Its
// group becomes gid (lchown, which does not follow a link) before it
// listens: until then no one may connect.
func listenUnix(path string, gid int) (net.Listener, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // the listener has a copy
	old := syscall.Umask(0o117)
	err = syscall.Bind(fd, &syscall.SockaddrUnix{Name: path})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("cannot make the socket %s: %w", path, os.NewSyscallError("bind", err))
	}
	fail := func(err error) (net.Listener, error) {
		os.Remove(path)
		return nil, err
	}
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			return fail(fmt.Errorf("socket group: %w", err))
		}
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return fail(os.NewSyscallError("listen", err))
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return fail(err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(true) // as a listener net made itself
	return ul, nil
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
	return checkBind(address, func() (io.Closer, error) { return net.Listen(network, address) })
}

// CheckUDP is CheckTCP for a UDP address (a DNS server's).
func CheckUDP(address string) error {
	return checkBind(address, func() (io.Closer, error) { return net.ListenPacket("udp", address) })
}

// checkBind binds as listen does and lets go at once: an address in use
// is no problem of the configuration's (it may be our own running).
func checkBind(address string, listen func() (io.Closer, error)) error {
	c, err := listen()
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil
	case err != nil:
		return listenError(address, err)
	}
	return c.Close()
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
// make a unix socket at path: the directories on the way to it pass
// safefile.Way (no one else could swap the socket for a link, or for a
// socket of their own that the MTA would then talk to), its directory
// exists, and what is there already, if anything, is a socket (stale or
// in use: only Listen tells).
func CheckSocketPath(path string) error {
	if _, err := safefile.Way(path); err != nil {
		return err
	}
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
	dir := safefile.Parent(path)
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
