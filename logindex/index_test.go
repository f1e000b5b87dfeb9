package logindex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sample is a log of three connections in maxwell's format
// (docs/logs.md), their lines interleaved as the daemon writes them.
const sample = `2026-11-23T10:00:01Z conn=1796205600000001 event=connect ip=80.134.52.146 host=unknown ptr=p50863492.dip0.t-ipconnect.de class="EXTERNAL DYN"
2026-11-23T10:00:01Z conn=1796205600000001 event=hello helo=Mail.Example.COM
2026-11-23T10:00:02Z conn=1796205600000002 event=connect ip=192.0.2.7 host=mx.example.org ptr=mx.example.org class=EXTERNAL
2026-11-23T10:00:02Z conn=1796205600000001 event="mail from" from=Alice@Example.com args=SIZE=1234
2026-11-23T10:00:02Z conn=1796205600000001 event="rcpt to" to=bob@example.net
2026-11-23T10:00:03Z conn=1796205600000001 event=decision tag=REJECT reason="SPF fail: -all" rcpt=bob@example.net code=550 xcode=5.7.1 text="SPF fail"
2026-11-23T10:00:03Z conn=1796205600000002 event=hello helo=mx.example.org
2026-11-23T10:00:03Z conn=1796205600000002 event="mail from" from="" qid=4XyZ1AbC
2026-11-23T10:00:04Z conn=1796205600000002 event="rcpt to" to=carol@example.net
2026-11-23T10:00:04Z conn=1796205600000002 event=dmarc result=pass from=example.org ip=192.0.2.7 qid=4XyZ1AbC
2026-11-23T10:00:05Z conn=1796205600000002 event=eom action=accept qid=4XyZ1AbC rcpts=1
2026-11-23T10:00:05Z conn=1796205600000001 event=close messages=0
2026-11-23T10:00:06Z conn=1796205600000002 event=close messages=1
2026-11-23T10:01:00Z conn=1796205600000003 event=connect ip=80.134.52.146 host=unknown class="EXTERNAL DYN"
2026-11-23T10:01:01Z conn=1796205600000003 event="mail from" from=alice@example.com
2026-11-23T10:01:01Z conn=1796205600000003 event="rcpt to" to=bob@example.net
2026-11-23T10:01:02Z conn=1796205600000003 event=greylist client=80.134.52.0/24 sender=alice@example.com rcpt=bob@example.net step=new
2026-11-23T10:01:02Z conn=1796205600000003 event=decision tag=GREYLISTED reason=greylisted rcpt=bob@example.net code=451
`

const c1, c2, c3 = 1796205600000001, 1796205600000002, 1796205600000003

