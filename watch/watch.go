// Package watch is maxwell's log watcher, after mailsys's "rats": it
// tails the MTA's log (Postfix, Sendmail or Exim) for clients that maxwell
// greylisted and that then hung up without QUIT, lost the connection, or
// never came back, and blacklists them in the store — shared by every MX
// host on the same PostgreSQL — until they have behaved for [watch]
// good_behaviour. Real mail servers retry; spam software mostly does not.
package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
	"github.com/maxwell-milter/maxwell/reputation"
	"github.com/maxwell-milter/maxwell/store"
)

// Bounds on what the watcher remembers, whatever the log holds.
const (
	maxSessions  = 10000           // connections in flight
	maxPending   = 100000          // greylisted clients waiting for their retry
	sessionLimit = 2 * time.Hour   // a connection not heard of for this long is forgotten
	pollInterval = 1 * time.Second // continuous tailing
)

// Watcher reads MTA log lines and blacklists impolite clients.
type Watcher struct {
	cfg    *config.Config
	st     store.Store
	log    *maillog.Logger
	diag   *slog.Logger
	now    func() time.Time
	marker string // how maxwell's greylisting reply starts: "451 4.7.1 Greylisted, please retry in"
	text   string // the same without its code, as Exim logs an ACL's message that has none

	sessions map[string]*Session // by Event.Process
	state    State
	saved    []byte // the state file as last written
	// what it did, for Counts, which may be called while Run runs
	lines, blacklisted, waiting atomic.Int64
}

// Counts is what a watcher did since it started.
type Counts struct {
	Lines       int // MTA log lines read
	Blacklisted int // clients blacklisted (or kept on the blacklist longer)
	Waiting     int // greylisted clients waiting for their retry now
}

// Counts returns what the watcher did since it started; the number
// waiting is as of its latest round through the log.
func (w *Watcher) Counts() Counts {
	return Counts{Lines: int(w.lines.Load()), Blacklisted: int(w.blacklisted.Load()), Waiting: int(w.waiting.Load())}
}

// Session is one connection the MTA logged.
type Session struct {
	ID         uint64     `json:"id"`
	IP         netip.Addr `json:"ip"`
	Seen       time.Time  `json:"seen"`
	Greylisted bool       `json:"greylisted"`
	Sender     string     `json:"sender"` // of the greylisted message
	Since      time.Time  `json:"since"`  // when it was greylisted
	Offended   bool       `json:"offended"`
}

// Pending is a client greylisted that has not come back yet.
type Pending struct {
	IP      netip.Addr `json:"ip"`
	Sender  string     `json:"sender"`
	Since   time.Time  `json:"since"`
	Session uint64     `json:"session"` // the connection it was greylisted on
}

// State is what the watcher keeps across restarts, in [watch] state_file.
type State struct {
	Log      string                    `json:"log"`
	Position Position                  `json:"position"`
	Serial   uint64                    `json:"serial"` // the last connection number given
	Pending  map[netip.Prefix]*Pending `json:"pending"`
	// Sessions are the greylisted connections whose end is not read yet.
	Sessions map[string]*Session `json:"sessions"`
}

// New returns a Watcher that blacklists in st and logs to ml.
func New(cfg *config.Config, st store.Store, ml *maillog.Logger, diag *slog.Logger) *Watcher {
	marker, _, _ := strings.Cut(cfg.Greylist.Text, "{seconds}")
	marker = strings.TrimSpace(marker)
	return &Watcher{
		cfg: cfg, st: st, log: ml, diag: diag, now: time.Now,
		marker:   strings.TrimSpace("451 4.7.1 " + marker),
		text:     marker,
		sessions: map[string]*Session{},
		state:    State{Pending: map[netip.Prefix]*Pending{}},
	}
}

// SetClock replaces the clock (tests).
func (w *Watcher) SetClock(now func() time.Time) { w.now = now }

