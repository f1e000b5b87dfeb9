package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
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
	var tx policy.Transaction
	tx.Helo, tx.Rcpts, tx.Mail.AuthUser = *helo, rcpts, *auth
	tx.Conn.Hostname = "localhost"
	if *ipText != "" {
		// A client over TCP, as the daemon sees one (port 0 on loopback
		// is Postfix's local submission).
		tx.Conn.Hostname, tx.Conn.Port = "unknown", dryRunPort
		if tx.Conn.IP, err = netip.ParseAddr(*ipText); err != nil {
			fmt.Fprintf(os.Stderr, "maxwell check: -ip: %v\n", err)
			return exitUsage
		}
	}
	if err := readMessage(&tx, fs.Arg(0)); err != nil {
		fmt.Fprintf(os.Stderr, "maxwell check: %v\n", err)
		return exitFailure
	}
	tx.Mail.Sender = from.addr
	if !from.set {
		tx.Mail.Sender = envelopeFrom(tx.Headers)
	}
	if len(tx.Rcpts) == 0 {
		tx.Rcpts = recipients(tx.Headers)
	}
	if len(tx.Rcpts) == 0 {
		fmt.Fprintln(os.Stderr, "maxwell check: no recipient: give -rcpt or a To header")
		return exitFailure
	}
	cleanup, err := dryRun(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell check:", err)
		return exitFailure
	}
	defer cleanup()
	var mailLog bytes.Buffer
	eng, err := offlineEngine(cfg, &mailLog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}

	out := eng.Run(tx)
	for _, r := range out.Stages {
		fmt.Printf("%-22s %s\n", r.Stage, describe(r.Decision))
	}
	fmt.Printf("%-22s %s\n", "result", describe(out.Final))
	fmt.Printf("\n--- mail log\n%s", mailLog.String())
	if out.Final.Action == policy.Accept || out.Final.Action == policy.Quarantine {
		fmt.Print("\n--- message\n")
		body := tx.Body
		if out.Body != nil {
			body = out.Body
		}
		writeMessage(os.Stdout, applyEdits(tx.Headers, out.Final.Edits), body)
	}
	if out.BodyErr != nil {
		fmt.Fprintln(os.Stderr, "maxwell check: writing the new body:", out.BodyErr)
		return exitFailure
	}
	return exitStatus(out.Final.Action)
}

// dryRun points every file the engine writes into a new temporary
// directory, for the commands that run the engine offline (check, spf):
// spooled bodies and saved originals (under datadir) and the wiretap
// archive. Those commands open no store and keep the mail log in a
// buffer, so the store, [log] mail_log and the watcher's state are not
// touched either. cleanup removes the directory.
func dryRun(cfg *config.Config) (cleanup func(), err error) {
	scratch, err := os.MkdirTemp("", "maxwell-dry-run-")
	if err != nil {
		return nil, err
	}
	cfg.Milter.DataDir = scratch
	if cfg.Wiretap.Archive != "" {
		cfg.Wiretap.Archive = filepath.Join(scratch, "archive.mbox")
	}
	return func() { os.RemoveAll(scratch) }, nil
}

// senderFlag is an envelope sender given on the command line.
type senderFlag struct {
	addr string
	set  bool
}

func (s *senderFlag) String() string { return s.addr }

func (s *senderFlag) Set(v string) error {
	s.addr, s.set = envelopeAddress(v), true
	return nil
}

// envelopeAddress is a MAIL FROM address as written on a command line,
// with or without its angle brackets: "<>" and "" are the null sender
// (returned as "", as the MTA passes it).
func envelopeAddress(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	return v
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

// readMessage reads the header and body of an RFC 5322 message.
func readMessage(tx *policy.Transaction, path string) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReader(r)
	var err error
	if tx.Headers, err = readHeader(br); err != nil {
		return err
	}
	tx.Body, err = io.ReadAll(br)
	return err
}

// envelopeFrom is the envelope sender a message names: its Return-Path
// ("<>": the null sender), else the first address of its From.
func envelopeFrom(hs []policy.Header) string {
	for _, h := range hs {
		if !strings.EqualFold(h.Name, "Return-Path") {
			continue
		}
		if as := addresses(h.Value); len(as) > 0 {
			return as[0]
		}
		if strings.Join(strings.Fields(h.Value), "") == "<>" {
			return ""
		}
	}
	for _, h := range hs {
		if strings.EqualFold(h.Name, "From") {
			if as := addresses(h.Value); len(as) > 0 {
				return as[0]
			}
		}
	}
	return ""
}

// recipients are the addresses of the To and Cc fields.
func recipients(hs []policy.Header) []string {
	var rcpts []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, "To") || strings.EqualFold(h.Name, "Cc") {
			rcpts = append(rcpts, addresses(h.Value)...)
		}
	}
	return rcpts
}

// readHeader splits the header into fields, keeping folded values as they
// are (with "\r\n" line breaks, as an MTA passes them) and dropping the one
// space after the colon, as Postfix and Sendmail do. The "From " line that
// starts a message saved from an mbox is skipped.
func readHeader(br *bufio.Reader) ([]policy.Header, error) {
	var hs []policy.Header
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			if err == io.EOF {
				return hs, nil
			}
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return hs, nil
		}
		if first && isMboxFromLine(line) {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(hs) > 0 {
			hs[len(hs)-1].Value += "\r\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", line)
		}
		hs = append(hs, policy.Header{Name: name, Value: strings.TrimPrefix(value, " ")})
	}
}

// isMboxFromLine reports whether line is an mbox "From sender date"
// separator, not a From field (nor its obsolete form "From : ...").
func isMboxFromLine(line string) bool {
	rest, ok := strings.CutPrefix(line, "From ")
	return ok && !strings.HasPrefix(strings.TrimLeft(rest, " \t"), ":")
}

// addresses extracts the addr-specs of an address list, loosely.
func addresses(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		a := strings.TrimSpace(part)
		if i := strings.LastIndexByte(a, '<'); i >= 0 {
			a = strings.TrimSuffix(a[i+1:], ">")
		}
		if strings.Contains(a, "@") {
			out = append(out, a)
		}
	}
	return out
}

// applyEdits returns the header as the MTA would deliver it.
func applyEdits(hs []policy.Header, edits []policy.Edit) []policy.Header {
	out := append([]policy.Header(nil), hs...)
	for _, e := range edits {
		switch e.Kind {
		case policy.InsertHeader:
			i := min(max(e.Index, 0), len(out))
			out = append(out[:i], append([]policy.Header{{Name: e.Name, Value: e.Value}}, out[i:]...)...)
		case policy.DeleteHeader, policy.ChangeHeader: // the Index-th field of that name, as Postfix does
			n := 0
			for i, h := range out {
				if strings.EqualFold(h.Name, e.Name) {
					if n++; n != e.Index {
						continue
					}
					if e.Kind == policy.DeleteHeader {
						out = append(out[:i], out[i+1:]...)
					} else {
						out[i].Value = e.Value
					}
					break
				}
			}
		}
	}
	return out
}

func writeMessage(w io.Writer, hs []policy.Header, body []byte) {
	bw := bufio.NewWriter(w)
	for _, h := range hs {
		fmt.Fprintf(bw, "%s: %s\n", h.Name, strings.ReplaceAll(h.Value, "\r\n", "\n"))
	}
	bw.WriteString("\n")
	bw.Write(body)
	bw.Flush()
}