func open(t *testing.T) (*Index, string) {
	t.Helper()
	dir := t.TempDir()
	x, err := Open(filepath.Join(dir, "idx", "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x, filepath.Join(dir, "mail.log")
}

func write(t *testing.T, path, s string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func update(t *testing.T, x *Index, log string, want int) {
	t.Helper()
	n, err := x.Update(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Update indexed %d lines, want %d", n, want)
	}
}

func ids(cs []Conn) []uint64 {
	var r []uint64
	for _, c := range cs {
		r = append(r, c.ID)
	}
	return r
}

func TestSearch(t *testing.T) {
	x, log := open(t)
	write(t, log, sample, os.O_TRUNC)
	update(t, x, log, strings.Count(sample, "\n"))
	for _, tc := range []struct {
		kind, value string
		want        []uint64
	}{
		{"ip", "80.134.52.146", []uint64{c3, c1}},
		{"ip", "192.0.2.7", []uint64{c2}}, // on connect and dmarc: once
		{"sender", "alice@example.com", []uint64{c3, c1}},
		{"sender", "ALICE@example.COM", []uint64{c3, c1}},
		{"sender", "<>", []uint64{c2}},
		{"sender", "example.org", nil}, // dmarc's from= is the From: domain
		{"rcpt", "bob@example.net", []uint64{c3, c1}},
		{"rcpt", "carol@example.net", []uint64{c2}},
		{"qid", "4xyz1abc", []uint64{c2}},
		{"helo", "mail.example.com", []uint64{c1}},
		{"conn", "1796205600000002", []uint64{c2}},
		{"conn", "42", nil},
		{"conn", "x", nil},
		{"ip", "", nil},
		{"ip", "203.0.113.1", nil},
	} {
		cs, err := x.Search(context.Background(), Query{Kind: tc.kind, Value: tc.value})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.kind, tc.value, err)
		}
		if got := ids(cs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s %q: %v, want %v", tc.kind, tc.value, got, tc.want)
		}
	}
	cs, _ := x.Search(context.Background(), Query{Kind: "conn", Value: "1796205600000001"})
	want := Conn{ID: c1, Time: mustTime("2026-11-23T10:00:01Z"), IP: "80.134.52.146", Summary: "REJECT SPF fail: -all", Lines: 6}
	if len(cs) != 1 || cs[0] != want {
		t.Errorf("conn 1: %+v, want %+v", cs, want)
	}
	if cs, _ := x.Search(context.Background(), Query{Kind: "qid", Value: "4XyZ1AbC"}); len(cs) != 1 || cs[0].Summary != "accepted 4XyZ1AbC" {
		t.Errorf("eom summary: %+v", cs)
	}
	if _, err := x.Search(context.Background(), Query{Kind: "subject", Value: "x"}); !errors.Is(err, ErrKind) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestSearchPaging(t *testing.T) {
	x, log := open(t)
	// 600 connections from one address, 3 a second: pages must neither
	// skip nor repeat those of the same second.
	var b strings.Builder
	base := mustTime("2026-11-23T10:00:00Z")
	for i := 1; i <= 600; i++ {
		ts := base.Add(time.Duration(i/3) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, "%s conn=%d event=connect ip=198.51.100.9 host=unknown class=EXTERNAL\n", ts, i)
	}
	write(t, log, b.String(), os.O_TRUNC)
	update(t, x, log, 600)
	for _, tc := range []struct{ limit, want int }{{0, DefaultLimit}, {7, 7}, {1000, MaxLimit}, {-1, DefaultLimit}} {
		cs, err := x.Search(context.Background(), Query{Kind: "ip", Value: "198.51.100.9", Limit: tc.limit})
		if err != nil || len(cs) != tc.want {
			t.Errorf("limit %d: %d results, %v; want %d", tc.limit, len(cs), err, tc.want)
		}
	}
	q := Query{Kind: "ip", Value: "198.51.100.9", Limit: 7}
	next := 600
	for {
		cs, err := x.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if c.ID != uint64(next) {
				t.Fatalf("got conn %d, want %d", c.ID, next)
			}
			next--
		}
		q.Before, q.BeforeConn = cs[len(cs)-1].Time, cs[len(cs)-1].ID
	}
	if next != 0 {
		t.Errorf("paging stopped before conn %d", next)
	}
	// Before alone: older than that second.
	cs, _ := x.Search(context.Background(), Query{Kind: "ip", Value: "198.51.100.9", Before: base.Add(2 * time.Second)})
	if fmt.Sprint(ids(cs)) != "[5 4 3 2 1]" {
		t.Errorf("before 10:00:02: %v", ids(cs))
	}
}

func TestUpdateIncremental(t *testing.T) {
	x, log := open(t)
	lines := strings.SplitAfter(sample, "\n")
	write(t, log, strings.Join(lines[:5], ""), os.O_TRUNC)
	update(t, x, log, 5)
	update(t, x, log, 0)
	// A last line half written waits for its newline.
	half := len(lines[5]) / 2
	write(t, log, lines[5][:half], os.O_APPEND)
	update(t, x, log, 0)
	write(t, log, lines[5][half:]+strings.Join(lines[6:], ""), os.O_APPEND)
	update(t, x, log, len(lines)-1-5)
	// A connection split between two Updates is one connection.
	cs, _ := x.Search(context.Background(), Query{Kind: "rcpt", Value: "bob@example.net"})
	if fmt.Sprint(ids(cs)) != fmt.Sprint([]uint64{c3, c1}) || cs[1].Lines != 6 || cs[1].Summary != "REJECT SPF fail: -all" {
		t.Errorf("after appending: %+v", cs)
	}
	tr, err := x.Trace(context.Background(), log, c1)
	if err != nil || len(tr) != 6 {
		t.Errorf("trace: %d lines, %v", len(tr), err)
	}
}

func TestRotation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rotate func(t *testing.T, log string)
	}{
		{"rename", func(t *testing.T, log string) {
			if err := os.Rename(log, log+".1"); err != nil {
				t.Fatal(err)
			}
			write(t, log, "", os.O_TRUNC)
		}},
		{"copytruncate", func(t *testing.T, log string) { write(t, log, "", os.O_TRUNC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, log := open(t)
			write(t, log, sample, os.O_TRUNC)
			update(t, x, log, 18)
			tc.rotate(t, log)
			if _, err := x.Trace(context.Background(), log, c1); !errors.Is(err, ErrStale) && tc.name == "copytruncate" {
				t.Errorf("trace of a truncated log: %v, want ErrStale", err)
			}
			next := "2026-11-24T00:00:00Z conn=1796292000000001 event=connect ip=203.0.113.5 host=unknown class=EXTERNAL\n"
			write(t, log, next, os.O_APPEND)
			update(t, x, log, 1)
			if cs, _ := x.Search(context.Background(), Query{Kind: "ip", Value: "80.134.52.146"}); len(cs) != 0 {
				t.Errorf("the old log's connections are still found: %v", ids(cs))
			}
			if cs, _ := x.Search(context.Background(), Query{Kind: "ip", Value: "203.0.113.5"}); len(cs) != 1 {
				t.Errorf("the new log's connection: %v", ids(cs))
			}
			if tr, err := x.Trace(context.Background(), log, 1796292000000001); err != nil || len(tr) != 1 || tr[0]+"\n" != next {
				t.Errorf("trace: %q, %v", tr, err)
			}
		})
	}
}

