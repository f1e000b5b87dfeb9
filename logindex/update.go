package logindex

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maxwell-milter/maxwell/internal/maillog"
)

const (
	// batchLines is how many lines one transaction indexes: a commit
	// costs about as much as thousands of inserts, and a batch holds the
	// write lock for well under a second, so that another process's
	// Update waits little.
	batchLines = 20000
	// maxLine bounds a line read: maxwell's lines are far shorter (its
	// values are bounded); a longer one is garbage, skipped whole.
	maxLine = 256 << 10
	// maxValue bounds an indexed value: an address is at most 254 bytes,
	// a HELO name 255; a longer value is nothing anyone searches for.
	maxValue = 320
	// maxSummary bounds a connection's summary, which a result list shows
	// on one line.
	maxSummary = 200
	// maxKnown bounds the first times of open connections kept between
	// batches; connections never closed (a crash) would make it grow.
	maxKnown = 200000
)

// Key kinds as stored: small integers keep the keys index small.
const (
	kindIP = iota + 1
	kindSender
	kindRcpt
	kindQID
	kindHELO
)

// fieldKinds maps the log's keys to the kinds they are searched as.
var fieldKinds = map[string]int{"ip": kindIP, "from": kindSender, "to": kindRcpt, "rcpt": kindRcpt, "qid": kindQID, "helo": kindHELO}

// normValue is a value as stored and searched: lower-case (addresses and
// names are compared regardless of case), ok false for a value that is
// not worth indexing — empty, too long, or with control characters that
// maxwell's own values never hold (a CR in a HELO name, quoted).
func normValue(v string) (string, bool) {
	if !plain(v) {
		return "", false
	}
	return strings.ToLower(v), true
}

