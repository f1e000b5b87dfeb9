package policy

import (
	"slices"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// Class is what maxwell knows about the client of a connection, as flags.
type Class uint8

// The classes. A connection without Internal is EXTERNAL.
const (
	Internal Class = 1 << iota // [milter] internal_connect, loopback, local, or SMTP AUTH
	Trusted                    // [milter] trusted_relay
	Dyn                        // no forward-confirmed PTR, or a PTR that looks dynamic
	Local                      // loopback or a local (non-TCP) connection
	Auth                       // authenticated with SMTP AUTH
)

// String renders the class as bms.py did: "INTERNAL" or "EXTERNAL", then
// the other flags.
func (c Class) String() string {
	parts := []string{"EXTERNAL"}
	if c&Internal != 0 {
		parts[0] = "INTERNAL"
	}
	for _, f := range []struct {
		bit  Class
		name string
	}{{Trusted, "TRUSTED"}, {Dyn, "DYN"}, {Local, "LOCAL"}, {Auth, "AUTH"}} {
		if c&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	return strings.Join(parts, " ")
}

// maxPTRNames bounds the forward lookups spent confirming PTR names, which
// the client's DNS controls.
const maxPTRNames = 3

// checkClassify classifies the client (INTERNAL, TRUSTED, DYN) and finds
// its forward-confirmed PTR name. It never refuses by itself, but a
// temporary DNS failure for an external client is answered 451, because a
// PTR check might have refused it.
func checkClassify(s *Session) (*Decision, error) {
	ip := s.Conn.IP
	cfg := &s.e.cfg.Milter
	// No address (a unix socket, sendmail -bs), loopback when loopback
	// counts as internal, and Postfix's non_smtpd_milters: mail submitted
	// with sendmail(1) comes as 127.0.0.1 port 0, which no TCP client has.
	if !ip.IsValid() || ip.IsLoopback() && (cfg.LoopbackInternal || s.Conn.Port == 0) {
		s.Class = Internal | Local
		s.logConnect(nil)
		return nil, nil
	}
	if config.MatchAny(cfg.InternalConnect, ip, "") {
		s.Class |= Internal
	}
	if config.MatchAny(cfg.TrustedRelay, ip, "") {
		s.Class |= Trusted
	}
	if err := s.lookupPTR(); err != nil {
		s.Class |= Dyn
		s.ptrErr = err
		s.logConnect(err)
		if s.Class&(Internal|Trusted) != 0 {
			return nil, nil // their PTR decides nothing
		}
		return nil, err
	}
	if s.PTR != "" {
		if config.MatchAny(cfg.InternalConnect, ip, s.PTR) {
			s.Class |= Internal
		}
		if config.MatchAny(cfg.TrustedRelay, ip, s.PTR) {
			s.Class |= Trusted
		}
	}
	if s.PTR == "" || isDynamic(s.PTR, ip) {
		s.Class |= Dyn
	}
	s.logConnect(nil)
	return nil, nil
}

// lookupPTR sets PTRNames and PTR, the first name whose addresses include
// the client's. When the MTA already looked the PTR up ({client_ptr}),
// its answer saves a query; the forward confirmation is always maxwell's.
func (s *Session) lookupPTR() error {
	names := mtaPTR(s.Conn.MTAPTR)
	if names == nil {
		var err error
		if names, err = s.e.resolver.PTR(s.ctx, s.Conn.IP); err != nil {
			return err
		}
	}
	s.PTRNames = names
	tried := 0
	for _, name := range names {
		if name == "" || strings.EqualFold(name, "localhost") {
			continue
		}
		if tried++; tried > maxPTRNames {
			break
		}
		addrs, err := s.e.resolver.Addrs(s.ctx, name)
		if err != nil {
			return err
		}
		if slices.Contains(addrs, s.Conn.IP.Unmap()) {
			s.PTR = name
			return nil
		}
	}
	return nil
}

// mtaPTR returns the PTR name in an MTA's {client_ptr} macro, or nil when
// there is none: empty, or what Postfix ("unknown") and Sendmail
// ("[192.0.2.1]") say when their lookup failed, which may have been a
// temporary failure that maxwell should see for itself.
func mtaPTR(macro string) []string {
	name := strings.TrimSpace(macro)
	if name == "" || strings.EqualFold(name, "unknown") || strings.HasPrefix(name, "[") {
		return nil
	}
	return []string{strings.TrimSuffix(name, ".")}
}

func (s *Session) logConnect(ptrErr error) {
	kv := make([]any, 0, 14) // every pair below: one allocation, not one per growth
	kv = append(kv, "ip", s.Conn.IP)
	if s.Conn.Port != 0 {
		kv = append(kv, "port", s.Conn.Port)
	}
	kv = append(kv, "host", s.Conn.Hostname)
	switch {
	case s.PTR != "":
		kv = append(kv, "ptr", s.PTR)
	case len(s.PTRNames) > 0:
		kv = append(kv, "ptr", s.PTRNames[0], "fcrdns", "fail")
	}
	if ptrErr != nil {
		kv = append(kv, "ptr_error", ptrErr)
	}
	kv = append(kv, "class", s.Class)
	if s.Conn.DaemonPort != "" {
		kv = append(kv, "daemon_port", s.Conn.DaemonPort)
	}
	s.log("connect", kv...)
	s.opened = true
}

// checkPTR refuses external clients whose PTR is "localhost" (on a
// non-loopback address) or the root ".", as bms.py did. Internal networks
// are spared: their sloppy reverse zones harm no one. The refusal is a
// reverse DNS validation that failed: 5.7.25 (RFC 7372).
func checkPTR(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 {
		return nil, nil
	}
	for _, name := range s.PTRNames {
		if name == "" || strings.EqualFold(name, "localhost") {
			shown := name
			if shown == "" {
				shown = "."
			}
			return delayable(reject(550, s.e.codes.reverseDNS, "PTR is "+shown,
				`"`+shown+`" is not a reasonable PTR name`)), nil
		}
	}
	return nil, nil
}
