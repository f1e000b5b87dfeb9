package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// checkSyntax returns the first syntax error of an SPF record, by the
// grammar of RFC 7208 §12, or nil. A record with an error anywhere gives
// permerror before any of it is evaluated (§4.6), even when a term
// before the error would have matched.
func checkSyntax(record string) error {
	for i := 0; i < len(record); i++ {
		if c := record[i]; c < ' ' || c > '~' {
			return fmt.Errorf("character %q at offset %d is not allowed in a record", c, i)
		}
	}
	terms := strings.Split(record, " ")
	if !strings.EqualFold(terms[0], "v=spf1") {
		return fmt.Errorf("%q is not the version v=spf1", terms[0])
	}
	seen := map[string]bool{}
	for _, term := range terms[1:] {
		if term == "" {
			continue
		}
		if err := checkTerm(term, seen); err != nil {
			return fmt.Errorf("%q: %w", term, err)
		}
	}
	return nil
}

func checkTerm(term string, seen map[string]bool) error {
	if name, value, ok := modifier(term); ok {
		switch name = strings.ToLower(name); name {
		case "redirect", "exp":
			if seen[name] {
				return fmt.Errorf("%s= given twice", name)
			}
			seen[name] = true
			return checkDomainSpec(value)
		}
		_, err := checkMacroString(value, true)
		return err
	}
	if strings.ContainsRune("+-~?", rune(term[0])) {
		term = term[1:]
	}
	name, arg := term, ""
	if i := strings.IndexAny(term, ":/"); i >= 0 {
		name, arg = term[:i], term[i:]
	}
	switch strings.ToLower(name) {
	case "all":
		if arg != "" {
			return errors.New("all takes no argument")
		}
		return nil
	case "include", "exists":
		if !strings.HasPrefix(arg, ":") {
			return fmt.Errorf("%s needs :domain", name)
		}
		return checkDomainSpec(arg[1:])
	case "a", "mx":
		arg, err := cutDualCIDR(arg)
		if err != nil || arg == "" {
			return err
		}
		if !strings.HasPrefix(arg, ":") {
			return fmt.Errorf("unexpected %q", arg)
		}
		return checkDomainSpec(arg[1:])
	case "ptr":
		if arg == "" {
			return nil
		}
		if !strings.HasPrefix(arg, ":") {
			return fmt.Errorf("unexpected %q", arg)
		}
		return checkDomainSpec(arg[1:])
	case "ip4", "ip6":
		if !strings.HasPrefix(arg, ":") {
			return fmt.Errorf("%s needs :address", name)
		}
		return checkNetwork(strings.ToLower(name) == "ip6", arg[1:])
	}
	return fmt.Errorf("unknown mechanism %q", name)
}

// modifier splits a modifier, name=value, where name is a letter then
// letters, digits, '.', '-' or '_'.
func modifier(term string) (name, value string, ok bool) {
	for i := 0; i < len(term); i++ {
		c := term[i]
		switch {
		case isLetter(c), i > 0 && (isDigit(c) || c == '.' || c == '-' || c == '_'):
		case c == '=' && i > 0:
			return term[:i], term[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// isMacroBody reports whether the inside of %{...} is a letter, digits,
// an optional 'r' and delimiters.
func isMacroBody(b string) bool {
	if b == "" || !isLetter(b[0]) {
		return false
	}
	i := 1
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i > 1 && strings.Trim(b[1:i], "0") == "" {
		return false // §7.3: a number of parts must be nonzero
	}
	if i < len(b) && b[i]|0x20 == 'r' {
		i++
	}
	return strings.Trim(b[i:], "-.+,/_=") == ""
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// cutDualCIDR removes and checks the "/n" and "//n" of a or mx.
func cutDualCIDR(arg string) (string, error) {
	if i := strings.LastIndex(arg, "//"); i >= 0 && isDigits(arg[i+2:]) {
		if err := checkCIDR(arg[i+2:], 128); err != nil {
			return "", err
		}
		arg = arg[:i]
	}
	if i := strings.LastIndexByte(arg, '/'); i >= 0 && isDigits(arg[i+1:]) {
		if err := checkCIDR(arg[i+1:], 32); err != nil {
			return "", err
		}
		arg = arg[:i]
	}
	return arg, nil
}

func checkNetwork(v6 bool, s string) error {
	addr, length, hasLength := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addr)
	switch {
	case err != nil, ip.Zone() != "":
		return fmt.Errorf("%q is not an address", addr)
	case v6 != strings.Contains(addr, ":"):
		return fmt.Errorf("%q is not an IPv%s address", addr, map[bool]string{true: "6", false: "4"}[v6])
	}
	if !hasLength {
		return nil
	}
	return checkCIDR(length, map[bool]int{true: 128, false: 32}[v6])
}

func checkCIDR(s string, max int) error {
	n, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) || (len(s) > 1 && s[0] == '0') || n > max {
		return fmt.Errorf("bad prefix length /%s", s)
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// checkDomainSpec checks a domain-spec: a macro-string that ends in a
// macro or in a top-level label (not all digits), as "example.com" does.
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain")
	}
	endsInMacro, err := checkMacroString(s, false)
	if err != nil || endsInMacro {
		return err
	}
	name := strings.TrimSuffix(s, ".")
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return fmt.Errorf("%q does not end in a top-level domain", s)
	}
	if !isTopLabel(name[dot+1:]) {
		return fmt.Errorf("%q is not a top-level domain", name[dot+1:])
	}
	return nil
}

// isTopLabel: letters and digits, not all digits; or letters, digits and
// inner hyphens.
func isTopLabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	alpha, hyphen := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '-':
			hyphen = true
		case isDigit(c):
		case isLetter(c):
			alpha = true
		default:
			return false
		}
	}
	return alpha || hyphen
}

// checkMacroString checks macro syntax (RFC 7208 §7.1) and reports whether
// s ends in a macro. The letters c, r and t belong to explanation texts.
func checkMacroString(s string, explanation bool) (endsInMacro bool, err error) {
	letters := "slodiphv"
	if explanation {
		letters += "crt"
	}
	for i := 0; i < len(s); i++ {
		endsInMacro = false
		if s[i] != '%' {
			continue
		}
		if i+1 == len(s) {
			return false, errors.New("% at the end")
		}
		i++
		switch s[i] {
		case '%', '_', '-':
			endsInMacro = true
			continue
		case '{':
		default:
			return false, fmt.Errorf("%%%c is not a macro", s[i])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return false, errors.New("unterminated macro")
		}
		body := s[i+1 : i+end]
		if !isMacroBody(body) || !strings.ContainsRune(letters, rune(body[0]|0x20)) {
			return false, fmt.Errorf("%%{%s} is not a macro here", body)
		}
		i += end
		endsInMacro = true
	}
	return endsInMacro, nil
}
