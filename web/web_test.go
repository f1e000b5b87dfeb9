package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/store"
	"golang.org/x/crypto/bcrypt"
)

var t0 = testclock.Epoch()

// fixture is a console on a real SQLite store.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	st    store.Store
	log   *mtatest.Buffer
	mu    sync.Mutex
	now   time.Time
	clock func() time.Time
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func hash(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// newFixture starts a console; opts change its configuration and its
// Deps first.
func newFixture(t *testing.T, opts ...func(*config.Config, *Deps)) *fixture {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "maxwell.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Web.Listen = "127.0.0.1:0"
	cfg.Web.Users = []config.WebUser{
		{Name: "admin", PasswordHash: hash(t, "correct horse")},
		{Name: "viewer", PasswordHash: hash(t, "battery staple"), ReadOnly: true},
	}
	f := &fixture{t: t, st: st, log: &mtatest.Buffer{}, now: t0}
	f.clock = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	ml := maillog.New(f.log)
	deps := Deps{Store: st, Log: ml, Now: f.clock}
	for _, o := range opts {
		o(cfg, &deps)
	}
	f.srv = httptest.NewServer(New(cfg, deps))
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser: cookies kept, redirects not followed.
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fixture) do(c *http.Client, method, path string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fixture) login(user, pw string) *http.Client {
	f.t.Helper()
	c := f.client()
	resp, _ := f.do(c, "POST", "/login", url.Values{"user": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		f.t.Fatalf("login %s: %s, Location %q", user, resp.Status, resp.Header.Get("Location"))
	}
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *fixture) csrf(c *http.Client) string {
	f.t.Helper()
	_, body := f.do(c, "GET", "/", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("no CSRF token in the overview:\n%s", body)
	}
	return m[1]
}

func (f *fixture) put(es ...store.Entry) {
	f.t.Helper()
	if err := f.st.PutTriplets(context.Background(), es); err != nil {
		f.t.Fatal(err)
	}
}

func pending(client, sender, rcpt string) store.Entry {
	return store.Entry{Triplet: store.Triplet{Client: client, Sender: sender, Rcpt: rcpt},
		First: t0.Add(-time.Minute), Last: t0.Add(-time.Minute), Expires: t0.Add(48 * time.Hour), Attempts: 1}
}

func TestLoginAndSession(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	// No session: every page sends the browser to the login form.
	for _, p := range []string{"/", "/greylist", "/greylist?client=x"} {
		resp, _ := f.do(c, "GET", p, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %s, Location %q", p, resp.Status, resp.Header.Get("Location"))
		}
	}
	resp, body := f.do(c, "GET", "/login", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `type="password"`) {
		t.Fatalf("login form: %s\n%s", resp.Status, body)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	for _, bad := range []url.Values{
		{"user": {"admin"}, "password": {"wrong"}},
		{"user": {"nobody"}, "password": {"correct horse"}},
	} {
		resp, body := f.do(c, "POST", "/login", bad)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong password") || len(resp.Cookies()) != 0 {
			t.Errorf("bad login %v: %s, cookies %v", bad, resp.Status, resp.Cookies())
		}
	}
	if !strings.Contains(f.log.String(), "event=web user=admin action=login result=fail") {
		t.Errorf("failed login not logged:\n%s", f.log)
	}

	resp, _ = f.do(c, "POST", "/login", url.Values{"user": {"admin"}, "password": {"correct horse"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Secure || len(ck[0].Value) < 43 {
		t.Errorf("session cookie: %+v", ck)
	}
	resp, body = f.overviewPage(c, "/")
	if resp.StatusCode != 200 || !strings.Contains(body, "Pending triplets") || !strings.Contains(body, "admin") {
		t.Fatalf("overview: %s\n%s", resp.Status, body)
	}
	if strings.Contains(body, "<script") {
		t.Error("a page with a script")
	}

	// The session ends after session_ttl (12h).
	f.advance(12*time.Hour + time.Second)
	if resp, _ := f.do(c, "GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: %s", resp.Status)
	}

	// Logging out ends the session.
	c = f.login("admin", "correct horse")
	resp, _ = f.do(c, "POST", "/logout", url.Values{"csrf": {f.csrf(c)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", resp.Status)
	}
	if resp, _ := f.do(c, "GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %s", resp.Status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for i := 0; i < LoginFailures; i++ {
		if resp, _ := f.do(c, "POST", "/login", url.Values{"user": {"admin"}, "password": {"guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %s", i+1, resp.Status)
		}
	}
	// Even the right password is refused now, unread.
	resp, _ := f.do(c, "POST", "/login", url.Values{"user": {"admin"}, "password": {"correct horse"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the limit: %s", resp.Status)
	}
	f.advance(LoginWindow)
	f.login("admin", "correct horse")
}

func TestCSRFAndReadOnly(t *testing.T) {
	f := newFixture(t)
	f.put(pending("192.0.2.0/24", "a@example.com", "x@example.org"))
	form := url.Values{"client": {"192.0.2.0/24"}, "sender": {"a@example.com"}, "rcpt": {"x@example.org"}}

	// Without a session.
	if resp, _ := f.do(f.client(), "POST", "/greylist/delete", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without a session: %s", resp.Status)
	}
	admin := f.login("admin", "correct horse")
	for _, token := range []string{"", "forged"} {
		form.Set("csrf", token)
		for _, p := range []string{"/greylist/allow", "/greylist/delete", "/logout"} {
			if resp, _ := f.do(admin, "POST", p, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with CSRF token %q: %s", p, token, resp.Status)
			}
		}
	}
	// Another session's token is no good either.
	viewer := f.login("viewer", "battery staple")
	form.Set("csrf", f.csrf(viewer))
	if resp, _ := f.do(admin, "POST", "/greylist/delete", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: %s", resp.Status)
	}
	// A form another site made the browser send.
	req, _ := http.NewRequest("POST", f.srv.URL+"/greylist/delete", strings.NewReader(url.Values{"csrf": {f.csrf(admin)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := admin.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %v %v", resp.Status, err)
	}

	// A read-only user sees no buttons and may change nothing.
	_, body := f.do(viewer, "GET", "/greylist", nil)
	if !strings.Contains(body, "a@example.com") || strings.Contains(body, "/greylist/allow") || strings.Contains(body, "/greylist/delete") {
		t.Errorf("read-only user's greylist page:\n%s", body)
	}
	for _, p := range []string{"/greylist/allow", "/greylist/delete"} {
		if resp, _ := f.do(viewer, "POST", p, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("read-only POST %s: %s", p, resp.Status)
		}
	}
	if es, _ := f.st.Triplets(context.Background(), store.Filter{}); len(es) != 1 || !es[0].Pending() {
		t.Errorf("the store changed: %+v", es)
	}
	if strings.Contains(f.log.String(), "action=allow") || strings.Contains(f.log.String(), "action=delete") {
		t.Errorf("a refused change was logged:\n%s", f.log)
	}
	// But may log out.
	if resp, _ := f.do(viewer, "POST", "/logout", url.Values{"csrf": {f.csrf(viewer)}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("read-only logout: %s", resp.Status)
	}
}

func TestGreylistSearchAllowDelete(t *testing.T) {
	f := newFixture(t)
	f.put(
		pending("192.0.2.0/24", "a@example.com", "x@example.org"),
		pending("192.0.2.0/24", "b@example.com", "y@example.org"),
		pending("198.51.100.0/24", "c@example.net", "x@example.org"),
	)
	c := f.login("admin", "correct horse")
	// By address: keyed as greylisting keys it (its /24).
	_, body := f.do(c, "GET", "/greylist?client=192.0.2.77", nil)
	if !strings.Contains(body, "a@example.com") || !strings.Contains(body, "b@example.com") || strings.Contains(body, "c@example.net") {
		t.Errorf("search by client:\n%s", body)
	}
	_, body = f.do(c, "GET", "/greylist?sender=c@*", nil)
	if strings.Contains(body, "a@example.com") || !strings.Contains(body, "c@example.net") {
		t.Errorf("search by sender prefix:\n%s", body)
	}
	// A pattern an index cannot serve is refused, saying what to do.
	if resp, body := f.do(c, "GET", "/greylist?sender=*@example.net", nil); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(html.UnescapeString(body), "maxwell greylist list --sender '*@example.net' on the mail server") {
		t.Errorf("search by a suffix: %s\n%s", resp.Status, body)
	}
	// The command given searches what the page was asked.
	if _, body := f.do(c, "GET", "/greylist?client=192.0.2.77&rcpt=x*y@example.org&state=pending", nil); !strings.Contains(html.UnescapeString(body),
		"maxwell greylist list --ip 192.0.2.77 --rcpt 'x*y@example.org' --state pending on") {
		t.Errorf("search by a pattern of recipients:\n%s", body)
	}
	_, body = f.do(c, "GET", "/greylist?rcpt=Y@Example.org", nil)
	if strings.Contains(body, "a@example.com") || !strings.Contains(body, "b@example.com") {
		t.Errorf("search by recipient:\n%s", body)
	}
	if resp, _ := f.do(c, "GET", "/greylist?state=bogus", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad state: %s", resp.Status)
	}

	token := f.csrf(c)
	form := url.Values{"csrf": {token}, "client": {"192.0.2.0/24"}, "sender": {"a@example.com"}, "rcpt": {"x@example.org"},
		"back": {"client=192.0.2.77&page=0&evil=1"}}
	resp, _ := f.do(c, "POST", "/greylist/allow", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/greylist?client=192.0.2.77&done=allow" {
		t.Fatalf("allow: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	es, _ := f.st.Triplets(context.Background(), store.Filter{Sender: "a@example.com"})
	if len(es) != 1 || es[0].Pending() || !es[0].Expires.Equal(t0.Add(35*24*time.Hour)) {
		t.Errorf("after allow: %+v", es)
	}
	if !strings.Contains(f.log.String(), `event=web user=admin action=allow client=192.0.2.0/24 sender=a@example.com rcpt=x@example.org`) {
		t.Errorf("allow not logged:\n%s", f.log)
	}

	form.Set("sender", "b@example.com")
	form.Set("rcpt", "y@example.org")
	if resp, _ := f.do(c, "POST", "/greylist/delete", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %s", resp.Status)
	}
	if es, _ := f.st.Triplets(context.Background(), store.Filter{Sender: "b@example.com"}); len(es) != 0 {
		t.Errorf("after delete: %+v", es)
	}
	if !strings.Contains(f.log.String(), `event=web user=admin action=delete client=192.0.2.0/24 sender=b@example.com rcpt=y@example.org deleted=1`) {
		t.Errorf("delete not logged:\n%s", f.log)
	}
	// Wildcards and partial triplets are refused: a button deletes one entry.
	form.Set("sender", "*")
	if resp, _ := f.do(c, "POST", "/greylist/delete", form); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("delete with a wildcard: %s", resp.Status)
	}
	if es, _ := f.st.Triplets(context.Background(), store.Filter{}); len(es) != 2 {
		t.Errorf("%d entries left, want 2", len(es))
	}
}

func TestGreylistPaging(t *testing.T) {
	f := newFixture(t)
	var es []store.Entry
	for i := 0; i < PageSize+5; i++ {
		e := pending("192.0.2.0/24", "s"+strings.Repeat("x", i%3)+"@example.com", "r"+string(rune('a'+i%26))+"@example.org")
		e.Rcpt = e.Rcpt + "." + strings.Repeat("z", i/26)
		e.First = t0.Add(time.Duration(i) * time.Second)
		es = append(es, e)
	}
	f.put(es...)
	c := f.login("admin", "correct horse")
	// Following the Next links lists every entry once, in key order,
	// whatever the search.
	rowRE := regexp.MustCompile(`<tr><td>pending</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>`)
	nextRE := regexp.MustCompile(`<a href="([^"]*)">Next page</a>`)
	for _, search := range []string{"", "?client=192.0.2.0/24", "?sender=s*", "?client=192.0.2.1&state=pending"} {
		seen := map[string]bool{}
		var order []string
		link, pages := "/greylist"+search, 0
		for link != "" && pages < 10 {
			resp, body := f.do(c, "GET", html.UnescapeString(link), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %s", link, resp.Status)
			}
			rows := rowRE.FindAllStringSubmatch(body, -1)
			if len(rows) > PageSize {
				t.Errorf("%s: %d rows", link, len(rows))
			}
			if pages > 0 && !strings.Contains(body, ">First page</a>") {
				t.Errorf("%s: no link to the first page", link)
			}
			for _, r := range rows {
				k := strings.Join(r[1:], " ")
				if seen[k] {
					t.Errorf("%s: %s listed twice", search, k)
				}
				seen[k] = true
				order = append(order, k)
			}
			link = ""
			if m := nextRE.FindStringSubmatch(body); m != nil {
				link = m[1]
			}
			pages++
		}
		if len(seen) != PageSize+5 || pages != 2 || !slices.IsSorted(order) {
			t.Errorf("search %q: %d entries in %d pages, sorted %v", search, len(seen), pages, slices.IsSorted(order))
		}
	}
	if resp, body := f.do(c, "GET", "/greylist?after_client=zzz", nil); resp.StatusCode != 200 || strings.Contains(body, "<tr><td>pending") {
		t.Errorf("a page past the end: %s", resp.Status)
	}
}

func TestMailValuesEscaped(t *testing.T) {
	f := newFixture(t)
	evil := `<script>alert(1)</script>"'@example.com`
	f.put(pending("192.0.2.0/24", evil, `<img src=x onerror=alert(2)>@example.org`))
	c := f.login("admin", "correct horse")
	_, body := f.do(c, "GET", "/greylist", nil)
	if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
		t.Fatalf("a value from mail unescaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the sender is not shown escaped:\n%s", body)
	}
	// The search box shows what was searched for, escaped too.
	_, body = f.do(c, "GET", "/greylist?sender="+url.QueryEscape(`"><script>x</script>`), nil)
	if strings.Contains(body, "<script>") {
		t.Errorf("the search echoed unescaped:\n%s", body)
	}
	// And the hidden field's value survives the round trip: allow works.
	token := f.csrf(c)
	form := url.Values{"csrf": {token}, "client": {"192.0.2.0/24"}, "sender": {evil}, "rcpt": {`<img src=x onerror=alert(2)>@example.org`}}
	if resp, _ := f.do(c, "POST", "/greylist/allow", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("allow: %s", resp.Status)
	}
	if es, _ := f.st.Triplets(context.Background(), store.Filter{}); len(es) != 1 || es[0].Pending() {
		t.Errorf("after allow: %+v", es)
	}
}

// The console's mail-log event and its actions, in every file of the
// package, are in docs/logs.md (policy's test reads only policy/).
func TestLogEventDocumented(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "docs", "logs.md"))
	if err != nil {
		t.Fatal(err)
	}
	var src []byte // the package's files, each page's
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if !strings.HasSuffix(name, "_test.go") {
			b, _ := os.ReadFile(name)
			src = append(src, b...)
		}
	}
	events := regexp.MustCompile(`\.Log\(0, "([^"]+)"`).FindAllSubmatch(src, -1)
	actions := regexp.MustCompile(`"action", "([^"]+)"`).FindAllSubmatch(src, -1)
	if len(events) < 4 || len(actions) < 4 {
		t.Fatalf("found %d events, %d actions: the patterns are stale", len(events), len(actions))
	}
	row := ""
	for _, line := range strings.Split(string(docs), "\n") {
		if strings.HasPrefix(line, "| `web` |") {
			row = line
		}
	}
	for _, m := range events {
		if string(m[1]) != "web" || row == "" {
			t.Errorf("event %q is not in the tables of docs/logs.md", m[1])
		}
	}
	for _, m := range actions {
		if !strings.Contains(row, "`"+string(m[1])+"`") {
			t.Errorf("action %q is not in docs/logs.md's web row", m[1])
		}
	}
}

// loginConsole is a console of one user, admin, on the test's clock.
func loginConsole(t *testing.T, password string, cost int) *console {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Web.Listen = "127.0.0.1:0"
	cfg.Web.Users = []config.WebUser{{Name: "admin", PasswordHash: string(h)}}
	return New(cfg, Deps{Store: st, Log: maillog.New(&mtatest.Buffer{}), Now: func() time.Time { return t0 }}).(*console)
}

// postLogin posts a login from remote and returns the status.
func postLogin(c *console, remote, user, password string) int {
	r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"user": {user}, "password": {password}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w.Code
}

// Guesses sent at once from one address are limited as those sent one
// after another: an attempt counts before its password is compared.
func TestLoginLimitHoldsForGuessesAtOnce(t *testing.T) {
	c := loginConsole(t, "correct horse", bcrypt.MinCost+4)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := postLogin(c, "198.51.100.7:1234", "admin", fmt.Sprint("guess", i))
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] > LoginFailures {
		t.Errorf("%d passwords compared from one address at once (limit %d a minute): %v", codes[http.StatusUnauthorized], LoginFailures, codes)
	}
}

// With the failures of maxTracked addresses remembered, a new address
// is refused rather than left uncounted.
func TestLoginLimitWithTheTableFull(t *testing.T) {
	c := loginConsole(t, "correct horse", bcrypt.MinCost)
	for i := range maxTracked { // what the /64s of one /48 do with a bad login each a minute
		c.reserve(fmt.Sprintf("2001:db8:0:%x::/64", i), t0)
	}
	if code := postLogin(c, "[2001:db8:1:1::5]:1234", "admin", "guess"); code != http.StatusTooManyRequests {
		t.Errorf("a new address with the table full: %d, want 429", code)
	}
}

// One user's logins end that user's oldest sessions, never another's: a
// read-only user logging in MaxSessions times logged every administrator
// out.
func TestLoginsKeepOtherUsersSessions(t *testing.T) {
	f := newFixture(t)
	admin := f.login("admin", "correct horse")
	var viewers []*http.Client
	for range MaxSessions + 5 {
		f.advance(time.Millisecond)
		viewers = append(viewers, f.login("viewer", "battery staple"))
	}
	if resp, _ := f.do(admin, "GET", "/", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the administrator's session after another user's logins: %s", resp.Status)
	}
	live := 0
	for i, c := range viewers {
		if resp, _ := f.do(c, "GET", "/", nil); resp.StatusCode == http.StatusOK {
			live++
			if i < len(viewers)-MaxUserSessions {
				t.Errorf("login %d of %d is still live", i, len(viewers))
			}
		}
	}
	if live != MaxUserSessions {
		t.Errorf("%d sessions of the viewer live, want %d", live, MaxUserSessions)
	}
}
