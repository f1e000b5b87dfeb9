package watch

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/store"
)

// postfixLog is the log of the end-to-end harness's Postfix (3.7) for
// two rats (greylisted, then "lost connection" after RCPT and RSET) and
// two polite clients of one network, one of which came back; dated
// logDay(0).
func postfixLog(t testing.TB) []string { return recordedLog(t, "testdata/postfix.log", 0) }

// recordedLog reads a log of testdata, recorded on Nov 29, with its
// stamps moved to logDay(days): the tests' dates come from testclock.
func recordedLog(t testing.TB, path string, days int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	return redate(lines, days)
}

// redate moves syslog lines stamped "Nov 29" (the day testdata's logs
// were recorded) to logDay(days), keeping the time of day.
func redate(lines []string, days int) []string {
	const recorded = "Nov 29"
	day := logDay(days, 0).Format("Jan _2")
	out := make([]string, len(lines))
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, recorded); ok {
			l = day + rest
		}
		out[i] = l
	}
	return out
}

// logDay is the tests' day for the recorded logs, the sixth after
// testclock's epoch, plus days and clock, in local time (syslog stamps
// carry no zone).
func logDay(days int, clock time.Duration) time.Time { return testclock.Day(6+days, clock, time.Local) }

// fixture is a watcher over a log file, on SQLite, with a clock the test
// sets.
type fixture struct {
	t     testing.TB
	cfg   *config.Config
	st    store.Store
	log   *bytes.Buffer
	path  string
	clock time.Time
}

func newFixture(t testing.TB, lines []string) *fixture {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Milter.DataDir = dir
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "maxwell.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, cfg: cfg, st: st, log: &bytes.Buffer{}, path: filepath.Join(dir, "maillog"),
		clock: logDay(0, 21*time.Hour+50*time.Minute)}
	f.write(lines...)
	return f
}

func (f *fixture) write(lines ...string) {
	appendTo(f.t, f.path, strings.Join(lines, "\n")+"\n")
}

// run starts a watcher, as after a restart, reads what is new, and
// returns what it did.
func (f *fixture) run() Counts {
	f.t.Helper()
	w := f.watcher()
	if err := w.Run(context.Background(), f.path, true); err != nil {
		f.t.Fatal(err)
	}
	return w.Counts()
}

func (f *fixture) watcher() *Watcher {
	w := New(f.cfg, f.st, maillog.New(f.log), slog.New(slog.DiscardHandler))
	w.SetClock(func() time.Time { return f.clock })
	return w
}

// banned returns the reason ip is blacklisted for at the clock's time,
// "" if it is not.
func (f *fixture) banned(ip string) string {
	f.t.Helper()
	b, err := f.st.Banned(context.Background(), store.BanClient, ip, f.clock)
	if err != nil {
		f.t.Fatal(err)
	}
	if b == nil {
		return ""
	}
	return b.Reason
}

