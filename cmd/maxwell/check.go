package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/maxwell-milter/maxwell/dryrun"
	"github.com/maxwell-milter/maxwell/policy"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: maxwell check [flags] FILE.eml (or - for standard input)\n\n"+
			"Runs one message through the policy engine as the daemon would, offline,\n"+
			"and prints the decision at each stage, the mail log and the resulting message.\n"+
			"It writes nothing but to standard output: spooled bodies, saved originals and\n"+
			"the wiretap archive go to a temporary directory removed at exit; no store is\n"+
			"opened and the mail log is printed, not appended to [log] mail_log.\n"+
			"FILE may start with an mbox \"From \" line (a message saved from a mailbox).\n"+
			"Exit status: 0 accepted, 3 discarded, 4 tempfailed (4xx), 5 rejected (5xx),\n"+
			"2 bad usage or configuration, 1 other failure.\n\n")
		fs.PrintDefaults()
	}
	conf := addConfigFlags(fs)
	ipText := fs.String("ip", "", "client `address`; empty for a local connection")
	helo := fs.String("helo", "", "HELO `name`; empty for a client that never said HELO")
	var from senderFlag
	fs.Var(&from, "from", "envelope `sender`; <> or empty for the null sender (default: the Return-Path or From of the message)")
	auth := fs.String("auth", "", "SMTP AUTH `user`, as if the client had authenticated")
	var rcpts listFlag
	fs.Var(&rcpts, "rcpt", "envelope `recipient` (repeatable; default: the To and Cc of the message)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	cfg, _, err := conf.load(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	env := dryrun.Envelope{Helo: *helo, Sender: from.addr, SenderSet: from.set, Rcpts: rcpts, AuthUser: *auth}
	if *ipText != "" {
		if env.IP, err = netip.ParseAddr(*ipText); err != nil {
			fmt.Fprintf(os.Stderr, "maxwell check: -ip: %v\n", err)
			return exitUsage
		}
	}
	tx, err := readTransaction(env, fs.Arg(0))
	if errors.Is(err, dryrun.ErrNoRecipient) {
		err = errors.New("no recipient: give -rcpt or a To header")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "maxwell check: %v\n", err)
		return exitFailure
	}
	res, err := dryrun.Run(context.Background(), cfg, tx, stderrLog())
	var confErr *dryrun.ConfigError
	switch {
	case errors.As(err, &confErr):
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	case err != nil:
		fmt.Fprintln(os.Stderr, "maxwell check:", err)
		return exitFailure
	}
	out := res.Outcome
	for _, r := range out.Stages {
		fmt.Printf("%-22s %s\n", r.Stage, describe(r.Decision))
	}
	fmt.Printf("%-22s %s\n", "result", describe(out.Final))
	fmt.Printf("\n--- mail log\n%s", res.MailLog)
	if res.Delivered() {
		fmt.Print("\n--- message\n")
		res.WriteMessage(os.Stdout)
	}
	if out.BodyErr != nil {
		fmt.Fprintln(os.Stderr, "maxwell check: writing the new body:", out.BodyErr)
		return exitFailure
	}
	return exitStatus(out.Final.Action)
}

// readTransaction reads the message at path ("-": standard input) into
// the transaction env makes.
func readTransaction(env dryrun.Envelope, path string) (policy.Transaction, error) {
	if path == "-" {
		return dryrun.Transaction(env, os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return policy.Transaction{}, err
	}
	defer f.Close()
	return dryrun.Transaction(env, f)
}

// senderFlag is an envelope sender given on the command line.
type senderFlag struct {
	addr string
	set  bool
}

func (s *senderFlag) String() string { return s.addr }

func (s *senderFlag) Set(v string) error {
	s.addr, s.set = dryrun.EnvelopeAddress(v), true
	return nil
}

func describe(d policy.Decision) string {
	switch {
	case d.Code != 0:
		return d.Action.String() + " " + strings.ReplaceAll(d.Reply(), "\n", " | ")
	case len(d.Edits) > 0:
		return fmt.Sprintf("%s (%d edits)", d.Action, len(d.Edits))
	}
	return d.Action.String()
}