// Run tails path until ctx ends, reading new lines continuously or, with
// [watch] interval, at that interval; once makes it read what is there
// and return. Its place in the log is saved in [watch] state_file after
// every round, so that a restart goes on where it stopped.
func (w *Watcher) Run(ctx context.Context, path string, once bool) error {
	unlock, err := w.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := w.load(path); err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		if once {
			return fmt.Errorf("mta log: %w", err)
		}
		w.diag.Warn("watch: the MTA log is not there (yet); waiting for it", "log", path, "error", err)
	}
	tail := NewTail(path, w.state.Position)
	defer tail.Close()
	every := pollInterval
	if i := w.cfg.Watch.Interval.D(); i > 0 {
		every = i
	}
	for {
		err := tail.Read(func(line string) error { return w.line(ctx, line) })
		if err == nil {
			err = w.Sweep(ctx)
		}
		if err != nil && ctx.Err() == nil {
			// The store may be down: the line is read again next round.
			w.diag.Warn("watch: cannot go on reading the MTA log; retrying", "log", path, "error", err)
		}
		w.waiting.Store(int64(len(w.state.Pending)))
		w.state.Position = tail.Position()
		if serr := w.save(); serr != nil {
			w.diag.Warn("watch: cannot save the state; a restart will read some lines again", "error", serr)
		}
		if once {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// line reads one line of the MTA log. A line that makes the watcher
// panic is logged and skipped: it must not stop the daemon it runs in.
func (w *Watcher) line(ctx context.Context, line string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.diag.Error("watch: a line of the MTA log could not be read; skipped", "line", oneline.Clean(line), "panic", r)
			err = nil
		}
	}()
	w.lines.Add(1)
	if ev, ok := Parse(line, w.now()); ok {
		return w.Process(ctx, ev)
	}
	return nil
}

// Process takes one event, in log order. It fails only when the store
// does; the event can then be given again.
func (w *Watcher) Process(ctx context.Context, ev Event) error {
	at := ev.Time
	if at.IsZero() {
		at = w.now()
	}
	if ev.Kind == Queued {
		// A message from Sender got through, from whichever client: a
		// pool of servers retries from another address.
		w.cameBack(0, ev.IP, ev.Sender)
		return nil
	}
	s := w.sessions[ev.Process]
	// A connection that began after the session was last heard of (Exim
	// by address, whose end went unlogged) is a new one: a second's
	// slack for stamps in whole seconds.
	fresh := s != nil && !ev.Began.IsZero() && s.Seen.Before(ev.Began.Add(-time.Second))
	if s == nil || ev.Kind == Connect || fresh {
		if len(w.sessions) >= maxSessions {
			w.forgetSessions(at)
		}
		w.state.Serial++
		s = &Session{ID: w.state.Serial}
		w.sessions[ev.Process] = s
	}
	if ev.IP.IsValid() {
		// The latest address counts (XCLIENT changes it); Sendmail names
		// the client only after the refusal.
		named := s.IP.IsValid()
		s.IP = ev.IP
		if !named && s.Greylisted {
			w.cameBack(s.ID, s.IP, "")
			w.wait(s)
		}
	}
	s.Seen = at
	switch ev.Kind {
	case Refused:
		if !w.greylisting(ev.Reply) {
			return nil // not maxwell's greylisting
		}
		w.cameBack(s.ID, s.IP, ev.Sender) // greylisted again: it came back
		s.Greylisted, s.Since = true, at
		if ev.Sender != "" {
			s.Sender = ev.Sender
		}
		w.wait(s)
	case Lost:
		if s.Greylisted && !s.Offended {
			if err := w.offence(ctx, s.IP, "greylisted, then "+ev.Detail, at); err != nil {
				return err
			}
			s.Offended = true
		}
		if ev.Ends {
			delete(w.sessions, ev.Process)
		}
	case Mail:
		w.cameBack(s.ID, s.IP, "")
	case Disconnect:
		if s.Greylisted && !s.Offended && ev.Counted && !ev.Quit {
			if err := w.offence(ctx, s.IP, "greylisted, then disconnected without QUIT", at); err != nil {
				return err
			}
		}
		if ev.Mailed {
			w.cameBack(s.ID, s.IP, "")
		}
		delete(w.sessions, ev.Process)
	}
	return nil
}

