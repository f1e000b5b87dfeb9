package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/maxwell-milter/maxwell/store"
	"github.com/maxwell-milter/maxwell/watch"
)

// Bounds of what the blacklist pages take.
const (
	// maxBanKey is the longest key typed or searched for: a sender
	// address (RFC 5321: 64 characters, '@', 255) or an IP address.
	maxBanKey = 320
)

// blacklist serves the blacklist pages. It works with the whole
// configuration in use, as maxwell blacklist does: watch.AddBan takes
// [milter] ban_time and [watch] good_behaviour from it, watch.Lift the
// latter.
type blacklist struct{ *console }

// banLabels name the tabs of the page, one for each of watch.BanKinds.
var banLabels = map[string]string{
	store.BanClient: "Clients (maxwell watch)",
	store.BanIP:     "IPs (demerits)",
	store.BanSender: "Senders",
}

// banTab is a tab of the page.
type banTab struct {
	Kind, Label, Href string
	Current           bool
}

// banRow is one ban as shown.
type banRow struct {
	Key, Reason, Since, Until string
}

// blacklistView is the blacklist page's data.
type blacklistView struct {
	Tabs    []banTab
	Kind, Q string
	Back    string // this page's query, to come back to after a delete
	Rows    []banRow
	First   string // the first page's link, on later pages
	Next    string // the next page's link, "" if none
	// How long a ban added here lasts, by kind.
	BanTime, GoodBehaviour string
}

// banQuery is the query of a page of the blacklist.
func banQuery(kind, q, after string) url.Values {
	v := url.Values{"kind": {kind}}
	if q != "" {
		v.Set("q", q)
	}
	if after != "" {
		v.Set("after", after)
	}
	return v
}

// formText checks a value typed into a form: UTF-8, at most max
// characters, no control characters or line breaks (it goes into the
// store, the mail log and other pages as it is). Spaces around it go.
func formText(name, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case !utf8.ValidString(v):
		return "", fmt.Errorf("%s: not UTF-8", name)
	case utf8.RuneCountInString(v) > max:
		return "", fmt.Errorf("%s: at most %d characters", name, max)
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) }):
		return "", fmt.Errorf("%s: no control characters or line breaks", name)
	}
	return v, nil
}

// banKind checks a kind of ban named: one of watch.BanKinds.
func banKind(kind string) error {
	if !slices.Contains(watch.BanKinds, kind) {
		return fmt.Errorf("kind: one of %s", strings.Join(watch.BanKinds, ", "))
	}
	return nil
}

// banFilter turns the search of a page into a store filter: a key
// (normalised as the store keeps it), or with a '*' at its end the keys
// that start with what comes before.
func banFilter(kind, q, after string) (store.BanFilter, error) {
	f := store.BanFilter{Kind: kind, After: after, Limit: PageSize + 1}
	if err := banKind(kind); err != nil {
		return f, err
	}
	q, err := formText("search", q, maxBanKey+1) // and a '*'
	if err != nil {
		return f, err
	}
	if _, err := formText("page", after, maxBanKey); err != nil {
		return f, webError("That page is not one of this search's.")
	}
	switch prefix, ok := strings.CutSuffix(q, "*"); {
	case strings.Contains(prefix, "*"):
		return f, webError("search: '*' only at the end")
	case ok:
		f.Key, f.Prefix = strings.ToLower(prefix), true // as keys are kept
	case q != "":
		if f.Key, err = watch.BanKey(kind, q); err != nil {
			return f, fmt.Errorf("search: %w", err)
		}
	}
	return f, nil
}

