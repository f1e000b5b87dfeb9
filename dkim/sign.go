package dkim

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// Key is one signing key of a domain.
type Key struct {
	Domain   string
	Selector string
	Signer   crypto.Signer
}

// Algorithm is the key's a= value.
func (k Key) Algorithm() string {
	if _, ok := k.Signer.Public().(ed25519.PublicKey); ok {
		return "ed25519-sha256"
	}
	return "rsa-sha256"
}

// SignOptions says how messages are signed.
type SignOptions struct {
	Headers     []string // the fields signed, each as often as present
	Oversign    []string // ... and these once more, so that none can be added
	HeaderCanon string   // "relaxed" or "simple"
	BodyCanon   string
}

// Signing makes the signatures of one message, with one key or several
// (an RSA and an Ed25519 key, or the old and new keys of a rotation),
// while its body arrives.
type Signing struct {
	keys    []Key
	signers []*msgauth.Signer
	w       io.Writer
}

// NewSigning starts signing the message whose header is header (as
// HeaderBuilder builds it).
func NewSigning(header []byte, keys []Key, o SignOptions) (*Signing, error) {
	names := signedNames(header, o)
	s := &Signing{keys: keys}
	var ws []io.Writer
	for _, k := range keys {
		sg, err := msgauth.NewSigner(&msgauth.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: msgauth.Canonicalization(o.HeaderCanon),
			BodyCanonicalization:   msgauth.Canonicalization(o.BodyCanon),
			HeaderKeys:             names,
		})
		if err != nil {
			s.Abort()
			return nil, fmt.Errorf("%s._domainkey.%s: %w", k.Selector, k.Domain, err)
		}
		s.signers = append(s.signers, sg)
		ws = append(ws, sg)
	}
	s.w = io.MultiWriter(ws...)
	if _, err := io.WriteString(s.w, string(header)+"\r\n"); err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// Write gives the signers the next piece of the body (CRLF line ends).
func (s *Signing) Write(p []byte) (int, error) { return s.w.Write(p) }

// Close ends the body and returns the DKIM-Signature field values, one
// per key, folded with "\n" as a milter inserts them.
func (s *Signing) Close() ([]string, error) {
	var out []string
	for i, sg := range s.signers {
		if err := sg.Close(); err != nil {
			s.Abort()
			return nil, fmt.Errorf("%s._domainkey.%s: %w", s.keys[i].Selector, s.keys[i].Domain, err)
		}
		f := strings.TrimSuffix(sg.Signature(), "\r\n")
		_, v, _ := strings.Cut(f, ":")
		out = append(out, strings.ReplaceAll(strings.TrimPrefix(v, " "), "\r\n", "\n"))
	}
	s.signers = nil
	return out, nil
}

// Abort stops the signers of a message that went away.
func (s *Signing) Abort() {
	for _, sg := range s.signers {
		sg.Close() // closing the pipe ends its goroutine; the signature is not wanted
	}
	s.signers = nil
}

// signedNames lists the fields to sign: each of o.Headers as many times
// as the header holds it, and o.Oversign once more (RFC 6376 §8.15).
func signedNames(header []byte, o SignOptions) []string {
	count := map[string]int{}
	for _, f := range splitFields(string(header)) {
		name, _, _ := strings.Cut(f, ":")
		count[strings.ToLower(strings.TrimSpace(name))]++
	}
	over := map[string]bool{}
	for _, n := range o.Oversign {
		over[strings.ToLower(n)] = true
	}
	var names []string
	for _, n := range o.Headers {
		c := count[strings.ToLower(n)]
		if over[strings.ToLower(n)] {
			c++
		}
		for range c {
			names = append(names, n)
		}
	}
	return names
}
