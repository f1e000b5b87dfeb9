// Package web is maxwell's web console for the mail administrator
// (docs/web.md): server-rendered pages, without JavaScript or assets
// from elsewhere, to look at the greylist and let through or delete its
// entries. Users and their bcrypt password hashes come from the [web]
// configuration section; sessions live in memory; every change asks for
// the session's CSRF token and is logged in the mail log with its user.
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/logindex"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
	"golang.org/x/crypto/bcrypt"
)

// Limits of the console.
const (
	// PageSize is the most entries a list shows on one page.
	PageSize = 100
	// LoginFailures is how many failed logins an address may make in
	// LoginWindow; past them it gets 429 until the window moves on.
	LoginFailures = 5
	// LoginWindow is the span LoginFailures are counted in.
	LoginWindow = time.Minute
	// MaxSessions bounds the sessions kept: at the bound, a login drops
	// the oldest one.
	MaxSessions = 1000
	// MaxUserSessions bounds the sessions of one user: at the bound, the
	// user's login drops the user's oldest one. With at most 100 users
	// ([web] users), no user's logins push out another's sessions, as a
	// read-only user's did by logging in a thousand times.
	MaxUserSessions = MaxSessions / 100
	// maxTracked bounds the addresses whose failures are remembered.
	maxTracked = 10000
	// maxBody bounds a form posted.
	maxBody = 64 << 10
)

// bodyLimits are the POSTs that may be larger than maxBody, by path.
var bodyLimits = map[string]int64{"/check": maxCheckBody}

// ContentSecurityPolicy is sent with every response: nothing from
// elsewhere, no script at all, forms only to the console itself, and
// never in a frame.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"

//go:embed templates/*.html
var templateFS embed.FS

var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"login", "overview", "greylist", "log", "conn", "blacklist", "check", "config"} {
		m[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return m
}()

// Deps is what the console works with.
type Deps struct {
	// Index is the index of the mail log, LogFile the log: the log
	// pages search the one and read connections from the other. Nil
	// when the mail log is no file (stderr, syslog).
	Index   *logindex.Index
	LogFile string
	// Store holds the greylist.
	Store store.Store
	// DNS counts the daemon's DNS lookups, for the overview; nil when
	// they are not counted.
	DNS *resolver.Counts
	// Log is the mail log, where every change is logged (event=web).
	Log *maillog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Diag is the diagnostic log, for errors; nil discards them.
	Diag *slog.Logger
	// Config returns the configuration in use, which a reload replaces;
	// nil: the one New was given. ConfigFile is the file it is read
	// from, "" for the embedded defaults.
	Config     func() *config.Config
	ConfigFile string
}

// console is the handler New returns.
type console struct {
	cfg    config.Web // as started: [web] changes only at restart
	deps   Deps
	users  map[string]config.WebUser
	cookie string
	mux    *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session
	failures map[string][]time.Time // failed logins by address, oldest first

	// dummyHash is compared with the password of an unknown user, so
	// that answering takes as long as for a known one: made at start,
	// at the highest cost of the users' hashes (config check warns
	// when their costs differ).
	dummyHash []byte

	// comparing bounds the password comparisons running at once: each
	// costs a core for a tenth of a second, and a flood of logins must
	// not take the machine.
	comparing chan struct{}

	// checking bounds the checks running at once (MaxChecks).
	checking chan struct{}
}

// session is one login.
type session struct {
	user     string
	readOnly bool
	csrf     string
	created  time.Time
	expires  time.Time
}

// New returns the console's handler for the [web] settings of cfg; the
// rest of the configuration, [greylist] among it, is deps.Config's, the
// latest reload's.
func New(cfg *config.Config, deps Deps) http.Handler {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Diag == nil {
		deps.Diag = slog.New(slog.DiscardHandler)
	}
	if deps.Config == nil {
		deps.Config = func() *config.Config { return cfg }
	}
	c := &console{
		cfg: cfg.Web, deps: deps,
		users:    map[string]config.WebUser{},
		cookie:   "maxwell_session",
		sessions: map[string]*session{},
		failures: map[string][]time.Time{},
		mux:      http.NewServeMux(),
	}
	if cfg.Web.TLS() {
		c.cookie = "__Host-maxwell_session" // the browser keeps it only if Secure, for this host, at /
	}
	cost := bcrypt.MinCost
	for _, u := range cfg.Web.Users {
		c.users[u.Name] = u
		if n, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && n > cost {
			cost = n
		}
	}
	c.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	c.comparing = make(chan struct{}, runtime.GOMAXPROCS(0))
	c.checking = make(chan struct{}, MaxChecks)
	c.mux.HandleFunc("GET /login", c.loginForm)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.change(c.logout))
	c.mux.HandleFunc("GET /{$}", c.page((&overview{c: c}).serve))
	c.mux.HandleFunc("GET /greylist", c.page(c.greylistPage))
	c.mux.HandleFunc("POST /greylist/allow", c.change(c.allow))
	c.mux.HandleFunc("POST /greylist/delete", c.change(c.delete))
	c.mux.HandleFunc("GET /log", c.page(c.logPage))
	c.mux.HandleFunc("GET /conn", c.page(c.connPage))
	bl := &blacklist{console: c}
	c.mux.HandleFunc("GET /blacklist", c.page(bl.page))
	c.mux.HandleFunc("POST /blacklist/add", c.change(bl.add))
	c.mux.HandleFunc("POST /blacklist/delete", c.change(bl.delete))
	c.mux.HandleFunc("GET /check", c.page(c.checkForm))
	c.mux.HandleFunc("POST /check", c.upload(c.check))
	c.mux.HandleFunc("GET /config", c.page(c.configPage))
	return c
}

