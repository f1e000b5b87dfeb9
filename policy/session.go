package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/dmarc"
	"github.com/maxwell-milter/maxwell/dnsbl"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/internal/spool"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/store"
)

// ConnInfo is what the MTA tells about a new SMTP connection.
type ConnInfo struct {
	IP         netip.Addr // invalid for local (unix socket, pipe) connections
	Hostname   string     // the client name as the MTA knows it
	Port       uint16
	MTAName    string // macro j: the MTA's own name
	DaemonPort string // macro {daemon_port}: 25, 587, ...
	MTAPTR     string // macro {client_ptr}: the PTR name the MTA found, if any
}

// MailInfo is what the MTA tells at MAIL FROM.
type MailInfo struct {
	Sender   string // without angle brackets; "" is the null sender
	Args     string // ESMTP parameters
	AuthUser string // macro {auth_authen}: set after a successful SMTP AUTH
	QueueID  string // macro i
}

// Header is one header field of the message, value as received
// (folded). It is the mime package's, so the fields the MTA sends go to
// the attachment scan as they are.
type Header = mime.Header

// maxAddress is the longest address RFC 5321 allows: a local part of 64
// octets, '@', a domain of 255.
const maxAddress = 64 + 1 + 255

// Limits on what a session keeps of a message's header, which the client
// controls; the MTA usually enforces tighter ones.
const (
	maxHeaders     = 1000
	maxHeaderBytes = 1 << 20
)

// Session is the policy state of one SMTP connection. Connection state
// (client, PTR, HELO, class) lives as long as the connection; message
// state starts at each MAIL FROM and ends at end of message or abort.
// A Session is used by one goroutine at a time.
type Session struct {
	ID  uint64
	e   *Engine
	ctx context.Context
	// base is what ctx derives from: Background, or the context of a
	// run with a deadline (RunContext), which ends its lookups.
	base context.Context

	Conn     ConnInfo
	PTR      string   // forward-confirmed PTR name, "" if none
	PTRNames []string // every PTR name of the client IP
	ptrErr   error    // the PTR lookups failed (iprev temperror)
	Class    Class
	Helo     string // the latest HELO/EHLO name
	AuthUser string

	pending  *Decision // delayed connection-level decision
	opened   bool      // the connect event is logged: Close logs the close event
	messages int
	demerits int          // offences so far ([milter] max_demerits)
	banned   bool         // this connection's IP was banned
	ipBans   []store.Ban  // the bans on the client's IP in force at connect
	ipBansOK bool         // ipBans has been asked for
	spent    *spool.Spool // the body of the message just ended, until Release

	dnsblClient []dnsbl.Result // what the DNS blocklists said of the client and its PTR name
	dnsblHelo   []dnsbl.Result // ... and of the latest HELO name

	Msg *Message // nil outside a transaction
}

// Message is the state of the message in progress.
type Message struct {
	Info     MailInfo
	Local    string // sender local part
	Domain   string // sender domain, lower case; "" for the null or an unqualified sender
	IsBounce bool   // null sender, or a banned_users local part

	Rcpts []string // recipients so far
	Rcpt  string   // the recipient being checked
	// rcptSigned: Rcpt is an SRS or SES address of ours, checked (a
	// bounce to mail we sent), or an RRS alias its forwarder sent to.
	rcptSigned bool
	spfRefusal *Decision      // what the SPF check decided, kept until DATA or not
	accepted   int            // recipients taken (no decision at RCPT)
	dnsbl      []dnsbl.Result // what the DNS blocklists said of the sender's domain
	rrs        rrsMessage

	Subjects    []string     // decoded Subject fields
	header      []Header     // every field, as received (up to the limits below)
	body        *spool.Spool // nil until the first body chunk
	bodyErr     error        // the spool failed (disk full, ...)
	authResults int          // Authentication-Results fields so far
	headerCount int
	headerBytes int
	headersCut  bool
	headerRead  bool // readHeader has run

	SPF *SPFVerdict // nil when SPF was not checked (internal or trusted clients)

	// Whitelisted: the sender is vouched for — SPF policy WHITELIST, or
	// an auto-whitelisted correspondent with SPF pass — and checks that
	// only guess at spam (greylisting, Subject and header checks) spare it.
	Whitelisted bool

	pending   *Decision     // delayed message-level decision: the transaction is condemned
	callback  *Callback     // a call-back the SPF policy asked for
	greyDelay time.Duration // how long greylisting delayed the message
	greyData  *Decision     // a null sender's greylisting, answered at DATA
	greyPass  []string      // client identities of the triplets that passed, counted if the message is accepted
	rep       repMessage    // what reputation made of it, and what it taught
	dkim      dkimMessage
	dmarc     *dmarc.Verdict // nil when DMARC was not evaluated
	hold      *Decision      // a quarantine decided on the way: the message ends held, its edits made
	edits     []Edit
}

