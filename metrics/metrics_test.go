package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/store"
)

// /healthz says 200 while the store and DNS answer, 503 naming what does
// not.
func TestHealth(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "s.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t)) // nobody answers there
	for _, tc := range []struct {
		name   string
		dns    string
		closed bool
		code   int
		want   string
	}{
		{"all up", dns.Addr, false, 200, "store: ok\ndns: ok\n"},
		{"dns down", dead, false, 503, "store: ok\ndns: " + dead},
		{"store closed", dns.Addr, true, 503, "store: sqlite store: "},
	} {
		if tc.closed {
			st.Close()
		}
		m := New(st, resolver.New(resolver.Config{Servers: []string{tc.dns}, Timeout: 200 * time.Millisecond, Attempts: 1}))
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.code || !strings.HasPrefix(string(body), tc.want) {
			t.Errorf("%s: %d %q, want %d %q…", tc.name, rec.Code, body, tc.code, tc.want)
		}
	}
}

// The reason label takes at most maxReasons values, whatever clients
// make the reasons say.
func TestReasonLabelBounded(t *testing.T) {
	m := New(nil, nil)
	for i := range maxReasons + 50 {
		m.Event("decision", []any{"tag", "REJECT", "reason", fmt.Sprintf("attachment evil%c%d: banned", 'a'+i%26, i), "code", 550})
	}
	rec := httptest.NewRecorder()
	m.reg.Unregister(greylistGauges{}) // no store here
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if n := strings.Count(body, "maxwell_decisions_total{action=\"reject\""); n != maxReasons+1 {
		t.Errorf("%d reason labels, want %d and \"other\"", n, maxReasons)
	}
	if !strings.Contains(body, `maxwell_decisions_total{action="reject",reason="other"} 50`) {
		t.Errorf("the reasons past the bound are not counted as other")
	}
}
