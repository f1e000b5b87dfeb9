// Package maillogtest writes synthetic mail logs (docs/logs.md) for the
// benchmarks of the log's index and of the web console: realistic
// connections, interleaved as the daemon writes them, drawn from
// populations the benchmarks then search.
package maillogtest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// FirstConn is the id of the log's first connection, the others
// following it in order.
const FirstConn = 1767225600000000

// Populations the synthetic log draws from, which benchmarks search.
const (
	IPs     = 200000
	Senders = 100000
	Rcpts   = 20000
)

// ParseSize reads a size as benchmarks' flags give it: bytes, or a
// number of KB, MB or GB (binary).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if strings.HasSuffix(strings.ToUpper(s), u.suffix) {
			s, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// IP is the i-th client address of the population.
func IP(i int) string { return fmt.Sprintf("%d.%d.%d.%d", 11+i>>16, i>>8&255, i&255, 7) }

// Sender is the i-th sender of the population.
func Sender(i int) string {
	return fmt.Sprintf("user%d@sender%d.example", i, i%5000)
}

// Rcpt is the i-th recipient of the population.
func Rcpt(i int) string { return fmt.Sprintf("rcpt%d@example.net", i) }

// QID is the queue id of the i-th message (from 1).
func QID(i int) string { return fmt.Sprintf("4Q%08X", i) }

// Generate writes a mail log of about size bytes: connections of one to
// three messages with realistic events, 40 of them open at a time, their
// lines interleaved as the daemon writes them. It returns how many
// connections and messages it made.
func Generate(path string, size int64) (conns, msgs int, err error) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	t := testclock.Epoch()
	const open = 40
	active := make([][]string, open)
	next := func() []string {
		conns++
		id := FirstConn + conns
		ip := IP(r.IntN(IPs))
		var ls []string
		ls = append(ls, fmt.Sprintf("conn=%d event=connect ip=%s host=unknown ptr=host-%s.dyn.example.com class=\"EXTERNAL DYN\"", id, ip, strings.ReplaceAll(ip, ".", "-")))
		ls = append(ls, fmt.Sprintf("conn=%d event=hello helo=mail%d.example.com", id, r.IntN(50000)))
		ls = append(ls, fmt.Sprintf("conn=%d event=dnsbl what=client key=%s lists=2 cached=1", id, ip))
		for range 1 + r.IntN(3) {
			msgs++
			qid := QID(msgs)
			ls = append(ls, fmt.Sprintf("conn=%d event=\"mail from\" from=%s qid=%s args=SIZE=%d", id, Sender(r.IntN(Senders)), qid, 1000+r.IntN(100000)))
			ls = append(ls, fmt.Sprintf("conn=%d event=spf result=pass identity=mailfrom domain=sender.example policy=OK", id))
			rc := Rcpt(r.IntN(Rcpts))
			ls = append(ls, fmt.Sprintf("conn=%d event=\"rcpt to\" to=%s", id, rc))
			switch r.IntN(4) {
			case 0:
				ls = append(ls, fmt.Sprintf("conn=%d event=decision tag=GREYLISTED reason=\"greylisted %s/24\" rcpt=%s code=451 xcode=4.7.1 text=\"Greylisted, try again later\"", id, ip, rc))
			case 1:
				ls = append(ls, fmt.Sprintf("conn=%d event=decision tag=REJECT reason=\"SPF fail: -all\" rcpt=%s code=550 xcode=5.7.1 text=\"SPF fail\"", id, rc))
			default:
				ls = append(ls, fmt.Sprintf("conn=%d event=header name=Subject value=\"Invoice %d\"", id, r.IntN(1e6)))
				ls = append(ls, fmt.Sprintf("conn=%d event=eom action=accept qid=%s rcpts=1 edits=0", id, qid))
			}
		}
		return append(ls, fmt.Sprintf("conn=%d event=close messages=1", id))
	}
	for i := range active {
		active[i] = next()
	}
	var written int64
	for written < size {
		i := r.IntN(open)
		if len(active[i]) == 0 {
			active[i] = next()
		}
		if r.IntN(8) == 0 {
			t = t.Add(time.Second)
		}
		n, err := fmt.Fprintf(w, "%s %s\n", t.Format(time.RFC3339), active[i][0])
		if err != nil {
			f.Close()
			return 0, 0, err
		}
		written += int64(n)
		active[i] = active[i][1:]
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	return conns, msgs, os.Rename(path+".tmp", path)
}
