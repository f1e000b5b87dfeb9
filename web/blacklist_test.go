package web

import (
	"context"
	"fmt"
	"github.com/maxwell-milter/maxwell/watch"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// ban puts bans in the fixture's store.
func (f *fixture) ban(bs ...store.Ban) {
	f.t.Helper()
	for _, b := range bs {
		if err := f.st.Ban(context.Background(), b); err != nil {
			f.t.Fatal(err)
		}
	}
}

// banned returns the ban of kind on key in force at the fixture's time.
func (f *fixture) banned(kind, key string) *store.Ban {
	f.t.Helper()
	b, err := f.st.Banned(context.Background(), kind, key, f.clock())
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// Each kind's page lists its bans in force with their reason, since and
// until; a lifting, a lapsed ban and the other kinds' bans are not there
// (not: cells that must not be).
func TestBlacklistList(t *testing.T) {
	f := newFixture(t)
	f.ban(
		store.Ban{Kind: store.BanClient, Key: "192.0.2.7", Reason: "greylisted, then lost connection", Created: t0.Add(-time.Hour), Expires: t0.Add(time.Hour)},
		store.Ban{Kind: store.BanClient, Key: "192.0.2.8", Reason: "lapsed", Created: t0.Add(-2 * time.Hour), Expires: t0.Add(-time.Hour)},
		store.Ban{Kind: store.BanLifted, Key: "192.0.2.9", Reason: "lifted by hand", Created: t0, Expires: t0.Add(time.Hour)},
		store.Ban{Kind: store.BanIP, Key: "2001:db8::25", Reason: "4 demerits, last: unknown user", Created: t0.Add(-time.Minute), Expires: t0.Add(23 * time.Hour)},
		store.Ban{Kind: store.BanSender, Key: "spam@example.com", Reason: "complaints", Created: t0.Add(-48 * time.Hour)},
	)
	c := f.login("admin", "correct horse")
	for _, p := range []struct {
		path      string
		want, not []string
	}{
		{"/blacklist", // clients first
			[]string{"192.0.2.7", "greylisted, then lost connection", stamp(t0.Add(-time.Hour)), stamp(t0.Add(time.Hour))},
			[]string{"192.0.2.8", "192.0.2.9", "lifted by hand", "2001:db8::25", "spam@example.com"}},
		{"/blacklist?kind=ip",
			[]string{"2001:db8::25", "4 demerits, last: unknown user", stamp(t0.Add(-time.Minute)), stamp(t0.Add(23 * time.Hour))},
			[]string{"192.0.2.7", "spam@example.com"}},
		{"/blacklist?kind=sender",
			[]string{"spam@example.com", "complaints", stamp(t0.Add(-48 * time.Hour)), "until lifted"},
			[]string{"192.0.2.7", "2001:db8::25"}},
		// A key as typed, normalised as kept; a prefix.
		{"/blacklist?kind=ip&q=2001:DB8:0::25", []string{"2001:db8::25"}, nil},
		{"/blacklist?kind=sender&q=Spam@Example.com", []string{"spam@example.com"}, nil},
		{"/blacklist?kind=client&q=192.0.2.*", []string{"192.0.2.7"}, []string{"192.0.2.9"}},
		{"/blacklist?kind=client&q=198.51.100.*", []string{"No bans."}, []string{"192.0.2.7"}},
	} {
		resp, body := f.do(c, "GET", p.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s\n%s", p.path, resp.Status, body)
			continue
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q:\n%s", p.path, w, body)
			}
		}
		for _, n := range p.not {
			if strings.Contains(body, "<td>"+n+"</td>") {
				t.Errorf("GET %s: %q shown:\n%s", p.path, n, body)
			}
		}
	}
}

var nextRE = regexp.MustCompile(`href="(/blacklist\?[^"]+)">Next page`)

// Pages follow one another by key: every ban once, PageSize a page.
func TestBlacklistPaging(t *testing.T) {
	f := newFixture(t)
	const n = 2*PageSize + 5
	for i := range n {
		f.ban(store.Ban{Kind: store.BanIP, Key: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Reason: "demerits", Created: t0, Expires: t0.Add(time.Hour)})
	}
	f.ban(store.Ban{Kind: store.BanClient, Key: "10.0.0.1", Reason: "another kind", Created: t0, Expires: t0.Add(time.Hour)})
	c := f.login("admin", "correct horse")
	seen := map[string]int{}
	rowRE := regexp.MustCompile(`<tr><td>(10\.0\.[0-9.]+)</td>`)
	pages := 0
	for next := "/blacklist?kind=ip"; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than there are bans")
		}
		resp, body := f.do(c, "GET", next, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", next, resp.Status)
		}
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if len(rows) > PageSize || len(rows) == 0 {
			t.Errorf("GET %s: %d rows", next, len(rows))
		}
		for _, r := range rows {
			seen[r[1]]++
		}
		next = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if pages != 3 || len(seen) != n {
		t.Errorf("%d pages, %d bans seen; want 3 and %d", pages, len(seen), n)
	}
	for k, times := range seen {
		if times != 1 {
			t.Errorf("%s shown %d times", k, times)
		}
	}
}

