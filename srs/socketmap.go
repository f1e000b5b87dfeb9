package srs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxwell-milter/maxwell/internal/netaccept"
	"github.com/maxwell-milter/maxwell/internal/ratelog"
)

// The socket map protocol (Sendmail's socketmap, which Postfix's
// socketmap: tables speak too): the MTA sends netstrings
// "LEN:MAPNAME KEY," and reads "LEN:OK VALUE,", "LEN:NOTFOUND ,",
// "LEN:TEMP reason," or "LEN:PERM reason,".
//
// The maps:
//
//	forward      Postfix's sender_canonical_maps: a sender of another
//	             domain forwarded into fwdomain (Site.Forward); NOTFOUND
//	             when unchanged. Our own senders are signed by the
//	             milter, which knows the client and the recipients.
//	reverse      Postfix's recipient_canonical_maps: what an SRS, SES
//	             or RRS address of ours (in a protected domain) stands
//	             for; NOTFOUND for any other.
//	make_srs     pysrs.m4's maps for Sendmail (HACK(pysrs)), answered
//	reverse_srs  as pysrs's daemon answers them (reverse_srs: NOTFOUND
//	             where it answered OK with the key unchanged).
const (
	// MaxRequest bounds a request; an address is at most 320 octets.
	MaxRequest = 4096
	// MaxConns bounds the connections open at once: Postfix opens one
	// per process that asks (smtpd, cleanup), and closes it after 5
	// idle seconds (ipc_idle). One past the bound is closed at once.
	MaxConns = 512
	// idleTimeout closes a connection that asks nothing for so long.
	idleTimeout = 2 * time.Minute
)

// MapServer answers socket map requests for a Site.
type MapServer struct {
	site atomic.Pointer[Site]
	logf func(mapName, key, answer string, err error)
	// warnings go to the diagnostic log at most once a minute each: a
	// peer could cause one per connection.
	badRequests, refused, failures *ratelog.Log

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewMapServer returns a socket map server for site. logf, if not nil,
// is told of each answer that rewrote an address, refused one that
// looked signed (with why) or refused the request (PERM): the map, the
// key, the answer, why.
func NewMapServer(site *Site, logf func(mapName, key, answer string, err error), diag *slog.Logger) *MapServer {
	logger := func() *slog.Logger { return diag }
	m := &MapServer{logf: logf, conns: map[net.Conn]bool{},
		badRequests: ratelog.New("srs socket map: bad request, connection closed", logger),
		refused:     ratelog.New("srs socket map: too many connections, one closed", logger),
		failures:    ratelog.New("srs socket map: cannot accept a connection; trying again", logger),
	}
	m.site.Store(site)
	return m
}

// SetSite makes the requests from now on use site (a configuration
// reload: a new secret, new domains). nil answers every request PERM.
func (m *MapServer) SetSite(site *Site) { m.site.Store(site) }

// Serve answers the connections ln accepts until Close. It waits out
// temporary accept errors (out of file descriptors), and keeps at most
// MaxConns connections.
func (m *MapServer) Serve(ln net.Listener) error {
	m.mu.Lock()
	m.ln = ln
	m.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				return nil
			case !netaccept.Temporary(err):
				return err
			}
			delay = netaccept.Backoff(delay)
			m.failures.Warn("srs socket map: cannot accept a connection; trying again", "error", err, "retry_in", delay.String())
			time.Sleep(delay)
			continue
		}
		delay = 0
		m.mu.Lock()
		full := len(m.conns) >= MaxConns
		if !full {
			m.conns[c] = true
			m.wg.Add(1)
		}
		m.mu.Unlock()
		if full {
			m.refused.Warn("srs socket map: too many connections, one closed", "max", MaxConns, "remote", c.RemoteAddr())
			c.Close()
			continue
		}
		go m.serveConn(c)
	}
}

// Close stops accepting, ends the open connections and waits for them.
func (m *MapServer) Close() error {
	m.mu.Lock()
	var err error
	if m.ln != nil {
		err = m.ln.Close()
	}
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return err
}

func (m *MapServer) serveConn(c net.Conn) {
	defer func() {
		if r := recover(); r != nil {
			m.badRequests.Warn("srs socket map: panic, connection closed", "error", r)
		}
		c.Close()
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
		m.wg.Done()
	}()
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		req, err := readNetstring(r, MaxRequest)
		if err != nil {
			var ne net.Error
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !(errors.As(err, &ne) && ne.Timeout()) {
				m.badRequests.Warn("srs socket map: bad request, connection closed", "error", err)
			}
			return
		}
		mapName, key, _ := strings.Cut(req, " ")
		r := m.Answer(mapName, key)
		if m.logf != nil && r.logged() {
			m.logf(mapName, key, r.Answer, r.Why)
		}
		answer := r.Answer
		c.SetWriteDeadline(time.Now().Add(idleTimeout))
		if _, err := io.WriteString(c, strconv.Itoa(len(answer))+":"+answer+","); err != nil {
			return
		}
	}
}

