// Package netaccept says which errors of accept(2) a server should wait
// out rather than stop for: the milter's listener and the SRS socket map
// share it.
package netaccept

import (
	"errors"
	"syscall"
	"time"
)

// Temporary reports whether an accept error is worth trying again: the
// process or system is out of file descriptors or memory, or the
// connection failed before it was accepted (accept(2) passes on pending
// network errors, which its manual says to treat as EAGAIN).
func Temporary(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN, syscall.EPERM,
		syscall.ENETDOWN, syscall.EPROTO, syscall.ENOPROTOOPT, syscall.EHOSTDOWN,
		syscall.ENONET, syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETUNREACH:
		return true
	}
	return false
}

// Backoff is the wait before the next try after a temporary error, given
// the last one (0 at first): as net/http, 5ms, doubling, at most 1s.
func Backoff(last time.Duration) time.Duration {
	return min(max(2*last, 5*time.Millisecond), time.Second)
}
