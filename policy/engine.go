// Package policy is maxwell's decision engine: for each SMTP connection a
// Session runs ordered checks at each stage (connect, helo, mail, rcpt,
// data, end of headers, end of message) and answers with a Decision. It
// does not know the milter protocol, so the same engine runs behind
// `maxwell serve`, `maxwell check` and the tests.
package policy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maxwell-milter/maxwell/callback"
	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/dmarc"
	"github.com/maxwell-milter/maxwell/dnsbl"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/reputation"
	"github.com/maxwell-milter/maxwell/spf"
	"github.com/maxwell-milter/maxwell/srs"
	"github.com/maxwell-milter/maxwell/store"
	"github.com/maxwell-milter/maxwell/templates"
)

// Stage is a point in the SMTP conversation where checks run.
type Stage int

// The stages, in the order of an SMTP transaction.
const (
	StageConnect Stage = iota
	StageHelo
	StageMail
	StageRcpt
	StageData
	StageEOH
	StageEOM
	numStages
)

var stageNames = [...]string{"connect", "helo", "mail", "rcpt", "data", "eoh", "eom"}

func (s Stage) String() string { return stageNames[s] }

// Check is one policy rule. Run returns nil to let the next check decide;
// an error is an internal failure (a *resolver.TempError is answered 451
// 4.4.3, anything else by the exception policy).
type Check struct {
	Name  string
	Stage Stage
	Run   func(*Session) (*Decision, error)
}

// Engine holds the compiled configuration and the checks. It is immutable
// once built and shared by all sessions; a reload builds a new one.
type Engine struct {
	cfg      *config.Config
	resolver *resolver.Resolver
	log      *maillog.Logger
	diag     *slog.Logger
	checks   [numStages][]stageCheck

	spamWords      []string
	pornWords      []*regexp.Regexp
	blockedSenders addrSet
	blockedExcept  addrSet
	bannedUsers    map[string]bool
	spfChecker     *spf.Checker
	spfPolicies    *spf.Policies
	sysHostname    string

	store     store.Store      // nil: no state kept, greylisting off
	now       func() time.Time // the clock; tests set their own
	grey      greyTimers
	greyRcpts addrSet

	fromWords    []*regexp.Regexp
	blockForward addrSet
	checkUser    map[string]bool // domains whose users are listed
	knownUsers   addrSet

	whitelistSenders addrSet
	senderBlacklist  addrSet
	wiretapUsers     addrSet
	wiretapDiscard   addrSet

	mimeOptions mime.Options

	verifier  *callback.Verifier
	templates *templates.Set
	callbacks bool // EnableCallbacks: make them, not only report them

	codes *statusCodes // registeredCodes, or legacyCodes ([milter] legacy_status_codes)

	srs *srs.Site // nil: SRS and SES off ([srs] secret unset)

	dnsbl *dnsbl.Checker     // nil: no [dnsbl] lists
	peers *reputation.Client // nil: no reputation peers to ask

	dkimKeys []dkim.Key // [dkim] keys, read at start
	dmarc    *dmarc.Checker
}

// lastID numbers sessions for the mail log.
var lastID atomic.Uint64

// NumberSessionsFrom makes the next session's number (the mail log's
// conn=) one more than start's time in microseconds since the epoch,
// so that a daemon started again never reuses the numbers of its runs
// before: that would take more than one connection a microsecond. The
// daemon calls it at start, before sessions begin; without it sessions
// count from 1 (maxwell check).
func NumberSessionsFrom(start time.Time) { lastID.Store(uint64(start.UnixMicro())) }

