// Package dryrun runs one message through the policy engine offline, as
// `maxwell check` and the web console's check page do: with the
// configuration's own resolver, no store, the mail log kept in memory,
// and every file the engine writes (spooled bodies, saved originals,
// the wiretap archive) in a temporary directory removed after.
package dryrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/policy"
)

// ClientPort is the client port of a run with a client address: a TCP
// client's, not the 0 of Postfix's local submissions.
const ClientPort = 49152

// ErrNoRecipient is a run with no recipient given and none in the To or
// Cc of the message.
var ErrNoRecipient = errors.New("no recipient")

// Envelope is what the client says around the message.
type Envelope struct {
	// IP is the client's address; the zero Addr is a local connection.
	IP netip.Addr
	// Helo is the HELO name, "" for a client that never said HELO.
	Helo string
	// Sender is the MAIL FROM address ("" the null sender) when
	// SenderSet; otherwise the message's Return-Path, else its From.
	Sender    string
	SenderSet bool
	// Rcpts are the recipients; none: the To and Cc of the message.
	Rcpts []string
	// AuthUser is the SMTP AUTH user, as if the client had
	// authenticated.
	AuthUser string
}

// Transaction reads a message from r (an RFC 5322 message, maybe after
// an mbox "From " line) and makes the transaction env and it describe.
// A message without a recipient anywhere is ErrNoRecipient.
func Transaction(env Envelope, r io.Reader) (policy.Transaction, error) {
	tx := policy.Transaction{Helo: env.Helo, Rcpts: env.Rcpts, Mail: policy.MailInfo{AuthUser: env.AuthUser}}
	tx.Conn.Hostname = "localhost"
	if env.IP.IsValid() {
		// A client over TCP, as the daemon sees one.
		tx.Conn.Hostname, tx.Conn.Port, tx.Conn.IP = "unknown", ClientPort, env.IP
	}
	br := bufio.NewReader(r)
	var err error
	if tx.Headers, err = readHeader(br); err != nil {
		return tx, err
	}
	if tx.Body, err = io.ReadAll(br); err != nil {
		return tx, err
	}
	tx.Mail.Sender = env.Sender
	if !env.SenderSet {
		tx.Mail.Sender = envelopeFrom(tx.Headers)
	}
	if len(tx.Rcpts) == 0 {
		tx.Rcpts = recipients(tx.Headers)
	}
	if len(tx.Rcpts) == 0 {
		return tx, ErrNoRecipient
	}
	return tx, nil
}

// EnvelopeAddress is a MAIL FROM address as a person writes it, with or
// without its angle brackets: "<>" and "" are the null sender (returned
// as "", as the MTA passes it).
func EnvelopeAddress(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	return v
}

// ConfigError is a configuration the engine cannot be built from: a
// list file, key or template that cannot be read.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Result is what became of a run's message.
type Result struct {
	// Outcome is the engine's: each stage's decision, the final one.
	Outcome policy.Outcome
	// MailLog is what the run wrote to the mail log.
	MailLog []byte
	// Header and Body are the message as the MTA would deliver it: the
	// header with the edits made, the body or what replaced it.
	Header []policy.Header
	Body   []byte
}

// Delivered reports whether the message would be delivered: accepted,
// or quarantined (held, then released).
func (r *Result) Delivered() bool {
	a := r.Outcome.Final.Action
	return a == policy.Accept || a == policy.Quarantine
}

// WriteMessage writes the message as delivered, with "\n" line ends in
// its header.
func (r *Result) WriteMessage(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, h := range r.Header {
		fmt.Fprintf(bw, "%s: %s\n", h.Name, strings.ReplaceAll(h.Value, "\r\n", "\n"))
	}
	bw.WriteString("\n")
	bw.Write(r.Body)
	return bw.Flush()
}

