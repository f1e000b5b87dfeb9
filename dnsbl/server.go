package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/store"
)

// Server answers RFC 5782 queries for maxwell's own blacklist
// ([dnsbl_server]): a listed address has an A record 127.0.0.2 and a TXT
// record with its reason; any other name in the zone does not exist. It
// answers from a copy of the blacklist read from the store every
// Refresh, so that a flood of queries never reaches the database.
type Server struct {
	Zone    string        // the zone served, without the final dot
	TTL     time.Duration // of every answer, negative ones too
	Refresh time.Duration // how often the blacklist is read again
	Store   store.Store
	Now     func() time.Time
	Diag    *slog.Logger
	// Count, if set, is told of every query answered: "listed",
	// "unlisted", "apex" or "refused" (a name outside the zone).
	Count func(result string)

	listed atomic.Pointer[map[netip.Addr]string]
	udp    *dns.Server
	tcp    *dns.Server
	stop   chan struct{}
	done   sync.WaitGroup
}

// Start reads the blacklist, listens on addr (UDP and TCP, the same
// port) and serves until Close.
func (s *Server) Start(addr string) error {
	if err := s.load(context.Background()); err != nil {
		return fmt.Errorf("reading the blacklist: %w", err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return err
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", s.answer)
	s.udp = &dns.Server{PacketConn: pc, Handler: mux}
	s.tcp = &dns.Server{Listener: l, Handler: mux, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	s.stop = make(chan struct{})
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			if err := srv.ActivateAndServe(); err != nil && s.Diag != nil {
				s.Diag.Error("DNS blocklist server stopped", "error", err)
			}
		}()
		<-started
	}
	s.done.Add(1)
	go s.refresh()
	return nil
}

// Addr is the address served (UDP and TCP).
func (s *Server) Addr() string { return s.udp.PacketConn.LocalAddr().String() }

// Close stops serving.
func (s *Server) Close() error {
	close(s.stop)
	err := errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	s.done.Wait()
	return err
}

// refresh reads the blacklist again every Refresh. A store that cannot
// be read leaves the last copy in service.
func (s *Server) refresh() {
	defer s.done.Done()
	t := time.NewTicker(s.Refresh)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.load(context.Background()); err != nil && s.Diag != nil {
				s.Diag.Warn("DNS blocklist server: cannot read the blacklist, serving the last copy", "error", err)
			}
		}
	}
}

// load reads the bans in force into the copy served.
func (s *Server) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bans, err := s.Store.Bans(ctx, "", s.Now())
	if err != nil {
		return err
	}
	m := map[netip.Addr]string{}
	for _, e := range Entries(bans) {
		m[e.IP] = e.Reason
	}
	s.listed.Store(&m)
	return nil
}

// Lookup is what the server answers for an address: listed, and why.
func (s *Server) Lookup(ip netip.Addr) (reason string, listed bool) {
	reason, listed = (*s.listed.Load())[ip]
	return reason, listed
}

// answer answers one query.
func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	result := s.fill(m, req)
	if s.Count != nil {
		s.Count(result)
	}
	w.WriteMsg(m)
}

// fill writes the answer to req into m and says what it was.
func (s *Server) fill(m *dns.Msg, req *dns.Msg) string {
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		m.Rcode = dns.RcodeNotImplemented
		return "refused"
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	ttl := uint32(s.TTL / time.Second)
	if name == s.Zone {
		if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
			m.Answer = append(m.Answer, s.soa())
		} else {
			m.Ns = append(m.Ns, s.soa())
		}
		return "apex"
	}
	labels, ok := strings.CutSuffix(name, "."+s.Zone)
	if !ok {
		m.Rcode = dns.RcodeRefused
		m.Authoritative = false
		return "refused"
	}
	ip, ok := ParseReverse(labels)
	reason, listed := "", false
	if ok {
		reason, listed = s.Lookup(ip)
	}
	if !listed {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, s.soa())
		return "unlisted"
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(127, 0, 0, 2)})
	}
	if (q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY) && reason != "" {
		m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{reason}})
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa()) // the name exists, not with that type
	}
	return "listed"
}

// soa is the zone's SOA record, whose minimum is the negative TTL (RFC
// 2308): how long other sites remember that an address is not listed.
func (s *Server) soa() dns.RR {
	ttl := uint32(s.TTL / time.Second)
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: s.Zone + ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  s.Zone + ".", Mbox: "hostmaster." + s.Zone + ".",
		Serial: uint32(s.Now().Unix()), Refresh: ttl, Retry: ttl, Expire: 7 * 24 * 3600, Minttl: ttl,
	}
}