// New builds an engine from a validated configuration.
func New(cfg *config.Config, res *resolver.Resolver, log *maillog.Logger, diag *slog.Logger) (*Engine, error) {
	e := &Engine{
		cfg:            cfg,
		resolver:       res,
		log:            log,
		diag:           diag,
		spamWords:      cfg.Defang.SpamWords,
		blockedSenders: newAddrSet(cfg.BlockedSenders.Senders, cfg.Milter.CaseSensitiveLocalpart),
		blockedExcept:  newAddrSet(cfg.BlockedSenders.Exceptions, cfg.Milter.CaseSensitiveLocalpart),
		bannedUsers:    map[string]bool{},
		now:            time.Now,
		grey: greyTimers{
			delay:   cfg.Greylist.Delay.D(),
			tooSoon: cfg.Greylist.TooSoon.D(),
			window:  cfg.Greylist.RetryWindow.D(),
			ttl:     cfg.Greylist.PassTTL.D(),
		},
		greyRcpts: newAddrSet(cfg.Greylist.WhitelistRecipients, cfg.Milter.CaseSensitiveLocalpart),
		codes:     &registeredCodes,
	}
	if cfg.Milter.LegacyStatusCodes {
		e.codes = &legacyCodes
	}
	e.mimeOptions = mimeOptions(cfg, cfg.SpoolDir())
	c := cfg.CBV
	e.verifier = callback.New(callback.Config{
		Port: c.Port, ConnectTimeout: c.ConnectTimeout.D(), CommandTimeout: c.CommandTimeout.D(),
		AllowPrivateMX: c.AllowPrivateMX, MaxHosts: c.MaxHosts,
	}, res, callback.NewLimiter(c.DomainRate, c.GlobalRate))
	var err error
	if e.templates, err = templates.Load(c.TemplatesDir); err != nil {
		return nil, fmt.Errorf("cbv.templates_dir: %w", err)
	}
	for _, w := range cfg.Defang.PornWords {
		re, err := config.WordPattern(w)
		if err != nil {
			return nil, err
		}
		e.pornWords = append(e.pornWords, re)
	}
	for _, w := range cfg.Defang.FromWords {
		re, err := config.WordPattern(w)
		if err != nil {
			return nil, err
		}
		e.fromWords = append(e.fromWords, re)
	}
	cs := cfg.Milter.CaseSensitiveLocalpart
	e.blockForward = newAddrSet(cfg.Defang.BlockForward, cs)
	e.whitelistSenders = newAddrSet(cfg.Whitelist.Senders, cs)
	e.wiretapUsers, e.wiretapDiscard = newAddrSet(cfg.Wiretap.Users, cs), newAddrSet(cfg.Wiretap.Discard, cs)
	if e.senderBlacklist, err = loadAddrFile(cfg.Whitelist.BlacklistFile, cs); err != nil {
		return nil, fmt.Errorf("whitelist.blacklist_file: %w", err)
	}
	e.knownUsers, e.checkUser = newAddrSet(nil, cs), map[string]bool{}
	for _, a := range cfg.Milter.CheckUser {
		if name, ok := strings.CutPrefix(a, "file:"); ok {
			domain, err := loadUserFile(cfg.UserFile(name), e.knownUsers)
			if err != nil {
				return nil, fmt.Errorf("milter.check_user: %w", err)
			}
			e.checkUser[domain] = true
			continue
		}
		e.knownUsers.add(a)
		if _, d, ok := strings.Cut(strings.TrimSpace(a), "@"); ok {
			e.checkUser[strings.ToLower(d)] = true
		}
	}
	for _, u := range cfg.SRS.BannedUsers {
		e.bannedUsers[strings.ToLower(u)] = true
	}
	e.spfChecker = &spf.Checker{Resolver: res, Delegate: cfg.SPF.Delegate}
	e.spfPolicies = &spf.Policies{
		RejectNeutral:  cfg.SPF.RejectNeutral,
		AcceptSoftfail: cfg.SPF.AcceptSoftfail,
		AcceptFail:     cfg.SPF.AcceptFail,
		RejectNoPTR:    cfg.SPF.RejectNoPTR,
	}
	if path := cfg.SPF.AccessFile; path != "" {
		m, err := spf.LoadAccessMap(path)
		if err != nil {
			return nil, fmt.Errorf("spf.access_file: %w", err)
		}
		e.spfPolicies.Access = m
	}
	if e.srs, err = srs.FromConfig(cfg.SRS, func() time.Time { return e.now() }); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	if len(cfg.DNSBL.Lists) > 0 {
		if e.dnsbl, err = dnsbl.New(cfg.DNSBL, cfg.DNS, res); err != nil {
			return nil, fmt.Errorf("dnsbl: %w", err)
		}
	}
	if r := cfg.Reputation; r.Enabled && len(r.Peers) > 0 {
		e.peers = reputation.NewClient(r, func() time.Time { return e.now() })
	}
	if e.dkimKeys, err = loadDKIMKeys(cfg); err != nil {
		return nil, err
	}
	e.dmarc = e.newDMARC()
	e.sysHostname, _ = os.Hostname()
	for _, c := range builtinChecks {
		e.Append(c)
	}
	return e, nil
}

