// Package milter connects maxwell's policy engine to MTAs through the
// milter protocol (github.com/d--j/go-milter). It is the only package that
// speaks the protocol: it turns milter events into policy.Session calls
// and Decisions into milter responses and message modifications.
package milter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/internal/ratelog"
	"github.com/maxwell-milter/maxwell/policy"
)

// Actions maxwell may ask of the MTA, and protocol steps it leaves out:
// no unknown commands, and header fields and body chunks are judged at
// the end, so they need no reply each.
const (
	wantActions  = milter.OptAddHeader | milter.OptChangeHeader | milter.OptChangeBody | milter.OptAddRcpt | milter.OptRemoveRcpt | milter.OptQuarantine | milter.OptSetMacros | milter.OptChangeFrom
	wantProtocol = milter.OptNoUnknown | milter.OptNoHeaderReply | milter.OptNoBodyReply
)

// Macros maxwell reads, by the stage it asks for them.
var wantMacros = map[milter.MacroStage][]string{
	milter.StageConnect: {"j", "{daemon_port}", "{client_ptr}"},
	milter.StageMail:    {"{auth_authen}", "i"},
	milter.StageData:    {"i"},
	milter.StageEOM:     {"i"},
}

// Server serves the milter protocol. Its engine can be replaced while it
// runs (configuration reload); each session keeps the engine it began with.
type Server struct {
	engine      atomic.Pointer[policy.Engine]
	diag        *slog.Logger
	srv         *milter.Server
	maxSessions int
	refused     func() // called for each connection refused past maxSessions
}

// libraryWarnings are go-milter's own warnings. Most are about one
// connection (left idle, gone, malformed), so a peer could write one per
// connection: they are rate-limited.
var libraryWarnings = ratelog.New("from the milter library", slog.Default)

func init() {
	// go-milter's own warnings go to the diagnostic log, not to log.Printf.
	milter.LogWarning = func(format string, v ...any) { libraryWarnings.Warn("milter: " + fmt.Sprintf(format, v...)) }
}

// NewServer returns a server for e. idle is the longest wait for the MTA's
// next command ([milter] timeout).
func NewServer(e *policy.Engine, diag *slog.Logger, idle time.Duration) *Server {
	s := &Server{diag: diag}
	s.engine.Store(e)
	opts := []milter.Option{
		milter.WithDynamicMilter(func(uint32, milter.OptAction, milter.OptProtocol, milter.DataSize) milter.Milter {
			return &session{srv: s}
		}),
		milter.WithNegotiationCallback(negotiate),
		milter.WithReadTimeout(idle),
	}
	for stage, names := range wantMacros {
		opts = append(opts, milter.WithMacroRequest(stage, names))
	}
	s.srv = milter.NewServer(opts...)
	return s
}

// SetEngine makes new sessions use e.
func (s *Server) SetEngine(e *policy.Engine) { s.engine.Store(e) }

// LimitSessions makes Serve keep at most n sessions open ([milter]
// max_sessions); 0, the default, is no limit. Call it before Serve.
func (s *Server) LimitSessions(n int) { s.maxSessions = n }

// ObserveRefused makes Serve call f for each connection it refuses past
// the session limit (the metrics count them). Call it before Serve.
func (s *Server) ObserveRefused(f func()) { s.refused = f }