// greylisting reports whether reply is maxwell's greylisting reply (or
// the one an Exim ACL gives in its words): it starts with marker, or,
// having no SMTP code of its own (an Exim ACL's message as logged), with
// [greylist] text up to {seconds}.
func (w *Watcher) greylisting(reply string) bool {
	if strings.HasPrefix(reply, w.marker) {
		return true
	}
	coded := len(reply) >= 4 && digits(reply[:3]) && (reply[3] == ' ' || reply[3] == '-')
	return !coded && w.text != "" && strings.HasPrefix(reply, w.text)
}

// Sweep blacklists the greylisted clients that did not come back within
// [greylist] retry_window, and forgets connections long silent.
func (w *Watcher) Sweep(ctx context.Context) error {
	now := w.now()
	window := w.cfg.Greylist.RetryWindow.D()
	for prefix, p := range w.state.Pending {
		if deadline := p.Since.Add(window); deadline.Before(now) {
			if err := w.offence(ctx, p.IP, "greylisted, never retried within "+window.String(), deadline); err != nil {
				return err
			}
			delete(w.state.Pending, prefix)
		}
	}
	w.forgetSessions(now)
	return nil
}

// forgetSessions drops connections not heard of since sessionLimit
// before now (their end was not logged, or not read).
func (w *Watcher) forgetSessions(now time.Time) {
	for k, s := range w.sessions {
		if now.Sub(s.Seen) > sessionLimit {
			delete(w.sessions, k)
		}
	}
}

// wait remembers a greylisted client until it comes back, with [watch]
// never_retried, once its address is known.
func (w *Watcher) wait(s *Session) {
	if !w.cfg.Watch.NeverRetried || !s.IP.IsValid() {
		return
	}
	prefix := w.prefix(s.IP)
	if _, ok := w.state.Pending[prefix]; ok || len(w.state.Pending) >= maxPending {
		return
	}
	w.state.Pending[prefix] = &Pending{IP: s.IP, Sender: s.Sender, Since: s.Since, Session: s.ID}
}

// cameBack forgets the clients that a connection (other than the one
// they were greylisted on) shows to have come back: from the same
// network as ip, or with the same sender.
func (w *Watcher) cameBack(session uint64, ip netip.Addr, sender string) {
	if ip.IsValid() {
		prefix := w.prefix(ip)
		if p := w.state.Pending[prefix]; p != nil && p.Session != session {
			delete(w.state.Pending, prefix)
		}
	}
	if sender == "" {
		return
	}
	for prefix, p := range w.state.Pending {
		if p.Sender == sender && p.Session != session {
			delete(w.state.Pending, prefix)
		}
	}
}

// prefix is the network greylisting knows a client by ([greylist]
// ipv4_prefix, ipv6_prefix): a retry from elsewhere in it counts.
func (w *Watcher) prefix(ip netip.Addr) netip.Prefix {
	bits := w.cfg.Greylist.IPv6Prefix
	if ip.Is4() {
		bits = w.cfg.Greylist.IPv4Prefix
	}
	p, _ := ip.Prefix(bits)
	return p
}

// offence blacklists ip until good_behaviour after at, and stops waiting
// for its retry.
func (w *Watcher) offence(ctx context.Context, ip netip.Addr, reason string, at time.Time) error {
	if err := w.ban(ctx, ip, reason, at); err != nil {
		return err
	}
	delete(w.state.Pending, w.prefix(ip))
	return nil
}

