package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/maxwell-milter/maxwell/srs"
)

// srsCmd is `maxwell srs forward|reverse ADDRESS...` and `maxwell ses
// sign|check ADDRESS...`: the [srs] section's rewriting by hand, for
// administrators and scripts. One result a line on stdout; an address
// that cannot be done is told on stderr and makes the status 1.
func srsCmd(name string, args []string) int {
	ops := map[string]map[string]string{
		"srs": {"forward": "a sender as the forward map rewrites it: into [srs] fwdomain (SRS0, SRS1 of SRS0); ours left as it is",
			"reverse": "the address an SRS, SES or RRS address of ours stands for",
			"rrs":     "make a user's RRS alias for a forwarder that does not do SRS (--forwarder DOMAIN)"},
		"ses": {"sign": "sign a sender with SES, its local part in lower case as the milter signs it", "check": "check an SES address; print what it signs"},
	}[name]
	if len(args) == 0 || ops[args[0]] == "" {
		fmt.Fprintf(os.Stderr, "usage: maxwell %s %s [-c FILE] ADDRESS...\n", name, strings.Join(keys(ops), "|"))
		for _, op := range keys(ops) {
			fmt.Fprintf(os.Stderr, "  %-8s %s\n", op, ops[op])
		}
		return exitUsage
	}
	op := args[0]
	fs := flag.NewFlagSet("maxwell "+name+" "+op, flag.ContinueOnError)
	cf := addConfigFlags(fs)
	domain, forwarder := "", ""
	switch op {
	case "forward":
		fs.StringVar(&domain, "fwdomain", "", "forward into this `domain` instead of [srs] fwdomain")
	case "rrs":
		fs.StringVar(&forwarder, "forwarder", "", "the `domain` of the forwarder the alias takes mail from")
	}
	addrs, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitUsage
	}
	if len(addrs) == 0 {
		fmt.Fprintf(os.Stderr, "maxwell %s %s: give one or more addresses\n", name, op)
		return exitUsage
	}
	cfg, _, err := cf.load(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	if domain != "" {
		cfg.SRS.FwDomain = domain
	}
	site, err := srs.FromConfig(cfg.SRS, nil)
	if err != nil || site == nil {
		if err == nil {
			err = fmt.Errorf("[srs] secret is not set: SRS and SES are off")
		}
		fmt.Fprintf(os.Stderr, "maxwell %s: %v\n", name, err)
		return exitUsage
	}
	if op == "forward" && site.FwDomain == "" {
		fmt.Fprintf(os.Stderr, "maxwell srs forward: [srs] fwdomain is not set; give --fwdomain\n")
		return exitUsage
	}
	if op == "rrs" && forwarder == "" {
		fmt.Fprintf(os.Stderr, "maxwell srs rrs: give the forwarder's domain: --forwarder alumni.example\n")
		return exitUsage
	}
	status := exitOK
	for _, addr := range addrs {
		var out string
		switch op {
		case "forward": // as the socket map's forward map: some are left as they are
			out, _, err = site.Forward(addr)
		case "reverse":
			out, err = site.Reverse(addr)
		case "rrs":
			out, err = site.SRS.RRS(addr, forwarder)
		case "sign":
			out, err = site.SignSES(addr)
		case "check":
			out, err = site.SES.Verify(addr)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "maxwell %s %s: %q: %v\n", name, op, addr, err)
			status = exitFailure
			continue
		}
		fmt.Println(out)
	}
	return status
}

// parseInterspersed parses args with fs, flags before, between and
// after the operands, which it returns: "srs forward ADDR -c FILE" reads
// -c too.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return operands, nil
		}
		operands = append(operands, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// keys are the operations of a command, in a fixed order.
func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range []string{"forward", "reverse", "rrs", "sign", "check"} {
		if m[k] != "" {
			out = append(out, k)
		}
	}
	return out
}
