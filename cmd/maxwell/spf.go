package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/maxwell-milter/maxwell/dryrun"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/spf"
)

// spfQuery is `maxwell spf`: an spfquery that answers as maxwell would,
// with its configuration, resolver and policy.
func spfQuery(args []string) int {
	fs := flag.NewFlagSet("spf", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: maxwell spf --ip ADDRESS --helo NAME [--sender ADDRESS] [--trace] [-c FILE]\n\n"+
			"Checks SPF for a client as maxwell does at MAIL FROM: the MAIL FROM and\n"+
			"HELO results, best guess, the policy that applies, the answer, and the\n"+
			"header fields maxwell would add. Without --sender, the null sender.\n"+
			"Exit status: 0 the message would go on, 4 tempfailed, 5 rejected,\n"+
			"2 bad usage or configuration. Like check, it writes no file.\n\n")
		fs.PrintDefaults()
	}
	conf := addConfigFlags(fs)
	ipText := fs.String("ip", "", "client `address`")
	helo := fs.String("helo", "", "HELO `name`")
	sender := fs.String("sender", "", "MAIL FROM `address`; empty for the null sender")
	trace := fs.Bool("trace", false, "print each DNS lookup and evaluation step")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ip, err := netip.ParseAddr(*ipText)
	if err != nil || *helo == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, _, err := conf.load(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	cfg, cleanup, err := dryrun.Scratch(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell spf:", err)
		return exitFailure
	}
	defer cleanup()
	var mailLog bytes.Buffer
	eng, err := offlineEngine(cfg, &mailLog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	if *trace {
		eng.TraceSPF(func(format string, args ...any) { fmt.Printf(format+"\n", args...) })
	}
	out := eng.Run(policy.Transaction{
		Conn: policy.ConnInfo{IP: ip, Hostname: "unknown", Port: dryrun.ClientPort},
		Helo: *helo,
		Mail: policy.MailInfo{Sender: dryrun.EnvelopeAddress(*sender)},
		// A recipient every domain has, so that the answer is the one
		// for the sender.
		Rcpts: []string{"postmaster"},
	})
	if *trace {
		fmt.Println()
	}
	printVerdict(os.Stdout, out, cfg)
	return exitStatus(out.Final.Action)
}

func printVerdict(w io.Writer, out policy.Outcome, cfg *config.Config) {
	v := out.SPF
	if v == nil {
		last := out.Stages[len(out.Stages)-1]
		fmt.Fprintf(w, "no SPF check: the client is internal or trusted, or was answered before MAIL FROM\n%-10s %s at %s\n", "answer", describe(out.Final), last.Stage)
		return
	}
	r := v.Report
	line := func(k, format string, args ...any) {
		fmt.Fprintf(w, "%-10s "+format+"\n", append([]any{k}, args...)...)
	}
	detail := r.Check.Mechanism
	switch {
	case r.Check.Problem != "":
		detail = r.Check.Problem
	case r.Check.Guessed, r.Check.Result == spf.None:
		detail = "no SPF record"
	case r.Check.Delegated:
		detail += ", from the delegate"
	}
	line(string(r.Check.Identity), "%s (domain %s; %s)", r.Check.Official(), r.Check.Domain, detail)
	switch {
	case r.HeloGuess != "":
		line("helo", "%s (best guess %s)", r.HeloResult, r.HeloGuess)
	case r.HeloResult != "":
		line("helo", "%s", r.HeloResult)
	}
	if r.BestGuess != "" {
		line("guess", "%s (%s)", r.BestGuess, r.Check.Mechanism)
	}
	if r.Forwarder != "" {
		line("forwarder", "%s", r.Forwarder)
	}
	line("iprev", "%s", r.IPRev)
	if v.Policy != "" {
		line("policy", "%s (for %s)", v.Policy, v.Result)
	}
	if cb := out.Final.Callback; cb != nil {
		line("callback", "%s of %s (%s)", cb.Policy, cb.Sender, cb.Template)
	}
	line("answer", "%s", describe(out.Final))
	for _, h := range v.Headers(cfg.SPF.Headers) {
		fmt.Fprintf(w, "%s: %s\n", h.Name, h.Value)
	}
}