// Serve accepts MTA connections on ln until Shutdown. A temporary accept
// error (no file descriptor left) is logged and waited out; only a
// permanent one ends Serve.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(newSessionListener(ln, s.maxSessions, s.refused, s.diag))
	if errors.Is(err, milter.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for the sessions in
// flight until ctx ends, then closes them.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// negotiate agrees on protocol version, actions and steps: what maxwell
// wants and the MTA offers. A missing action is logged, not fatal: the
// MTA then simply does not get that kind of edit.
func negotiate(mtaVersion, milterVersion uint32, mtaActions, _ milter.OptAction, mtaProtocol, _ milter.OptProtocol, offered milter.DataSize) (uint32, milter.OptAction, milter.OptProtocol, milter.DataSize, error) {
	version := min(mtaVersion, milterVersion)
	if version < 2 {
		return 0, 0, 0, 0, fmt.Errorf("milter protocol version %d is too old", mtaVersion)
	}
	if missing := wantActions &^ mtaActions; missing != 0 {
		slog.Warn("MTA does not offer milter actions maxwell uses", "missing", missing.String())
	}
	return version, wantActions & mtaActions, wantProtocol & mtaProtocol, offered, nil
}

// session adapts one milter connection to a policy.Session.
type session struct {
	srv       *Server
	ps        *policy.Session
	connected bool // ps has had its CONNECT
}

// NewConnection is called for each SMTP connection the milter connection
// carries (an MTA may reuse it). It, Abort and Cleanup, like Header and
// BodyChunk, run on go-milter's goroutine: they keep, drop or log, which
// needs little stack (see onStackWorker).
func (m *session) NewConnection(milter.Modifier) error {
	if m.ps != nil {
		m.ps.Close()
	}
	m.ps, m.connected = m.srv.engine.Load().NewSession(), false
	return nil
}

func (m *session) Connect(host, family string, port uint16, addr string, mod milter.Modifier) (*milter.Response, error) {
	if m.connected { // a second CONNECT without QUIT_NC: a new SMTP connection all the same
		m.NewConnection(mod)
	}
	m.connected = true
	ci := policy.ConnInfo{
		Hostname:   host,
		Port:       port,
		MTAName:    strings.TrimSpace(mod.Get("j")),
		DaemonPort: mod.Get("{daemon_port}"),
		MTAPTR:     mod.Get("{client_ptr}"),
	}
	if family == "tcp4" || family == "tcp6" {
		ci.IP, _ = netip.ParseAddr(addr)
	}
	return m.answer("connect", mod, func() policy.Decision { return m.ps.Connect(ci) })
}

func (m *session) Helo(name string, mod milter.Modifier) (*milter.Response, error) {
	return m.answer("helo", mod, func() policy.Decision { return m.ps.Hello(name) })
}

func (m *session) MailFrom(from, esmtpArgs string, mod milter.Modifier) (*milter.Response, error) {
	mi := policy.MailInfo{Sender: from, Args: esmtpArgs, AuthUser: mod.Get("{auth_authen}"), QueueID: mod.Get("i")}
	return m.answer("mail", mod, func() policy.Decision { return m.ps.MailFrom(mi) })
}

func (m *session) RcptTo(rcpt, esmtpArgs string, mod milter.Modifier) (*milter.Response, error) {
	return m.answer("rcpt", mod, func() policy.Decision { return m.ps.RcptTo(rcpt, esmtpArgs) })
}

func (m *session) Data(mod milter.Modifier) (*milter.Response, error) {
	return m.answer("data", mod, func() policy.Decision {
		m.ps.SetQueueID(mod.Get("i"))
		return m.ps.Data()
	})
}

// Header and BodyChunk only keep what they are given, and there are many
// of them per message.
func (m *session) Header(name, value string, mod milter.Modifier) (*milter.Response, error) {
	return m.answerHere("header", mod, func() policy.Decision {
		m.ps.Header(name, value)
		return policy.Decision{}
	})
}

func (m *session) Headers(mod milter.Modifier) (*milter.Response, error) {
	return m.answer("eoh", mod, m.ps.EndOfHeaders)
}

// BodyChunk hands a piece of the body to the session, which spools it.
func (m *session) BodyChunk(chunk []byte, mod milter.Modifier) (*milter.Response, error) {
	return m.answerHere("body", mod, func() policy.Decision {
		m.ps.Body(chunk)
		return policy.Decision{}
	})
}

// EndOfMessage runs the last checks. A call-back to the sender's mail
// server may take a while: meanwhile the MTA is told every few seconds
// that maxwell is still at it (milter progress), so it does not time out.
// The checks run on a stack worker (see onStackWorker); the progress and the
// edits, which only write to the MTA, on go-milter's goroutine.
func (m *session) EndOfMessage(mod milter.Modifier) (*milter.Response, error) {
	defer m.ps.Release() // the edits are made: the spooled body can go
	return m.answerHere("eom", mod, func() policy.Decision {
		m.ps.SetQueueID(mod.Get("i"))
		done := make(chan policy.Decision, 1)
		onStackWorker(func() {
			var d policy.Decision
			where := "eom"
			defer func() { done <- d }()
			defer m.ps.Recover(&where, &d)
			d = m.ps.EndOfMessage()
		})
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case d := <-done:
				return d
			case <-tick.C:
				mod.Progress() // an MTA gone away shows at the answer
			}
		}
	})
}

