package logindex

import (
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/maxwell-milter/maxwell/internal/maillog"
)

// The overview's aggregates are kept by Update, in the transaction of
// each batch, so that a line counts once however Updates are cut short
// or run at once:
//
//   - minutes: per minute of the log's time, the messages accepted
//     (eom lines: outcome ACCEPT) and the decisions of each tag
//     (decision lines: one per refusal, of a recipient or a message);
//   - tops: per clock hour, the clients' addresses (a count per connect
//     line), the senders (per mail from line, "<>" the null sender) and
//     the refusals' reasons without their particulars
//     (maillog.ReasonKind), at most TopKeep values of each.
//
// An attacker who sends each message from another address or sender
// would otherwise add a row per message. The values of an hour are kept
// by the space-saving algorithm (Metwally, Agrawal, El Abbadi 2005): past
// TopKeep, a new value takes the place of the least counted one, with
// that count plus its own. A value that makes more than 1/TopKeep of an
// hour's count is never pushed out; counts are exact for an hour of at
// most TopKeep values, upper bounds past that.
//
// Both are pruned to Retention before the newest line indexed. They
// outlive a rotation of the log (reset); a rebuild (Open, another
// schema version) counts the log there is.

// Bounds of the aggregates.
const (
	// TopKeep is how many values of each kind an hour keeps.
	TopKeep = 500
	// Retention is how far back from the newest line the aggregates go.
	Retention = 7 * 24 * time.Hour
	// MaxTop bounds the top lists Summarize returns.
	MaxTop = 100
	// maxTag bounds an outcome's name: maxwell's tags are short words.
	maxTag = 24
)

// OutcomeAccept is the outcome of an accepted message; the others are
// the decisions' tags (REJECT, TEMPFAIL, GREYLISTED, ...).
const OutcomeAccept = "ACCEPT"

// Kinds of the top lists, as stored.
const (
	topClient = iota + 1
	topSender
	topReason
)

// MinuteCount is how many times an outcome came in one minute.
type MinuteCount struct {
	Minute  time.Time
	Outcome string
	N       int
}

// Count is a value and how many times it came.
type Count struct {
	Value string
	N     int
}

// Summary is what the index sums up of a span of the log, for the web
// console's overview.
type Summary struct {
	// Minutes are the outcomes of each minute, by minute then outcome;
	// minutes without any are left out.
	Minutes []MinuteCount
	// Clients, Senders and Reasons are the most frequent of the span's
	// clock hours, the most frequent first.
	Clients, Senders, Reasons []Count
	// Newest is the time of the newest line indexed, zero if none.
	Newest time.Time
}

