// Package dkim verifies and makes DKIM signatures (RFC 6376, RFC 8463
// for Ed25519) on go-msgauth's dkim package, fed the way a milter is fed:
// the header once, at its end, then the body chunk by chunk, so that a
// message is never held whole a second time.
package dkim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// Status is an RFC 8601 §2.7.1 DKIM result.
type Status string

// The results of one signature.
const (
	Pass      Status = "pass"
	Fail      Status = "fail"      // the signature or the body hash did not verify
	Policy    Status = "policy"    // valid, but maxwell does not accept it (l=)
	Neutral   Status = "neutral"   // not checked: too many signatures, or the body was not seen whole
	TempError Status = "temperror" // the key could not be fetched now
	PermError Status = "permerror" // malformed, no key, weak key or hash, expired
)

// Result is what became of one DKIM-Signature field.
type Result struct {
	Status     Status
	Domain     string // d=
	Selector   string // s=
	Identifier string // i=, "@"+Domain when absent
	Algorithm  string // a=
	B          string // the first characters of b=, told in header.b (RFC 6008)
	Reason     string // why it is not a pass
}

// LookupTXT fetches the TXT records of a name: every record's strings
// joined, none for a name that does not exist, and an error for a
// lookup that failed (temporary when it may work later).
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// TemporaryError marks an error of a LookupTXT as a temporary one.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string   { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error   { return e.Err }
func (e *TemporaryError) Timeout() bool   { return false }
func (e *TemporaryError) Temporary() bool { return true } // what go-msgauth asks of a net.Error

var _ net.Error = (*TemporaryError)(nil)

// bLen is how much of b= a result keeps: RFC 6008 asks for at least 8
// characters; 12 tells signatures apart well enough.
const bLen = 12

// Verifier checks the signatures of one message while its body arrives.
// Write takes the body; Close ends it and gives the results. A Verifier
// of a message without signatures costs nothing.
type Verifier struct {
	results []Result
	pw      *io.PipeWriter
	cancel  context.CancelFunc // stops the key lookups of a message gone
	done    chan verdicts
}

// verdicts are what the verifying goroutine found: go-msgauth's
// verifications, or why there are none.
type verdicts struct {
	vs  []*msgauth.Verification
	err error
}

// NewVerifier starts verifying the signatures of header (the message's
// header fields, each "Name:value\r\n", folded lines ending in CRLF, as
// Header builds it). At most max signatures are checked, from the top;
// those below are neutral. Keys are fetched with lookup, under ctx.
func NewVerifier(ctx context.Context, header []byte, max int, lookup LookupTXT) *Verifier {
	v := &Verifier{}
	fields := signatureFields(header)
	if len(fields) == 0 {
		return v
	}
	for i, f := range fields {
		r := describe(f)
		if i >= max {
			r.Status, r.Reason = Neutral, "not checked: more than the signatures checked per message"
		}
		v.results = append(v.results, r)
	}
	pr, pw := io.Pipe()
	ctx, v.cancel = context.WithCancel(ctx)
	v.pw, v.done = pw, make(chan verdicts, 1)
	opts := &msgauth.VerifyOptions{
		MaxVerifications: max,
		LookupTXT:        func(name string) ([]string, error) { return lookup(ctx, name) },
	}
	go func() {
		var d verdicts
		defer func() {
			// This goroutine is not the session's: a panic here would
			// take the daemon down, so it becomes the signatures' error.
			if r := recover(); r != nil {
				d = verdicts{err: fmt.Errorf("verifier failed: %v", r)}
				pr.CloseWithError(d.err)
			}
			io.Copy(io.Discard, pr) // a verifier that gave up early leaves the body unread
			v.done <- d
		}()
		msg := io.MultiReader(strings.NewReader(string(header)+"\r\n"), pr)
		d.vs, d.err = msgauth.VerifyWithOptions(msg, opts)
		if d.err != nil && !errors.Is(d.err, msgauth.ErrTooManySignatures) {
			pr.CloseWithError(d.err)
			d.vs = nil
		}
	}()
	return v
}

// Write gives the verifier the next piece of the body, as the MTA sends
// it (CRLF line ends).
func (v *Verifier) Write(p []byte) (int, error) {
	if v.pw == nil {
		return len(p), nil
	}
	return v.pw.Write(p)
}

// Close ends the body and returns a result per signature, in the order
// of the header (top first).
func (v *Verifier) Close() []Result {
	if v.pw == nil {
		return v.results
	}
	v.pw.Close()
	d := <-v.done
	v.cancel()
	v.pw = nil
	for i := range v.results {
		r := &v.results[i]
		if r.Status != "" {
			continue
		}
		if i >= len(d.vs) || d.vs[i] == nil {
			r.Status, r.Reason = PermError, "the message could not be read"
			if d.err != nil {
				r.Reason = d.err.Error()
			}
			continue
		}
		r.Status, r.Reason = status(d.vs[i].Err)
	}
	return v.results
}

// Abort stops a verifier whose message went away.
func (v *Verifier) Abort() {
	if v.pw != nil {
		v.cancel()
		v.pw.CloseWithError(errors.New("message aborted"))
		<-v.done
		v.pw = nil
	}
}

// Truncated ends a verifier whose body was not seen whole: every
// signature not yet decided is neutral.
func (v *Verifier) Truncated(reason string) []Result {
	v.Abort()
	for i := range v.results {
		if v.results[i].Status == "" {
			v.results[i].Status, v.results[i].Reason = Neutral, reason
		}
	}
	return v.results
}

// status maps go-msgauth's verdict to an RFC 8601 result. A body-length
// tag (l=) is refused as a policy result: what follows the signed
// length could be anything (RFC 6376 §8.2).
func status(err error) (Status, string) {
	switch {
	case err == nil:
		return Pass, ""
	case msgauth.IsTempFail(err):
		return TempError, err.Error()
	case msgauth.IsPermFail(err):
		return PermError, err.Error()
	case strings.Contains(err.Error(), "body length"):
		return Policy, "body length tag (l=) not accepted"
	}
	return Fail, err.Error()
}
