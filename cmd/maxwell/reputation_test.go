package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// show prints the own score, counts and last update of an identity
// given bare; list the latest updated first.
func TestReputationShowAndList(t *testing.T) {
	now := time.Now() // one clock throughout: the real one, as this package's other tests
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "s.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc := config.Default().Reputation
	obs := []store.Observation{{ID: "spf:example.com", Good: 20}, {ID: "net:192.0.2.0/24", Bad: 45}}
	if err := st.Learn(context.Background(), obs, now, rc.HalfLife.D()); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if showReputation(&out, st, &rc, "spf:example.com", now) != exitOK ||
		!strings.Contains(out.String(), "own: score 0.800, good 20.00, bad 0.00 (decayed to now), 1 events") ||
		!strings.Contains(out.String(), "peers: none configured") {
		t.Errorf("show:\n%s", out.String())
	}
	out.Reset()
	if listReputations(&out, st, &rc, now.Add(rc.HalfLife.D()), 0) != exitOK {
		t.Fatal("list failed")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "net:192.0.2.0/24") || !strings.Contains(lines[1], "-0.818") {
		t.Errorf("list, a half-life later:\n%s", out.String())
	}
}

// An identity a domain or an address stands for; nonsense is a usage
// error before any store is opened.
func TestReputationCommandUsage(t *testing.T) {
	if got := run([]string{"reputation", "show", "-defaults", "net:nonsense"}); got != exitUsage {
		t.Errorf("show nonsense: exit %d", got)
	}
	if got := run([]string{"reputation"}); got != exitUsage {
		t.Errorf("no command: exit %d", got)
	}
}