// Adding and deleting a ban of each kind does what maxwell blacklist add
// and delete do, logged in the mail log.
func TestBlacklistAddDelete(t *testing.T) {
	f := newFixture(t)
	def := config.Default()
	c := f.login("admin", "correct horse")
	token := f.csrf(c)
	for _, k := range []struct {
		kind, key, stored string
		until             time.Duration // 0: until lifted
	}{
		{store.BanClient, "::ffff:192.0.2.7", "192.0.2.7", def.Watch.GoodBehaviour.D()},
		{store.BanIP, "2001:DB8::25", "2001:db8::25", def.Milter.BanTime.D()},
		{store.BanSender, " Spam@Example.com ", "spam@example.com", 0},
	} {
		resp, _ := f.do(c, "POST", "/blacklist/add", url.Values{"csrf": {token}, "kind": {k.kind}, "key": {k.key}, "reason": {"complaints from users"}})
		want := "/blacklist?" + url.Values{"kind": {k.kind}, "q": {k.stored}, "done": {"ban"}}.Encode()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("add %s %s: %s, Location %q, want %q", k.kind, k.key, resp.Status, resp.Header.Get("Location"), want)
		}
		b := f.banned(k.kind, k.stored)
		wantUntil, logUntil := time.Time{}, "lifted"
		if k.until > 0 {
			wantUntil = t0.Add(k.until)
			logUntil = wantUntil.UTC().Format(time.RFC3339)
		}
		if b == nil || b.Reason != "complaints from users" || !b.Created.Equal(t0) || !b.Expires.Equal(wantUntil) {
			t.Errorf("%s %s: stored %+v, want until %v", k.kind, k.key, b, wantUntil)
		}
		line := fmt.Sprintf(`event=web user=admin action=ban kind=%s key=%s reason="complaints from users" until=%s remote=127.0.0.1`, k.kind, k.stored, logUntil)
		if !strings.Contains(f.log.String(), line) {
			t.Errorf("not logged: %s\n%s", line, f.log)
		}
		_, body := f.do(c, "GET", resp.Header.Get("Location"), nil)
		if !strings.Contains(body, "The ban was added.") || !strings.Contains(body, "<td>"+k.stored+"</td>") {
			t.Errorf("the page after adding:\n%s", body)
		}

		back := url.Values{"kind": {k.kind}, "q": {k.stored}, "evil": {"1"}}.Encode()
		form := url.Values{"csrf": {token}, "kind": {k.kind}, "key": {k.stored}, "back": {back}}
		resp, _ = f.do(c, "POST", "/blacklist/delete", form)
		want = "/blacklist?" + url.Values{"kind": {k.kind}, "q": {k.stored}, "done": {"unban"}}.Encode()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("delete %s %s: %s, Location %q, want %q", k.kind, k.stored, resp.Status, resp.Header.Get("Location"), want)
		}
		if b := f.banned(k.kind, k.stored); b != nil {
			t.Errorf("%s %s: still banned: %+v", k.kind, k.stored, b)
		}
		// A client's ban is lifted as maxwell blacklist delete lifts it:
		// recorded, so that maxwell watch leaves the client alone.
		if lifted := f.banned(store.BanLifted, k.stored); (lifted != nil) != (k.kind == store.BanClient) {
			t.Errorf("%s %s: the record of the lifting: %+v", k.kind, k.stored, lifted)
		}
		line = fmt.Sprintf(`event=web user=admin action=unban kind=%s key=%s deleted=1 remote=127.0.0.1`, k.kind, k.stored)
		if !strings.Contains(f.log.String(), line) {
			t.Errorf("not logged: %s\n%s", line, f.log)
		}
		// Again: nothing to delete, and the page says so.
		resp, _ = f.do(c, "POST", "/blacklist/delete", form)
		_, body = f.do(c, "GET", resp.Header.Get("Location"), nil)
		if !strings.Contains(body, "There was no such ban") || !strings.Contains(f.log.String(), "key="+k.stored+" deleted=0") {
			t.Errorf("deleting %s %s again: %s\n%s", k.kind, k.stored, body, f.log)
		}
	}
}

