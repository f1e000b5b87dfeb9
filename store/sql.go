package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// dialect is what differs between the SQL databases.
type dialect struct {
	name string
	// lockSchema serialises migrations between processes, if needed.
	lockSchema string
	// hasSchema counts the schema_version tables (0 or 1) where an
	// unqualified CREATE TABLE would put one.
	hasSchema string
	// batches is how many batches of triplet updates may run at once.
	batches int
	// arrays: a batch of triplet updates is read in one statement and
	// written in another, the triplets as arrays (a round trip saved is
	// worth it); otherwise one statement each a triplet (see byArrays).
	arrays bool
	// batchTx: a batch of triplet updates is one transaction (SQLite's
	// group commit); otherwise each statement commits by itself.
	batchTx bool
}

// sqlStore is the Store on a SQL database. Times are stored as
// milliseconds since the epoch, 0 for none.
type sqlStore struct {
	db      *sql.DB
	rdb     *sql.DB // for reads: db, or a pool beside it (SQLite's single writer)
	d       dialect
	timeout time.Duration        // bound on each operation
	stmts   map[string]*sql.Stmt // the per-message queries, prepared at open
	updates combiner             // UpdateTriplet's batches
	ckpt    *checkpointer        // SQLite's, told of each commit; nil on PostgreSQL

	// bytewise: the database orders text as bytes (SQLite; PostgreSQL
	// under the C collation), so that a key prefix is a range of keys.
	bytewise bool
}

// newSQLStore is a store on db, not yet migrated or prepared.
func newSQLStore(db *sql.DB, d dialect, timeout time.Duration) *sqlStore {
	s := &sqlStore{db: db, rdb: db, d: d, timeout: timeout}
	s.updates = combiner{max: d.batches, run: s.updateBatch}
	return s
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// op bounds one operation by the store's timeout.
func (s *sqlStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

const (
	selectEntry    = `SELECT ` + entryColumns + ` FROM greylist WHERE client = $1 AND sender = $2 AND rcpt = $3`
	insertNewEntry = insertEntry + ` ON CONFLICT (client, sender, rcpt) DO NOTHING`
	selectListed   = `SELECT expires FROM autowhitelist WHERE kind = $1 AND name = $2 AND listed <> 0`
)

// prepare prepares the queries every connection or message runs: parsing the SQL again
// for each would cost more than running it. It runs at open, before any
// transaction holds SQLite's one connection.
func (s *sqlStore) prepare(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	reads := []string{selectListed, selectBanned, selectBanned2, selectBans}
	qs := append([]string{upsertEntry, selectEntry, updateEntryIf, insertNewEntry}, reads...)
	if s.d.arrays {
		qs = append(qs, pgReadEntries, pgWriteEntries)
	}
	for _, q := range qs {
		db := s.db
		if slices.Contains(reads, q) {
			db = s.rdb
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return s.wrap(err)
		}
		s.stmts[q] = st
	}
	var bytewise int
	if err := s.rdb.QueryRowContext(ctx, orderProbe).Scan(&bytewise); err != nil {
		return s.wrap(err)
	}
	s.bytewise = bytewise == 1
	return nil
}

// orderProbe tells whether the database orders text as bytes: a
// linguistic collation (PostgreSQL's en_US, any ICU one) puts 'a'
// before 'B', and letters after punctuation and digits.
const orderProbe = `SELECT CASE WHEN 'B' < 'a' AND '19' < '1:' AND 'zz' < 'z{' AND 'a-b' < 'a.b' AND 'a.b' < 'a/b' AND 'z' < 'é'
	THEN 1 ELSE 0 END`

// prepared returns a query prepared at open.
func (s *sqlStore) prepared(q string) *sql.Stmt {
	st, ok := s.stmts[q]
	if !ok {
		panic("store: query not prepared: " + q)
	}
	return st
}

// txExec runs a prepared statement in tx.
func (s *sqlStore) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	return tx.StmtContext(ctx, s.prepared(q)).ExecContext(ctx, args...)
}

// tx runs fn in a transaction, committed if fn returns nil.
func (s *sqlStore) tx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return s.wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(err)
	}
	s.committed()
	return nil
}