// builtinChecks are maxwell's checks in the order they run within a stage.
var builtinChecks = []Check{
	{"classify", StageConnect, checkClassify},
	{"ptr", StageConnect, checkPTR},
	{"banned", StageConnect, checkBanned},
	{"blacklisted", StageConnect, checkBlacklisted},
	{"dnsbl client", StageConnect, checkDNSBLClient},
	{"helo numeric", StageHelo, checkHeloNumeric},
	{"helo blacklist", StageHelo, checkHeloBlacklist},
	{"dnsbl helo", StageHelo, checkDNSBLHelo},
	{"missing helo", StageMail, checkMissingHelo},
	{"internal mta", StageMail, checkInternalMTA},
	{"internal domains", StageMail, checkInternalDomains},
	{"dnsbl sender", StageMail, checkDNSBLSender},
	{"spf", StageMail, checkSPF},
	{"dnsbl callback", StageMail, checkDNSBLCallback},
	{"sender lists", StageMail, checkSenderLists},
	{"null mx", StageMail, checkNullMX},
	{"reputation", StageMail, checkReputation},
	{"rrs alias", StageRcpt, checkRRSAlias},
	{"signed bounce", StageRcpt, checkSignedBounce},
	{"recipient", StageRcpt, checkRecipient},
	{"private relay", StageRcpt, checkPrivateRelay},
	{"blocked sender", StageRcpt, checkBlockedSender},
	{"greylist", StageRcpt, checkGreylist},
	{"subject", StageEOH, checkSubject},
	{"charsets", StageEOH, checkCharsets},
	{"headers", StageEOH, checkHeaders},
	{"dkim", StageEOM, checkDKIM},
	{"dmarc", StageEOM, checkDMARC},
	{"attachments", StageEOM, checkAttachments},
	{"callback", StageEOM, checkCallback},
	{"authentication headers", StageEOM, addAuthHeaders},
	{"connection header", StageEOM, addConnectionHeader},
	{"supply sender", StageEOM, supplySender},
	{"sign sender", StageEOM, signSender},
	{"hide path", StageEOM, hidePath},
	{"learn correspondents", StageEOM, learnCorrespondents},
	{"wiretap", StageEOM, wiretap},
	{"greylist header", StageEOM, addGreylistHeader},
	{"dkim sign", StageEOM, signDKIM},
}

// DNSBL is the engine's DNS blocklists, nil when [dnsbl] lists none.
func (e *Engine) DNSBL() *dnsbl.Checker { return e.dnsbl }

// SRS is the engine's SRS and SES site, nil when [srs] is off: the
// socket map answers with the same.
func (e *Engine) SRS() *srs.Site { return e.srs }

// UseStore gives the engine the state it keeps across connections
// (greylisting needs it). Call it before sessions start; the caller
// closes the store.
func (e *Engine) UseStore(st store.Store) { e.store = st }

// SetClock replaces the engine's clock, for tests that step through time.
// Call it before sessions start.
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// TraceSPF has every DNS lookup and step of the SPF checks told to f
// (maxwell spf --trace). Call it before sessions start.
func (e *Engine) TraceSPF(f func(format string, args ...any)) { e.spfChecker.Trace = f }

// Append adds a check after those already in its stage. Sites and tests
// use it to add rules of their own; it must be called before sessions start.
func (e *Engine) Append(c Check) {
	e.checks[c.Stage] = append(e.checks[c.Stage], stageCheck{c, c.Stage.String() + "/" + c.Name})
}

// checksAfter are the checks of stage that run after the one called
// name.
func (e *Engine) checksAfter(stage Stage, name string) []stageCheck {
	for i, c := range e.checks[stage] {
		if c.Name == name {
			return e.checks[stage][i+1:]
		}
	}
	return nil
}

// A stageCheck is a check with the name a panic in it is logged under
// ("rcpt/greylist"), made once, not at every message.
type stageCheck struct {
	Check
	where string
}

// NewSession starts the state for one SMTP connection.
func (e *Engine) NewSession() *Session {
	return &Session{e: e, ID: lastID.Add(1), ctx: context.Background(), base: context.Background()}
}

// exceptionDecision answers an internal failure as [milter]
// exception_policy says (bms.py's set_exception_policy).
func (e *Engine) exceptionDecision(reason string) Decision {
	switch e.cfg.Milter.ExceptionPolicy {
	case config.ExceptionContinue:
		return Decision{Action: Continue, Tag: "CONTINUE", Reason: reason}
	case config.ExceptionReject:
		return *reject(550, "5.3.0", reason, "Internal error in mail filter")
	}
	return *tempfail(451, "4.3.0", reason, "Internal error in mail filter, try again later")
}

// Recover turns a panic into the exception decision. Defer it directly:
// defer s.Recover(&where, &d), with where naming what is running.
func (s *Session) Recover(where *string, d *Decision) {
	if r := recover(); r != nil {
		*d = s.internalError(*where, fmt.Errorf("panic: %v", r), debug.Stack())
	}
}

// internalError logs err (with stack, if any) and returns the exception
// decision.
func (s *Session) internalError(where string, err error, stack []byte) Decision {
	attrs := []any{"conn", s.ID, "where", where, "error", err}
	if stack != nil {
		attrs = append(attrs, "stack", string(stack))
	}
	s.e.diag.Error("internal error", attrs...)
	s.log("error", "where", where, "error", err)
	d := s.e.exceptionDecision("internal error in " + where)
	s.logDecision(d, false)
	return d
}