// Wrong input is refused with a message that says what is wrong, and
// changes nothing.
func TestBlacklistBadInput(t *testing.T) {
	f := newFixture(t)
	c := f.login("admin", "correct horse")
	token := f.csrf(c)
	for _, b := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/blacklist/add", url.Values{"kind": {"ip"}, "key": {"mx.example.com"}}, `key: "mx.example.com" is not an address`},
		{"/blacklist/add", url.Values{"kind": {"client"}, "key": {"192.0.2.0/24"}}, `key: "192.0.2.0/24" is not an address`},
		{"/blacklist/add", url.Values{"kind": {"sender"}, "key": {"nobody"}}, `key: "nobody" is not an address`},
		{"/blacklist/add", url.Values{"kind": {"sender"}, "key": {"a@b\r\nevent=web"}}, "key: no control characters"},
		{"/blacklist/add", url.Values{"kind": {"ip"}, "key": {"192.0.2.7"}, "reason": {"spam\r\nconn=0 event=web action=ban"}}, "reason: no control characters"},
		{"/blacklist/add", url.Values{"kind": {"ip"}, "key": {"192.0.2.7"}, "reason": {"spam\u2028x"}}, "reason: no control characters"},
		{"/blacklist/add", url.Values{"kind": {"ip"}, "key": {"192.0.2.7"}, "reason": {strings.Repeat("x", watch.MaxBanReason+1)}}, "reason: at most 200 characters"},
		{"/blacklist/add", url.Values{"kind": {"ip"}, "key": {"192.0.2.7"}, "reason": {"\xff"}}, "reason: not UTF-8"},
		{"/blacklist/add", url.Values{"kind": {"sender"}, "key": {strings.Repeat("x", maxBanKey) + "@x"}}, "key: at most 320 characters"},
		{"/blacklist/add", url.Values{"kind": {store.BanLifted}, "key": {"192.0.2.7"}}, "kind: one of client, ip, sender"},
		{"/blacklist/add", url.Values{"kind": {"helo"}, "key": {"192.0.2.7"}}, "kind: one of client, ip, sender"},
		{"/blacklist/delete", url.Values{"kind": {"bogus"}, "key": {"192.0.2.7"}}, "kind: one of client, ip, sender"},
		{"/blacklist/delete", url.Values{"kind": {"ip"}, "key": {"nowhere"}}, `key: "nowhere" is not an address`},
	} {
		b.form.Set("csrf", token)
		resp, body := f.do(c, "POST", b.path, b.form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, b.want) {
			t.Errorf("POST %s %v: %s %q, want 400 %q", b.path, b.form, resp.Status, body, b.want)
		}
	}
	for _, g := range []struct{ query, want string }{
		{"kind=lifted+client", "kind: one of client, ip, sender"},
		{"kind=ip&q=not-an-ip", `search: &#34;not-an-ip&#34; is not an address`},
		{"kind=ip&q=192.*.2.*", "search: &#39;*&#39; only at the end"},
		{"kind=sender&q=a%0d%0a*", "search: no control characters"},
		{"kind=ip&after=%ff", "That page is not one of this search"},
	} {
		resp, body := f.do(c, "GET", "/blacklist?"+g.query, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, g.want) {
			t.Errorf("GET /blacklist?%s: %s, want 400 %q\n%s", g.query, resp.Status, g.want, body)
		}
	}
	if bans, _ := f.st.Bans(context.Background(), "", t0); len(bans) != 0 {
		t.Errorf("bans made of bad input: %+v", bans)
	}
	if strings.Contains(f.log.String(), "action=ban") || strings.Contains(f.log.String(), "action=unban") {
		t.Errorf("a refused change was logged:\n%s", f.log)
	}
}