// Run runs tx through an engine built from cfg, which it does not
// change. Its lookups end with ctx (policy.Engine.RunContext). The
// engine's errors go to diag. An engine that cannot be built is a
// *ConfigError.
func Run(ctx context.Context, cfg *config.Config, tx policy.Transaction, diag *slog.Logger) (*Result, error) {
	cfg, cleanup, err := Scratch(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var mailLog bytes.Buffer
	eng, err := Engine(cfg, &mailLog, diag)
	if err != nil {
		return nil, &ConfigError{err}
	}
	res := &Result{Outcome: eng.RunContext(ctx, tx), Body: tx.Body}
	res.MailLog = mailLog.Bytes()
	res.Header = applyEdits(tx.Headers, res.Outcome.Final.Edits)
	if res.Outcome.Body != nil {
		res.Body = res.Outcome.Body
	}
	return res, nil
}

// Engine builds the policy engine of an offline run: the resolver of
// cfg's [dns], no store, the mail log written to mailLog.
func Engine(cfg *config.Config, mailLog io.Writer, diag *slog.Logger) (*policy.Engine, error) {
	return policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(mailLog), diag)
}

// Scratch returns a copy of cfg whose files the engine writes are in a
// new temporary directory: spooled bodies and saved originals (its
// datadir and tempdir) and the wiretap archive. What the engine reads
// from datadir (check_user files, DKIM keys) is still read from there.
// The store, [log] mail_log and the watcher's state are no engine's to
// write. cleanup removes the directory.
func Scratch(cfg *config.Config) (dry *config.Config, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "maxwell-dry-run-")
	if err != nil {
		return nil, nil, err
	}
	c := *cfg
	c.Milter.CheckUser = slices.Clone(cfg.Milter.CheckUser)
	for i, a := range c.Milter.CheckUser {
		if name, ok := strings.CutPrefix(a, "file:"); ok {
			c.Milter.CheckUser[i] = "file:" + cfg.UserFile(name)
		}
	}
	c.DKIM.Keys = slices.Clone(cfg.DKIM.Keys)
	for i, k := range c.DKIM.Keys {
		c.DKIM.Keys[i].PrivKey = cfg.KeyPath(k)
	}
	// tempdir may be absolute: it is set, not left to follow datadir.
	c.Milter.DataDir, c.Milter.TempDir = dir, "save"
	if c.Wiretap.Archive != "" {
		c.Wiretap.Archive = filepath.Join(dir, "archive.mbox")
	}
	return &c, func() { os.RemoveAll(dir) }, nil
}

// maxQuoted bounds the line a malformed header's error quotes: the
// first line of a binary file may be all of it.
const maxQuoted = 200

// readHeader splits the header into fields, keeping folded values as they
// are (with "\r\n" line breaks, as an MTA passes them) and dropping the one
// space after the colon, as Postfix and Sendmail do. The "From " line that
// starts a message saved from an mbox is skipped.
func readHeader(br *bufio.Reader) ([]policy.Header, error) {
	var hs []policy.Header
	// The value of the last field, built up line by line: added to its
	// string at each folded line, a field folded over many lines would
	// be copied whole at each (quadratic: a 10 MiB upload folded every
	// few bytes would take hours).
	var value strings.Builder
	done := func() {
		if len(hs) > 0 {
			hs[len(hs)-1].Value = value.String()
		}
		value.Reset()
	}
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			if err == io.EOF {
				done()
				return hs, nil
			}
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			done()
			return hs, nil
		}
		if first && isMboxFromLine(line) {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(hs) > 0 {
			value.WriteString("\r\n")
			value.WriteString(line)
			continue
		}
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", oneline.Cut(line, maxQuoted))
		}
		done()
		hs = append(hs, policy.Header{Name: name})
		value.WriteString(strings.TrimPrefix(v, " "))
	}
}

// isMboxFromLine reports whether line is an mbox "From sender date"
// separator, not a From field (nor its obsolete form "From : ...").
func isMboxFromLine(line string) bool {
	rest, ok := strings.CutPrefix(line, "From ")
	return ok && !strings.HasPrefix(strings.TrimLeft(rest, " \t"), ":")
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