// ServeHTTP sets the security headers of every answer and serves r.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if c.cfg.TLS() {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.Method == http.MethodPost {
		// Defence in depth behind the CSRF token and SameSite: a form
		// another site made a browser send is refused unread.
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		limit := int64(maxBody)
		if n, ok := bodyLimits[r.URL.Path]; ok {
			limit = n
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	c.mux.ServeHTTP(w, r)
}

// view is what every template is given.
type view struct {
	Title, User, CSRF, Note, Error string
	ReadOnly                       bool
	Data                           any
}

func (c *console) render(w http.ResponseWriter, status int, name string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages[name].ExecuteTemplate(w, name+".html", v); err != nil {
		c.deps.Diag.Error("web: rendering a page", "page", name, "error", err)
	}
}

// token is a random 32-byte value, base64url.
func token() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's live session, nil if none.
func (c *console) session(r *http.Request) *session {
	ck, err := r.Cookie(c.cookie)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[ck.Value]
	if s == nil {
		return nil
	}
	if !c.deps.Now().Before(s.expires) {
		delete(c.sessions, ck.Value)
		return nil
	}
	return s
}

// page wraps a GET page: without a session, the browser is sent to the
// login form.
func (c *console) page(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// change wraps a POST that changes something: it needs a session, its
// CSRF token, and (but for logging out) a user who may change things.
func (c *console) change(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.postSession(w, r)
		if s == nil {
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if !csrfValid(w, s, r.PostForm.Get("csrf")) {
			return
		}
		if s.readOnly && r.URL.Path != "/logout" {
			http.Error(w, "read-only user", http.StatusForbidden)
			return
		}
		h(w, r, s)
	}
}

// postSession is the session of a POST; without one, the POST is
// refused (403) and it returns nil.
func (c *console) postSession(w http.ResponseWriter, r *http.Request) *session {
	s := c.session(r)
	if s == nil {
		http.Error(w, "not logged in", http.StatusForbidden)
	}
	return s
}

// csrfValid reports whether got is the CSRF token of s; if not, the
// POST is refused (403).
func csrfValid(w http.ResponseWriter, s *session, got string) bool {
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		http.Error(w, "invalid or missing CSRF token: reload the page", http.StatusForbidden)
		return false
	}
	return true
}

