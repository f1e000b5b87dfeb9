package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// isDynamic reports whether a PTR name looks like one an access provider
// gives to a dial-up, DSL, cable or mobile customer rather than to a mail
// server: the numbers of the address inside the name (in either order,
// dashed, dotted, zero-padded or as hex), or a word such as dsl, pool or
// dhcp beside digits in the host part. It ports the idea of pymilter's
// dynip.py and adds IPv6.
func isDynamic(name string, ip netip.Addr) bool {
	host := strings.ToLower(strings.TrimSuffix(name, "."))
	ip = ip.Unmap()
	if ip.Is4() && hasIPv4(host, ip) {
		return true
	}
	if ip.Is6() && hasIPv6(host, ip) {
		return true
	}
	return hasAccessWord(host)
}

// hasIPv4 looks for the four octets a.b.c.d of ip in host.
func hasIPv4(host string, ip netip.Addr) bool {
	o := ip.As4()
	a, b, c, d := int(o[0]), int(o[1]), int(o[2]), int(o[3])
	if strings.Contains(host, ip.String()) {
		return true
	}
	nums := smallNumbers(host)
	n := len(nums)
	for i := 0; i+3 <= n; i++ {
		w := [3]int{nums[i], nums[i+1], nums[i+2]}
		if w == [3]int{a, b, c} || w == [3]int{b, c, d} || w == [3]int{d, c, b} || w == [3]int{c, b, a} {
			return true
		}
	}
	if n >= 3 && nums[0] == d && nums[1] == a && nums[2] == b {
		return true
	}
	digits := onlyDigits(host)
	for _, s := range []string{
		fmt.Sprintf("%d%d%d", a, b, c), fmt.Sprintf("%d%d%d", b, c, d),
		fmt.Sprintf("%03d%03d%03d", b, c, d), fmt.Sprintf("%03d%03d%03d", a, b, c),
	} {
		if len(s) >= 5 && strings.Contains(digits, s) {
			return true
		}
	}
	return strings.Contains(host, fmt.Sprintf("%02x%02x%02x%02x", a, b, c, d))
}

// separators drops what separates the digits of an address spelled in a
// name; built once, as a Replacer costs more to build than to use.
var separators = strings.NewReplacer(".", "", "-", "", ":", "")

// hasIPv6 looks for ip's interface identifier, or the whole address as
// hex digits, in host.
func hasIPv6(host string, ip netip.Addr) bool {
	b := ip.As16()
	hex := fmt.Sprintf("%x", b[:])
	flat := separators.Replace(host)
	if strings.Contains(flat, hex[16:]) { // 64 bits of interface id, spelled out
		return true
	}
	var groups [8]string
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	tokens := strings.FieldsFunc(host, func(r rune) bool { return r == '.' || r == '-' || r == '_' })
	for i := 0; i+3 <= len(tokens); i++ {
		for g := 4; g+3 <= 8; g++ { // three consecutive groups of the interface id
			if trimZeros(tokens[i]) == groups[g] && trimZeros(tokens[i+1]) == groups[g+1] && trimZeros(tokens[i+2]) == groups[g+2] {
				return true
			}
		}
	}
	return false
}

func trimZeros(s string) string {
	t := strings.TrimLeft(s, "0")
	if t == "" && s != "" {
		return "0"
	}
	return t
}

// accessWords name the kinds of address access providers hand out.
var accessWords = map[string]bool{
	"dyn": true, "dynamic": true, "dynip": true, "dhcp": true, "dial": true, "dialup": true,
	"dialin": true, "dsl": true, "adsl": true, "vdsl": true, "xdsl": true, "sdsl": true,
	"cable": true, "cbl": true, "catv": true, "ppp": true, "pppoe": true, "pool": true,
	"dip": true, "client": true, "clients": true, "cust": true, "customer": true,
	"user": true, "users": true, "subscriber": true, "broadband": true, "bb": true,
	"bras": true, "hsd": true, "hsi": true, "resnet": true, "residential": true,
	"home": true, "nat": true, "wifi": true, "wlan": true, "wireless": true, "mobile": true,
	"lte": true, "gprs": true, "umts": true, "cpe": true, "ftth": true, "fttc": true,
}

// hasAccessWord reports whether a host label (not the registered domain,
// so "mail.dsl-provider.example" is spared) holds an access word, and the
// host part holds digits.
func hasAccessWord(host string) bool {
	labels := strings.Split(host, ".")
	keep := len(labels) - registeredLabels(labels)
	if keep <= 0 {
		return false
	}
	word, digit := false, false
	for _, label := range labels[:keep] {
		for _, tok := range alnumRuns(label) {
			if tok[0] >= '0' && tok[0] <= '9' {
				digit = true
			} else if accessWords[tok] {
				word = true
			}
		}
	}
	return word && digit
}

// registeredLabels guesses how many trailing labels are the registered
// domain: two, or three under the usual second-level zones of
// two-letter country domains (example.co.uk).
func registeredLabels(labels []string) int {
	n := len(labels)
	if n >= 3 && len(labels[n-1]) == 2 {
		switch labels[n-2] {
		case "co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "gr":
			return 3
		}
	}
	return 2
}

// alnumRuns splits s into runs of letters and runs of digits.
func alnumRuns(s string) []string {
	var out []string
	start := -1
	kind := 0 // 1 letters, 2 digits
	for i := 0; i <= len(s); i++ {
		k := 0
		if i < len(s) {
			switch c := s[i]; {
			case c >= 'a' && c <= 'z':
				k = 1
			case c >= '0' && c <= '9':
				k = 2
			}
		}
		if k != kind {
			if kind != 0 {
				out = append(out, s[start:i])
			}
			start, kind = i, k
		}
	}
	return out
}

// smallNumbers returns the digit runs of s of at most three digits, as
// numbers up to 255.
func smallNumbers(s string) []int {
	var out []int
	for _, run := range alnumRuns(s) {
		if run[0] >= '0' && run[0] <= '9' && len(run) <= 3 {
			if v, _ := strconv.Atoi(run); v <= 255 {
				out = append(out, v)
			}
		}
	}
	return out
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
