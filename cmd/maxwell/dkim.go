package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnsname"
)

const dkimUsage = `usage: maxwell dkim keygen [--algorithm rsa|ed25519] [--bits N] [--dir DIR] DOMAIN SELECTOR
  Writes a new signing key to DIR/DOMAIN.SELECTOR.key (mode 0600; an
  existing file is never overwritten) and prints the DNS record to publish
  and the [dkim] keys entry that uses it.
  --algorithm  rsa (default; every verifier knows it) or ed25519 (RFC 8463)
  --bits       RSA key size (default 2048; at least 2048)
  --dir        where the key goes, made if missing (default: the current directory)
`

func dkimCmd(args []string) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprint(os.Stderr, dkimUsage)
		return exitUsage
	}
	fset := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fset.Usage = func() { fmt.Fprint(os.Stderr, dkimUsage) }
	alg := fset.String("algorithm", "rsa", "rsa or ed25519")
	bits := fset.Int("bits", 2048, "RSA key size")
	dir := fset.String("dir", ".", "where the key goes")
	operands, err := parseInterspersed(fset, args[1:])
	if err != nil { // the flag package has said why, and shown the usage
		return exitUsage
	}
	if len(operands) != 2 {
		fset.Usage()
		return exitUsage
	}
	domain, selector := strings.ToLower(strings.TrimSuffix(operands[0], ".")), operands[1]
	if !dnsname.Valid(domain) || !strings.Contains(domain, ".") {
		fmt.Fprintf(os.Stderr, "maxwell dkim keygen: %q is not a domain name\n", operands[0])
		return exitUsage
	}
	if !config.ValidSelector(selector) {
		fmt.Fprintf(os.Stderr, "maxwell dkim keygen: %q is not a selector (labels of letters, digits and hyphens, separated by dots)\n", selector)
		return exitUsage
	}
	pem, record, err := dkim.GenerateKey(*alg, *bits)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell dkim keygen:", err)
		return exitUsage
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		fmt.Fprintln(os.Stderr, "maxwell dkim keygen:", err)
		return exitFailure
	}
	path := filepath.Join(*dir, domain+"."+selector+".key")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		fmt.Fprintf(os.Stderr, "maxwell dkim keygen: %s exists; not overwritten (a new selector makes a new key)\n", path)
		return exitFailure
	}
	if err == nil {
		_, err = f.Write(pem)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell dkim keygen:", err)
		os.Remove(path)
		return exitFailure
	}
	abs, _ := filepath.Abs(path)
	fmt.Printf("; the key is in %s\n; publish this record in the zone of %s:\n%s\n\n", path, domain, dkim.ZoneLine(domain, selector, record))
	fmt.Printf("# and sign with it, in maxwell.toml:\n[[dkim.keys]]\ndomain = %q\nselector = %q\nprivkey = %q\n", domain, selector, abs)
	return exitOK
}