// Connect starts the connection: classification, PTR and connect checks.
func (s *Session) Connect(ci ConnInfo) Decision {
	s.Conn = ci
	s.Conn.IP = ci.IP.Unmap() // an MTA on IPv6 may pass ::ffff:192.0.2.1
	s.ipBans, s.ipBansOK = nil, false
	s.ctx = resolver.WithBudget(s.base, resolver.NewBudget(s.e.cfg.DNS.MaxLookups))
	return s.run(StageConnect)
}

// Hello handles HELO/EHLO. A client may say it again (after STARTTLS).
func (s *Session) Hello(name string) Decision {
	s.Helo = name
	s.log("hello", "helo", name)
	if s.Msg != nil { // HELO in the middle of a message: not what mail servers do
		s.offence(demeritHeloAfterMail, "HELO after MAIL FROM")
	}
	return s.run(StageHelo)
}

// MailFrom starts a message. A successful SMTP AUTH makes the connection
// INTERNAL and cancels delayed rejections.
func (s *Session) MailFrom(mi MailInfo) Decision {
	s.Abort() // whatever was in progress is gone
	m := &Message{Info: mi}
	if at := strings.LastIndexByte(mi.Sender, '@'); at >= 0 {
		m.Local, m.Domain = mi.Sender[:at], strings.ToLower(mi.Sender[at+1:])
	} else {
		m.Local = mi.Sender
	}
	m.IsBounce = mi.Sender == "" || s.e.bannedUsers[strings.ToLower(m.Local)]
	s.Msg = m
	s.ctx = resolver.WithBudget(s.base, resolver.NewBudget(s.e.cfg.DNS.MaxLookups))

	kv := []any{"from", mi.Sender}
	if mi.QueueID != "" {
		kv = append(kv, "qid", mi.QueueID)
	}
	if mi.Args != "" {
		kv = append(kv, "args", mi.Args)
	}
	if m.IsBounce {
		kv = append(kv, "bounce", true)
	}
	if mi.AuthUser != "" {
		s.AuthUser = mi.AuthUser
		s.Class |= Internal | Auth
		kv = append(kv, "auth", mi.AuthUser, "class", s.Class)
	}
	s.log("mail from", kv...)
	if s.AuthUser != "" && s.pending != nil {
		s.log("cancel", "tag", s.pending.Tag, "reason", s.pending.Reason, "auth", s.AuthUser)
		s.pending = nil
	}
	return s.run(StageMail)
}

// RcptTo checks one recipient. A final decision here concerns this
// recipient only.
func (s *Session) RcptTo(rcpt, args string) Decision {
	if s.Msg == nil {
		return s.internalError("rcpt", fmt.Errorf("RCPT TO %q without MAIL FROM", rcpt), nil)
	}
	s.Msg.Rcpts = append(s.Msg.Rcpts, rcpt)
	s.Msg.Rcpt, s.Msg.rcptSigned = rcpt, false
	if args != "" {
		s.log("rcpt to", "to", rcpt, "args", args)
	} else {
		s.log("rcpt to", "to", rcpt)
	}
	d := s.run(StageRcpt)
	if d.Action == Continue {
		s.Msg.accepted++
	}
	return d
}

// Data is the DATA command: delayed decisions are answered here.
func (s *Session) Data() Decision {
	if s.Msg == nil {
		return s.internalError("data", fmt.Errorf("DATA without MAIL FROM"), nil)
	}
	if d := s.rrsRelease(); d.Final() {
		return d
	}
	for _, p := range []*Decision{s.pending, s.Msg.pending, s.Msg.greyData} {
		if p != nil {
			s.logDecision(*p, true)
			return *p
		}
	}
	return s.run(StageData)
}

// Header keeps one header field; they are read at the end of the header
// (readHeader). A session keeps at most maxHeaders fields and
// maxHeaderBytes. Header only keeps: behind a milter it runs on the
// connection's own goroutine, whose stack stays small (package milter).
func (s *Session) Header(name, value string) {
	m := s.Msg
	if m == nil || m.headersCut {
		return
	}
	if m.headerCount >= maxHeaders || m.headerBytes+len(name)+len(value) > maxHeaderBytes {
		m.headersCut = true
		s.log("note", "reason", "header too large, rest not checked", "fields", m.headerCount)
		return
	}
	m.headerCount++
	m.headerBytes += len(name) + len(value)
	m.header = append(m.header, Header{Name: name, Value: value})
}