// Summarize sums up the log from from to to: the outcomes of each
// minute, and the n most frequent clients, senders and reasons (n at
// most MaxTop) of the clock hours from from's to to's. It reads ranges
// of the aggregates' primary keys: a day is at most 1440 minutes of a
// few outcomes each and 24 hours of TopKeep values of each kind.
func (x *Index) Summarize(ctx context.Context, from, to time.Time, n int) (*Summary, error) {
	n = min(max(n, 1), MaxTop)
	// One transaction: the figures are of one state of the index.
	tx, err := x.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	defer tx.Rollback()
	s := &Summary{}
	var newest int64
	switch err := tx.QueryRowContext(ctx, "SELECT newest FROM state WHERE id = 1").Scan(&newest); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("logindex: %w", err)
	case newest != 0: // 0: lines read, none of a session's
		s.Newest = time.UnixMicro(newest).UTC()
	}
	rows, err := tx.QueryContext(ctx, "SELECT t, outcome, n FROM minutes WHERE t BETWEEN ? AND ? ORDER BY t, outcome",
		from.Unix()/60, to.Unix()/60)
	if err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	for rows.Next() {
		var m MinuteCount
		var t int64
		if err := rows.Scan(&t, &m.Outcome, &m.N); err != nil {
			rows.Close()
			return nil, fmt.Errorf("logindex: %w", err)
		}
		m.Minute = time.Unix(t*60, 0).UTC()
		s.Minutes = append(s.Minutes, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	for _, t := range []struct {
		kind int
		list *[]Count
	}{{topClient, &s.Clients}, {topSender, &s.Senders}, {topReason, &s.Reasons}} {
		if *t.list, err = top(ctx, tx, t.kind, from.Unix()/3600, to.Unix()/3600, n); err != nil {
			return nil, fmt.Errorf("logindex: %w", err)
		}
	}
	return s, nil
}

// top is the n values of kind counted most in the hours from to to.
func top(ctx context.Context, tx *sql.Tx, kind int, from, to int64, n int) ([]Count, error) {
	rows, err := tx.QueryContext(ctx, `SELECT value, SUM(n) AS s FROM tops WHERE kind = ? AND hour BETWEEN ? AND ?
		GROUP BY value ORDER BY s DESC, value LIMIT ?`, kind, from, to, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Value, &c.N); err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

type minuteKey struct {
	t       int64 // Unix minutes
	outcome string
}

type hourKey struct {
	kind int
	hour int64 // Unix hours
}

// tally is what a batch adds to the aggregates.
type tally struct {
	minutes map[minuteKey]int
	tops    map[hourKey]map[string]int
	newest  int64 // the newest line's time, Unix microseconds
}

func newTally(newest int64) *tally {
	return &tally{minutes: map[minuteKey]int{}, tops: map[hourKey]map[string]int{}, newest: newest}
}

// add counts a line.
func (a *tally) add(l maillog.Line) {
	a.newest = max(a.newest, l.Time.UnixMicro())
	sec := l.Time.Unix()
	switch l.Event {
	case "connect":
		if v, ok := normValue(l.Fields["ip"]); ok {
			a.top(topClient, sec, v)
		}
	case "mail from":
		from := l.Fields["from"]
		if from == "" {
			from = "<>"
		}
		if v, ok := normValue(from); ok {
			a.top(topSender, sec, v)
		}
	case "eom":
		a.minutes[minuteKey{sec / 60, OutcomeAccept}]++
	case "decision":
		tag := l.Fields["tag"]
		if !isTag(tag) {
			return
		}
		a.minutes[minuteKey{sec / 60, tag}]++
		if r := maillog.ReasonKind(l.Fields["reason"]); refusal(tag, l.Fields["code"]) && plain(r) {
			a.top(topReason, sec, r)
		}
	}
}

func (a *tally) top(kind int, sec int64, v string) {
	k := hourKey{kind, sec / 3600}
	m := a.tops[k]
	if m == nil {
		m = map[string]int{}
		a.tops[k] = m
	}
	m[v]++
}

// isTag tells a decision's tag: an upper-case word, as maxwell writes.
func isTag(s string) bool {
	if s == "" || len(s) > maxTag {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// refusal tells a decision that refused: a 4xx or 5xx answer, or for a
// line without code, the tags that refuse.
func refusal(tag, code string) bool {
	if n, err := strconv.Atoi(code); err == nil {
		return n >= 400
	}
	return tag == "REJECT" || tag == "TEMPFAIL" || tag == "GREYLISTED"
}

// write adds the batch's counts to the aggregates and prunes them.
func (a *tally) write(ctx context.Context, tx *sql.Tx) error {
	if len(a.minutes) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO minutes (t, outcome, n) VALUES (?, ?, ?)
			ON CONFLICT (t, outcome) DO UPDATE SET n = n + excluded.n`)
		if err != nil {
			return err
		}
		for k, n := range a.minutes {
			if _, err := st.ExecContext(ctx, k.t, k.outcome, n); err != nil {
				return err
			}
		}
	}
	if len(a.tops) > 0 {
		var m topStmts
		var err error
		if m.sel, err = tx.PrepareContext(ctx, "SELECT value, n FROM tops WHERE kind = ? AND hour = ?"); err != nil {
			return err
		}
		if m.del, err = tx.PrepareContext(ctx, "DELETE FROM tops WHERE kind = ? AND hour = ? AND value = ?"); err != nil {
			return err
		}
		if m.set, err = tx.PrepareContext(ctx, `INSERT INTO tops (kind, hour, value, n) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, hour, value) DO UPDATE SET n = excluded.n`); err != nil {
			return err
		}
		for k, add := range a.tops {
			if err := m.merge(ctx, k, add); err != nil {
				return err
			}
		}
	}
	if a.newest == 0 {
		return nil
	}
	cut := time.UnixMicro(a.newest).Add(-Retention).Unix()
	if _, err := tx.ExecContext(ctx, "DELETE FROM minutes WHERE t < ?", cut/60); err != nil {
		return err
	}
	for _, kind := range []int{topClient, topSender, topReason} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM tops WHERE kind = ? AND hour < ?", kind, cut/3600); err != nil {
			return err
		}
	}
	return nil
}

// topStmts are the statements that merge a batch's top values.
type topStmts struct{ sel, del, set *sql.Stmt }

// merge adds a batch's counts of an hour to those kept.
func (m *topStmts) merge(ctx context.Context, k hourKey, add map[string]int) error {
	rows, err := m.sel.QueryContext(ctx, k.kind, k.hour)
	if err != nil {
		return err
	}
	kept := map[string]int{}
	for rows.Next() {
		var v string
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return err
		}
		kept[v] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	set, gone := spaceSave(kept, add, TopKeep)
	for _, v := range gone {
		if _, err := m.del.ExecContext(ctx, k.kind, k.hour, v); err != nil {
			return err
		}
	}
	for v, n := range set {
		if _, err := m.set.ExecContext(ctx, k.kind, k.hour, v, n); err != nil {
			return err
		}
	}
	return nil
}

// spaceSave adds the counts add to kept, keeping at most keep values
// (the space-saving algorithm): a new value past keep takes the place of
// the least counted (the greatest value of those), with its count added.
// The batch's values go in from the most counted, so that a heavy one
// never waits behind its batch's single ones. It returns the values to
// write with their new counts, and those of kept that went. kept is not
// changed.
func spaceSave(kept, add map[string]int, keep int) (set map[string]int, gone []string) {
	h := &counted{at: map[string]int{}}
	for v, n := range kept {
		h.items = append(h.items, Count{v, n})
	}
	for i, c := range h.items {
		h.at[c.Value] = i
	}
	heap.Init(h)
	news := make([]Count, 0, len(add))
	for v, n := range add {
		news = append(news, Count{v, n})
	}
	slices.SortFunc(news, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Value, b.Value)) })
	set = map[string]int{}
	for _, c := range news {
		switch i, ok := h.at[c.Value]; {
		case ok:
			h.items[i].N += c.N
			set[c.Value] = h.items[i].N
			heap.Fix(h, i)
		case h.Len() < keep:
			heap.Push(h, c)
			set[c.Value] = c.N
		default:
			least := h.items[0]
			if _, ok := kept[least.Value]; ok {
				gone = append(gone, least.Value)
			}
			delete(set, least.Value)
			delete(h.at, least.Value)
			h.items[0] = Count{c.Value, least.N + c.N}
			h.at[c.Value] = 0
			set[c.Value] = least.N + c.N
			heap.Fix(h, 0)
		}
	}
	return set, gone
}

// counted is a min-heap of counts (ties: the greatest value first), with
// the place of each value.
type counted struct {
	items []Count
	at    map[string]int
}

func (h *counted) Len() int { return len(h.items) }
func (h *counted) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return a.N < b.N || a.N == b.N && a.Value > b.Value
}
func (h *counted) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.at[h.items[i].Value], h.at[h.items[j].Value] = i, j
}
func (h *counted) Push(x any) {
	c := x.(Count)
	h.at[c.Value] = len(h.items)
	h.items = append(h.items, c)
}
func (h *counted) Pop() any {
	c := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	delete(h.at, c.Value)
	return c
}