func TestWatchBlacklistsRats(t *testing.T) {
	lines := postfixLog(t)
	f := newFixture(t, lines)
	if c := f.run(); c.Lines != len(lines) || c.Blacklisted != 2 {
		t.Errorf("counts %+v, want %d lines read and 2 clients blacklisted", c, len(lines))
	}
	for ip, want := range map[string]string{
		"198.51.100.7": "greylisted, then lost connection after RCPT",
		"192.0.2.30":   "greylisted, then lost connection after RSET",
		"203.0.113.20": "", // QUIT
		"203.0.113.50": "", // QUIT
		"127.0.0.1":    "", // lost connection, but never greylisted
	} {
		if got := f.banned(ip); got != want {
			t.Errorf("%s: blacklisted for %q, want %q", ip, got, want)
		}
	}
	at := logDay(0, 21*time.Hour+48*time.Minute+38*time.Second).UTC()
	if want := `conn=0 event=blacklist ip=198.51.100.7 reason="greylisted, then lost connection after RCPT" at=` +
		at.Format(time.RFC3339) + ` until=` + at.AddDate(0, 0, 7).Format(time.RFC3339); !strings.Contains(f.log.String(), want) {
		t.Errorf("mail log lacks %q:\n%s", want, f.log)
	}

	// A restart goes on where the last run stopped: a ban lifted by hand
	// stays lifted, and only new lines count.
	f.st.Unban(context.Background(), store.BanClient, "192.0.2.30")
	f.run()
	if got := f.banned("192.0.2.30"); got != "" {
		t.Errorf("after a restart the old lines were read again: %q", got)
	}
	if n := strings.Count(f.log.String(), "event=blacklist"); n != 2 {
		t.Errorf("%d blacklistings, want 2:\n%s", n, f.log)
	}

	// Lifted as maxwell blacklist delete does, a ban stays lifted even
	// for a watcher that has lost its place and reads the log again; the
	// other rat is blacklisted again, for the same offence.
	if ok, err := Lift(context.Background(), f.st, f.cfg, "198.51.100.7", f.clock); err != nil || !ok {
		t.Fatalf("Lift: %v %v", ok, err)
	}
	f.st.Unban(context.Background(), store.BanClient, "192.0.2.30") // by another way: no record of it
	os.Remove(f.cfg.WatchStatePath())
	f.run()
	if got := f.banned("198.51.100.7"); got != "" {
		t.Errorf("a ban lifted by hand came back when the log was read again: %q", got)
	}
	if got := f.banned("192.0.2.30"); got == "" {
		t.Errorf("a ban removed with no record of it was not made again from the log read again")
	}
	if ok, _ := Lift(context.Background(), f.st, f.cfg, "198.51.100.7", f.clock); ok {
		t.Errorf("Lift of a client not blacklisted said it was")
	}
	// An offence after the lifting counts: the same rats the next day.
	f.write(recordedLog(t, "testdata/postfix.log", 1)...)
	f.clock = logDay(1, 21*time.Hour+50*time.Minute)
	f.run()
	if got := f.banned("198.51.100.7"); got == "" {
		t.Errorf("a new offence after the lifting was not blacklisted")
	}
}

// An entry goes only after good_behaviour without a new offence.
func TestWatchGoodBehaviour(t *testing.T) {
	f := newFixture(t, postfixLog(t))
	f.run()
	// The rat offends again four days later (the same lines, redated).
	f.clock = f.clock.Add(4 * 24 * time.Hour)
	var again []string
	for _, l := range recordedLog(t, "testdata/postfix.log", 4) {
		if strings.Contains(l, "smtpd[10599]") && (strings.Contains(l, "[198.51.100.7]") || strings.Contains(l, "connect from")) {
			again = append(again, l)
		}
	}
	f.write(again...)
	f.run()

	expire := func() {
		if _, err := f.st.Expire(context.Background(), f.clock, 100); err != nil {
			t.Fatal(err)
		}
	}
	f.clock = logDay(8, 12*time.Hour) // over a week after the first offences
	expire()
	if f.banned("192.0.2.30") != "" {
		t.Error("192.0.2.30 still blacklisted after a week of good behaviour")
	}
	if f.banned("198.51.100.7") == "" {
		t.Error("198.51.100.7 offended again four days later: it must stay blacklisted a week after that")
	}
	f.clock = logDay(11, 22*time.Hour)
	expire()
	if got, _ := f.st.Bans(context.Background(), store.BanClient, time.Time{}); len(got) != 0 {
		t.Errorf("after good behaviour the entries are gone, yet: %+v", got)
	}
}

// A client greylisted that quits and never comes back within the retry
// window is blacklisted too; one whose network came back is not.
func TestWatchNeverRetried(t *testing.T) {
	lines := postfixLog(t)
	var cut int // the log up to the polite clients' QUIT, before any came back
	for i, l := range lines {
		if strings.Contains(l, "disconnect from unknown[203.0.113.50]") {
			cut = i + 1
		}
	}
	for _, tc := range []struct {
		name  string
		lines []string
		off   bool
		want  string
	}{
		{"never came back", lines[:cut], false, "greylisted, never retried within 48h0m0s"},
		{"came back", lines, false, ""},
		{"never came back, never_retried off", lines[:cut], true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.lines)
			f.cfg.Watch.NeverRetried = !tc.off
			f.run()
			if got := f.banned("203.0.113.50"); got != "" {
				t.Fatalf("blacklisted before the window ended: %q", got)
			}
			f.clock = f.clock.Add(48 * time.Hour)
			f.run() // a restart: what it waits for was saved
			if got := f.banned("203.0.113.50"); got != tc.want {
				t.Errorf("blacklisted for %q, want %q", got, tc.want)
			}
			if got := f.banned("203.0.113.20"); got != "" {
				t.Errorf("203.0.113.20 came back (from its network): %q", got)
			}
		})
	}
}