func TestTrace(t *testing.T) {
	x, log := open(t)
	write(t, log, sample, os.O_TRUNC)
	update(t, x, log, 18)
	for _, conn := range []uint64{c1, c2, c3} {
		var want []string
		for _, l := range strings.Split(strings.TrimSpace(sample), "\n") {
			if strings.Contains(l, fmt.Sprintf(" conn=%d ", conn)) {
				want = append(want, l)
			}
		}
		got, err := x.Trace(context.Background(), log, conn)
		if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("trace %d: %q, %v\nwant %q", conn, got, err, want)
		}
	}
	if got, err := x.Trace(context.Background(), log, 7); err != nil || len(got) != 0 {
		t.Errorf("trace of an unknown connection: %q, %v", got, err)
	}
	// The same file rewritten under the same inode and size: no
	// other connection's lines.
	write(t, log, strings.ReplaceAll(sample, "conn=1796205600000001", "conn=1796205600000009"), os.O_WRONLY)
	if _, err := x.Trace(context.Background(), log, c1); !errors.Is(err, ErrStale) {
		t.Errorf("trace of a rewritten log: %v, want ErrStale", err)
	}
}

// A connection whose lines are long (a stranger's Subjects) is traced
// within MaxTraceBytes, each line cut at MaxTraceLine: not the hundreds
// of megabytes it may have logged.
func TestTraceBounded(t *testing.T) {
	x, log := open(t)
	long := "2026-11-23T10:00:01Z conn=5 event=header name=Subject value=" + strings.Repeat("<", 20<<10) + "\n"
	write(t, log, "2026-11-23T10:00:01Z conn=5 event=connect ip=192.0.2.1 host=unknown class=EXTERNAL\n"+strings.Repeat(long, 300), os.O_TRUNC)
	update(t, x, log, 301)
	tr, err := x.Trace(context.Background(), log, 5)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, l := range tr[1:] {
		total += len(l)
		if want := long[:MaxTraceLine] + TraceCut + fmt.Sprint(len(long)) + ")"; l != want {
			t.Fatalf("a long line as traced: %d bytes, ending %q", len(l), l[max(0, len(l)-40):])
		}
	}
	if len(tr) < 10 || total > MaxTraceBytes+MaxTraceLine+len(tr)*40 {
		t.Errorf("%d lines, %d bytes", len(tr), total)
	}
}

