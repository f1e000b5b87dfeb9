package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

const greyDaemonConfig = `
[milter]
socket = "inet:PORT@127.0.0.1"
[greylist]
delay = "DELAY"
[store]
STORE
[dns]
servers = ["DNS"]
timeout = "300ms"
[log]
mail_log = "LOG"
`

// greyDaemon is a maxwell daemon started on a store for greylisting.
type greyDaemon struct {
	*mtatest.Maxwell
	addr, config, log string
}

func startGreyDaemon(t *testing.T, delay, storeConf string) *greyDaemon {
	dir := t.TempDir()
	port := mtatest.FreePort(t)
	g := &greyDaemon{addr: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(dir, "mail.log")}
	g.config, _ = writeConfig(t, dir, strings.NewReplacer("PORT", fmt.Sprint(port), "DELAY", delay,
		"STORE", storeConf, "LOG", g.log).Replace(greyDaemonConfig))
	g.Maxwell = mtatest.StartMaxwell(t, dir, g.config)
	g.WaitListen(t, g.addr)
	return g
}

// send runs one message from 198.51.100.7 and returns the result.
func (g *greyDaemon) send(t *testing.T, sender, rcpt string) mtaclient.Result {
	t.Helper()
	r, err := mtaclient.Send("tcp", g.addr, policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
		Mail: policy.MailInfo{Sender: sender}, Rcpts: []string{rcpt},
	}, []byte("Hi\r\n"))
	if err != nil {
		t.Fatalf("%s: %v\n%s", g.addr, err, g.Stderr)
	}
	return r
}

func greylisted(r mtaclient.Result) bool {
	code, xcode, lines := mtaclient.Reply(r.Action)
	return code == 451 && xcode == "4.7.1" && len(lines) == 1 && strings.HasPrefix(lines[0], "Greylisted")
}

// Two MX hosts share greylisting through PostgreSQL: the first attempt
// reaches A, the retry after the delay reaches B and passes.
func TestTwoMXHostsShareGreylisting(t *testing.T) {
	pg := pgtest.Start(t)
	storeConf := fmt.Sprintf("driver = \"postgres\"\ndsn = %q", pg.NewDB(t))
	a := startGreyDaemon(t, "1s", storeConf)
	b := startGreyDaemon(t, "1s", storeConf)

	first := time.Now()
	if r := a.send(t, "alice@sender.example", "bob@example.org"); !greylisted(r) {
		t.Fatalf("first attempt on A: %v, want greylisted", r.Action)
	}
	if r := b.send(t, "alice@sender.example", "bob@example.org"); !greylisted(r) {
		t.Fatalf("early retry on B: %v, want greylisted (B must see A's triplet)", r.Action)
	}
	time.Sleep(time.Until(first.Add(1200 * time.Millisecond)))
	if r := b.send(t, "alice@sender.example", "bob@example.org"); !r.Accepted() {
		t.Fatalf("retry on B after the delay: %v, want accepted", r.Action)
	}
	b.WaitFor(t, "the pass in B's log", func() bool { return strings.Contains(mustRead(t, b.log), "step=pass") })

	// The admin commands work on the shared store while both daemons run.
	code, out, errs := capture(t, func() int { return run([]string{"greylist", "list", "-c", a.config, "--json"}) })
	var rows []struct{ State, Client, Sender, Rcpt string }
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 ||
		rows[0].State != "passed" || rows[0].Client != "sender.example" {
		t.Errorf("greylist list: status %d, %v\n%s%s", code, err, out, errs)
	}
	code, out, _ = capture(t, func() int {
		return run([]string{"greylist", "allow", "-c", b.config, "--ip", "198.51.100.7", "--sender", "carol@other.example", "--rcpt", "bob@example.org"})
	})
	if code != 0 || !strings.Contains(out, "triplet 198.51.100.0/24 carol@other.example bob@example.org passed") {
		t.Errorf("greylist allow: status %d: %s", code, out)
	}
	if r := a.send(t, "Carol@other.example", "bob@example.org"); !r.Accepted() {
		t.Errorf("a triplet allowed from the command line, on A: %v, want accepted", r.Action)
	}
	code, out, _ = capture(t, func() int { return run([]string{"greylist", "stats", "-c", a.config, "--json"}) })
	var stats struct {
		Pending, Passed int
		SchemaVersion   int `json:"schema_version"`
	}
	err := json.Unmarshal([]byte(out), &stats)
	if code != 0 || err != nil || stats.Passed != 2 || stats.Pending != 0 || stats.SchemaVersion != store.SchemaVersion {
		t.Errorf("greylist stats: status %d: %s", code, out)
	}

	// PostgreSQL going away defers (451 4.3.0), and coming back is
	// noticed without a restart.
	pg.Stop()
	r := a.send(t, "dave@other.example", "bob@example.org")
	if code, xcode, _ := mtaclient.Reply(r.Action); code != 451 || xcode != "4.3.0" {
		t.Errorf("PostgreSQL down: %v, want 451 4.3.0", r.Action)
	}
	pg.Restart(t)
	if r := a.send(t, "dave@other.example", "bob@example.org"); !greylisted(r) {
		t.Errorf("PostgreSQL back: %v, want greylisted", r.Action)
	}
}

