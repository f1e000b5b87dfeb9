// Package spf checks SPF (RFC 7208) for maxwell: the MAIL FROM and HELO
// identities, evaluated through maxwell's own DNS resolver (so its
// timeouts, cache and per-message lookup budget apply),
// with bms.py's additions: a best-guess record for domains that publish
// none, local substitute records under a delegate domain, and the policy
// each result calls for, from configuration lists and a sendmail-style
// access map. It also renders the Received-SPF and Authentication-Results
// header fields.
package spf

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// Result is an SPF result (RFC 7208 §8), as written in headers.
type Result string

// The results.
const (
	None      Result = "none"
	Neutral   Result = "neutral"
	Pass      Result = "pass"
	Fail      Result = "fail"
	SoftFail  Result = "softfail"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Identity is what was checked: the MAIL FROM domain, or the HELO name
// (for the HELO check, and for the null sender, RFC 7208 §2.4).
type Identity string

// The identities.
const (
	MailFrom Identity = "mailfrom"
	Helo     Identity = "helo"
)

// Best-guess records, as bms.py used them: for a MAIL FROM domain that
// publishes no record, its addresses, its MX hosts (both within /24) and
// its PTR names; without ptr when the client's PTR is missing or dynamic,
// since an ISP's customer names would otherwise vouch for its zombies. For
// a HELO name, only its own addresses and MX hosts.
const (
	GuessRecord      = "v=spf1 a/24 mx/24 ptr"
	GuessRecordNoPTR = "v=spf1 a/24 mx/24"
	HeloGuessRecord  = "v=spf1 a mx"
)

// Query is one SPF check.
type Query struct {
	IP     netip.Addr
	Helo   string
	Sender string // MAIL FROM without brackets; "" checks the HELO identity
	Guess  string // record evaluated when the domain publishes none ("" = no guess)
	Record string // record evaluated instead of the published one
	// PTR, if not nil, are the client's PTR names, already looked up:
	// the ptr mechanism uses them instead of asking again.
	PTR []string
}

// Outcome is the result of a check and how it was reached.
type Outcome struct {
	Result    Result
	Identity  Identity
	Domain    string // the domain whose record was evaluated
	Sender    string // the sender as checked: postmaster@HELO for the HELO identity
	Mechanism string // the term that decided, with its qualifier ("-all", "include:spf.example.net"); "default" when none matched
	Problem   string // what went wrong, for permerror and temperror
	Guessed   bool   // the record evaluated was a guess: the domain publishes none
	Delegated bool   // the record came from [spf] delegate
}

// Official is the result the domain's own record gave: none when the
// outcome is a guess.
func (o Outcome) Official() Result {
	if o.Guessed {
		return None
	}
	return o.Result
}

// Checker evaluates SPF through a Resolver. It is safe for concurrent use.
type Checker struct {
	Resolver *resolver.Resolver
	// Delegate is [spf] delegate: when a domain publishes no record,
	// DOMAIN._spf.DELEGATE is asked for a substitute record.
	Delegate string
	// Trace, if set, is told of each DNS lookup and evaluation step
	// (maxwell spf --trace).
	Trace func(format string, args ...any)
	// Timeout bounds the time one check may take; past it the result is
	// temperror (RFC 7208 §4.6.4). 0 means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout is the time a check may take unless Checker.Timeout
// says otherwise: the least RFC 7208 §4.6.4 allows, and within the 30
// seconds Postfix gives a milter to answer a command.
const DefaultTimeout = 20 * time.Second

// Check evaluates q. DNS failures come back as temperror, never as an
// error: every outcome is an SPF result.
func (c *Checker) Check(ctx context.Context, q Query) Outcome {
	o := Outcome{Identity: MailFrom, Sender: q.Sender}
	local, domain := splitSender(q.Sender)
	switch {
	case q.Sender == "":
		o.Identity, o.Sender, domain = Helo, "postmaster@"+q.Helo, q.Helo
	case domain == "": // an unqualified sender: RFC 7208 §2.4 uses the HELO
		domain = q.Helo
		o.Sender = local + "@" + domain
	case local == "": // §4.3
		o.Sender = "postmaster" + q.Sender
	}
	o.Domain = strings.ToLower(strings.TrimSuffix(domain, "."))

	ev := &evaluation{
		res:      c.Resolver,
		client:   q.IP.Unmap(),
		helo:     q.Helo,
		sender:   o.Sender,
		delegate: c.Delegate,
		guess:    q.Guess,
		record:   q.Record,
		ptr:      q.PTR,
		trace:    c.Trace,
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v := ev.checkHost(ctx, domain, true)
	// The clock, not ctx.Err(): a lookup cut by the deadline may return a
	// moment before the context marks itself done.
	if deadline, _ := ctx.Deadline(); !time.Now().Before(deadline) && v.result != TempError {
		// Lookups that ran out of time may have been skipped (a PTR name
		// is, §5.5): whatever the record said after them is not its answer.
		v = verdict{result: TempError, problem: oneline.Clean(fmt.Sprintf("the SPF check of %s took longer than %v (RFC 7208 section 4.6.4)", domain, timeout))}
	}
	o.Result, o.Problem, o.Mechanism = v.result, v.problem, v.term
	o.Guessed, o.Delegated = ev.guessed, ev.delegated
	return o
}
