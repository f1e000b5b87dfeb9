package logindex

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Query is a search: the connections whose lines name Value as Kind,
// newest first.
type Query struct {
	// Kind is what Value is: "ip" (ip=), "sender" (from=, "<>" for the
	// null sender), "rcpt" (to= and rcpt=), "qid", "helo", or "conn" (a
	// connection id).
	Kind  string
	Value string
	// Before pages: only connections that began before it (zero: the
	// newest). With BeforeConn, the connection of the last result of
	// the previous page, those that began at Before with a smaller id
	// count too: many connections begin in the same second, and paging
	// by time alone would skip or repeat them.
	Before     time.Time
	BeforeConn uint64
	// Limit is how many connections at most: DefaultLimit when 0, never
	// more than MaxLimit, so that no query reads much of the index.
	Limit int
}

// Limits of Query.Limit.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// MaxTrace is how many lines Trace returns at most: a connection that
// sent thousands of messages is shown in part rather than all in memory.
const MaxTrace = 2000

// Bounds of the bytes a Trace reads, whatever its lines hold: a
// stranger's Subject fills up to a header's size (100 KB in Postfix) of
// a line, and a connection may log thousands of them. A line longer
// than MaxTraceLine is cut there, TraceCut and its length appended; the
// lines after MaxTraceBytes read are left out, as those after MaxTrace.
const (
	MaxTraceLine  = 16 << 10
	MaxTraceBytes = 2 << 20
)

// TraceCut ends a line Trace cut at MaxTraceLine; the line's length in
// bytes follows it.
const TraceCut = " …(cut; bytes in all: "

// Conn is a connection found.
type Conn struct {
	ID      uint64
	Time    time.Time // of its first line
	IP      string    // the client's address, from its connect line
	Summary string    // its last decision ("REJECT reason", "accepted QID", "BANNED reason"), or ""
	Lines   int       // how many lines it has in the log
}

// ErrKind is returned for a Query of an unknown Kind.
var ErrKind = errors.New("logindex: unknown search kind")

// ErrStale is returned by Trace when the log is no longer the file the
// index was made of (rotated or truncated since the last Update).
var ErrStale = errors.New("logindex: the log changed since it was indexed; update the index")

var kinds = map[string]int{"ip": kindIP, "sender": kindSender, "rcpt": kindRcpt, "qid": kindQID, "helo": kindHELO}

// Search finds the connections of q, newest first. It reads the index
// only: a range of the keys index, then each connection by its id.
func (x *Index) Search(ctx context.Context, q Query) ([]Conn, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if q.Kind == "conn" {
		id, err := strconv.ParseUint(q.Value, 10, 63)
		if err != nil {
			return nil, nil // no such connection
		}
		return x.conns(ctx, "SELECT conn, first, ip, summary, nlines FROM conns WHERE conn = ?", id)
	}
	kind := kinds[q.Kind]
	if kind == 0 {
		return nil, fmt.Errorf("%w %q", ErrKind, q.Kind)
	}
	v, ok := normValue(q.Value)
	if !ok {
		return nil, nil // nothing unindexable was indexed
	}
	before, beforeConn := int64(math.MaxInt64), uint64(0)
	if !q.Before.IsZero() {
		before, beforeConn = q.Before.UnixMicro(), q.BeforeConn
	}
	return x.conns(ctx, `SELECT c.conn, c.first, c.ip, c.summary, c.nlines FROM keys k JOIN conns c ON c.conn = k.conn
		WHERE k.kind = ? AND k.value = ? AND (k.t < ? OR k.t = ? AND k.conn < ?)
		ORDER BY k.t DESC, k.conn DESC LIMIT ?`, kind, v, before, before, beforeConn, limit)
}

func (x *Index) conns(ctx context.Context, query string, args ...any) ([]Conn, error) {
	rows, err := x.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	defer rows.Close()
	var cs []Conn
	for rows.Next() {
		var c Conn
		var t int64
		if err := rows.Scan(&c.ID, &t, &c.IP, &c.Summary, &c.Lines); err != nil {
			return nil, fmt.Errorf("logindex: %w", err)
		}
		c.Time = time.UnixMicro(t).UTC()
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	return cs, nil
}

// Trace returns the lines of connection conn (at most MaxTrace, the
// first ones, up to MaxTraceBytes, each cut at MaxTraceLine), without
// their newlines, read from the log at logPath by the offsets the index
// keeps. ErrStale when the log is not the file indexed: its lines would
// be wrong ones.
func (x *Index) Trace(ctx context.Context, logPath string, conn uint64) ([]string, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	defer f.Close()
	id, err := identify(f)
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	// The state and the offsets are read in one transaction: an Update
	// that resets the index meanwhile cannot mix two files' offsets.
	tx, err := x.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	defer tx.Rollback()
	var dev, ino uint64
	var head []byte
	var off int64
	switch err := tx.QueryRowContext(ctx, "SELECT dev, ino, head, off FROM state WHERE id = 1").Scan(&dev, &ino, &head, &off); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil // nothing indexed
	case err != nil:
		return nil, fmt.Errorf("logindex: %w", err)
	}
	if !id.same(dev, ino, head, off) {
		return nil, ErrStale
	}
	rows, err := tx.QueryContext(ctx, "SELECT off, len FROM lines WHERE conn = ? ORDER BY off LIMIT ?", conn, MaxTrace)
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	defer rows.Close()
	var lines []string
	want := []byte(" conn=" + strconv.FormatUint(conn, 10) + " ")
	for read := int64(0); read < MaxTraceBytes && rows.Next(); {
		var lo, n int64
		if err := rows.Scan(&lo, &n); err != nil {
			return nil, fmt.Errorf("logindex: %w", err)
		}
		b := make([]byte, min(n, MaxTraceLine))
		if _, err := f.ReadAt(b, lo); err != nil {
			return nil, fmt.Errorf("logindex: %w", err)
		}
		read += int64(len(b))
		// A line that is not the connection's means the file changed
		// under the same name and size: better no trace than another's.
		if !bytes.Contains(b, want) {
			return nil, ErrStale
		}
		line := string(bytes.TrimRight(b, "\r\n"))
		if int64(len(b)) < n {
			line = strings.ToValidUTF8(line, "") + TraceCut + strconv.FormatInt(n, 10) + ")"
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	return lines, nil
}