// progressInterval is how often a long end of message tells the MTA it
// is still working.
var progressInterval = 5 * time.Second

func (m *session) Abort(milter.Modifier) error {
	m.ps.Abort()
	return nil
}

func (m *session) Unknown(string, milter.Modifier) (*milter.Response, error) {
	return milter.RespContinue, nil
}

func (m *session) Cleanup(milter.Modifier) {
	if m.ps != nil {
		m.ps.Close()
	}
}

// answer runs one engine call, guarded by the exception policy, and turns
// its decision into a milter response, making the message edits at end of
// message. All of it runs on a stack worker (see onStackWorker), which
// go-milter's goroutine waits for.
func (m *session) answer(where string, mod milter.Modifier, call func() policy.Decision) (*milter.Response, error) {
	a := answerCalls.Get().(*answerCall)
	a.m, a.where, a.mod, a.call = m, where, mod, call
	onStackWorker(a.run)
	<-a.done
	resp, err := a.resp, a.err
	*a = answerCall{run: a.run, done: a.done}
	answerCalls.Put(a)
	return resp, err
}

// An answerCall carries one call of answer to a stack worker and its
// answer back. They are pooled: handing a call over allocates nothing, a
// closure would (and the results it set), at every command of every
// session.
type answerCall struct {
	m     *session
	where string
	mod   milter.Modifier
	call  func() policy.Decision
	resp  *milter.Response
	err   error
	run   func()        // a.answer, made once: a method value passed on is allocated
	done  chan struct{} // answer has set resp and err
}

var answerCalls = sync.Pool{New: func() any {
	a := &answerCall{done: make(chan struct{}, 1)}
	a.run = a.answer
	return a
}}

func (a *answerCall) answer() {
	defer a.answered() // even if the call ends its goroutine
	a.resp, a.err = a.m.answerHere(a.where, a.mod, a.call)
}

func (a *answerCall) answered() { a.done <- struct{}{} }

func (m *session) answerHere(where string, mod milter.Modifier, call func() policy.Decision) (*milter.Response, error) {
	d := m.decide(where, call)
	if why := m.cannotApply(d, mod); why != "" {
		d = policy.Decision{Action: policy.Tempfail, Code: 451, XCode: "4.3.0", Text: []string{why}}
	}
	if d.Action == policy.Accept || d.Action == policy.Quarantine {
		if err := m.edit(d, mod); err != nil {
			return nil, err // the MTA went away; nothing left to answer
		}
	}
	return response(d), nil
}

func (m *session) decide(where string, call func() policy.Decision) (d policy.Decision) {
	defer m.ps.Recover(&where, &d)
	return call()
}

// onStackWorker hands task to a stack worker that waits for one, or to a
// new one. go-milter keeps one goroutine per milter connection, blocked
// in a read while the MTA has nothing to say, and a goroutine keeps the
// largest stack it ever grew: the garbage collector halves a stack only
// while less than a quarter of it is in use, and go-milter's read path
// alone takes more than a quarter of 8 KiB. The policy's checks (DNS,
// SPF, the store's SQL, the body scan) run deep, so they run on a stack
// worker, and an idle session keeps the small stack its goroutine
// started with.
func onStackWorker(task func()) {
	select {
	case stackTasks <- task:
	default:
		go stackWorker(task)
	}
}

// Stack workers run the policy's checks (onStackWorker). A worker keeps the
// stack its checks grew, so that the next check does not grow a new one
// (a deep call on a new goroutine costs several stack copies); at most
// maxIdleWorkers wait for a task, the others end, so that a burst of
// sessions leaves no crowd of workers behind, and a worker left without
// a task for workerIdleTime ends too, so that a quiet daemon is back to
// its goroutines of before the load.
var (
	stackTasks  = make(chan func())
	idleWorkers atomic.Int32
)

const (
	maxIdleWorkers = 16
	workerIdleTime = 2 * time.Second
)