func (b *blacklist) page(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	kind := q.Get("kind")
	if kind == "" {
		kind = watch.BanKinds[0]
	}
	v := b.base(s, "Blacklists")
	v.Note = map[string]string{
		"ban":   "The ban was added.",
		"unban": "The ban was lifted.",
		"gone":  "There was no such ban (any more).",
	}[q.Get("done")]
	conf := b.deps.Config()
	bv := &blacklistView{Kind: kind, Q: q.Get("q"), Back: banQuery(kind, q.Get("q"), q.Get("after")).Encode(),
		BanTime: conf.Milter.BanTime.D().String(), GoodBehaviour: conf.Watch.GoodBehaviour.D().String()}
	for _, k := range watch.BanKinds {
		bv.Tabs = append(bv.Tabs, banTab{Kind: k, Label: banLabels[k], Href: "/blacklist?" + banQuery(k, "", "").Encode(), Current: k == kind})
	}
	v.Data = bv
	f, err := banFilter(kind, q.Get("q"), q.Get("after"))
	if err != nil {
		v.Error = err.Error()
		b.render(w, http.StatusBadRequest, "blacklist", v)
		return
	}
	f.Now = b.deps.Now()
	bans, err := b.deps.Store.BanPage(r.Context(), f)
	if err != nil {
		b.deps.Diag.Error("web: listing the blacklist", "kind", kind, "error", err)
		v.Error = "The store did not answer: see the diagnostic log."
		b.render(w, http.StatusInternalServerError, "blacklist", v)
		return
	}
	if len(bans) > PageSize {
		bans = bans[:PageSize]
		bv.Next = "/blacklist?" + banQuery(kind, q.Get("q"), bans[len(bans)-1].Key).Encode()
	}
	if f.After != "" {
		bv.First = "/blacklist?" + banQuery(kind, q.Get("q"), "").Encode()
	}
	for _, ban := range bans {
		until := "until lifted"
		if !ban.Expires.IsZero() {
			until = stamp(ban.Expires)
		}
		bv.Rows = append(bv.Rows, banRow{Key: ban.Key, Reason: ban.Reason, Since: stamp(ban.Created), Until: until})
	}
	b.render(w, http.StatusOK, "blacklist", v)
}

// banForm reads the kind and key a change names, the key as the store
// keeps it.
func banForm(r *http.Request) (kind, key string, err error) {
	kind = r.PostForm.Get("kind")
	if err := banKind(kind); err != nil {
		return "", "", err
	}
	if key, err = formText("key", r.PostForm.Get("key"), maxBanKey); err != nil {
		return "", "", err
	}
	if key, err = watch.BanKey(kind, key); err != nil {
		return "", "", fmt.Errorf("key: %w", err)
	}
	return kind, key, nil
}

// add bans a key as maxwell blacklist add does, then shows it.
func (b *blacklist) add(w http.ResponseWriter, r *http.Request, s *session) {
	kind, key, err := banForm(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reason, err := watch.BanReason(r.PostForm.Get("reason"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ban, err := watch.AddBan(r.Context(), b.deps.Store, b.deps.Config(), kind, key, reason, b.deps.Now())
	if err != nil {
		b.deps.Diag.Error("web: adding a ban", "kind", kind, "key", key, "error", err)
		http.Error(w, "the store failed: see the diagnostic log", http.StatusInternalServerError)
		return
	}
	until := "lifted"
	if !ban.Expires.IsZero() {
		until = ban.Expires.UTC().Format(time.RFC3339)
	}
	b.deps.Log.Log(0, "web", "user", s.user, "action", "ban", "kind", kind, "key", ban.Key, "reason", reason,
		"until", until, "remote", remoteKey(r))
	back := banQuery(kind, ban.Key, "")
	back.Set("done", "ban")
	http.Redirect(w, r, "/blacklist?"+back.Encode(), http.StatusSeeOther)
}

// delete lifts a ban as maxwell blacklist delete does, then goes back to
// the page it was on.
func (b *blacklist) delete(w http.ResponseWriter, r *http.Request, s *session) {
	kind, key, err := banForm(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ok, err := watch.DeleteBan(r.Context(), b.deps.Store, b.deps.Config(), kind, key, b.deps.Now())
	if err != nil {
		b.deps.Diag.Error("web: lifting a ban", "kind", kind, "key", key, "error", err)
		http.Error(w, "the store failed: see the diagnostic log", http.StatusInternalServerError)
		return
	}
	deleted, done := 0, "gone"
	if ok {
		deleted, done = 1, "unban"
	}
	b.deps.Log.Log(0, "web", "user", s.user, "action", "unban", "kind", kind, "key", key, "deleted", deleted, "remote", remoteKey(r))
	q, _ := url.ParseQuery(r.PostForm.Get("back"))
	back := banQuery(kind, q.Get("q"), q.Get("after"))
	back.Set("done", done)
	http.Redirect(w, r, "/blacklist?"+back.Encode(), http.StatusSeeOther)
}
