package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
)

// RRS is the way back in for forwarders that do not do SRS, as pymilter's
// TODO describes it: a user gives a forwarder (an alumni address, an old
// provider) a special alias of theirs instead of their address,
//
//	RRS=HHHHHHHH=alumni.example=alice@ours.example
//
// signed for that forwarder alone. Mail to the alias is taken from a
// client that passes SPF for the forwarder's domain whatever the SPF of
// its MAIL FROM (which the forwarder did not rewrite), and refused from
// anyone else; the MTA's reverse map delivers it to alice@ours.example.
// The alias does not expire; a new secret (the old one dropped from the
// list) retires it.
//
// Its hash is not pysrs's: SRS hashes the concatenation of fields, which
// a sender can choose so that our SRS1 rewriting hashes any string at
// all; an RRS hash from the same key and scheme could be had that way.
// RRS has a key of its own (HMAC of the secret with rrsKeyLabel) and
// hashes its fields each with its length. It is written in base32 in
// lower case and compared in any case: Postfix's smtpd asks the reverse
// map for recipients in lower case.
const (
	rrsTag        = "RRS="
	rrsKeyLabel   = "maxwell RRS v1"
	rrsHashLength = 16 // base32 characters: 80 bits; an alias lives long
)

// IsRRS reports whether an address (or its local part) has the form of
// an RRS alias.
func IsRRS(addr string) bool {
	return len(addr) > len(rrsTag) && strings.EqualFold(addr[:len(rrsTag)], rrsTag)
}

// RRS returns the alias of addr for mail from forwarder (a domain).
func (r *Rewriter) RRS(addr, forwarder string) (string, error) {
	quote, local, domain, err := splitAddr(addr)
	if err != nil {
		return "", err
	}
	forwarder = strings.ToLower(strings.TrimSuffix(forwarder, "."))
	if !validDomain(forwarder) || strings.Trim(forwarder[strings.LastIndexByte(forwarder, '.')+1:], "0123456789") == "" {
		return "", &Error{Malformed, fmt.Sprintf("%q is not a forwarder's domain (its SPF record is what is checked)", forwarder)}
	}
	if local == "" || IsRRS(local) || IsSRS(local) || IsSES(local) {
		return "", &Error{Malformed, "an RRS alias is made of a user's own address, not of an empty or rewritten one"}
	}
	h := rrsMAC(r.secrets[0], forwarder, local, domain)
	return quote + rrsTag + strings.Join([]string{h, forwarder, local}, sep) + quote + "@" + domain, nil
}

// ReverseRRS returns the forwarder an RRS alias is for and the address
// it stands for, its hash checked with each secret.
func (r *Rewriter) ReverseRRS(alias string) (forwarder, addr string, err error) {
	quote, local, domain, err := splitAddr(alias)
	if err != nil {
		return "", "", err
	}
	if !IsRRS(local) {
		return "", "", &Error{NotSRS, "not an RRS alias"}
	}
	parts := strings.SplitN(local[len(rrsTag):], sep, 3)
	if len(parts) < 3 || parts[1] == "" || parts[2] == "" {
		return "", "", &Error{Malformed, "Invalid RRS alias"}
	}
	h, forwarder, user := parts[0], parts[1], parts[2]
	ok := false
	for _, s := range r.secrets {
		ok = ok || hmac.Equal([]byte(rrsMAC(s, forwarder, user, domain)), []byte(asciiLower(h)))
	}
	if !ok {
		return "", "", &Error{BadHash, "Invalid hash"}
	}
	return strings.ToLower(forwarder), quote + user + quote + "@" + domain, nil
}

// rrsMAC is an RRS hash: HMAC-SHA256, under a key derived from secret,
// of the fields in lower case, each after its length; base32 in lower
// case, cut to rrsHashLength.
func rrsMAC(secret []byte, fields ...string) string {
	key := hmac.New(sha256.New, secret)
	key.Write([]byte(rrsKeyLabel))
	m := hmac.New(sha256.New, key.Sum(nil))
	for _, f := range fields {
		f = asciiLower(f)
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return asciiLower(base32.StdEncoding.EncodeToString(m.Sum(nil)))[:rrsHashLength]
}
