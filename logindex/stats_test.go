package logindex

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// summarize is x's summary of the test log's day around 10:00.
func summarize(t *testing.T, x *Index, from, to string) *Summary {
	t.Helper()
	s, err := x.Summarize(context.Background(), mustTime(from), mustTime(to), 10)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func minutes(s *Summary) string {
	var b []string
	for _, m := range s.Minutes {
		b = append(b, fmt.Sprintf("%s %s=%d", m.Minute.Format("15:04"), m.Outcome, m.N))
	}
	return strings.Join(b, ", ")
}

func TestSummarize(t *testing.T) {
	x, log := open(t)
	extra := `2026-11-23T10:01:03Z conn=1796205600000003 event=decision tag=lower reason=x code=550
2026-11-23T10:01:03Z conn=1796205600000003 event=decision tag=DISCARD reason="wiretap discard"
2026-11-23T10:01:04Z conn=1796205600000003 event=decision tag=TEMPFAIL reason="DNS A example.com: timeout" code=451
2026-11-23T11:30:00Z conn=1796205600000004 event=connect ip=192.0.2.7 host=mx.example.org class=EXTERNAL
2026-11-23T11:30:01Z conn=1796205600000004 event="mail from" from=<b@example.org>
`
	write(t, log, sample+extra, os.O_TRUNC)
	update(t, x, log, 18+5)
	s := summarize(t, x, "2026-11-23T10:00:00Z", "2026-11-23T10:59:59Z")
	// An eom is ACCEPT, a decision its tag; a tag that is no tag counts for nothing.
	if got, want := minutes(s), "10:00 ACCEPT=1, 10:00 REJECT=1, 10:01 DISCARD=1, 10:01 GREYLISTED=1, 10:01 TEMPFAIL=1"; got != want {
		t.Errorf("minutes: %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name      string
		got, want []Count
	}{
		{"clients", s.Clients, []Count{{"80.134.52.146", 2}, {"192.0.2.7", 1}}},
		// Senders as searched: lower-case, "<>" the null sender.
		{"senders", s.Senders, []Count{{"alice@example.com", 2}, {"<>", 1}}},
		// Refusals' reasons without their particulars; a discard is no refusal.
		{"reasons", s.Reasons, []Count{{"DNS A example.com", 1}, {"SPF fail", 1}, {"greylisted", 1}}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if want := mustTime("2026-11-23T11:30:01Z"); !s.Newest.Equal(want) {
		t.Errorf("newest: %v, want %v", s.Newest, want)
	}
	// The top lists count whole clock hours: 11:00's from 11:30 on.
	s = summarize(t, x, "2026-11-23T11:00:00Z", "2026-11-23T11:45:00Z")
	if len(s.Minutes) != 0 || !slices.Equal(s.Clients, []Count{{"192.0.2.7", 1}}) || !slices.Equal(s.Senders, []Count{{"<b@example.org>", 1}}) {
		t.Errorf("11:00: %+v", s)
	}
	if n := len(summarize(t, x, "2026-11-23T09:00:00Z", "2026-11-23T09:59:59Z").Clients); n != 0 {
		t.Errorf("09:00: %d clients", n)
	}
}

// genSummaryLog writes a log of conns connections over two hours, each
// of a message refused or accepted, and returns what Summarize should
// count: outcomes by minute and senders in all.
func genSummaryLog(t *testing.T, path string, conns int) (perMinute map[string]int, senders map[string]int) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	perMinute, senders = map[string]int{}, map[string]int{}
	var b strings.Builder
	base := mustTime("2026-11-23T10:00:00Z")
	for i := 1; i <= conns; i++ {
		ts := base.Add(time.Duration(i) * 2 * time.Hour / time.Duration(conns))
		at := ts.Format(time.RFC3339)
		sender := fmt.Sprintf("u%d@example.com", r.IntN(50))
		senders[sender]++
		fmt.Fprintf(&b, "%s conn=%d event=connect ip=10.0.0.%d host=unknown class=EXTERNAL\n", at, i, r.IntN(200))
		fmt.Fprintf(&b, "%s conn=%d event=\"mail from\" from=%s\n", at, i, sender)
		outcome := OutcomeAccept
		if r.IntN(3) == 0 {
			outcome = "GREYLISTED"
			fmt.Fprintf(&b, "%s conn=%d event=decision tag=GREYLISTED reason=greylisted code=451\n", at, i)
		} else {
			fmt.Fprintf(&b, "%s conn=%d event=eom action=accept qid=Q%d rcpts=1\n", at, i, i)
		}
		perMinute[ts.Format("15:04")+" "+outcome]++
		fmt.Fprintf(&b, "%s conn=%d event=close messages=1\n", at, i)
	}
	write(t, path, b.String(), os.O_TRUNC)
	return perMinute, senders
}

// The aggregates of a log indexed in many batches and Updates, cut
// anywhere, are those of the log.
func TestSummaryAcrossBatches(t *testing.T) {
	x, log := open(t)
	const conns = 7000 // 4 lines each: the first Update indexes two batches
	perMinute, senders := genSummaryLog(t, log, conns)
	whole, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// Indexed as the log grows, cut at places that split lines.
	write(t, log, "", os.O_TRUNC)
	cut := 0
	for _, percent := range []int{85, 90, 95, 100} {
		next := min(len(whole), len(whole)*percent/100+7)
		write(t, log, string(whole[cut:next]), os.O_APPEND)
		if _, err := x.Update(context.Background(), log); err != nil {
			t.Fatal(err)
		}
		cut = next
	}
	s, err := x.Summarize(context.Background(), mustTime("2026-11-23T10:00:00Z"), mustTime("2026-11-23T12:00:00Z"), MaxTop)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range s.Minutes {
		got[m.Minute.Format("15:04")+" "+m.Outcome] += m.N
	}
	if fmt.Sprint(got) != fmt.Sprint(perMinute) {
		t.Errorf("per minute:\n%v\nwant\n%v", got, perMinute)
	}
	n := 0
	for _, c := range s.Senders {
		if senders[c.Value] != c.N {
			t.Errorf("sender %s: %d, want %d", c.Value, c.N, senders[c.Value])
		}
		n += c.N
	}
	if len(s.Senders) != len(senders) || n != conns {
		t.Errorf("%d senders, %d messages; want %d, %d", len(s.Senders), n, len(senders), conns)
	}
}

// A rotated log's counts stay; what is older than Retention before the
// newest line goes.
func TestSummaryRotationAndRetention(t *testing.T) {
	x, log := open(t)
	write(t, log, sample, os.O_TRUNC)
	update(t, x, log, 18)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, log, "2026-11-23T10:30:00Z conn=1796292000000001 event=connect ip=80.134.52.146 host=unknown class=EXTERNAL\n", os.O_TRUNC)
	update(t, x, log, 1)
	s := summarize(t, x, "2026-11-23T10:00:00Z", "2026-11-23T10:59:59Z")
	if !slices.Equal(s.Clients, []Count{{"80.134.52.146", 3}, {"192.0.2.7", 1}}) || len(s.Minutes) != 3 {
		t.Errorf("after rotation: clients %v, minutes %s", s.Clients, minutes(s))
	}
	later := mustTime("2026-11-23T10:30:00Z").Add(Retention + time.Hour).Format(time.RFC3339)
	write(t, log, later+" conn=1796292000000002 event=eom action=accept qid=Q\n", os.O_APPEND)
	update(t, x, log, 1)
	if s := summarize(t, x, "2026-11-23T10:00:00Z", "2026-11-23T10:59:59Z"); len(s.Minutes)+len(s.Clients)+len(s.Senders)+len(s.Reasons) != 0 {
		t.Errorf("past the retention: %+v", s)
	}
	for _, table := range []string{"minutes", "tops"} {
		var n int
		if err := x.rdb.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n > 1 {
			t.Errorf("%s: %d rows, %v", table, n, err)
		}
	}
}

// An index of the first layout, which had no version, is rebuilt.
func TestSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	dbPath, log := filepath.Join(dir, "log.db"), filepath.Join(dir, "mail.log")
	old, err := sql.Open("sqlite", "file:"+dbPath+"?"+url.Values{"_pragma": {"journal_mode(WAL)"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), dev INTEGER NOT NULL, ino INTEGER NOT NULL, head BLOB NOT NULL, off INTEGER NOT NULL)`,
		`CREATE TABLE conns (conn INTEGER PRIMARY KEY, first INTEGER NOT NULL, ip TEXT NOT NULL, summary TEXT NOT NULL, nlines INTEGER NOT NULL)`,
		`CREATE TABLE lines (conn INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL, PRIMARY KEY (conn, off)) WITHOUT ROWID`,
		`CREATE TABLE keys (kind INTEGER NOT NULL, value TEXT NOT NULL, t INTEGER NOT NULL, conn INTEGER NOT NULL, PRIMARY KEY (kind, value, t, conn)) WITHOUT ROWID`,
		`INSERT INTO state VALUES (1, 0, 0, x'', 0)`,
		`INSERT INTO keys VALUES (1, '203.0.113.9', 1, 1)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	write(t, log, sample, os.O_TRUNC)
	for range 2 { // opened again: kept
		x, err := Open(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := x.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
			t.Errorf("user_version %d, %v; want %d", v, err, schemaVersion)
		}
		if cs, _ := x.Search(context.Background(), Query{Kind: "ip", Value: "203.0.113.9"}); len(cs) != 0 {
			t.Errorf("the old index's keys are still there: %v", ids(cs))
		}
		x.Update(context.Background(), log)
		if s := summarize(t, x, "2026-11-23T10:00:00Z", "2026-11-23T10:59:59Z"); len(s.Clients) != 2 || s.Clients[0].N != 2 {
			t.Errorf("rebuilt: clients %v", s.Clients)
		}
		x.Close()
	}
}

// An hour keeps at most TopKeep values however many come, and a value
// that comes more than 1/TopKeep of the hour's times stays, counted at
// least as often as it came.
func TestTopBound(t *testing.T) {
	x, log := open(t)
	var b strings.Builder
	const singles, steady = 3 * TopKeep, 60
	for i := range singles {
		at := mustTime("2026-11-23T10:00:00Z").Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, "%s conn=%d event=\"mail from\" from=spam%d@example.com\n", at, i+1, i)
		if i%(singles/steady) == 0 {
			fmt.Fprintf(&b, "%s conn=%d event=\"mail from\" from=steady@example.org\n", at, i+1)
		}
	}
	// In three Updates: the hour's values are merged with those kept.
	all := b.String()
	write(t, log, "", os.O_TRUNC)
	for i := range 3 {
		part := all[len(all)*i/3 : len(all)*(i+1)/3]
		write(t, log, part, os.O_APPEND)
		x.Update(context.Background(), log)
	}
	var rows int
	if err := x.rdb.QueryRow("SELECT COUNT(*) FROM tops WHERE kind = ?", topSender).Scan(&rows); err != nil || rows != TopKeep {
		t.Errorf("%d rows kept, %v; want %d", rows, err, TopKeep)
	}
	s := summarize(t, x, "2026-11-23T10:00:00Z", "2026-11-23T10:59:59Z")
	if len(s.Senders) == 0 || s.Senders[0].Value != "steady@example.org" || s.Senders[0].N < steady {
		t.Errorf("top senders: %v", s.Senders)
	}
}

func TestSpaceSave(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kept, add map[string]int
		keep      int
		set       map[string]int
		gone      []string
	}{
		{"room", map[string]int{"a": 2}, map[string]int{"a": 1, "b": 1}, 3, map[string]int{"a": 3, "b": 1}, nil},
		// b and c tie at the least count: the greater value goes first.
		{"full", map[string]int{"a": 5, "b": 1, "c": 1}, map[string]int{"d": 2}, 3, map[string]int{"d": 3}, []string{"c"}},
		// The batch's heaviest first: e comes in before the singles push each other out.
		{"batch", map[string]int{"a": 5}, map[string]int{"x": 1, "y": 1, "e": 4}, 3, map[string]int{"e": 4, "y": 2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, gone := spaceSave(tc.kept, tc.add, tc.keep)
			if fmt.Sprint(set) != fmt.Sprint(tc.set) || !slices.Equal(gone, tc.gone) {
				t.Errorf("set %v, gone %v; want %v, %v", set, gone, tc.set, tc.gone)
			}
		})
	}
}

// An index of a log with no session's line yet (the console's own
// conn=0 lines are not indexed) has no newest line: zero, not the Unix
// epoch (the overview said "indexed up to 1970-01-01").
func TestSummaryNewestOfNoSessionYet(t *testing.T) {
	x, log := open(t)
	for _, tc := range []struct{ line, want string }{
		{"", ""},
		{"2026-11-23T10:00:00Z conn=0 event=web user=alice action=login result=ok remote=127.0.0.1\n", ""},
		{"2026-11-23T10:01:00Z conn=1796205600000009 event=connect ip=192.0.2.9 host=unknown class=EXTERNAL\n", "2026-11-23T10:01:00Z"},
	} {
		write(t, log, tc.line, os.O_APPEND)
		if _, err := x.Update(context.Background(), log); err != nil {
			t.Fatal(err)
		}
		s := summarize(t, x, "2026-11-23T00:00:00Z", "2026-11-23T23:59:59Z")
		if tc.want == "" && !s.Newest.IsZero() || tc.want != "" && !s.Newest.Equal(mustTime(tc.want)) {
			t.Errorf("after %q: Newest %v, want %q", tc.line, s.Newest, tc.want)
		}
	}
}
