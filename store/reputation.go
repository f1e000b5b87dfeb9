package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// learnTries bounds how often Learn reads an identity again because
// another process changed it in between (PostgreSQL; SQLite's writer
// holds the lock for the whole transaction).
const learnTries = 10

func (s *sqlStore) Learn(ctx context.Context, obs []Observation, now time.Time, halfLife time.Duration) error {
	if len(obs) == 0 {
		return nil
	}
	expires := now.Add(forgetAfter * halfLife)
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, o := range obs {
			if err := learnOne(ctx, tx, o, now, halfLife, expires); err != nil {
				return err
			}
		}
		return nil
	})
}

// learnOne is Learn for one identity: read, decay and add in Go, then
// write only if nobody wrote in between (events is the row's version),
// else read again. The decay needs 2^x, which SQLite's SQL lacks.
func learnOne(ctx context.Context, tx *sql.Tx, o Observation, now time.Time, halfLife time.Duration, expires time.Time) error {
	for range learnTries {
		var r Reputation
		var first, updated int64
		err := tx.QueryRowContext(ctx, `SELECT good, bad, events, first_seen, updated FROM reputation WHERE id = $1`, o.ID).
			Scan(&r.Good, &r.Bad, &r.Events, &first, &updated)
		var res sql.Result
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res, err = tx.ExecContext(ctx, `INSERT INTO reputation (id, good, bad, events, first_seen, updated, expires)
				VALUES ($1, $2, $3, 1, $4, $4, $5) ON CONFLICT (id) DO NOTHING`, o.ID, o.Good, o.Bad, ms(now), ms(expires))
		case err != nil:
			return err
		default:
			r.Updated = fromMS(updated)
			r = r.At(now, halfLife)
			if now.Before(r.Updated) {
				now = r.Updated // never move a reputation back in time
			}
			res, err = tx.ExecContext(ctx, `UPDATE reputation SET good = $2, bad = $3, events = events + 1, updated = $4,
				expires = CASE WHEN expires < $5 THEN $5 ELSE expires END WHERE id = $1 AND events = $6`,
				o.ID, r.Good+o.Good, r.Bad+o.Bad, ms(now), ms(expires), int64(r.Events))
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	return fmt.Errorf("reputation of %s: changed by others %d times while learning", o.ID, learnTries)
}

const reputationColumns = `id, good, bad, events, first_seen, updated`

func (s *sqlStore) Reputation(ctx context.Context, ids ...string) ([]Reputation, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		marks[i], args[i] = fmt.Sprintf("$%d", i+1), id
	}
	return s.reputations(ctx, `SELECT `+reputationColumns+` FROM reputation WHERE id IN (`+strings.Join(marks, ", ")+`) ORDER BY id`, args...)
}

func (s *sqlStore) Reputations(ctx context.Context, limit int) ([]Reputation, error) {
	q := `SELECT ` + reputationColumns + ` FROM reputation ORDER BY updated DESC, id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return s.reputations(ctx, q)
}

func (s *sqlStore) reputations(ctx context.Context, q string, args ...any) ([]Reputation, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Reputation
	for rows.Next() {
		var r Reputation
		var first, updated int64
		if err := rows.Scan(&r.ID, &r.Good, &r.Bad, &r.Events, &first, &updated); err != nil {
			return nil, s.wrap(err)
		}
		r.First, r.Updated = fromMS(first), fromMS(updated)
		out = append(out, r)
	}
	return out, s.wrap(rows.Err())
}
