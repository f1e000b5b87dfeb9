package web

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/logindex"
)

// manyConnections is a mail log of n connections of one client, a
// second apart, ending a minute before the fixture's clock.
func manyConnections(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s conn=%d event=connect ip=192.0.2.1 host=unknown class=EXTERNAL\n", at(time.Duration(i-n)*time.Second-time.Minute), i)
	}
	return b.String()
}

var (
	connLinkRE  = regexp.MustCompile(`<a href="/conn\?id=(\d+)">`)
	olderLinkRE = regexp.MustCompile(`<a href="([^"]*)">Older</a>`)
)

// The log page's Older link is a working URL: followed, it shows the
// connections after the first page's, and the last page has none.
func TestLogPageOlder(t *testing.T) {
	f := newFixture(t, indexed(t, manyConnections(logPageSize+7)))
	c := f.login("admin", "correct horse")
	resp, body := f.do(c, "GET", "/log?kind=ip&q=192.0.2.1", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first page: %s", resp.Status)
	}
	if n := len(connLinkRE.FindAllString(body, -1)); n != logPageSize {
		t.Fatalf("first page: %d connections, want %d", n, logPageSize)
	}
	m := olderLinkRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no Older link on the first page:\n%s", body)
	}
	older := html.UnescapeString(m[1])
	resp, body = f.do(c, "GET", older, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", older, resp.Status)
	}
	var ids []string
	for _, m := range connLinkRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	if want := "7 6 5 4 3 2 1"; strings.Join(ids, " ") != want {
		t.Errorf("GET %s: connections %v, want %s", older, ids, want)
	}
	if olderLinkRE.MatchString(body) {
		t.Errorf("the last page has an Older link")
	}
}

// A search that finds exactly a page has no Older link to an empty page.
func TestLogPageOlderOnlyWhenMore(t *testing.T) {
	f := newFixture(t, indexed(t, manyConnections(logPageSize)))
	c := f.login("admin", "correct horse")
	_, body := f.do(c, "GET", "/log?kind=ip&q=192.0.2.1", nil)
	if n := len(connLinkRE.FindAllString(body, -1)); n != logPageSize {
		t.Fatalf("%d connections, want %d", n, logPageSize)
	}
	if olderLinkRE.MatchString(body) {
		t.Errorf("an Older link with nothing older")
	}
}

// A connection's trace says when it is cut at logindex.MaxTrace lines,
// and a connection the index does not hold is not found (404), not an
// empty trace.
func TestConnPageCutAndUnknown(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s conn=7 event=connect ip=192.0.2.7 host=unknown class=EXTERNAL\n", at(-time.Minute))
	for i := range logindex.MaxTrace {
		fmt.Fprintf(&b, "%s conn=7 event=header name=X-N%d value=v\n", at(-time.Minute), i)
	}
	fmt.Fprintf(&b, "%s conn=8 event=connect ip=192.0.2.8 host=unknown class=EXTERNAL\n", at(-time.Minute))
	f := newFixture(t, indexed(t, b.String()))
	c := f.login("admin", "correct horse")
	resp, body := f.do(c, "GET", "/conn?id=7", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "X-N1998") || strings.Contains(body, "X-N1999") {
		t.Fatalf("conn 7: %s, not its first %d lines", resp.Status, logindex.MaxTrace)
	}
	if !strings.Contains(body, fmt.Sprintf("Only the first %d lines", logindex.MaxTrace)) {
		t.Errorf("conn 7: no note that the trace is cut")
	}
	if _, body := f.do(c, "GET", "/conn?id=8", nil); strings.Contains(body, "Only the first") {
		t.Errorf("conn 8: a note that its one line is cut")
	}
	if resp, body := f.do(c, "GET", "/conn?id=9", nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "No such connection") {
		t.Errorf("conn 9, not in the log: %s", resp.Status)
	}
}