func stackWorker(task func()) {
	idle := time.NewTimer(workerIdleTime)
	defer idle.Stop()
	for {
		task()
		if idleWorkers.Add(1) > maxIdleWorkers {
			idleWorkers.Add(-1)
			return
		}
		idle.Reset(workerIdleTime)
		select {
		case task = <-stackTasks:
			idleWorkers.Add(-1)
		case <-idle.C:
			idleWorkers.Add(-1)
			return
		}
	}
}

// cannotApply says, in the words of a 451 reply, why d cannot be carried
// out by this MTA: a message whose dangerous attachment cannot be removed,
// or that cannot be held for review, is deferred, never delivered as it
// is. "" when it can.
func (m *session) cannotApply(d policy.Decision, mod milter.Modifier) string {
	if d.Action == policy.Quarantine && mod.Actions()&milter.OptQuarantine == 0 {
		m.srv.diag.Error("the MTA does not let maxwell quarantine; a message to hold is deferred", "conn", m.ps.ID)
		return "Cannot hold this message for review here, try again later"
	}
	for _, e := range d.Edits {
		if e.Kind == policy.ReplaceBody && mod.Actions()&milter.OptChangeBody == 0 {
			m.srv.diag.Error("the MTA does not let maxwell replace the body; a message to defang is deferred", "conn", m.ps.ID)
			return "Cannot remove a dangerous attachment here, try again later"
		}
	}
	return ""
}

// editAction is the milter action each kind of edit needs the MTA to
// have offered.
var editAction = map[policy.EditKind]milter.OptAction{
	policy.InsertHeader:    milter.OptAddHeader,
	policy.DeleteHeader:    milter.OptChangeHeader,
	policy.ChangeHeader:    milter.OptChangeHeader,
	policy.ReplaceBody:     milter.OptChangeBody,
	policy.AddRecipient:    milter.OptAddRcpt,
	policy.DeleteRecipient: milter.OptRemoveRcpt,
	policy.ChangeSender:    milter.OptChangeFrom,
}

// edit applies a decision's message edits (only allowed at end of message).
func (m *session) edit(d policy.Decision, mod milter.Modifier) error {
	for _, e := range d.Edits {
		if mod.Actions()&editAction[e.Kind] == 0 {
			m.srv.diag.Error("the MTA did not offer the milter action this edit needs; not made",
				"conn", m.ps.ID, "action", editAction[e.Kind].String(), "header", e.Name)
			continue
		}
		var err error
		switch e.Kind {
		case policy.InsertHeader:
			err = mod.InsertHeader(e.Index, e.Name, e.Value)
		case policy.DeleteHeader:
			err = mod.ChangeHeader(e.Index, e.Name, "")
		case policy.ChangeHeader:
			err = mod.ChangeHeader(e.Index, e.Name, e.Value)
		case policy.ReplaceBody:
			err = replaceBody(mod, e.Body)
		case policy.AddRecipient:
			err = mod.AddRecipient(e.Name, "")
		case policy.DeleteRecipient:
			err = mod.DeleteRecipient(e.Name)
		case policy.ChangeSender:
			err = mod.ChangeFrom(e.Name, "")
		}
		if err != nil {
			return err
		}
	}
	if d.Action == policy.Quarantine {
		return mod.Quarantine(d.Reason)
	}
	return nil
}

// replaceBody streams what write produces to the MTA.
func replaceBody(mod milter.Modifier, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	err := mod.ReplaceBody(pr)
	pr.CloseWithError(err) // stop the writer if the MTA went away
	return err
}

// response turns a decision into what the MTA is told.
func response(d policy.Decision) *milter.Response {
	switch d.Action {
	case policy.Continue:
		return milter.RespContinue
	case policy.Accept, policy.Quarantine:
		return milter.RespAccept
	case policy.Discard:
		return milter.RespDiscard
	}
	fallback := milter.RespTempFail
	if d.Action == policy.Reject {
		fallback = milter.RespReject
	}
	if d.Code == 0 {
		return fallback
	}
	reason := strings.Join(d.Text, "\n")
	if d.XCode != "" {
		reason = d.XCode + " " + reason
	}
	r, err := milter.RejectWithCodeAndReason(uint16(d.Code), reason)
	if err != nil {
		return fallback
	}
	return r
}