// readNetstring reads "LEN:DATA," of at most max bytes of data.
func readNetstring(r *bufio.Reader, max int) (string, error) {
	n := 0
	for digits := 0; ; digits++ {
		b, err := r.ReadByte()
		if err != nil {
			if digits > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if b == ':' && digits > 0 {
			break
		}
		if b < '0' || b > '9' || digits >= 7 {
			return "", fmt.Errorf("not a netstring length (byte %q)", b)
		}
		n = n*10 + int(b-'0')
	}
	if n > max {
		return "", fmt.Errorf("request of %d bytes, more than %d", n, max)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", io.ErrUnexpectedEOF
	}
	if buf[n] != ',' {
		return "", errors.New("netstring not ended by a comma")
	}
	return string(buf[:n]), nil
}

// notFound is the answer for a key the map leaves as it is.
const notFound = "NOTFOUND "

// Reply is the answer to one request, and what the mail log is told of
// it.
type Reply struct {
	Answer  string // as sent, without the netstring
	Changed bool   // an address was rewritten
	Why     error  // why an address that looked signed was left as it is
}

// logged reports whether the mail log gets a line for r: a plain
// NOTFOUND, or an address handed back as it came (make_srs), is the
// most frequent answer and says nothing.
func (r Reply) logged() bool {
	return r.Changed || r.Why != nil || strings.HasPrefix(r.Answer, "PERM")
}

// Answer replies to one request of map mapName for key.
func (m *MapServer) Answer(mapName, key string) Reply {
	site := m.site.Load()
	if site == nil {
		return Reply{Answer: "PERM SRS is off: [srs] secret is not set"}
	}
	switch mapName {
	case "forward":
		// An error is a sender no SRS address can hold (root@localhost):
		// left as it is, as any other.
		out, how, err := site.Forward(key)
		if err != nil || how == Unchanged {
			return Reply{Answer: notFound}
		}
		return Reply{Answer: "OK " + out, Changed: true}
	case "reverse":
		return reverseReply(site, key)
	case "make_srs", "make-srs":
		return makeSRS(site, key)
	case "reverse_srs", "reverse-srs":
		// NOTFOUND where pysrs answered OK with the key: Sendmail then
		// keeps the address in its own case (it asks in lower case).
		r := reverseReply(site, sendmailAddr(key))
		if r.Changed {
			r.Answer = "OK " + toSendmail(strings.TrimPrefix(r.Answer, "OK "))
		}
		return r
	}
	return Reply{Answer: "PERM unknown map " + strconv.Quote(mapName)}
}

// reverseReply answers with what an address of ours, in a protected
// domain, stands for; NOTFOUND for any other, with why when it looked
// signed.
func reverseReply(site *Site, addr string) Reply {
	if at := strings.LastIndexByte(addr, '@'); at < 0 || !site.Protected(addr[at+1:]) {
		return Reply{Answer: notFound}
	}
	out, err := site.Reverse(addr)
	if err != nil {
		if k, _ := KindOf(err); k == NotSRS {
			err = nil
		}
		return Reply{Answer: notFound, Why: err}
	}
	return Reply{Answer: "OK " + out, Changed: true}
}

// sendmailAddr is an address as Sendmail's rules hold it,
// "user<@domain.>", made plain: angle brackets and a trailing dot off.
func sendmailAddr(a string) string {
	return strings.TrimSuffix(strings.NewReplacer("<", "", ">", "").Replace(a), ".")
}

// toSendmail writes an address the way pysrs hands it back to the
// rules: "user<@domain.>".
func toSendmail(a string) string { return strings.Replace(a, "@", "<@", 1) + ".>" }

// makeSRS is pysrs's _handle_make_srs: the key is "HOST\x9bADDRESS"
// (the mailer's host and the sender, as HACK(pysrs) passes them) or the
// sender alone; the answer is the sender to use, in Sendmail's form, the
// sender as it came if none (NOTFOUND would leave HACK(pysrs)'s rules
// with the host and the operator between in the sender).
func makeSRS(site *Site, key string) Reply {
	sender, host := key, "x"
	if h, a, ok := strings.Cut(key, "\x9b"); ok {
		host, sender = h, a
	}
	if sender == "<@>" || host == "" || slices.Contains(site.NoSRS, strings.ToLower(host)) {
		return Reply{Answer: "OK " + sender}
	}
	out, how, err := site.Outgoing(sendmailAddr(sender))
	if err != nil || how == Unchanged {
		return Reply{Answer: "OK " + sender}
	}
	return Reply{Answer: "OK " + toSendmail(out), Changed: true}
}