// exec runs one writing statement outside a transaction (it commits by
// itself).
func (s *sqlStore) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err == nil {
		s.committed()
	}
	return res, err
}

// committed tells SQLite's checkpointer that the log has grown.
func (s *sqlStore) committed() {
	if s.ckpt != nil {
		s.ckpt.committed()
	}
}

// wrap names the backend in errors, which end up in logs.
func (s *sqlStore) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s store: no answer within %s (locked, or the server is unreachable)", s.d.name, s.timeout)
	}
	return fmt.Errorf("%s store: %w", s.d.name, err)
}

func (s *sqlStore) Close() error {
	var err error
	if s.ckpt != nil {
		err = s.ckpt.close()
	}
	err = errors.Join(err, s.db.Close())
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

func (s *sqlStore) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var v int
	return s.wrap(s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v))
}

const entryColumns = `client, sender, rcpt, first_seen, last_seen, passed, expires, attempts, passes, delay_ms`

func scanEntry(row interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var first, last, passed, expires, delay int64
	err := row.Scan(&e.Client, &e.Sender, &e.Rcpt, &first, &last, &passed, &expires, &e.Attempts, &e.Passes, &delay)
	e.First, e.Last, e.Passed, e.Expires = fromMS(first), fromMS(last), fromMS(passed), fromMS(expires)
	e.Delay = time.Duration(delay) * time.Millisecond
	return e, err
}

const insertEntry = `INSERT INTO greylist (` + entryColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

const upsertEntry = insertEntry + ` ON CONFLICT (client, sender, rcpt) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen,
	passed = excluded.passed, expires = excluded.expires, attempts = excluded.attempts, passes = excluded.passes,
	delay_ms = excluded.delay_ms`

func entryArgs(e Entry) []any {
	return []any{e.Client, e.Sender, e.Rcpt, ms(e.First), ms(e.Last), ms(e.Passed),
		ms(e.Expires), int64(e.Attempts), int64(e.Passes), e.Delay.Milliseconds()}
}