// ban puts ip on the blacklist until good_behaviour after at, unless it
// is there until then or later already (a line read again, an older
// offence) or that time has passed (it has behaved since).
func (w *Watcher) ban(ctx context.Context, ip netip.Addr, reason string, at time.Time) error {
	until := at.Add(w.cfg.Watch.GoodBehaviour.D())
	now := w.now()
	if !until.After(now) {
		return nil
	}
	old, err := w.st.Banned(ctx, store.BanClient, ip.String(), now)
	if err != nil || old != nil && !old.Expires.Before(until) {
		return err
	}
	// An administrator lifted its ban after this offence: it stays lifted.
	if lifted, err := w.st.Banned(ctx, store.BanLifted, ip.String(), now); err != nil || lifted != nil && !at.After(lifted.Created) {
		return err
	}
	if err := w.st.Ban(ctx, store.Ban{Kind: store.BanClient, Key: ip.String(), Reason: reason, Created: at, Expires: until}); err != nil {
		return err
	}
	w.log.Log(0, "blacklist", "ip", ip, "reason", reason, "at", at.UTC().Format(time.RFC3339), "until", until.UTC().Format(time.RFC3339))
	w.blacklisted.Add(1)
	if r := w.cfg.Reputation; r.Enabled && r.Rat > 0 {
		// A rat's network is taught so, once a blacklisting.
		obs := []store.Observation{{ID: reputation.Net(w.prefix(ip)), Bad: r.Rat}}
		if err := w.st.Learn(ctx, obs, now, r.HalfLife.D()); err != nil {
			w.diag.Warn("cannot learn reputations", "ip", ip, "error", err)
		}
	}
	return nil
}

// Lift lifts a client's blacklisting at now, as maxwell blacklist delete
// does, and records it (store.BanLifted) so that no watcher blacklists
// the client again for an offence from before now. It reports whether
// the client was blacklisted.
func Lift(ctx context.Context, st store.Store, cfg *config.Config, ip string, now time.Time) (bool, error) {
	banned, err := st.Banned(ctx, store.BanClient, ip, now)
	if err != nil || banned == nil {
		return false, err
	}
	// The lifting is recorded first: should the unban then fail, the
	// client stays banned and no watcher bans it again for the past.
	if err := st.Ban(ctx, store.Ban{Kind: store.BanLifted, Key: ip, Reason: "lifted by hand", Created: now,
		Expires: now.Add(cfg.Watch.GoodBehaviour.D())}); err != nil {
		return false, err
	}
	return st.Unban(ctx, store.BanClient, ip)
}

// lock makes sure this is the only watcher on its state file: two (a
// maxwell watch beside a serve --watch) would read the log twice and
// overwrite each other's place in it. The lock (flock on the state
// file's name with ".lock") goes with the process.
func (w *Watcher) lock() (unlock func(), err error) {
	path := w.cfg.WatchStatePath() + ".lock"
	if err := safefile.MakeDir(safefile.Parent(path)); err != nil {
		return nil, fmt.Errorf("watch state: %w", err)
	}
	// Read-only is enough for flock; 0644, so that a watcher running as
	// the daemon's user can open a lock file a root `maxwell watch
	// --once` made first. It holds nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("watch state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another watcher is running on %s (maxwell watch, or maxwell serve --watch / [watch] mta_log): run only one", w.cfg.WatchStatePath())
		}
		return nil, fmt.Errorf("watch state lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// load reads the state file; a missing one, or one about another log,
// starts afresh.
func (w *Watcher) load(path string) error {
	b, err := os.ReadFile(w.cfg.WatchStatePath())
	if os.IsNotExist(err) {
		w.state.Log = path
		return nil
	}
	if err != nil {
		return fmt.Errorf("watch state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("watch state %s: %w (delete it to start afresh)", w.cfg.WatchStatePath(), err)
	}
	if st.Pending == nil {
		st.Pending = map[netip.Prefix]*Pending{}
	}
	if st.Log != path {
		st.Log, st.Position = path, Position{}
	}
	w.state = st
	for k, s := range st.Sessions {
		w.sessions[k] = s
	}
	return nil
}

// save writes the state file atomically.
func (w *Watcher) save() error {
	w.state.Sessions = map[string]*Session{}
	for k, s := range w.sessions {
		if s.Greylisted {
			w.state.Sessions[k] = s
		}
	}
	b, err := json.Marshal(w.state)
	if err != nil || bytes.Equal(b, w.saved) {
		return err
	}
	path := w.cfg.WatchStatePath()
	if err := safefile.MakeDir(safefile.Parent(path)); err != nil {
		return err
	}
	// A new file of a random name (O_EXCL: a link planted in its place
	// is not followed), renamed over the old one.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Chmod(0o640), f.Close()); err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	w.saved = b
	return nil
}
