// Package dnsname puts domain names in the one text form that maxwell's
// resolver and its test DNS server both use, so that questions and answers
// about odd names (spaces, '%', bytes outside ASCII) match.
package dnsname

import (
	"strings"

	"github.com/miekg/dns"
)

// Canonical is name as maxwell asks for it and as answers carry it:
// lower case, fully qualified, in miekg/dns's text form, where bytes
// other than letters, digits, '-', '_' and '.' are escaped ("a b" is
// "a\ b"), so that answers for odd names match their questions.
func Canonical(name string) string {
	name = dns.Fqdn(strings.ToLower(name))
	if !needsEscape(name) {
		return name
	}
	var wire [256]byte
	n, err := dns.PackDomainName(name, wire[:], 0, nil, false)
	if err != nil {
		return name
	}
	text, _, err := dns.UnpackDomainName(wire[:n], 0)
	if err != nil {
		return name
	}
	return text
}

func needsEscape(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return true
		}
	}
	return false
}

// Valid reports whether s is a plausible host or domain name: labels of
// letters, digits, '-' and '_' (no '-' at either end), a final dot
// allowed.
func Valid(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i] | 0x20
			if !(c >= 'a' && c <= 'z' || label[i] >= '0' && label[i] <= '9' || label[i] == '-' || label[i] == '_') {
				return false
			}
		}
	}
	return true
}