// While the store does not answer nothing is lost: the lines are read
// again once it does.
func TestWatchStoreDown(t *testing.T) {
	f := newFixture(t, postfixLog(t))
	path := filepath.Join(f.cfg.Milter.DataDir, "maxwell.db")
	f.st.Close()
	w := New(f.cfg, f.st, maillog.New(f.log), slog.New(slog.DiscardHandler))
	w.SetClock(func() time.Time { return f.clock })
	if err := w.Run(context.Background(), f.path, true); err == nil {
		t.Fatal("a round with the store closed reported no error")
	}
	st, err := store.OpenSQLite(context.Background(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f.st = st
	f.run()
	for _, ip := range []string{"198.51.100.7", "192.0.2.30"} {
		if f.banned(ip) == "" {
			t.Errorf("%s was lost while the store was down", ip)
		}
	}
}

// Real Sendmail 8.17 lines (LogLevel 14) from test/t-09's harness: a rat
// at 127.0.0.2 greylisted, then "lost input channel"; a polite client at
// 127.0.0.3 greylisted, QUIT, and back after the delay; the rat again,
// "did not issue MAIL" without being greylisted.
func TestWatchSendmailLog(t *testing.T) {
	f := newFixture(t, recordedLog(t, "testdata/sendmail.log", 0))
	f.clock = logDay(0, 22*time.Hour+20*time.Minute)
	f.run()
	if got, want := f.banned("127.0.0.2"), "greylisted, then lost input channel after rcpt"; got != want {
		t.Errorf("127.0.0.2: blacklisted for %q, want %q", got, want)
	}
	if got := f.banned("127.0.0.3"); got != "" {
		t.Errorf("the polite client was blacklisted: %q", got)
	}
	// It came back: nothing waits for it after the retry window.
	f.clock = f.clock.Add(49 * time.Hour)
	f.run()
	if got := f.banned("127.0.0.3"); got != "" {
		t.Errorf("the polite client was blacklisted as never retried: %q", got)
	}
}

// One watcher at a time on a state file: a second one, as a maxwell
// watch started beside serve --watch, is refused and says why; once the
// first has stopped, the next may run.
func TestOneWatcherAtATime(t *testing.T) {
	f := newFixture(t, postfixLog(t))
	ctx, cancel := context.WithCancel(context.Background())
	first := f.watcher()
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx, f.path, false) }()
	// The first holds the lock once it has read the log through.
	for deadline := time.Now().Add(10 * time.Second); first.Counts().Lines == 0; time.Sleep(10 * time.Millisecond) { // wall clock: a bound on the wait, no date
		if time.Now().After(deadline) { // wall clock: as above
			t.Fatal("the first watcher read nothing")
		}
	}
	err := f.watcher().Run(context.Background(), f.path, true)
	if err == nil || !strings.Contains(err.Error(), "another watcher is running on "+f.cfg.WatchStatePath()) {
		t.Errorf("a second watcher: %v, want it refused", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.run()
}

// With [reputation] on, a rat's network is taught so once a blacklisting
// (reputation event "rat"), and a client that behaved is taught
// nothing.
func TestWatchTeachesReputation(t *testing.T) {
	f := newFixture(t, postfixLog(t))
	f.cfg.Reputation.Enabled = true
	f.run()
	rs, err := f.st.Reputation(context.Background(), "net:198.51.100.0/24", "net:192.0.2.0/24", "net:203.0.113.0/24")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]float64{}
	for _, r := range rs {
		bad[r.ID] = r.Bad
		if r.Good != 0 {
			t.Errorf("%s: good %v, want 0", r.ID, r.Good)
		}
	}
	want := map[string]float64{"net:198.51.100.0/24": f.cfg.Reputation.Rat, "net:192.0.2.0/24": f.cfg.Reputation.Rat}
	if len(bad) != len(want) || bad["net:198.51.100.0/24"] != want["net:198.51.100.0/24"] || bad["net:192.0.2.0/24"] != want["net:192.0.2.0/24"] {
		t.Errorf("reputations taught %v, want %v", bad, want)
	}
}
