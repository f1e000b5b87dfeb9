package policy

import (
	"bytes"
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

// hasIPv4 looks for the four octets a.b.c.d of ip in host. It runs for
// every connection, so it works in buffers on its stack: its garbage
// would stay resident with the idle sessions until a collection.
func hasIPv4(host string, ip netip.Addr) bool {
	o := ip.As4()
	a, b, c, d := int(o[0]), int(o[1]), int(o[2]), int(o[3])
	var buf [16]byte
	if strings.Contains(host, string(ip.AppendTo(buf[:0]))) {
		return true
	}
	var numBuf [16]int
	nums := smallNumbers(numBuf[:0], host)
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
	var digitBuf [256]byte
	digits := appendDigits(digitBuf[:0], host)
	var numeral [9]byte
	for _, w := range [4][4]int{{1, a, b, c}, {1, b, c, d}, {3, b, c, d}, {3, a, b, c}} {
		// a.b.c and b.c.d as %d%d%d, b.c.d and a.b.c as %03d%03d%03d
		s := appendOctet(appendOctet(appendOctet(numeral[:0], w[1], w[0]), w[2], w[0]), w[3], w[0])
		if len(s) >= 5 && bytes.Contains(digits, s) {
			return true
		}
	}
	var hex [8]byte // %02x%02x%02x%02x
	for i, v := range o {
		hex[2*i], hex[2*i+1] = hexDigits[v>>4], hexDigits[v&15]
	}
	return strings.Contains(host, string(hex[:]))
}

const hexDigits = "0123456789abcdef"

// appendOctet appends v in decimal, zero-padded to width (1 or 3).
func appendOctet(dst []byte, v, width int) []byte {
	if width == 3 && v < 100 {
		dst = append(dst, '0')
		if v < 10 {
			dst = append(dst, '0')
		}
	}
	return strconv.AppendInt(dst, int64(v), 10)
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
	var labelBuf [16]string
	labels := appendSplit(labelBuf[:0], host, '.')
	keep := len(labels) - registeredLabels(labels)
	if keep <= 0 {
		return false
	}
	word, digit := false, false
	var runBuf [32]string
	for _, label := range labels[:keep] {
		for _, tok := range alnumRuns(runBuf[:0], label) {
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

// appendSplit appends the pieces of s between the seps to dst, as
// strings.Split does.
func appendSplit(dst []string, s string, sep byte) []string {
	for {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return append(dst, s)
		}
		dst, s = append(dst, s[:i]), s[i+1:]
	}
}

// alnumRuns appends the runs of letters and the runs of digits of s to
// out.
func alnumRuns(out []string, s string) []string {
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

// smallNumbers appends the digit runs of s of at most three digits, as
// numbers up to 255, to out.
func smallNumbers(out []int, s string) []int {
	var runBuf [32]string
	for _, run := range alnumRuns(runBuf[:0], s) {
		if run[0] >= '0' && run[0] <= '9' && len(run) <= 3 {
			if v, _ := strconv.Atoi(run); v <= 255 {
				out = append(out, v)
			}
		}
	}
	return out
}

// appendDigits appends the digits of s to dst.
func appendDigits(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			dst = append(dst, c)
		}
	}
	return dst
}
