package spf

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// expand expands the macros of a domain-spec (RFC 7208 §7) that
// checkSyntax has accepted, for the record of domain. A name longer than
// a domain name can be loses labels on the left until it fits (§7.3).
// Only the last bytes can be kept, so only those are: a record of
// many macros of a long local part costs no more than a short one, and
// each macro is worked out once.
func (ev *evaluation) expand(ctx context.Context, spec, domain string) string {
	if strings.IndexByte(spec, '%') < 0 {
		return spec
	}
	var out []byte
	var done map[string]string // macro bodies already expanded
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		if c != '%' || i+1 == len(spec) {
			out = appendTail(out, spec[i:i+1])
			continue
		}
		i++
		switch spec[i] {
		case '%':
			out = appendTail(out, "%")
		case '_':
			out = appendTail(out, " ")
		case '-':
			out = appendTail(out, "%20")
		case '{':
			end := strings.IndexByte(spec[i:], '}')
			if end < 0 { // checkSyntax refuses it; keep the text as it is
				out = appendTail(out, spec[i-1:])
				i = len(spec)
				continue
			}
			body := spec[i+1 : i+end]
			v, ok := done[body]
			if !ok {
				v = ev.macro(ctx, body, domain)
				if done == nil {
					done = map[string]string{}
				}
				done[body] = v
			}
			out = appendTail(out, v)
			i += end
		}
	}
	name := string(out)
	for len(strings.TrimSuffix(name, ".")) > 253 {
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			break
		}
		name = name[dot+1:]
	}
	if ev.trace != nil {
		ev.trace("  %s expands to %s", spec, name)
	}
	return name
}

// keptTail is more than can matter of an expansion: a name of 253 bytes,
// its trailing dot, and the dot before it.
const keptTail = 256

// appendTail appends s to out, keeping no more than the last keptTail
// bytes once out grows past twice that.
func appendTail(out []byte, s string) []byte {
	if len(s) >= keptTail {
		out = append(out[:0], s[len(s)-keptTail:]...)
		return out
	}
	out = append(out, s...)
	if len(out) > 2*keptTail {
		out = append(out[:0], out[len(out)-keptTail:]...)
	}
	return out
}

// macro expands the body of one %{...}: a letter, then transformers
// (a number of parts to keep, from the right; r to reverse) and
// delimiters (§7.1). An upper-case letter URL-escapes the result.
func (ev *evaluation) macro(ctx context.Context, body, domain string) string {
	letter := body[0]
	rest := body[1:]
	digits := 0
	for len(rest) > 0 && isDigit(rest[0]) {
		digits = digits*10 + int(rest[0]-'0')
		if digits > 128 { // more parts than any name has
			digits = 128
		}
		rest = rest[1:]
	}
	reverse := len(rest) > 0 && rest[0]|0x20 == 'r'
	if reverse {
		rest = rest[1:]
	}
	delims := rest
	if delims == "" {
		delims = "."
	}

	var s string
	local, senderDomain := splitSender(ev.sender)
	switch letter | 0x20 {
	case 's':
		s = ev.sender
	case 'l':
		s = local
	case 'o':
		s = senderDomain
	case 'd':
		s = domain
	case 'i':
		s = dottedIP(ev)
	case 'p':
		s = ev.validatedName(ctx, domain)
	case 'v':
		s = "ip6"
		if ev.client.Is4() {
			s = "in-addr"
		}
	case 'h':
		s = ev.helo
	}
	// No valid address or name is longer (RFC 5321 §4.5.3.1): a longer
	// one is cut, so that a client's 2 KB local part costs no more work
	// than one that could be real.
	if len(s) > maxMacroValue {
		s = s[len(s)-maxMacroValue:]
	}

	// §7.3: empty parts are kept, "a..b" stays "a..b".
	parts := splitAny(s, delims)
	if reverse {
		slices.Reverse(parts)
	}
	if digits > 0 && digits < len(parts) {
		parts = parts[len(parts)-digits:]
	}
	s = strings.Join(parts, ".")
	if letter >= 'A' && letter <= 'Z' {
		s = urlEscape(s)
	}
	return s
}

// maxMacroValue bounds the value a macro letter stands for: a reverse
// path is at most 256 octets.
const maxMacroValue = 256

// dottedIP is %{i}: an IPv4 address as it is written, an IPv6 address as
// its 32 nibbles separated by dots (§7.3).
func dottedIP(ev *evaluation) string {
	if ev.client.Is4() {
		return ev.client.String()
	}
	b := make([]byte, 0, 63)
	for _, x := range ev.client.As16() {
		b = strconv.AppendUint(b, uint64(x>>4), 16)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(x&0xf), 16)
		b = append(b, '.')
	}
	return string(b[:len(b)-1])
}

// validatedName is %{p} (§7.3): of the client's validated PTR names,
// domain itself, else a name below domain, else any; "unknown" when
// there is none.
func (ev *evaluation) validatedName(ctx context.Context, domain string) string {
	names, _ := ev.clientNames(ctx)
	for _, prefer := range []func(n string) bool{
		func(n string) bool {
			return asciiEqualFold(strings.TrimSuffix(n, "."), strings.TrimSuffix(domain, "."))
		},
		func(n string) bool { return isSubdomain(n, domain) },
		func(string) bool { return true },
	} {
		for _, n := range names {
			if prefer(n) && ev.confirms(ctx, n) {
				return strings.TrimSuffix(n, ".")
			}
		}
	}
	return "unknown"
}

// splitSender splits local@domain at its last '@'.
func splitSender(sender string) (local, domain string) {
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		return sender, ""
	}
	return sender[:at], sender[at+1:]
}

// urlEscape escapes every byte outside RFC 3986's unreserved characters.
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// splitAny splits s at every byte that is one of delims, keeping empty
// parts.
func splitAny(s, delims string) []string {
	var parts []string
	for {
		i := strings.IndexAny(s, delims)
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s = s[i+1:]
	}
}