func TestHostileInput(t *testing.T) {
	x, log := open(t)
	good := "2026-11-23T10:00:01Z conn=5 event=connect ip=192.0.2.1 host=unknown class=EXTERNAL\n"
	hostile := []string{
		"garbage without a connection\n",
		"\x00\x01\x02\xff\xfe binary\n",
		"2026-11-23T10:00:01Z conn=5 event=hello helo=" + strings.Repeat("a", maxLine+10) + "\n",
		"2026-11-23T10:00:01Z conn=5 event=hello helo=" + strings.Repeat("b", 3*maxLine) + "\n",
		"2026-11-23T10:00:01Z conn=5 event=hello helo=\"evil\\r\\nconn=6 event=decision\"\n",
		"2026-11-23T10:00:01Z conn=5 event=hello helo=bad\rvalue\r\n",
		"2026-11-23T10:00:01Z conn=5 event=\"mail from\" from=\"unterminated\n",
		"2026-11-23T10:00:01Z conn=99999999999999999999999 event=connect ip=192.0.2.66\n",
		"2026-11-23T10:00:01Z conn=-3 event=connect ip=192.0.2.66\n",
		"2026-11-23T10:00:01Z conn=0 event=blacklist ip=192.0.2.66\n",
		"conn=7 event=connect ip=192.0.2.66\n", // no time
		"2026-11-23T10:00:01Z conn=5 event=\"rcpt to\" to=" + strings.Repeat("x", maxValue+1) + "@example.com\n",
		"\n\r\n",
	}
	write(t, log, good+strings.Join(hostile, "")+good, os.O_TRUNC)
	n, err := x.Update(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	// The good lines, and those with a CR in a value or an overlong
	// value, which are lines of conn 5 all the same (those keys
	// unindexed); lines over maxLine are skipped whole.
	if n != 5 {
		t.Errorf("indexed %d lines, want 5", n)
	}
	if cs, _ := x.Search(context.Background(), Query{Kind: "ip", Value: "192.0.2.66"}); len(cs) != 0 {
		t.Errorf("a hostile line was indexed: %+v", cs)
	}
	for _, v := range []string{"evil\r\nconn=6 event=decision", "bad\rvalue", "bad"} {
		if cs, _ := x.Search(context.Background(), Query{Kind: "helo", Value: v}); len(cs) != 0 {
			t.Errorf("helo %q found: %v", v, ids(cs))
		}
	}
	tr, err := x.Trace(context.Background(), log, 5)
	if err != nil || len(tr) != 5 || tr[0]+"\n" != good || tr[4]+"\n" != good {
		t.Errorf("trace: %d lines, %v", len(tr), err)
	}
}

// TestConcurrentUpdate has two Index values on one database, as two
// processes would (the console and a cron job): Updates running at once
// index each line once, and searches go on meanwhile.
func TestConcurrentUpdate(t *testing.T) {
	x, log := open(t)
	dbPath := filepath.Join(filepath.Dir(log), "idx", "log.db")
	y, err := Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	var b strings.Builder
	const conns = 10000 // three lines each: two batches and more
	for i := 1; i <= conns; i++ {
		fmt.Fprintf(&b, "2026-11-23T10:00:00Z conn=%d event=connect ip=10.0.%d.%d host=unknown class=INTERNAL\n", i, i/256%256, i%256)
		fmt.Fprintf(&b, "2026-11-23T10:00:01Z conn=%d event=\"mail from\" from=u%d@example.com\n", i, i%100)
		fmt.Fprintf(&b, "2026-11-23T10:00:02Z conn=%d event=close messages=0\n", i)
	}
	write(t, log, b.String(), os.O_TRUNC)
	var wg sync.WaitGroup
	added := make([]int, 2)
	errs := make([]error, 2)
	for i, ix := range []*Index{x, y} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			added[i], errs[i] = ix.Update(context.Background(), log)
		}()
	}
	stop := make(chan struct{})
	searched := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				searched <- nil
				return
			default:
			}
			if _, err := y.Search(context.Background(), Query{Kind: "sender", Value: "u7@example.com"}); err != nil {
				searched <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-searched; err != nil {
		t.Errorf("search during update: %v", err)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if added[0]+added[1] != 3*conns {
		t.Errorf("indexed %d+%d lines, want %d", added[0], added[1], 3*conns)
	}
	var lines int
	if err := x.rdb.QueryRow("SELECT COUNT(*) FROM lines").Scan(&lines); err != nil || lines != 3*conns {
		t.Errorf("lines table: %d, %v", lines, err)
	}
	cs, err := x.Search(context.Background(), Query{Kind: "sender", Value: "u7@example.com", Limit: 500})
	if err != nil || len(cs) != conns/100 {
		t.Errorf("search after: %d, %v", len(cs), err)
	}
}

// mustTime reads a time of the test log's lines: their dates are the
// test's clock.
func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