func (s *sqlStore) PutTriplets(ctx context.Context, entries []Entry) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, e := range entries {
			if _, err := s.txExec(ctx, tx, upsertEntry, entryArgs(e)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// renewEntry is RenewTriplets' statement: the greater of two times is
// written with CASE, which SQLite and PostgreSQL share.
const renewEntry = `UPDATE greylist SET passes = passes + $1,
	last_seen = CASE WHEN last_seen < $2 THEN $2 ELSE last_seen END,
	expires = CASE WHEN expires < $3 THEN $3 ELSE expires END
	WHERE client = $4 AND sender = $5 AND rcpt = $6 AND passed = $7`

// pgRenewEntries is renewEntry for many triplets at once, as arrays
// (one round trip).
const pgRenewEntries = `UPDATE greylist g SET passes = g.passes + u.passes,
	last_seen = GREATEST(g.last_seen, u.last_seen), expires = GREATEST(g.expires, u.expires)
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
		AS u(client, sender, rcpt, passed, passes, last_seen, expires)
	WHERE g.client = u.client AND g.sender = u.sender AND g.rcpt = u.rcpt AND g.passed = u.passed`

func (s *sqlStore) RenewTriplets(ctx context.Context, renewals []Renewal) error {
	renewals = slices.DeleteFunc(slices.Clone(renewals), func(r Renewal) bool {
		return r.Passed.IsZero() // not a pass: never match a pending entry
	})
	if len(renewals) == 0 {
		return nil
	}
	if s.byArrays(len(renewals)) {
		var keys [3][]string
		var values [4][]int64
		for _, r := range renewals {
			keys[0], keys[1], keys[2] = append(keys[0], r.Client), append(keys[1], r.Sender), append(keys[2], r.Rcpt)
			for i, v := range []int64{ms(r.Passed), int64(r.Passes), ms(r.Last), ms(r.Expires)} {
				values[i] = append(values[i], v)
			}
		}
		ctx, cancel := s.op(ctx)
		defer cancel()
		_, err := s.db.ExecContext(ctx, pgRenewEntries, keys[0], keys[1], keys[2], values[0], values[1], values[2], values[3])
		return s.wrap(err)
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, r := range renewals {
			if _, err := tx.ExecContext(ctx, renewEntry, int64(r.Passes), ms(r.Last), ms(r.Expires),
				r.Client, r.Sender, r.Rcpt, ms(r.Passed)); err != nil {
				return err
			}
		}
		return nil
	})
}

// where renders a Filter as a WHERE clause and its arguments, for a
// database that orders text as bytes or not (see sqlStore.bytewise). A
// prefix glob also bounds its column, so that an index serves it: from
// the prefix on, and in byte order up to prefixEnd; LIKE decides.
func (f Filter) where(bytewise bool) (string, []any, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	keys := []struct{ col, v string }{{"client", f.Client}, {"sender", f.Sender}, {"rcpt", f.Rcpt}}
	for _, c := range keys {
		switch {
		case c.v == "":
		case !strings.Contains(c.v, "*"):
			conds = append(conds, c.col+" = "+arg(c.v))
		default:
			if p, ok := Prefix(c.v); ok && p != "" && utf8.ValidString(p) {
				conds = append(conds, c.col+" >= "+arg(p))
				if end, ok := prefixEnd(p); ok && bytewise {
					conds = append(conds, c.col+" < "+arg(end))
				}
			}
			conds = append(conds, c.col+" LIKE "+arg(globToLike(c.v))+` ESCAPE '\'`)
		}
	}
	if f.State != "" {
		if f.Now.IsZero() {
			return "", nil, errors.New("store: a filter by state needs the time to judge it at")
		}
		cond, ok := map[string]string{ // as Entry.State, and Expire's "expired"
			StatePending: "passed = 0 AND expires > %s",
			StatePassed:  "passed <> 0 AND expires > %s",
			StateExpired: "expires <= %s",
		}[f.State]
		if !ok {
			return "", nil, fmt.Errorf("store: no such state %q", f.State)
		}
		conds = append(conds, fmt.Sprintf(cond, arg(ms(f.Now))))
	}
	if f.ByKey && f.After != nil {
		// After the last of the previous page, in the order of the
		// index that serves the search.
		cols := f.keyOrder()
		vals := make([]string, len(cols))
		for i, col := range cols {
			vals[i] = arg(map[string]string{"client": f.After.Client, "sender": f.After.Sender, "rcpt": f.After.Rcpt}[col])
		}
		if len(cols) == 0 {
			conds = append(conds, "1 = 0") // one triplet, already listed
		} else {
			conds = append(conds, "("+strings.Join(cols, ", ")+") > ("+strings.Join(vals, ", ")+")")
		}
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// orderBy is the ORDER BY clause of Triplets: oldest first, or for
// ByKey in keyOrder.
func (f Filter) orderBy() string {
	if !f.ByKey {
		return " ORDER BY first_seen, client, sender, rcpt"
	}
	if cols := f.keyOrder(); len(cols) > 0 {
		return " ORDER BY " + strings.Join(cols, ", ")
	}
	return ""
}

// keyOrder is the order ByKey lists in: that of the index which serves
// the search — the key (client, sender, rcpt) when the client is
// searched or nothing is, else the index by sender (sender, client,
// rcpt), else by recipient (rcpt, client, sender) — without the columns
// an exact value fixes. The index then gives the rows in order, and a
// page ends the read.
func (f Filter) keyOrder() []string {
	order := []string{"client", "sender", "rcpt"}
	switch {
	case f.Client != "":
	case f.Sender != "":
		order = []string{"sender", "client", "rcpt"}
	case f.Rcpt != "":
		order = []string{"rcpt", "client", "sender"}
	}
	value := map[string]string{"client": f.Client, "sender": f.Sender, "rcpt": f.Rcpt}
	return slices.DeleteFunc(order, func(col string) bool {
		v := value[col]
		return v != "" && !strings.Contains(v, "*")
	})
}

// globToLike turns a '*' glob into a LIKE pattern, escaping LIKE's own
// wildcards.
func globToLike(g string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`)
	return r.Replace(g)
}

func (s *sqlStore) Triplets(ctx context.Context, f Filter) ([]Entry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	where, args, err := f.where(s.bytewise)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + entryColumns + ` FROM greylist` + where + f.orderBy()
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, e)
	}
	return out, s.wrap(rows.Err())
}

func (s *sqlStore) DeleteTriplets(ctx context.Context, f Filter) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	f.ByKey, f.After = false, nil
	where, args, err := f.where(s.bytewise)
	if err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, `DELETE FROM greylist`+where, args...)
	if err != nil {
		return 0, s.wrap(err)
	}
	n, err := res.RowsAffected()
	return int(n), s.wrap(err)
}

func (s *sqlStore) GreylistStats(ctx context.Context, now time.Time) (Stats, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var st Stats
	var avg sql.NullFloat64
	// The states are Entry.State's, as a Filter selects them.
	err := s.rdb.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN passed = 0 AND expires > $1 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN passed <> 0 AND expires > $1 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN expires <= $1 THEN 1 ELSE 0 END), 0),
		AVG(CASE WHEN passed <> 0 AND expires > $1 THEN delay_ms END)
		FROM greylist`, ms(now)).Scan(&st.Pending, &st.Passed, &st.Expired, &avg)
	if err != nil {
		return st, s.wrap(err)
	}
	st.AvgDelay = time.Duration(avg.Float64) * time.Millisecond
	err = s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM autowhitelist WHERE kind = $1 AND listed <> 0 AND expires > $2`,
		KindClient, ms(now)).Scan(&st.Whitelisted)
	return st, s.wrap(err)
}

func (s *sqlStore) CountPass(ctx context.Context, kind, key string, now time.Time, ttl time.Duration, threshold int) (bool, error) {
	var listed int64
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// listed is set once, when count reaches the threshold.
		return tx.QueryRowContext(ctx, `INSERT INTO autowhitelist (kind, name, count, listed, first_seen, last_seen, expires)
			VALUES ($1, $2, 1, CASE WHEN CAST($3 AS INTEGER) <= 1 THEN CAST($4 AS BIGINT) ELSE 0 END, $4, $4, $5)
			ON CONFLICT (kind, name) DO UPDATE SET count = autowhitelist.count + 1,
			listed = CASE WHEN autowhitelist.listed = 0 AND autowhitelist.count + 1 >= CAST($3 AS INTEGER)
				THEN CAST($4 AS BIGINT) ELSE autowhitelist.listed END,
			last_seen = $4, expires = $5
			RETURNING listed`, kind, key, threshold, ms(now), ms(now.Add(ttl))).Scan(&listed)
	})
	return listed != 0, err
}

func (s *sqlStore) Listed(ctx context.Context, kind, key string, now time.Time, ttl time.Duration) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var expires int64
	err := s.prepared(selectListed).QueryRowContext(ctx, kind, key).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) || err == nil && expires <= ms(now) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap(err)
	}
	if renew := ms(now.Add(ttl)); renew-expires >= time.Minute.Milliseconds() {
		_, err = s.exec(ctx, `UPDATE autowhitelist SET last_seen = $3, expires = $4
			WHERE kind = $1 AND name = $2 AND expires < $4`, kind, key, ms(now), renew)
	}
	return true, s.wrap(err)
}

func (s *sqlStore) Whitelist(ctx context.Context, kind string) ([]WhitelistEntry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT kind, name, count, listed, last_seen, expires FROM autowhitelist
		WHERE $1 = '' OR kind = $1 ORDER BY kind, name`, kind)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []WhitelistEntry
	for rows.Next() {
		var w WhitelistEntry
		var listed, last, expires int64
		if err := rows.Scan(&w.Kind, &w.Key, &w.Count, &listed, &last, &expires); err != nil {
			return nil, s.wrap(err)
		}
		w.Listed, w.Last, w.Expires = fromMS(listed), fromMS(last), fromMS(expires)
		out = append(out, w)
	}
	return out, s.wrap(rows.Err())
}

// deleteOne runs a DELETE and reports whether it removed anything.
func (s *sqlStore) deleteOne(ctx context.Context, q string, args ...any) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.exec(ctx, q, args...)
	if err != nil {
		return false, s.wrap(err)
	}
	n, err := res.RowsAffected()
	return n > 0, s.wrap(err)
}