// A read-only user sees the list without the forms and may change
// nothing; no change goes through without the session's CSRF token.
func TestBlacklistRefused(t *testing.T) {
	f := newFixture(t)
	f.ban(store.Ban{Kind: store.BanSender, Key: "spam@example.com", Reason: "complaints", Created: t0})
	viewer := f.login("viewer", "battery staple")
	_, body := f.do(viewer, "GET", "/blacklist?kind=sender", nil)
	if !strings.Contains(body, "spam@example.com") || strings.Contains(body, "/blacklist/add") || strings.Contains(body, "/blacklist/delete") {
		t.Errorf("read-only user's blacklist page:\n%s", body)
	}
	add := url.Values{"kind": {"ip"}, "key": {"192.0.2.7"}}
	del := url.Values{"kind": {"sender"}, "key": {"spam@example.com"}}
	admin := f.login("admin", "correct horse")
	for _, r := range []struct {
		name   string
		client *http.Client
		csrf   string
	}{
		{"read-only", viewer, f.csrf(viewer)},
		{"no CSRF token", admin, ""},
		{"another session's token", admin, f.csrf(viewer)},
		{"no session", f.client(), ""},
	} {
		for path, form := range map[string]url.Values{"/blacklist/add": add, "/blacklist/delete": del} {
			form.Set("csrf", r.csrf)
			if resp, _ := f.do(r.client, "POST", path, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: POST %s: %s, want 403", r.name, path, resp.Status)
			}
		}
	}
	if f.banned(store.BanSender, "spam@example.com") == nil || f.banned(store.BanIP, "192.0.2.7") != nil {
		t.Error("a refused change went through")
	}
	if resp, _ := f.do(f.client(), "GET", "/blacklist", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET /blacklist without a session: %s", resp.Status)
	}
}

// A reason, as maxwell watch or the demerits write it from what a
// client sent, is shown escaped, and its delete form still works.
func TestBlacklistEscaped(t *testing.T) {
	f := newFixture(t)
	evil := `<script>alert(1)</script>"'<img src=x onerror=alert(2)>`
	f.ban(store.Ban{Kind: store.BanIP, Key: "192.0.2.7", Reason: "4 demerits, last: HELO " + evil, Created: t0, Expires: t0.Add(time.Hour)})
	c := f.login("admin", "correct horse")
	_, body := f.do(c, "GET", "/blacklist?kind=ip", nil)
	if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
		t.Fatalf("a reason unescaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the reason is not shown escaped:\n%s", body)
	}
	_, body = f.do(c, "GET", "/blacklist?kind=ip&q="+url.QueryEscape(`"><script>x</script>`), nil)
	if strings.Contains(body, "<script>") {
		t.Errorf("the search echoed unescaped:\n%s", body)
	}
}
