package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// OpenSQLite opens (creating it, and its directory, if need be) the
// SQLite database at path and brings its schema up to date. The file is
// in WAL mode, so readers (`maxwell greylist list`) do not block the
// daemon; a writer waits up to timeout for another process's lock.
// synchronous=NORMAL: a commit survives the process being killed; only
// a power loss may undo the last transactions.
func OpenSQLite(ctx context.Context, path string, timeout time.Duration) (Store, error) {
	return openSQLite(ctx, path, timeout, true)
}

// OpenExistingSQLite is OpenSQLite for a store that must be there
// already: it creates no file, directory or table, and a missing file, or
// one without maxwell's tables, is ErrNoStore. The admin commands open
// the store so: a wrong path is an error, not a new, empty store. (A
// store from an older maxwell is brought up to date, as OpenSQLite does.)
func OpenExistingSQLite(ctx context.Context, path string, timeout time.Duration) (Store, error) {
	return openSQLite(ctx, path, timeout, false)
}

// sqliteReaders bounds the SQLite connections that only read: a few
// more than the cores that run them.
const sqliteReaders = 4

func openSQLite(ctx context.Context, path string, timeout time.Duration, create bool) (Store, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite store: the path %q may not contain '?' or '#'", path)
	}
	q := url.Values{}
	abs, _ := filepath.Abs(path) // where an admin looks, whatever the current directory
	if create {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("sqlite store: %w", err)
		}
	} else {
		if err := isSQLite(path); err != nil {
			return nil, fmt.Errorf("sqlite store %s: %w", abs, err)
		}
		q.Set("mode", "rw") // SQLite itself creates no file either, should one vanish meanwhile
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", timeout.Milliseconds()))
	if create {
		// A store is made in WAL mode and stays so; a database of
		// something else is not to be turned to it.
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "synchronous(NORMAL)")
	reads := url.Values{"_pragma": append(slices.Clone(q["_pragma"]), "query_only(1)")}
	if !create {
		reads.Set("mode", "rw")
	}
	q.Set("_txlock", "immediate") // writers take the lock at BEGIN: no deadlock on upgrade
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB))
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walSafetyPages)) // see checkpointer
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	// One connection for writing: writes are serialised in the process
	// instead of spinning on SQLite's lock.
	db.SetMaxOpenConns(1)
	s := newSQLStore(db, dialect{
		name:      "sqlite",
		hasSchema: `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`,
		batches:   1, // one connection
		batchTx:   true,
	}, timeout)
	// Reads have connections of their own: in WAL mode they run beside
	// the writer, on another core, instead of waiting for its turn.
	if s.rdb, err = sql.Open("sqlite", "file:"+path+"?"+reads.Encode()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	s.rdb.SetMaxOpenConns(sqliteReaders)
	s.rdb.SetMaxIdleConns(sqliteReaders)
	ckpt := url.Values{"mode": {"rw"}, "_pragma": {fmt.Sprintf("busy_timeout(%d)", timeout.Milliseconds())}}
	ckdb, err := sql.Open("sqlite", "file:"+path+"?"+ckpt.Encode())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	s.ckpt = startCheckpointer(ckdb)
	if err := s.migrateAndPrepare(ctx, create); err != nil {
		s.Close()
		if errors.Is(err, ErrNoStore) {
			return nil, fmt.Errorf("sqlite store %s: %w (no maxwell tables in the file)", abs, ErrNoStore)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Addresses are personal data: not for every local user to read.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o640); err != nil && !os.IsNotExist(err) {
			s.Close()
			return nil, fmt.Errorf("sqlite store: %w", err)
		}
	}
	return s, nil
}

// sqliteHeader is how every SQLite 3 database file begins.
const sqliteHeader = "SQLite format 3\x00"

// isSQLite tells whether the file at path is a SQLite database, by its
// header, without changing it: ErrNoStore, saying what the file is,
// when it is missing, empty or anything else. SQLite would write its
// header into an empty file.
func isSQLite(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (no such file)", ErrNoStore)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return fmt.Errorf("%w (the file is empty, not a SQLite database)", ErrNoStore)
	case err != nil && err != io.ErrUnexpectedEOF:
		return err
	case string(head[:n]) != sqliteHeader:
		return fmt.Errorf("%w (not a SQLite database: the file begins %s)", ErrNoStore, oneline.Quote(string(head[:n])))
	}
	return nil
}

// OpenPostgres connects to PostgreSQL (dsn as libpq takes it: a URL or
// key=value pairs) and brings its schema up to date, creating its tables
// in a new database.
func OpenPostgres(ctx context.Context, dsn string, timeout time.Duration) (Store, error) {
	return openPostgres(ctx, dsn, timeout, true)
}

// OpenExistingPostgres is OpenPostgres for a store that must be there
// already: a database without maxwell's tables is ErrNoStore, and none
// are created in it (the admin commands, as OpenExistingSQLite).
func OpenExistingPostgres(ctx context.Context, dsn string, timeout time.Duration) (Store, error) {
	return openPostgres(ctx, dsn, timeout, false)
}

func openPostgres(ctx context.Context, dsn string, timeout time.Duration, create bool) (Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: the connection string %w", CheckDSN(dsn)) // CheckDSN hides a password
	}
	// Every statement maxwell prepares is best run by its generic plan;
	// PostgreSQL would otherwise plan the batch statements (see
	// updateBatch) anew at every run, as their arrays change length,
	// which costs more than running them.
	cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := newSQLStore(db, dialect{
		name:       "postgres",
		lockSchema: `SELECT pg_advisory_xact_lock(7291846)`, // any constant both sides agree on
		hasSchema:  `SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 ELSE 1 END`,
		batches:    2,
		arrays:     true,
	}, timeout)
	if err := s.migrateAndPrepare(ctx, create); err != nil {
		db.Close()
		if errors.Is(err, ErrNoStore) {
			return nil, fmt.Errorf("postgres store: %w (no maxwell tables in the database)", ErrNoStore)
		}
		return nil, err
	}
	return s, nil
}
