package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// OpenSQLite opens (creating it, and its directory, if need be) the
// SQLite database at path and brings its schema up to date. The file is
// in WAL mode, so readers (`maxwell greylist list`) do not block the
// daemon; a writer waits up to timeout for another process's lock.
// synchronous=NORMAL: a commit survives the process being killed; only
// a power loss may undo the last transactions.
func OpenSQLite(ctx context.Context, path string, timeout time.Duration) (Store, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite store: the path %q may not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", timeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate") // writers take the lock at BEGIN: no deadlock on upgrade
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	// One connection: writes are serialised in the process instead of
	// spinning on SQLite's lock.
	db.SetMaxOpenConns(1)
	s := &sqlStore{db: db, d: dialect{name: "sqlite"}, timeout: timeout}
	if err := s.migrateAndPrepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Addresses are personal data: not for every local user to read.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o640); err != nil && !os.IsNotExist(err) {
			db.Close()
			return nil, fmt.Errorf("sqlite store: %w", err)
		}
	}
	return s, nil
}

// OpenPostgres connects to PostgreSQL (dsn as libpq takes it: a URL or
// key=value pairs) and brings its schema up to date.
func OpenPostgres(ctx context.Context, dsn string, timeout time.Duration) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{db: db, d: dialect{
		name:       "postgres",
		lockRow:    " FOR UPDATE",
		lockSchema: `SELECT pg_advisory_xact_lock(7291846)`, // any constant both sides agree on
	}, timeout: timeout}
	if err := s.migrateAndPrepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