// readHeader reads the fields Header kept, once, before the header
// checks (or before those at end of message, should the MTA have sent no
// end of header): it decodes and logs the Subjects (every field with
// [milter] log_headers) and removes Authentication-Results fields forged
// in our name.
func (s *Session) readHeader() {
	m := s.Msg
	if m.headerRead {
		return
	}
	m.headerRead = true
	for _, h := range m.header {
		if strings.EqualFold(h.Name, "Authentication-Results") {
			s.checkAuthResults(h.Name, h.Value)
		}
		switch {
		case strings.EqualFold(h.Name, "subject"):
			subj := decodeHeader(h.Value)
			m.Subjects = append(m.Subjects, subj)
			s.log("header", "name", h.Name, "value", subj)
		case s.e.cfg.Milter.LogHeaders:
			s.log("header", "name", h.Name, "value", decodeHeader(h.Value))
		}
	}
}

// checkAuthResults removes an Authentication-Results field that claims
// to come from us (RFC 8601 §5): only maxwell may speak for its
// authserv-id. Our own host and trusted relays may.
func (s *Session) checkAuthResults(name, value string) {
	m := s.Msg
	m.authResults++
	if s.Class&(Trusted|Local) != 0 || !strings.EqualFold(authservID(value), s.hostname()) {
		return
	}
	s.AddEdit(Edit{Kind: DeleteHeader, Name: name, Index: m.authResults})
	s.log("note", "reason", "forged Authentication-Results removed", "value", decodeHeader(value))
}

// authservID returns the authserv-id an Authentication-Results value
// starts with, after any comments.
func authservID(v string) string {
	for {
		v = strings.TrimLeft(v, " \t\r\n")
		if !strings.HasPrefix(v, "(") {
			break
		}
		end := strings.IndexByte(v, ')')
		if end < 0 {
			return ""
		}
		v = v[end+1:]
	}
	if strings.HasPrefix(v, `"`) {
		id, _, _ := strings.Cut(v[1:], `"`)
		return id
	}
	if end := strings.IndexAny(v, " \t\r\n;("); end >= 0 {
		return v[:end]
	}
	return v
}

// SetQueueID records the MTA's queue id once it is known: Postfix assigns
// it only after the first accepted recipient.
func (s *Session) SetQueueID(id string) {
	if s.Msg != nil && id != "" {
		s.Msg.Info.QueueID = id
	}
}

// EndOfHeaders runs the header checks.
func (s *Session) EndOfHeaders() Decision {
	if s.Msg == nil {
		return s.internalError("eoh", fmt.Errorf("end of headers without MAIL FROM"), nil)
	}
	s.readHeader()
	d := s.run(StageEOH)
	if d.Action == Continue {
		s.startDKIM()
	}
	return d
}

// EndOfMessage runs the last checks and returns the final decision: if no
// check refused the message, Accept with the edits collected on the way.
func (s *Session) EndOfMessage() Decision {
	if s.Msg == nil {
		return s.internalError("eom", fmt.Errorf("end of message without MAIL FROM"), nil)
	}
	s.readHeader()
	d := s.run(StageEOM)
	if d.Action == Continue {
		d = Decision{Action: Accept, Edits: orderEdits(s.Msg.edits), Callback: s.Msg.callback}
		kv := []any{"action", "accept"}
		if h := s.Msg.hold; h != nil {
			d.Action, d.Tag, d.Reason, d.Text = Quarantine, h.Tag, h.Reason, h.Text
			s.logDecision(d, false)
			kv[1] = "quarantine"
		}
		if qid := s.Msg.Info.QueueID; qid != "" {
			kv = append(kv, "qid", qid)
		}
		s.log("eom", append(kv, "rcpts", len(s.Msg.Rcpts), "edits", len(d.Edits))...)
		s.countGreylistPasses()
		s.messages++
	}
	s.learnReputation(d.Action == Accept)
	s.Msg.dkimAbort() // a message refused before it was signed leaves no signer running
	s.Release()
	s.spent, s.Msg = s.Msg.body, nil // the edits may still read it
	return d
}

// Release frees what the last message's edits needed (its spooled body).
// The milter calls it once the edits are sent; the next message, an
// abort or the end of the connection do it anyway.
func (s *Session) Release() {
	if s.spent != nil {
		s.spent.Close()
		s.spent = nil
	}
}

