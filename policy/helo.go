package policy

import (
	"net/netip"
	"strings"
)

// checkHeloNumeric refuses an IP address, bare or as an address literal,
// as HELO name from external clients. bms.py spared internal clients
// because some copier and fax firmware says HELO with its address.
func checkHeloNumeric(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 || !isAddressHelo(s.Helo) {
		return nil, nil
	}
	return reject(550, "5.7.1", "numeric hello name: "+s.Helo, "hello name cannot be numeric ip"), nil
}

// isAddressHelo reports whether name is an IP address or an RFC 5321
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func isAddressHelo(name string) bool {
	n := strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if len(n) >= 5 && strings.EqualFold(n[:5], "ipv6:") {
		n = n[5:]
	}
	_, err := netip.ParseAddr(n)
	return err == nil
}

// checkHeloBlacklist refuses external clients that claim one of our own
// names ([milter] hello_blacklist): "Your mail server lies".
func checkHeloBlacklist(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 {
		return nil, nil
	}
	helo := strings.TrimSuffix(s.Helo, ".")
	for _, name := range s.e.cfg.Milter.HelloBlacklist {
		if strings.EqualFold(helo, strings.TrimSuffix(name, ".")) {
			s.offence(demeritHeloBlacklist, "HELO "+s.Helo)
			return reject(550, "5.7.1", "spam from self: "+s.Helo,
				"Your mail server lies.  Its name is *not* "+s.Helo+"."), nil
		}
	}
	return nil, nil
}