// kill -9 under load: every triplet whose answer the client received is
// in the SQLite file afterwards, the file passes integrity_check, and a
// restarted daemon carries on from it.
func TestCrashKeepsAnsweredTriplets(t *testing.T) {
	g := startGreyDaemon(t, "1h", "")
	var (
		mu       sync.Mutex
		answered []string
		sent     atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sender := fmt.Sprintf("user%dx%d@load.example", w, i)
				r, err := mtaclient.Send("tcp", g.addr, policy.Transaction{
					Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
					Mail: policy.MailInfo{Sender: sender}, Rcpts: []string{"bob@example.org"},
				}, []byte("Hi\r\n"))
				if err != nil {
					return // the daemon is gone
				}
				if greylisted(r) {
					mu.Lock()
					answered = append(answered, sender)
					mu.Unlock()
				}
				sent.Add(1)
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); sent.Load() < 300 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	g.Cmd.Process.Signal(syscall.SIGKILL)
	<-g.Exited
	close(stop)
	wg.Wait()
	if len(answered) < 100 {
		t.Fatalf("only %d answers before the kill; the load did not run", len(answered))
	}

	path := filepath.Join(filepath.Dir(g.config), "data", "maxwell.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	db.Close()
	st, err := store.OpenSQLite(context.Background(), path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.Triplets(context.Background(), store.Filter{Sender: "*@load.example"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, e := range es {
		stored[e.Sender] = true
	}
	lost := 0
	for _, s := range answered {
		if !stored[s] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d answered triplets are missing after kill -9", lost, len(answered))
	}
	t.Logf("%d triplets answered before kill -9, %d stored, none lost", len(answered), len(es))

	// A new daemon on the same file knows the triplets: a retry is early,
	// not new.
	again := mtatest.StartMaxwell(t, filepath.Dir(g.config), g.config)
	again.WaitListen(t, g.addr)
	if r := g.send(t, answered[0], "bob@example.org"); !greylisted(r) {
		t.Fatalf("retry after restart: %v", r.Action)
	}
	again.WaitFor(t, "the retry after the restart recognised as a retry", func() bool {
		return strings.Contains(mustRead(t, g.log), "sender="+answered[0]+" rcpt=bob@example.org step=early")
	})
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("the store is not in WAL mode: %v", err)
	}
}

// The admin commands on the embedded SQLite store: allow, list, delete,
// expire, and their usage errors.
func TestGreylistCommandsSQLite(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := writeConfig(t, dir, fmt.Sprintf("[milter]\ndatadir = %q\n[dns]\nservers = [\"DNS\"]\n", filepath.Join(dir, "state")))
	cmd := func(args ...string) (int, string, string) {
		return capture(t, func() int { return run(append([]string{"greylist", args[0], "-c", cfg}, args[1:]...)) })
	}
	// The store the daemon creates on its first start.
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "state", "maxwell.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if code, out, errs := cmd("allow", "--ip", "2001:db8:1:2::7", "--sender", "prvs=1234abcdef=Joe@Other.example", "--rcpt", "Bob@example.org"); code != 0 ||
		!strings.Contains(out, "triplet 2001:db8:1:2::/64 joe@other.example bob@example.org passed") {
		t.Errorf("allow: %d %s%s", code, out, errs)
	}
	if code, out, _ := cmd("list", "--state", "passed", "--ip", "2001:db8:1:2::99"); code != 0 || !strings.Contains(out, "passed  2001:db8:1:2::/64  joe@other.example") {
		t.Errorf("list: %d\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"allow", "--sender", "a@b.example", "--rcpt", "c@d.example"}, // no client
		{"allow", "--ip", "192.0.2.1", "--sender", "a@b.example"},     // no recipient
		{"delete"},                         // no filter
		{"list", "--state", "done"},        // no such state
		{"list", "--ip", "not-an-address"}, // bad address
		{"frobnicate"},                     // no such command
	} {
		if code, _, errs := cmd(bad...); code != exitUsage || errs == "" {
			t.Errorf("%v: status %d, stderr %q; want %d and a message", bad, code, errs, exitUsage)
		}
	}

	// expire removes what is past its time, in batches, and nothing else.
	st, err = store.OpenSQLite(context.Background(), filepath.Join(dir, "state", "maxwell.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	st.PutTriplets(context.Background(), []store.Entry{{Triplet: store.Triplet{Client: "192.0.2.0/24", Sender: "x@y.example", Rcpt: "bob@example.org"},
		First: old, Last: old, Expires: old.Add(48 * time.Hour), Attempts: 1}})
	st.Close()
	if code, out, _ := cmd("expire"); code != 0 || !strings.Contains(out, "1 expired entries removed") {
		t.Errorf("expire: %d %s", code, out)
	}
	if code, out, _ := cmd("delete", "--all"); code != 0 || !strings.Contains(out, "1 entries deleted") {
		t.Errorf("delete --all: %d %s", code, out)
	}
}

// greylist list and greylist stats count the same things: a triplet past
// its expiry (awaiting cleanup) is "expired" in both, neither pending nor
// passed.
func TestGreylistListAgreesWithStats(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := writeConfig(t, dir, fmt.Sprintf("[milter]\ndatadir = %q\n[dns]\nservers = [\"DNS\"]\n", filepath.Join(dir, "state")))
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "state", "maxwell.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // the commands run on the real clock
	triplet := func(n int) store.Triplet {
		return store.Triplet{Client: "192.0.2.0/24", Sender: fmt.Sprintf("s%d@other.example", n), Rcpt: "bob@example.org"}
	}
	err = st.PutTriplets(context.Background(), []store.Entry{
		{Triplet: triplet(1), First: now.Add(-time.Minute), Last: now.Add(-time.Minute), Expires: now.Add(47 * time.Hour), Attempts: 1},
		{Triplet: triplet(2), First: now.Add(-72 * time.Hour), Last: now.Add(-72 * time.Hour), Expires: now.Add(-24 * time.Hour), Attempts: 1},
		{Triplet: triplet(3), First: now.Add(-time.Hour), Last: now.Add(-time.Hour), Passed: now.Add(-time.Hour), Expires: now.Add(30 * 24 * time.Hour), Passes: 1},
		{Triplet: triplet(4), First: now.Add(-40 * 24 * time.Hour), Last: now.Add(-36 * 24 * time.Hour), Passed: now.Add(-36 * 24 * time.Hour), Expires: now.Add(-24 * time.Hour), Passes: 1},
		{Triplet: triplet(5), First: now.Add(-50 * time.Hour), Last: now.Add(-50 * time.Hour), Expires: now.Add(-2 * time.Hour), Attempts: 3},
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) string {
		t.Helper()
		code, out, errs := capture(t, func() int { return run(append([]string{"greylist", args[0], "-c", cfg}, args[1:]...)) })
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, errs)
		}
		return out
	}
	var rows []struct{ State, Sender string }
	if err := json.Unmarshal([]byte(cmd("list", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, r := range rows {
		listed[r.State]++
	}
	var stats map[string]any
	if err := json.Unmarshal([]byte(cmd("stats", "--json")), &stats); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"pending": 1, "passed": 1, "expired": 3}
	for state, n := range want {
		if listed[state] != n || stats[state] != float64(n) {
			t.Errorf("%s: list shows %d, stats says %v; want %d", state, listed[state], stats[state], n)
		}
		if got := strings.Count(cmd("list", "--state", state), "\n"+state+" "); got != n {
			t.Errorf("list --state %s: %d rows, want %d", state, got, n)
		}
	}
	if out := cmd("stats"); !strings.Contains(out, "pending:              1\npassed:               1\nexpired:              3 (awaiting cleanup: maxwell greylist expire)\n") {
		t.Errorf("stats:\n%s", out)
	}
}

// A passed triplet's renewals wait in the daemon's memory for up to
// [store] cache_ttl: with an hour of it, only the stop writes them, and
// SIGTERM loses none.
func TestStopWritesGreylistRenewals(t *testing.T) {
	g := startGreyDaemon(t, "1s", fmt.Sprintf("path = %q\ncache_ttl = \"1h\"", filepath.Join(t.TempDir(), "maxwell.db")))
	code, out, errs := capture(t, func() int {
		return run([]string{"greylist", "allow", "-c", g.config, "--ip", "198.51.100.7", "--sender", "carol@other.example", "--rcpt", "bob@example.org"})
	})
	if code != 0 {
		t.Fatalf("greylist allow: status %d: %s%s", code, out, errs)
	}
	for i := range 3 {
		if r := g.send(t, "carol@other.example", "bob@example.org"); !r.Accepted() {
			t.Fatalf("message %d on the allowed triplet: %v", i+1, r.Action)
		}
	}
	passes := func() int {
		t.Helper()
		code, out, errs := capture(t, func() int { return run([]string{"greylist", "list", "-c", g.config, "--json"}) })
		var rows []struct{ Passes int }
		if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 {
			t.Fatalf("greylist list: status %d, %v\n%s%s", code, err, out, errs)
		}
		return rows[0].Passes
	}
	// The allow writes no pass; the first message's is written, and the
	// two after it renew the triplet in memory.
	if p := passes(); p != 1 {
		t.Errorf("before the stop: %d passes written, want 1", p)
	}
	g.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.Exited:
		if g.Err != nil {
			t.Fatalf("exit: %v\n%s", g.Err, g.Stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("maxwell did not exit")
	}
	if p := passes(); p != 3 {
		t.Errorf("after the stop: %d passes written, want 3", p)
	}
}
