package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// The greylist page follows a reload's [greylist], as the daemon does:
// an address is searched by the network the daemon now keys it by, and
// Allow passes a triplet for the new pass_ttl.
func TestGreylistFollowsReload(t *testing.T) {
	var running atomic.Pointer[config.Config]
	f := newFixture(t, func(cfg *config.Config, d *Deps) {
		running.Store(cfg)
		d.Config = running.Load
	})
	reloaded := *running.Load()
	reloaded.Greylist.IPv4Prefix = 16
	reloaded.Greylist.PassTTL = config.Duration(48 * time.Hour)
	running.Store(&reloaded)

	f.put(pending("198.18.0.0/16", "a@example.com", "x@example.org"))
	c := f.login("admin", "correct horse")
	if _, body := f.do(c, "GET", "/greylist?client=198.18.5.5", nil); !strings.Contains(body, "a@example.com") {
		t.Errorf("search by an address after ipv4_prefix became 16: the /16's entry not found\n%s", body)
	}
	form := url.Values{"csrf": {f.csrf(c)}, "client": {"198.18.0.0/16"}, "sender": {"a@example.com"}, "rcpt": {"x@example.org"}}
	if resp, _ := f.do(c, "POST", "/greylist/allow", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("allow: %s", resp.Status)
	}
	es, _ := f.st.Triplets(context.Background(), store.Filter{Sender: "a@example.com"})
	if want := t0.Add(48 * time.Hour); len(es) != 1 || !es[0].Expires.Equal(want) {
		t.Errorf("after allow: %+v, want it passed until %v (the reloaded pass_ttl)", es, want)
	}
}