func (s *sqlStore) Unlist(ctx context.Context, kind, key string) (bool, error) {
	return s.deleteOne(ctx, `DELETE FROM autowhitelist WHERE kind = $1 AND name = $2`, kind, key)
}

func (s *sqlStore) PutCBV(ctx context.Context, r CBVResult) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO cbv_cache (sender, code, text, checked, expires) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (sender) DO UPDATE SET code = excluded.code, text = excluded.text,
			checked = excluded.checked, expires = excluded.expires`,
			r.Sender, r.Code, r.Text, ms(r.Checked), ms(r.Expires))
		return err
	})
}

func (s *sqlStore) CBV(ctx context.Context, sender string, now time.Time) (*CBVResult, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	r := CBVResult{Sender: sender}
	var checked, expires int64
	err := s.rdb.QueryRowContext(ctx, `SELECT code, text, checked, expires FROM cbv_cache WHERE sender = $1 AND expires > $2`,
		sender, ms(now)).Scan(&r.Code, &r.Text, &checked, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	r.Checked, r.Expires = fromMS(checked), fromMS(expires)
	return &r, nil
}

func (s *sqlStore) Ban(ctx context.Context, b Ban) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO blacklist (kind, name, reason, created, expires) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (kind, name) DO UPDATE SET reason = excluded.reason, created = excluded.created, expires = excluded.expires`,
			b.Kind, b.Key, b.Reason, ms(b.Created), ms(b.Expires))
		return err
	})
}