// remoteKey is what failed logins are counted by: the client's
// address (its /64 for IPv6), or "local" over a unix socket.
func remoteKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "local"
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// reserve counts a login attempt of key as failed before its password
// is compared, so that attempts sent at once cannot all pass the limit
// while the comparisons run; a login that succeeds gives it back
// (refund). It reports false when key has failed too often lately, or
// when maxTracked addresses have failures and key is not one of them:
// a full table refuses newcomers rather than stop counting.
func (c *console) reserve(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs := c.failures[key]
	for len(fs) > 0 && now.Sub(fs[0]) >= LoginWindow {
		fs = fs[1:]
	}
	if len(fs) >= LoginFailures {
		c.failures[key] = fs
		return false
	}
	if _, ok := c.failures[key]; !ok && len(c.failures) >= maxTracked {
		for k, o := range c.failures {
			if now.Sub(o[len(o)-1]) >= LoginWindow {
				delete(c.failures, k)
			}
		}
		if len(c.failures) >= maxTracked {
			return false
		}
	}
	c.failures[key] = append(fs, now)
	return true
}

// refund gives back the attempt reserve counted, for a login that
// succeeded.
func (c *console) refund(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fs := c.failures[key]; len(fs) > 1 {
		c.failures[key] = fs[:len(fs)-1]
	} else {
		delete(c.failures, key)
	}
}

func (c *console) loginForm(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "login", view{Title: "Log in"})
}