// Abort drops the message in progress (RSET, or the client went away).
func (s *Session) Abort() {
	s.Release()
	if s.Msg != nil {
		s.log("abort", "from", s.Msg.Info.Sender, "rcpts", len(s.Msg.Rcpts))
		s.learnReputation(false)
		s.Msg.dkimAbort()
		if s.Msg.body != nil {
			s.Msg.body.Close()
		}
		s.Msg = nil
	}
}

// Close ends the connection. Its close event is logged only after a
// connect event, so that the two always pair up (the sessions gauge
// counts them): an MTA may open a milter connection and quit without
// sending CONNECT.
func (s *Session) Close() {
	s.Abort()
	if s.opened {
		s.log("close", "messages", s.messages)
		s.opened = false
	}
}

// AddEdit queues a change to the message, made if it is accepted. Header
// fields inserted at the top end up in the order they were added; their
// values are folded within RFC 5322's line limits.
func (s *Session) AddEdit(e Edit) {
	if e.Kind == InsertHeader || e.Kind == ChangeHeader {
		e.Value = oneline.Fold(e.Name, e.Value)
	}
	if s.Msg != nil {
		s.Msg.edits = append(s.Msg.edits, e)
	}
}

// orderEdits puts the edits in the order the MTA should apply them:
// deletions first, last field first (Sendmail keeps the indexes of the
// other fields, Postfix shifts them); then the fields inserted at the
// top, in reverse, since each goes above the one before; then changed
// fields, recipients, then the body.
func orderEdits(edits []Edit) []Edit {
	out := make([]Edit, 0, len(edits))
	for i := len(edits) - 1; i >= 0; i-- {
		if edits[i].Kind == DeleteHeader {
			out = append(out, edits[i])
		}
	}
	for i := len(edits) - 1; i >= 0; i-- {
		if edits[i].Kind == InsertHeader {
			out = append(out, edits[i])
		}
	}
	for _, kind := range []EditKind{ChangeHeader, ChangeSender, DeleteRecipient, AddRecipient, ReplaceBody} { // the body last: MTAs want it in one go
		for _, e := range edits {
			if e.Kind == kind {
				out = append(out, e)
			}
		}
	}
	return out
}

// hostname is maxwell's name for itself ([milter] hostname), by default
// the MTA's.
func (s *Session) hostname() string {
	switch {
	case s.e.cfg.Milter.Hostname != "":
		return s.e.cfg.Milter.Hostname
	case s.Conn.MTAName != "":
		return s.Conn.MTAName
	}
	return s.e.sysHostname
}

// run runs the checks of a stage in order until one decides. A panic or
// error in a check is answered by the exception policy; a temporary DNS
// failure by 451 4.4.3.
func (s *Session) run(stage Stage) Decision { return s.runChecks(stage, s.e.checks[stage]) }

// runChecks is run over some of a stage's checks.
func (s *Session) runChecks(stage Stage, checks []stageCheck) (d Decision) {
	current := stage.String()
	defer s.Recover(&current, &d)
	for _, c := range checks {
		current = c.where
		dec, err := c.Run(s)
		if err != nil {
			if resolver.IsTemporary(err) {
				return s.decide(stage, delayable(tempfail(451, "4.4.3", err.Error(),
					"Temporary DNS failure, try again later")))
			}
			return s.internalError(current, err, nil)
		}
		if dec != nil && dec.Final() {
			return s.decide(stage, dec)
		}
	}
	return Decision{Action: Continue}
}

// decide logs a check's decision, or keeps it for DATA when it may wait.
func (s *Session) decide(stage Stage, d *Decision) Decision {
	if d.Delayable && s.e.cfg.Milter.DelayedReject && stage < StageData {
		s.log("delay", "tag", d.Tag, "reason", d.Reason, "stage", stage)
		if s.Msg != nil {
			s.Msg.pending = d
		} else {
			s.pending = d
		}
		return Decision{Action: Continue}
	}
	s.logDecision(*d, false)
	return *d
}

// logDecision writes the decision line of the mail log.
func (s *Session) logDecision(d Decision, delayed bool) {
	kv := []any{"tag", d.Tag, "reason", d.Reason}
	if s.Msg != nil && s.Msg.Rcpt != "" {
		kv = append(kv, "rcpt", s.Msg.Rcpt)
	}
	if d.Code != 0 {
		kv = append(kv, "code", d.Code, "xcode", d.XCode, "text", strings.Join(d.Text, " / "))
	}
	if delayed {
		kv = append(kv, "delayed", true)
	}
	s.log("decision", kv...)
	s.noteRefusal(d)
}

func (s *Session) log(event string, kv ...any) { s.e.log.Log(s.ID, event, kv...) }