// The ban queries: one key's bans of one kind or of two in force at $2
// (asked at every connection and message: an IP's two kinds at once), and
// every ban of a kind ("" for all) in force at $2.
const (
	selectBanned = `SELECT kind, name, reason, created, expires FROM blacklist
		WHERE kind = $3 AND name = $1 AND (expires = 0 OR expires > $2)`
	selectBanned2 = `SELECT kind, name, reason, created, expires FROM blacklist
		WHERE kind IN ($3, $4) AND name = $1 AND (expires = 0 OR expires > $2)`
	selectBans = `SELECT kind, name, reason, created, expires FROM blacklist
		WHERE ($1 = '' OR kind = $1) AND (expires = 0 OR expires > $2) ORDER BY kind, name`
)

// bans runs one of the prepared ban queries.
func (s *sqlStore) bans(ctx context.Context, query string, args ...any) ([]Ban, error) {
	return s.queryBans(ctx, s.prepared(query).QueryContext, args...)
}

// queryBans reads the bans query returns.
func (s *sqlStore) queryBans(ctx context.Context, query func(context.Context, ...any) (*sql.Rows, error), args ...any) ([]Ban, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := query(ctx, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Ban
	for rows.Next() {
		var b Ban
		var created, expires int64
		if err := rows.Scan(&b.Kind, &b.Key, &b.Reason, &created, &expires); err != nil {
			return nil, s.wrap(err)
		}
		b.Created, b.Expires = fromMS(created), fromMS(expires)
		out = append(out, b)
	}
	return out, s.wrap(rows.Err())
}

func (s *sqlStore) Banned(ctx context.Context, kind, key string, now time.Time) (*Ban, error) {
	bs, err := s.BansOn(ctx, key, now, kind)
	if len(bs) == 0 {
		return nil, err
	}
	return &bs[0], err
}

func (s *sqlStore) BansOn(ctx context.Context, key string, now time.Time, kinds ...string) ([]Ban, error) {
	switch len(kinds) {
	case 1:
		return s.bans(ctx, selectBanned, key, ms(now), kinds[0])
	case 2:
		return s.bans(ctx, selectBanned2, key, ms(now), kinds[0], kinds[1])
	}
	return nil, fmt.Errorf("store: bans of %d kinds asked at once; one or two", len(kinds))
}

func (s *sqlStore) Bans(ctx context.Context, kind string, now time.Time) ([]Ban, error) {
	return s.bans(ctx, selectBans, kind, ms(now))
}

func (s *sqlStore) BanPage(ctx context.Context, f BanFilter) ([]Ban, error) {
	q, args, err := f.query(s.bytewise)
	if err != nil {
		return nil, err
	}
	return s.queryBans(ctx, func(ctx context.Context, args ...any) (*sql.Rows, error) {
		return s.rdb.QueryContext(ctx, q, args...)
	}, args...)
}

// query renders f as a query of the blacklist and its arguments, for a
// database that orders text as bytes or not. Every condition on name
// bounds the range of the primary key (kind, name) read, in its order,
// so that the LIMIT ends the read. A prefix has an end in byte order
// only: under another collation, the keys from the prefix on are read
// and those that do not start with it skipped, until LIMIT are found.
func (f BanFilter) query(bytewise bool) (string, []any, error) {
	if f.Kind == "" || f.Limit < 1 {
		return "", nil, errors.New("store: a page of bans needs a kind and a limit")
	}
	if !utf8.ValidString(f.Key) || !utf8.ValidString(f.After) {
		return "", nil, errors.New("store: a ban's key is UTF-8")
	}
	q := `SELECT kind, name, reason, created, expires FROM blacklist WHERE kind = $1 AND (expires = 0 OR expires > $2)`
	args := []any{f.Kind, ms(f.Now)}
	name := func(op, v string) {
		args = append(args, v)
		q += fmt.Sprintf(" AND name %s $%d", op, len(args))
	}
	switch {
	case f.Key != "" && !f.Prefix:
		name("=", f.Key)
	case f.Key != "":
		name(">=", f.Key)
		end, ok := prefixEnd(f.Key)
		switch {
		case !bytewise:
			q += fmt.Sprintf(" AND substr(name, 1, %d) = $%d", utf8.RuneCountInString(f.Key), len(args))
		case ok:
			name("<", end)
		}
	}
	if f.After != "" {
		name(">", f.After)
	}
	return q + fmt.Sprintf(" ORDER BY name LIMIT %d", f.Limit), args, nil
}

// prefixEnd is the least string above every string that starts with p,
// in byte order: p with its last character replaced by the next one (in
// UTF-8, byte order is the order of the characters). It is false when
// there is none: p is all U+10FFFF.
func prefixEnd(p string) (string, bool) {
	for p != "" {
		r, n := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-n]
		if r < utf8.MaxRune {
			r++
			if r == 0xD800 { // surrogates are no characters
				r = 0xE000
			}
			return p + string(r), true
		}
	}
	return "", false
}

func (s *sqlStore) Unban(ctx context.Context, kind, key string) (bool, error) {
	return s.deleteOne(ctx, `DELETE FROM blacklist WHERE kind = $1 AND name = $2`, kind, key)
}

// expiring lists each table's key and what makes a row expired at $1.
var expiring = []struct{ table, key, expired string }{
	{"greylist", "client, sender, rcpt", "expires <= $1"},
	{"autowhitelist", "kind, name", "expires <= $1"},
	{"cbv_cache", "sender", "expires <= $1"},
	{"blacklist", "kind, name", "expires <> 0 AND expires <= $1"},
	{"reputation", "id", "expires <= $1"},
}

func (s *sqlStore) Expire(ctx context.Context, now time.Time, batch int) (int, error) {
	total := 0
	for _, t := range expiring {
		ctx, cancel := s.op(ctx)
		res, err := s.exec(ctx, fmt.Sprintf(`DELETE FROM %[1]s WHERE (%[2]s) IN
			(SELECT %[2]s FROM %[1]s WHERE %[3]s LIMIT $2)`, t.table, t.key, t.expired), ms(now), batch)
		cancel()
		if err != nil {
			return total, s.wrap(err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}
