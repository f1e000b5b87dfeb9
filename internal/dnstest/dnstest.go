// Package dnstest runs an in-process DNS server on 127.0.0.1 that serves
// the zone data a test gives it, and misbehaves on request (SERVFAIL,
// silence, truncation), so that nothing in the tests asks the internet.
package dnstest

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
)

// Failure is a way for a name to misbehave.
type Failure int

// The failures a test can ask for.
const (
	ServFail Failure = iota + 1 // answer SERVFAIL
	Silent                      // never answer
	Truncate                    // answer over UDP with TC set and no records; TCP works
	WrongID                     // answer with another message ID (a spoofing attempt, or a confused server)
)

// Server is a DNS server on 127.0.0.1, UDP and TCP on the same port.
type Server struct {
	Addr string // host:port

	udp, tcp *dns.Server
	queries  atomic.Int64

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case owner name
	fail    map[string]Failure
	partial map[string]bool // fail only questions for types the name has no record of
	asked   map[string]int  // questions by name
}

// Start starts a server that serves records, given in zone-file syntax
// ("host.example. 300 IN A 192.0.2.1"; class and TTL may be left out).
func Start(records ...string) (*Server, error) {
	s := &Server{records: map[string][]dns.RR{}, fail: map[string]Failure{}, partial: map[string]bool{}, asked: map[string]int{}}
	if err := s.Add(records...); err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 20; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil { // the TCP port is taken; pick another
			pc.Close()
			lastErr = err
			continue
		}
		s.Addr = pc.LocalAddr().String()
		s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve(true))}
		s.tcp = &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve(false))}
		started := make(chan struct{}, 2)
		s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
		s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
		go s.udp.ActivateAndServe()
		go s.tcp.ActivateAndServe()
		<-started
		<-started
		return s, nil
	}
	return nil, fmt.Errorf("dnstest: no free port: %v", lastErr)
}

// Close stops the server.
func (s *Server) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// Add adds records.
func (s *Server) Add(records ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("dnstest: record %q: %v", r, err)
		}
		if rr == nil {
			continue
		}
		s.add(rr)
	}
	return nil
}

// AddRR adds records built by the caller, for data that zone-file syntax
// cannot carry (such as the odd names and texts of the RFC 7208 suite).
func (s *Server) AddRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		s.add(rr)
	}
}

func (s *Server) add(rr dns.RR) {
	name := dnsname.Canonical(rr.Header().Name)
	s.records[name] = append(s.records[name], rr)
}

// Fail makes every question about name misbehave as f.
func (s *Server) Fail(name string, f Failure) {
	s.mu.Lock()
	s.fail[dnsname.Canonical(name)] = f
	delete(s.partial, dnsname.Canonical(name))
	s.mu.Unlock()
}

// FailUnlisted makes the questions about name for a type it has no
// record of misbehave as f, as some broken servers do for types they do
// not know; the others are answered.
func (s *Server) FailUnlisted(name string, f Failure) {
	s.mu.Lock()
	s.fail[dnsname.Canonical(name)] = f
	s.partial[dnsname.Canonical(name)] = true
	s.mu.Unlock()
}

// Queries returns how many questions the server has received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// QueriesFor returns how many questions about name the server has
// received.
func (s *Server) QueriesFor(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[dnsname.Canonical(name)]
}

func (s *Server) serve(udp bool) func(dns.ResponseWriter, *dns.Msg) {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		s.queries.Add(1)
		if len(req.Question) != 1 {
			return
		}
		q := req.Question[0]
		name := dnsname.Canonical(q.Name)
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true

		s.mu.Lock()
		failure := s.fail[name]
		if s.partial[name] && s.has(name, q.Qtype) {
			failure = 0
		}
		s.asked[name]++
		s.mu.Unlock()

		switch failure {
		case Silent:
			return
		case ServFail:
			m.Rcode = dns.RcodeServerFailure
			_ = w.WriteMsg(m)
			return
		case WrongID:
			m.Id++
			_ = w.WriteMsg(m)
			return
		case Truncate:
			if udp {
				m.Truncated = true
				_ = w.WriteMsg(m)
				return
			}
		}
		answer, ok := s.resolve(name, q.Qtype)
		switch {
		case !ok:
			m.Rcode = dns.RcodeServerFailure // a CNAME loop, as a recursive server reports it
		case answer == nil:
			m.Rcode = dns.RcodeNameError
		default:
			m.Answer = answer
		}
		_ = w.WriteMsg(m)
	}
}

// has reports whether name has a record of type qtype. The caller holds
// s.mu.
func (s *Server) has(name string, qtype uint16) bool {
	for _, rr := range s.records[name] {
		if rr.Header().Rrtype == qtype {
			return true
		}
	}
	return false
}

// resolve answers like a recursive server: CNAMEs are followed (at most 8
// of them; more is a loop and fails). A nil answer means no such name; an
// empty one, no record of that type.
func (s *Server) resolve(name string, qtype uint16) ([]dns.RR, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	answer := []dns.RR{}
	for hop := 0; hop < 8; hop++ {
		rrs, exists := s.records[name]
		if !exists {
			if hop == 0 {
				return nil, true
			}
			return answer, true
		}
		next := ""
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == qtype:
				answer = append(answer, rr)
			case rr.Header().Rrtype == dns.TypeCNAME && qtype != dns.TypeCNAME:
				answer = append(answer, rr)
				next = dnsname.Canonical(rr.(*dns.CNAME).Target)
			}
		}
		if next == "" {
			return answer, true
		}
		name = next
	}
	return nil, false
}
