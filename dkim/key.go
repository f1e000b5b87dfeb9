package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// LoadKey reads a private key file: PEM, PKCS #8 or PKCS #1 (RSA, as
// opendkim-genkey writes it), or PKCS #8 Ed25519; or, for Ed25519, the
// base64 of the 32-byte seed alone, as dkimpy's dknewkey writes it.
func LoadKey(path string) (crypto.Signer, error) {
	b, err := safefile.Read(path) // a regular file: a named pipe would hang the reload
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		// As OpenDKIM refuses them: every local user could sign as the domain.
		return nil, fmt.Errorf("%s: every user may read this private key: chmod o-rwx %[1]s", path)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKey reads a private key as LoadKey does.
func ParseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err == nil && len(seed) == ed25519.SeedSize {
			return ed25519.NewKeyFromSeed(seed), nil
		}
		return nil, errors.New("not a PEM private key, nor the base64 of an Ed25519 seed")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: verifiers refuse keys under %d bits (RFC 8301 §3.2)", bits, MinRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%T keys cannot sign DKIM (RSA or Ed25519)", key)
}

// MinRSABits is the smallest RSA key that signs or verifies: RFC 8301
// §3.2 has verifiers refuse smaller ones.
const MinRSABits = 1024

// GenerateKey makes a key: algorithm "rsa" (of bits) or "ed25519".
// It returns the key as PKCS #8 PEM and the DNS TXT record that
// publishes it (RFC 6376 §3.6.1).
func GenerateKey(algorithm string, bits int) (pemKey []byte, record string, err error) {
	var key crypto.Signer
	switch algorithm {
	case "rsa":
		if bits < 2048 {
			return nil, "", fmt.Errorf("RSA keys of %d bits are too weak to generate: 2048 or more (RFC 8301)", bits)
		}
		key, err = rsa.GenerateKey(rand.Reader, bits)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, "", fmt.Errorf("unknown algorithm %q: rsa or ed25519", algorithm)
	}
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	record, err = KeyRecord(key)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), record, err
}

// KeyRecord returns the DNS TXT record that publishes key's public half.
func KeyRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 §4.2: the raw 32 bytes, not a SubjectPublicKeyInfo
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("%T keys cannot sign DKIM", key.Public())
}

// ZoneLine renders record as a zone file line for selector._domainkey.domain,
// split in strings of at most 255 octets as a TXT record needs.
func ZoneLine(domain, selector, record string) string {
	return fmt.Sprintf("%s._domainkey.%s. IN TXT ( %s )", selector, strings.TrimSuffix(domain, "."), strings.Join(TXTStrings(record), "\n\t"))
}

// TXTStrings splits a record into the quoted strings of at most 255
// octets a TXT record is made of, as a zone file writes them.
func TXTStrings(record string) []string {
	var parts []string
	for len(record) > 255 {
		parts = append(parts, `"`+record[:255]+`"`)
		record = record[255:]
	}
	return append(parts, `"`+record+`"`)
}
