package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are the schema versions, in order: version N is
// migrations[N-1]. Both backends run the same statements, so they are
// written in the SQL that SQLite and PostgreSQL share. Never edit a
// released version; add the next one.
var migrations = [][]string{
	{ // 1: greylist triplets, auto-whitelist, CBV cache, blacklist
		`CREATE TABLE greylist (
			client TEXT NOT NULL, sender TEXT NOT NULL, rcpt TEXT NOT NULL,
			first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
			passed BIGINT NOT NULL DEFAULT 0, expires BIGINT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0, passes INTEGER NOT NULL DEFAULT 0,
			delay_ms BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (client, sender, rcpt))`,
		`CREATE INDEX greylist_expires ON greylist (expires)`,
		`CREATE TABLE autowhitelist (
			kind TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
			listed BIGINT NOT NULL DEFAULT 0, first_seen BIGINT NOT NULL,
			last_seen BIGINT NOT NULL, expires BIGINT NOT NULL,
			PRIMARY KEY (kind, name))`,
		`CREATE INDEX autowhitelist_expires ON autowhitelist (expires)`,
		`CREATE TABLE cbv_cache (
			sender TEXT NOT NULL PRIMARY KEY, code INTEGER NOT NULL, text TEXT NOT NULL,
			checked BIGINT NOT NULL, expires BIGINT NOT NULL)`,
		`CREATE INDEX cbv_cache_expires ON cbv_cache (expires)`,
		`CREATE TABLE blacklist (
			kind TEXT NOT NULL, name TEXT NOT NULL, reason TEXT NOT NULL,
			created BIGINT NOT NULL, expires BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (kind, name))`,
		`CREATE INDEX blacklist_expires ON blacklist (expires)`,
	},
	{ // 2: reputation of SPF-pass domains, HELO names and networks
		`CREATE TABLE reputation (
			id TEXT NOT NULL PRIMARY KEY, good DOUBLE PRECISION NOT NULL, bad DOUBLE PRECISION NOT NULL,
			events BIGINT NOT NULL, first_seen BIGINT NOT NULL, updated BIGINT NOT NULL, expires BIGINT NOT NULL)`,
		`CREATE INDEX reputation_expires ON reputation (expires)`,
		`CREATE INDEX reputation_updated ON reputation (updated)`,
	},
	{ // 3: the greylist searched by sender or recipient (the web console), a page at a time in key order
		`CREATE INDEX greylist_sender ON greylist (sender, client, rcpt)`,
		`CREATE INDEX greylist_rcpt ON greylist (rcpt, client, sender)`,
	},
}

// SchemaVersion is the schema version this maxwell writes.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion, in one transaction, so
// a failed migration leaves the database as it was. Several processes
// starting at once take turns. Unless create, a database without the
// schema_version table is ErrNoStore, and nothing is created in it.
func (s *sqlStore) migrate(ctx context.Context, create bool) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if s.d.lockSchema != "" {
			if _, err := tx.ExecContext(ctx, s.d.lockSchema); err != nil {
				return err
			}
		}
		if !create {
			var tables int
			if err := tx.QueryRowContext(ctx, s.d.hasSchema).Scan(&tables); err != nil {
				return err
			}
			if tables == 0 {
				return ErrNoStore
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version INTEGER NOT NULL PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
			return err
		}
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
			return err
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w: version %d, this maxwell knows %d", ErrNewerSchema, v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			for _, stmt := range migrations[v] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", v+1, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, $2)`,
				v+1, time.Now().UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) migrateAndPrepare(ctx context.Context, create bool) error {
	if err := s.migrate(ctx, create); err != nil {
		return err
	}
	return s.prepare(ctx)
}

// Version returns the schema version of the database.
func Version(ctx context.Context, st Store) (int, error) {
	if c, ok := st.(*cachedStore); ok {
		st = c.Store
	}
	s, ok := st.(*sqlStore)
	if !ok {
		return 0, fmt.Errorf("not a SQL store")
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, s.wrap(err)
}