// plain tells a value worth keeping: not empty, at most maxValue bytes,
// without control characters.
func plain(v string) bool {
	if v == "" || len(v) > maxValue {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// Update indexes the lines of the log at logPath written since the last
// Update, and returns how many it indexed. A log rotated or truncated
// since (another inode, shorter, or another beginning) is indexed anew
// from its start. Lines that are not mail-log lines, or longer than
// 256 KiB, are skipped; a last line without its newline yet is left for
// the next Update. Each batch of lines is one transaction: an Update cut
// short (ctx, a crash) keeps the batches committed and resumes after
// them. Should another process's Update index the same lines meanwhile,
// this one stops at its next batch.
func (x *Index) Update(ctx context.Context, logPath string) (added int, err error) {
	f, err := os.Open(logPath)
	if err != nil {
		return 0, fmt.Errorf("logindex: %w", err)
	}
	defer f.Close()
	id, err := identify(f)
	if err != nil {
		return 0, fmt.Errorf("logindex: %w", err)
	}
	u := &updater{known: map[uint64]int64{}, year: time.Now().UTC().Year()}
	pos := int64(-1) // where this Update is; -1 before its first batch
	var lr *lineReader
	for {
		if err := ctx.Err(); err != nil {
			return added, err
		}
		n, next, more, err := x.batch(ctx, f, id, pos, &lr, u)
		added += n
		if err != nil {
			return added, fmt.Errorf("logindex %s: %w", logPath, err)
		}
		if !more {
			return added, nil
		}
		pos = next
	}
}

// updater is what an Update carries from a batch to the next.
type updater struct {
	known map[uint64]int64 // first times of connections seen, until their close
	year  int              // for syslog lines, which have no year
}

// connRow is what a batch learned of a connection.
type connRow struct {
	first   int64
	ip      string
	summary string
	nlines  int
}

type keyRow struct {
	kind  int
	value string
	conn  uint64
}

// batch indexes up to batchLines lines in one transaction, from pos (or,
// for the first, from where the index stopped). It returns the lines
// indexed, the offset reached, and whether there may be more to read.
func (x *Index) batch(ctx context.Context, f *os.File, id fileID, pos int64, lrp **lineReader, u *updater) (added int, next int64, more bool, err error) {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, pos, false, err
	}
	defer tx.Rollback()
	var dev, ino uint64
	var head []byte
	off, newest := int64(-1), int64(0)
	err = tx.QueryRowContext(ctx, "SELECT dev, ino, head, off, newest FROM state WHERE id = 1").Scan(&dev, &ino, &head, &off, &newest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		off = -1
	case err != nil:
		return 0, pos, false, err
	}
	if pos < 0 { // first batch: start where the index stopped, or over
		if off < 0 || !id.same(dev, ino, head, off) {
			if err := reset(ctx, tx); err != nil {
				return 0, pos, false, err
			}
			off, newest = 0, 0
		}
		pos = off
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			return 0, pos, false, err
		}
		*lrp = &lineReader{r: bufio.NewReaderSize(f, 64<<10)}
	} else if off != pos {
		return 0, pos, false, nil // another Update went on meanwhile: it has the lines
	}
	insLine, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO lines (conn, off, len) VALUES (?, ?, ?)")
	if err != nil {
		return 0, pos, false, err
	}
	insKey, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO keys (kind, value, t, conn) VALUES (?, ?, ?, ?)")
	if err != nil {
		return 0, pos, false, err
	}
	getFirst, err := tx.PrepareContext(ctx, "SELECT first FROM conns WHERE conn = ?")
	if err != nil {
		return 0, pos, false, err
	}
	conns := map[uint64]*connRow{}
	seen := map[keyRow]bool{}
	counts := newTally(newest)
	lr := *lrp
	more = true
	for read := 0; read < batchLines; read++ {
		line, n, err := lr.next()
		if err == io.EOF {
			more = false
			break
		}
		if err != nil {
			return 0, pos, false, err
		}
		lineOff := pos
		pos += int64(n)
		if line == nil {
			continue // too long
		}
		l, ok := maillog.ParseLine(string(line), u.year)
		if !ok || l.Time.IsZero() {
			continue
		}
		conn, err := strconv.ParseUint(l.Conn, 10, 63)
		if err != nil || conn == 0 {
			continue // conn=0 lines are not a session's (maxwell watch, the SRS map)
		}
		c := conns[conn]
		if c == nil {
			c = &connRow{first: l.Time.UnixMicro()}
			if t, ok := u.known[conn]; ok {
				c.first = t
			} else {
				var t int64
				switch err := getFirst.QueryRowContext(ctx, conn).Scan(&t); {
				case err == nil:
					c.first = t
				case !errors.Is(err, sql.ErrNoRows):
					return 0, pos, false, err
				}
			}
			conns[conn] = c
			if len(u.known) >= maxKnown {
				clear(u.known)
			}
			u.known[conn] = c.first
		}
		c.nlines++
		if _, err := insLine.ExecContext(ctx, conn, lineOff, n); err != nil {
			return 0, pos, false, err
		}
		added++
		for k, v := range l.Fields {
			kind := fieldKinds[k]
			if kind == 0 || k == "from" && l.Event == "dmarc" { // dmarc's from is the From: domain, not the sender
				continue
			}
			if kind == kindSender && v == "" && l.Event == "mail from" {
				v = "<>" // the null sender, searchable
			}
			v, ok := normValue(v)
			if !ok {
				continue
			}
			kr := keyRow{kind, v, conn}
			if seen[kr] {
				continue
			}
			seen[kr] = true
			if _, err := insKey.ExecContext(ctx, kind, v, c.first, conn); err != nil {
				return 0, pos, false, err
			}
		}
		counts.add(l)
		switch l.Event {
		case "connect":
			c.ip = l.Fields["ip"]
		case "decision":
			c.summary = l.Fields["tag"] + " " + l.Fields["reason"]
		case "eom":
			c.summary = "accepted " + l.Fields["qid"]
		case "banned ip":
			c.summary = "BANNED " + l.Fields["reason"]
		case "close":
			delete(u.known, conn)
		}
	}
	for conn, c := range conns {
		if _, err := tx.ExecContext(ctx, `INSERT INTO conns (conn, first, ip, summary, nlines) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (conn) DO UPDATE SET
				ip = CASE WHEN excluded.ip <> '' THEN excluded.ip ELSE ip END,
				summary = CASE WHEN excluded.summary <> '' THEN excluded.summary ELSE summary END,
				nlines = nlines + excluded.nlines`,
			conn, c.first, short(c.ip, maxValue), short(strings.TrimSpace(c.summary), maxSummary), c.nlines); err != nil {
			return 0, pos, false, err
		}
	}
	if err := counts.write(ctx, tx); err != nil {
		return 0, pos, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO state (id, dev, ino, head, off, newest) VALUES (1, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, head = excluded.head, off = excluded.off,
			newest = excluded.newest`,
		id.dev, id.ino, id.head, pos, counts.newest); err != nil {
		return 0, pos, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, pos, false, err
	}
	return added, pos, more, nil
}

// short cuts s to at most n bytes, on a character boundary.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// lineReader reads a log line by line, keeping count of the bytes, which
// bufio.Scanner does not, and skipping overlong lines instead of failing
// on them.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
}

// next returns the next line without its newline and its length in the
// file with it; line is nil for a line over maxLine. io.EOF: no whole
// line is left (a last line without newline is being written).
func (lr *lineReader) next() (line []byte, n int, err error) {
	lr.buf = lr.buf[:0]
	long := false
	for {
		frag, err := lr.r.ReadSlice('\n')
		n += len(frag)
		if !long {
			if len(lr.buf)+len(frag) > maxLine+1 {
				long, lr.buf = true, lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, frag...)
			}
		}
		switch {
		case err == nil && long:
			return nil, n, nil
		case err == nil:
			return lr.buf[:len(lr.buf)-1], n, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, n, err
		}
	}
}
