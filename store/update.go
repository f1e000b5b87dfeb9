package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
)

// UpdateTriplet joins the call to the next batch of triplet updates (see
// combiner and updateBatch).
func (s *sqlStore) UpdateTriplet(ctx context.Context, t Triplet, update func(old *Entry) Entry) (Entry, error) {
	return s.updates.do(&tripletCall{ctx: ctx, t: t, update: update})
}

// updateBatch applies a batch of UpdateTriplet calls, optimistically:
// it reads the entries, applies the updates, and writes each entry only
// if its row still holds what was read (a new one only if there is still
// none); a triplet that another process changed meanwhile is read again
// and its updates applied again. No row is locked while the updates run.
// On PostgreSQL a batch is two statements, a read and a write, without a
// transaction; in SQLite it is one transaction, the group commit.
//
// The calls on one triplet are applied in turn, each seeing the entry
// the one before made, and only the last entry is written. A call whose
// caller gave up before the batch began is left out; should the batch
// fail, every call whose entry was not written has the error. What a
// PostgreSQL deadlock with another MX host left unwritten is run again.
func (s *sqlStore) updateBatch(ctx context.Context, batch []*tripletCall) {
	byKey := make(map[Triplet][]*tripletCall, len(batch))
	var keys []Triplet
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = s.wrap(err)
			continue
		}
		if byKey[c.t] == nil {
			keys = append(keys, c.t)
		}
		byKey[c.t] = append(byKey[c.t], c)
	}
	// Rows are written in one order everywhere, so that two MX hosts
	// writing the same rows do not wait for each other in a circle.
	slices.SortFunc(keys, compareTriplets)
	var err error
	for try := 1; len(keys) > 0; try++ {
		if s.d.batchTx {
			err = s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := s.updateKeys(ctx, tx, keys, byKey)
				return err
			}) // and if it failed, rolled back: no key is written
		} else {
			opCtx, cancel := s.op(ctx)
			keys, err = s.updateKeys(opCtx, nil, keys, byKey)
			err = s.wrap(err)
			cancel()
		}
		if err == nil || try == 3 || !retryable(err) {
			break
		}
	}
	if err != nil {
		for _, k := range keys {
			for _, c := range byKey[k] {
				c.err = err
			}
		}
	}
}

func compareTriplets(a, b Triplet) int {
	return cmp.Or(strings.Compare(a.Client, b.Client), strings.Compare(a.Sender, b.Sender), strings.Compare(a.Rcpt, b.Rcpt))
}

// retryable tells an error that running the batch again may cure:
// PostgreSQL's deadlock and serialisation failures.
func retryable(err error) bool {
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) && (pg.SQLState() == "40P01" || pg.SQLState() == "40001")
}

// entryWrite is an entry to write, and what its row held when it was
// read: old is nil for a new row.
type entryWrite struct {
	old *Entry
	new Entry
}

// updateKeys applies the calls on keys, in tx if not nil, until every
// entry is written. It returns the keys not written: none, or, if it
// fails, those of the statement that failed and after (without tx, the
// entries written before stay written).
func (s *sqlStore) updateKeys(ctx context.Context, tx *sql.Tx, keys []Triplet, byKey map[Triplet][]*tripletCall) ([]Triplet, error) {
	for len(keys) > 0 {
		olds, err := s.readEntries(ctx, tx, keys)
		if err != nil {
			return keys, err
		}
		writes := make([]entryWrite, 0, len(keys))
		for _, k := range keys {
			var old, last *Entry
			if e, ok := olds[k]; ok {
				old, last = &e, &e
			}
			for _, c := range byKey[k] {
				if c.apply(last) {
					e := c.out // a copy: the next update may change what it is given
					last = &e
				}
			}
			if last != nil && last != old { // nil, or old: every update panicked
				writes = append(writes, entryWrite{old, *last})
			}
		}
		changed, err := s.writeEntries(ctx, tx, writes)
		if err != nil {
			return keys, err
		}
		keys = changed
	}
	return nil, nil
}

// apply calls the update on old and reports whether it returned; a
// panic is kept for the caller's goroutine, as if it had called update
// itself.
func (c *tripletCall) apply(old *Entry) (ok bool) {
	c.panicked = nil
	defer func() {
		if v := recover(); v != nil {
			c.panicked = v
		}
	}()
	in := old
	if old != nil {
		e := *old // update may change what it is given; old is compared at the write
		in = &e
	}
	c.out = c.update(in)
	c.out.Triplet = c.t
	return true
}

// stmt is a prepared query, in tx if there is one.
func (s *sqlStore) stmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if tx == nil {
		return s.prepared(q)
	}
	return tx.StmtContext(ctx, s.prepared(q))
}

// byArrays tells whether n triplets are read or written at once, as
// arrays: on PostgreSQL, for more than one; one triplet costs the server
// less in the plain statements.
func (s *sqlStore) byArrays(n int) bool { return s.d.arrays && n > 1 }

// readEntries reads the entries of keys that exist: in one query on
// PostgreSQL; one by one in SQLite, where a query costs no round trip.
func (s *sqlStore) readEntries(ctx context.Context, tx *sql.Tx, keys []Triplet) (map[Triplet]Entry, error) {
	out := make(map[Triplet]Entry, len(keys))
	if !s.byArrays(len(keys)) {
		sel := s.stmt(ctx, tx, selectEntry)
		for _, k := range keys {
			e, err := scanEntry(sel.QueryRowContext(ctx, k.Client, k.Sender, k.Rcpt))
			switch {
			case err == nil:
				out[k] = e
			case !errors.Is(err, sql.ErrNoRows):
				return nil, err
			}
		}
		return out, nil
	}
	clients, senders, rcpts := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		clients[i], senders[i], rcpts[i] = k.Client, k.Sender, k.Rcpt
	}
	rows, err := s.stmt(ctx, tx, pgReadEntries).QueryContext(ctx, clients, senders, rcpts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out[e.Triplet] = e
	}
	return out, rows.Err()
}

