package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// SES as pysrs's SES module makes it (SES.new(secret, expiration=maxage)
// in bms.py and pysrs's daemon): SES=SIG=local@domain, where SIG is, in
// base 38, the message number, a time code in quarter days modulo the
// time-code field, and 80 bits of HMAC-SHA1.
const (
	sesTag      = "SES="
	sesChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	sesHashBits = 80
	sesFracBits = 2 // quarter days
	sesFrac     = int64(day/time.Second) >> sesFracBits
	maxSESSig   = 40 // base-38 digits: a 64-bit message number, the time code and the hash take 29
)

// SES signs and checks envelope senders. It is safe for concurrent use.
type SES struct {
	secrets    [][]byte
	tsBits     uint
	tcMask     int64 // also the field value of a fixed signature
	expiration int64 // in quarter days
	now        func() time.Time

	mu             sync.Mutex
	lastTC, lastID int64
}

// NewSES returns an SES signer whose signatures are valid for maxAge
// days.
func NewSES(secrets []string, maxAge int, now func() time.Time) (*SES, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no secret: SES needs at least one")
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	s := &SES{now: now}
	if s.now == nil {
		s.now = time.Now
	}
	for _, k := range secrets {
		s.secrets = append(s.secrets, []byte(k))
	}
	bits := uint(1)
	for (1<<bits)-1 <= maxAge {
		bits++
	}
	s.tsBits = bits + sesFracBits
	s.tcMask = 1<<s.tsBits - 1
	s.expiration = int64(maxAge) << sesFracBits
	return s, nil
}

// IsSES reports whether an address (or its local part) has the form of
// an SES address.
func IsSES(addr string) bool {
	return len(addr) > len(sesTag) && strings.EqualFold(addr[:len(sesTag)], sesTag)
}

// timecode is the number of quarter days since the epoch.
func (s *SES) timecode() int64 { return s.now().Unix() / sesFrac }

// messageID numbers the signatures of one quarter day, as pysrs does.
func (s *SES) messageID() (tc, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tc = s.timecode()
	if tc == s.lastTC {
		s.lastID++
	} else {
		s.lastTC, s.lastID = tc, 1
	}
	return tc, s.lastID
}

// Sign returns addr signed: SES=SIG=local@domain (the local part as
// written, split at the first '@' as pysrs does).
func (s *SES) Sign(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 || strings.ContainsAny(addr[:at], "=@") {
		// SES=SIG=local@domain is read back at '=' and the first '@'.
		return "", &Error{Malformed, fmt.Sprintf("SES cannot sign %q: it needs a local part without '=' or '@', and a domain", addr)}
	}
	local, domain := addr[:at], addr[at+1:]
	tc, id := s.messageID()
	h := sesMAC(s.secrets[0], tc, id, local, domain)
	bits := new(big.Int).SetInt64(id)
	bits.Lsh(bits, s.tsBits).Or(bits, big.NewInt(tc%s.tcMask))
	bits.Lsh(bits, sesHashBits).Or(bits, h)
	return sesTag + encode38(bits) + "=" + local + "@" + domain, nil
}

// Verify returns the address an SES address signs, or an error: not SES,
// malformed, a bad signature, or one older than maxage days. A fixed
// signature (pysrs's sign with a message number, no time code) is
// checked against its hash too, which pysrs does not do.
func (s *SES) Verify(addr string) (string, error) {
	if !IsSES(addr) {
		return "", &Error{NotSRS, "not an SES address"}
	}
	local, domain, ok := strings.Cut(addr, "@")
	parts := strings.Split(local, "=")
	if !ok || len(parts) != 3 || parts[1] == "" {
		return "", &Error{Malformed, "Invalid SES signature format: " + local}
	}
	sig, user := parts[1], parts[2]
	if len(sig) > maxSESSig {
		return "", &Error{Malformed, "Invalid SES signature format: " + local}
	}
	bits, ok := decode38(sig)
	if !ok || bits.BitLen() > 64+int(s.tsBits)+sesHashBits {
		return "", &Error{Malformed, "Invalid SES signature format: " + local}
	}
	h := new(big.Int).And(bits, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), sesHashBits), big.NewInt(1)))
	bits.Rsh(bits, sesHashBits)
	field := new(big.Int).And(bits, big.NewInt(s.tcMask)).Int64()
	id := bits.Rsh(bits, s.tsBits)
	if !id.IsInt64() {
		return "", &Error{Malformed, "Invalid SES signature format: " + local}
	}
	now := s.timecode()
	tc := int64(0) // a fixed signature
	if field != s.tcMask {
		tc = now/s.tcMask*s.tcMask + field
		if tc > now {
			tc -= s.tcMask
		}
	}
	valid := false
	for _, k := range s.secrets {
		if sesMAC(k, tc, id.Int64(), user, domain).Cmp(h) == 0 {
			valid = true
			break
		}
	}
	if !valid {
		return "", &Error{BadHash, "Invalid SES signature"}
	}
	if tc != 0 && now-tc >= s.expiration {
		return "", &Error{Expired, "Expired SES signature"}
	}
	return user + "@" + domain, nil
}

// sesMAC is the leading 80 bits of HMAC-SHA1 of the time code and
// message number (two big-endian 64-bit numbers), the local part, '@'
// and the domain in lower case.
func sesMAC(secret []byte, tc, id int64, local, domain string) *big.Int {
	m := hmac.New(sha1.New, secret)
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], uint64(tc))
	binary.BigEndian.PutUint64(n[8:], uint64(id))
	m.Write(n[:])
	m.Write([]byte(local))
	m.Write([]byte("@"))
	m.Write([]byte(strings.ToLower(domain)))
	return new(big.Int).SetBytes(m.Sum(nil)[:sesHashBits/8])
}

// encode38 writes n in base 38, most significant digit first.
func encode38(n *big.Int) string {
	var out []byte
	base, d := big.NewInt(int64(len(sesChars))), new(big.Int)
	n = new(big.Int).Set(n)
	for n.Sign() > 0 {
		n.DivMod(n, base, d)
		out = append(out, sesChars[d.Int64()])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// decode38 reads a base-38 signature, in any case.
func decode38(s string) (*big.Int, bool) {
	n, base := new(big.Int), big.NewInt(int64(len(sesChars)))
	for _, c := range strings.ToUpper(s) {
		d := strings.IndexRune(sesChars, c)
		if d < 0 {
			return nil, false
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(d)))
	}
	return n, true
}