func (c *console) login(w http.ResponseWriter, r *http.Request) {
	now := c.deps.Now()
	key := remoteKey(r)
	if !c.reserve(key, now) {
		w.Header().Set("Retry-After", strconv.Itoa(int(LoginWindow/time.Second)))
		c.render(w, http.StatusTooManyRequests, "login", view{Title: "Log in", Error: "Too many failed logins: wait a minute."})
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	name, password := r.PostForm.Get("user"), r.PostForm.Get("password")
	u, known := c.users[name]
	hash := c.dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	select {
	case c.comparing <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		c.render(w, http.StatusServiceUnavailable, "login", view{Title: "Log in", Error: "Too many logins at once: try again."})
		return
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-c.comparing
	if err != nil || !known {
		if !known {
			name = "(unknown)" // a password typed into the user field stays out of the log
		}
		c.deps.Log.Log(0, "web", "user", name, "action", "login", "result", "fail", "remote", key)
		c.render(w, http.StatusUnauthorized, "login", view{Title: "Log in", Error: "Unknown user or wrong password."})
		return
	}
	c.refund(key)
	id := token()
	s := &session{user: u.Name, readOnly: u.ReadOnly, csrf: token(), created: now, expires: now.Add(c.cfg.SessionTTL.D())}
	c.mu.Lock()
	if old, err := r.Cookie(c.cookie); err == nil {
		delete(c.sessions, old.Value) // a new login ends the session it replaces
	}
	c.dropOwnOldest(u.Name, now)
	if len(c.sessions) >= MaxSessions {
		var oldest string
		for k, o := range c.sessions {
			if !now.Before(o.expires) {
				delete(c.sessions, k)
			} else if oldest == "" || o.created.Before(c.sessions[oldest].created) {
				oldest = k
			}
		}
		if len(c.sessions) >= MaxSessions {
			delete(c.sessions, oldest)
		}
	}
	c.sessions[id] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: c.cookie, Value: id, Path: "/",
		MaxAge:   int(c.cfg.SessionTTL.D() / time.Second),
		Secure:   c.cfg.TLS(),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	c.deps.Log.Log(0, "web", "user", u.Name, "action", "login", "result", "ok", "remote", key)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// dropOwnOldest ends the oldest session of user when the user has
// MaxUserSessions: a user's logins end the user's own sessions, never
// another's (MaxSessions, with every user at the bound, is never
// passed). c.mu is held.
func (c *console) dropOwnOldest(user string, now time.Time) {
	n, oldest := 0, ""
	for k, o := range c.sessions {
		if o.user != user || !now.Before(o.expires) {
			continue
		}
		n++
		if oldest == "" || o.created.Before(c.sessions[oldest].created) {
			oldest = k
		}
	}
	if n >= MaxUserSessions {
		delete(c.sessions, oldest)
	}
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.mu.Lock()
	for k, o := range c.sessions {
		if o == s {
			delete(c.sessions, k)
		}
	}
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: c.cookie, Value: "", Path: "/", MaxAge: -1,
		Secure: c.cfg.TLS(), HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.deps.Log.Log(0, "web", "user", s.user, "action", "logout", "remote", remoteKey(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (c *console) base(s *session, title string) view {
	return view{Title: title, User: s.user, CSRF: s.csrf, ReadOnly: s.readOnly}
}

// row is one greylist entry as shown.
type row struct {
	State, Client, Sender, Rcpt, First, Last, Expires string
	Attempts, Passes                                  int
}

// greylistView is the greylist page's data.
type greylistView struct {
	Client, Sender, Rcpt, State string
	Query                       string // the search and page, to come back to after a change
	Rows                        []row
	Next, First                 string // links to the next page and back to the first, "" if none
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// searchFields are the greylist search's fields; afterFields name the
// last triplet of the previous page.
var (
	searchFields = []string{"client", "sender", "rcpt", "state"}
	afterFields  = []string{"after_client", "after_sender", "after_rcpt"}
)

// searchQuery keeps the known fields of q: the search, and with page
// the page's start.
func searchQuery(q url.Values, page bool) url.Values {
	out := url.Values{}
	fields := searchFields
	if page {
		fields = append(slices.Clip(fields), afterFields...)
	}
	for _, k := range fields {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// filter turns a search into a store filter, keyed as greylisting keys
// triplets (an address is its network, a sender is normalised), paged
// in key order: every search is a range of one of the store's indexes.
// A '*' is allowed only at the end of a value (a prefix), which an
// index serves; other patterns are for maxwell greylist list.
func (c *console) filter(q url.Values, now time.Time) (store.Filter, error) {
	search := policy.GreylistSearch{Client: q.Get("client"), Sender: q.Get("sender"), Rcpt: q.Get("rcpt"), State: q.Get("state")}
	if _, err := netip.ParseAddr(strings.TrimSpace(search.Client)); err == nil {
		search.IP, search.Client = search.Client, ""
	}
	f, err := search.Filter(&c.deps.Config().Greylist, now) // keyed as the latest reload has the daemon key them
	if err != nil {
		return f, err
	}
	for _, v := range []string{f.Client, f.Sender, f.Rcpt} {
		if _, prefix := store.Prefix(v); strings.Contains(v, "*") && !prefix {
			return f, webError("'*' may only end a value here (a prefix, as in 192.0.2.* or *): for other patterns, " +
				listCommand(search) + " on the mail server reads the whole greylist")
		}
	}
	f.ByKey = true
	if a := (store.Triplet{Client: q.Get("after_client"), Sender: q.Get("after_sender"), Rcpt: q.Get("after_rcpt")}); a != (store.Triplet{}) {
		f.After = &a
	}
	return f, nil
}

type webError string

func (e webError) Error() string { return string(e) }

// listCommand is the maxwell greylist list command line of a search,
// its values quoted for a shell.
func listCommand(q policy.GreylistSearch) string {
	cmd := "maxwell greylist list"
	for _, f := range []struct{ flag, v string }{{"--ip", q.IP}, {"--client", q.Client}, {"--sender", q.Sender}, {"--rcpt", q.Rcpt}, {"--state", q.State}} {
		if v := strings.TrimSpace(f.v); v != "" {
			cmd += " " + f.flag + " " + shellQuote(v)
		}
	}
	return cmd
}

// shellQuote is v as one word of a POSIX shell: as it is when it holds
// nothing a shell reads otherwise, else between single quotes.
func shellQuote(v string) string {
	if strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func (c *console) greylistPage(w http.ResponseWriter, r *http.Request, s *session) {
	now := c.deps.Now()
	q := r.URL.Query()
	v := c.base(s, "Greylist")
	switch q.Get("done") {
	case "allow":
		v.Note = "The triplet passed."
	case "delete":
		v.Note = "The triplet was deleted."
	}
	gv := &greylistView{Client: q.Get("client"), Sender: q.Get("sender"), Rcpt: q.Get("rcpt"), State: q.Get("state"),
		Query: searchQuery(q, true).Encode()}
	v.Data = gv
	f, err := c.filter(q, now)
	if err != nil {
		v.Error = err.Error()
		c.render(w, http.StatusBadRequest, "greylist", v)
		return
	}
	f.Limit = PageSize + 1
	es, err := c.deps.Store.Triplets(r.Context(), f)
	if err != nil {
		c.deps.Diag.Error("web: listing the greylist", "error", err)
		v.Error = "The store did not answer: see the diagnostic log."
		c.render(w, http.StatusInternalServerError, "greylist", v)
		return
	}
	if len(es) > PageSize {
		es = es[:PageSize]
		next := searchQuery(q, false)
		last := es[len(es)-1]
		for i, v := range []string{last.Client, last.Sender, last.Rcpt} {
			next.Set(afterFields[i], v)
		}
		gv.Next = "/greylist?" + next.Encode()
	}
	if f.After != nil {
		gv.First = "/greylist?" + searchQuery(q, false).Encode()
	}
	for _, e := range es {
		gv.Rows = append(gv.Rows, row{State: e.State(now), Client: e.Client, Sender: e.Sender, Rcpt: e.Rcpt,
			First: stamp(e.First), Last: stamp(e.Last), Expires: stamp(e.Expires), Attempts: e.Attempts, Passes: e.Passes})
	}
	c.render(w, http.StatusOK, "greylist", v)
}

// triplet reads the exact triplet a change names: all three parts, no
// wildcards.
func triplet(r *http.Request) (store.Triplet, bool) {
	t := store.Triplet{Client: r.PostForm.Get("client"), Sender: r.PostForm.Get("sender"), Rcpt: r.PostForm.Get("rcpt")}
	if t.Client == "" || t.Sender == "" || t.Rcpt == "" || strings.Contains(t.Client+t.Sender+t.Rcpt, "*") {
		return t, false
	}
	return t, true
}

// back is the greylist page to return to after a change: the search
// and page the form came from, their known fields only.
func back(r *http.Request, done string) string {
	q, _ := url.ParseQuery(r.PostForm.Get("back"))
	out := searchQuery(q, true)
	out.Set("done", done)
	return "/greylist?" + out.Encode()
}

func (c *console) allow(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := triplet(r)
	if !ok {
		http.Error(w, "allow needs a client, a sender and a recipient, without wildcards", http.StatusBadRequest)
		return
	}
	now := c.deps.Now()
	e, err := store.PassTriplet(r.Context(), c.deps.Store, t, now, c.deps.Config().Greylist.PassTTL.D())
	if err != nil {
		c.deps.Diag.Error("web: allowing a triplet", "error", err)
		http.Error(w, "the store failed: see the diagnostic log", http.StatusInternalServerError)
		return
	}
	c.deps.Log.Log(0, "web", "user", s.user, "action", "allow", "client", t.Client, "sender", t.Sender, "rcpt", t.Rcpt,
		"until", e.Expires.UTC().Format(time.RFC3339), "remote", remoteKey(r))
	http.Redirect(w, r, back(r, "allow"), http.StatusSeeOther)
}

func (c *console) delete(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := triplet(r)
	if !ok {
		http.Error(w, "delete needs a client, a sender and a recipient, without wildcards", http.StatusBadRequest)
		return
	}
	n, err := c.deps.Store.DeleteTriplets(r.Context(), store.Filter{Client: t.Client, Sender: t.Sender, Rcpt: t.Rcpt})
	if err != nil {
		c.deps.Diag.Error("web: deleting a triplet", "error", err)
		http.Error(w, "the store failed: see the diagnostic log", http.StatusInternalServerError)
		return
	}
	c.deps.Log.Log(0, "web", "user", s.user, "action", "delete", "client", t.Client, "sender", t.Sender, "rcpt", t.Rcpt,
		"deleted", n, "remote", remoteKey(r))
	http.Redirect(w, r, back(r, "delete"), http.StatusSeeOther)
}

// logSearch is what the log page shows: the query and the connections
// it found, newest first, and the link of the next page.
type logSearch struct {
	Kinds       []string
	Kind, Value string
	Conns       []logindex.Conn
	Next        string // the URL of the next (older) page, "" if none
	Indexed     bool   // the mail log is a file, indexed
}

// logPage searches the mail log's index by client address, sender,
// recipient, queue id, HELO name or connection: indexed lookups, never
// a scan of the log.
func (c *console) logPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.base(s, "Mail log")
	q := r.URL.Query()
	d := logSearch{Kinds: []string{"ip", "sender", "rcpt", "qid", "helo", "conn"}, Kind: q.Get("kind"), Value: q.Get("q"), Indexed: c.deps.Index != nil}
	if d.Kind == "" {
		d.Kind = "ip"
	}
	v.Data = &d
	if c.deps.Index == nil || d.Value == "" {
		c.render(w, http.StatusOK, "log", v)
		return
	}
	query := logindex.Query{Kind: d.Kind, Value: d.Value, Limit: logPageSize + 1} // one more: is there an older page?
	if b := q.Get("before"); b != "" {
		t, err := time.Parse(time.RFC3339, b)
		id, err2 := strconv.ParseUint(q.Get("beforeconn"), 10, 64)
		if err != nil || err2 != nil {
			v.Error = "That page is not one of this search's."
			c.render(w, http.StatusBadRequest, "log", v)
			return
		}
		query.Before, query.BeforeConn = t, id
	}
	conns, err := c.deps.Index.Search(r.Context(), query)
	if err != nil {
		c.deps.Diag.Error("web: searching the mail log", "error", err)
		v.Error = "The search failed: see the diagnostic log."
		c.render(w, http.StatusBadRequest, "log", v)
		return
	}
	if len(conns) > logPageSize {
		conns = conns[:logPageSize]
		last := conns[len(conns)-1]
		d.Next = "/log?" + url.Values{"kind": {d.Kind}, "q": {d.Value}, "before": {last.Time.UTC().Format(time.RFC3339)}, "beforeconn": {strconv.FormatUint(last.ID, 10)}}.Encode()
	}
	d.Conns = conns
	c.render(w, http.StatusOK, "log", v)
}

// logPageSize is how many connections a log page lists.
const logPageSize = 50

// connTrace is one connection's lines of the mail log.
type connTrace struct {
	ID    uint64
	Lines []string
}

// connPage shows a connection's whole trace: every line of the mail log
// it wrote, read at their offsets.
func (c *console) connPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.base(s, "Connection")
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 63)
	if err != nil || c.deps.Index == nil {
		v.Error = "No such connection."
		c.render(w, http.StatusNotFound, "conn", v)
		return
	}
	lines, err := c.deps.Index.Trace(r.Context(), c.deps.LogFile, id)
	if err != nil {
		c.deps.Diag.Error("web: reading a connection of the mail log", "conn", id, "error", err)
		v.Error = "The connection could not be read: see the diagnostic log."
		c.render(w, http.StatusInternalServerError, "conn", v)
		return
	}
	if len(lines) == 0 {
		v.Error = "No such connection in the mail log: not yet indexed, or in a log rotated away (search that file with grep)."
		c.render(w, http.StatusNotFound, "conn", v)
		return
	}
	v.Title = "Connection " + strconv.FormatUint(id, 10)
	if len(lines) >= logindex.MaxTrace {
		v.Note = fmt.Sprintf("Only the first %d lines are shown: grep ' conn=%d ' in the mail log for the rest.", logindex.MaxTrace, id)
	}
	v.Data = connTrace{ID: id, Lines: lines}
	c.render(w, http.StatusOK, "conn", v)
}