// writeEntries writes each entry whose row still holds what was read, or
// is still missing, and returns the keys of the others.
func (s *sqlStore) writeEntries(ctx context.Context, tx *sql.Tx, writes []entryWrite) ([]Triplet, error) {
	var changed []Triplet
	if !s.byArrays(len(writes)) {
		update, insert := s.stmt(ctx, tx, updateEntryIf), s.stmt(ctx, tx, insertNewEntry)
		for _, w := range writes {
			var res sql.Result
			var err error
			if w.old != nil {
				res, err = update.ExecContext(ctx, append(entryArgs(w.new), valueArgs(*w.old)...)...)
			} else {
				res, err = insert.ExecContext(ctx, entryArgs(w.new)...)
			}
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, err
			} else if n == 0 {
				changed = append(changed, w.new.Triplet)
			}
		}
		return changed, nil
	}
	rows, err := s.stmt(ctx, tx, pgWriteEntries).QueryContext(ctx, writeArrays(writes)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	written := make(map[Triplet]bool, len(writes))
	for rows.Next() {
		var t Triplet
		if err := rows.Scan(&t.Client, &t.Sender, &t.Rcpt); err != nil {
			return nil, err
		}
		written[t] = true
	}
	for _, w := range writes {
		if !written[w.new.Triplet] {
			changed = append(changed, w.new.Triplet)
		}
	}
	return changed, rows.Err()
}

// valueArgs are an entry's values of valueColumns.
func valueArgs(e Entry) []any { return entryArgs(e)[3:] }

// writeArrays are the parameters of pgWriteEntries: one array per
// column of entryColumns, of the entries to write; one per value column,
// of what their rows held; and whether each row existed.
func writeArrays(writes []entryWrite) []any {
	n := len(writes)
	keys := [3][]string{make([]string, n), make([]string, n), make([]string, n)}
	var values [2 * 7][]int64 // the new values, then the old
	for i := range values {
		values[i] = make([]int64, n)
	}
	known := make([]bool, n)
	for i, w := range writes {
		keys[0][i], keys[1][i], keys[2][i] = w.new.Client, w.new.Sender, w.new.Rcpt
		set := func(at int, e Entry) {
			for j, v := range valueArgs(e) {
				values[at+j][i] = v.(int64)
			}
		}
		set(0, w.new)
		if known[i] = w.old != nil; known[i] {
			set(7, *w.old)
		}
	}
	out := []any{keys[0], keys[1], keys[2]}
	for _, v := range values {
		out = append(out, v)
	}
	return append(out, known)
}

// The statements of a batch that are not SQLite's one-triplet queries
// (selectEntry, insertNewEntry). updateEntryIf writes an entry ($1–$10,
// as entryColumns) only if its row holds what was read ($11–$17, as the
// value columns). On PostgreSQL, triplets and entries come as arrays, one
// per column, so that a batch is one statement whatever its size:
// pgReadEntries reads the entries of triplets; pgWriteEntries writes
// entries as updateEntryIf and insertNewEntry would, the old values and
// whether the row existed coming after the new (see writeArrays), and
// returns the triplets it wrote. Its old values are compared with IS NOT
// DISTINCT FROM, the same as = on these NOT NULL columns but of no use
// to an index: the planner then finds a row by its key, not by
// greylist_expires, where thousands of rows may share one expiry.
const (
	updateEntryIf = `UPDATE greylist SET first_seen = $4, last_seen = $5, passed = $6, expires = $7,
		attempts = $8, passes = $9, delay_ms = $10
		WHERE client = $1 AND sender = $2 AND rcpt = $3 AND first_seen = $11 AND last_seen = $12
		AND passed = $13 AND expires = $14 AND attempts = $15 AND passes = $16 AND delay_ms = $17`
	pgReadEntries = `SELECT ` + entryColumns + ` FROM greylist
		WHERE (client, sender, rcpt) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`
	pgWriteEntries = `WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[],
			$4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
			$11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
			$18::bool[])
		AS u(` + entryColumns + `, old_first_seen, old_last_seen, old_passed, old_expires,
			old_attempts, old_passes, old_delay_ms, known)),
	upd AS (UPDATE greylist g SET first_seen = u.first_seen, last_seen = u.last_seen, passed = u.passed,
			expires = u.expires, attempts = u.attempts, passes = u.passes, delay_ms = u.delay_ms
		FROM u WHERE u.known AND g.client = u.client AND g.sender = u.sender AND g.rcpt = u.rcpt
		AND (g.first_seen, g.last_seen, g.passed, g.expires, g.attempts, g.passes, g.delay_ms) IS NOT DISTINCT FROM
			(u.old_first_seen, u.old_last_seen, u.old_passed, u.old_expires, u.old_attempts, u.old_passes, u.old_delay_ms)
		RETURNING g.client, g.sender, g.rcpt),
	ins AS (INSERT INTO greylist (` + entryColumns + `) SELECT ` + entryColumns + ` FROM u WHERE NOT u.known
		ON CONFLICT (client, sender, rcpt) DO NOTHING RETURNING client, sender, rcpt)
	SELECT * FROM upd UNION ALL SELECT * FROM ins`
)
