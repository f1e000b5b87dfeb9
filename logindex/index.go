// Package logindex keeps an index of a mail log (docs/logs.md) in a
// SQLite database of its own, so that the web console can find a
// client's, a sender's or a queue id's connections, and show one
// connection's whole trace, without reading the log: a 1 GB log scanned
// per request would take seconds, an indexed query takes a millisecond.
//
// It also counts the mail by minute and by hour (stats.go), for the
// console's overview: figures of the last hours read in a few
// milliseconds.
//
// The log stays the only copy of the lines: the index holds where each
// line is (offset and length) and the keys it names, and Trace reads the
// lines back from the log by their offsets.
package logindex

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Index is an open index database. Its methods may be called from many
// goroutines; Update runs one at a time (SQLite has one writer), Search
// and Trace beside it.
type Index struct {
	db  *sql.DB // the one writing connection
	rdb *sql.DB // read-only connections, which in WAL mode run beside the writer
}

// busyTimeout is how long a writer waits for another process's lock: an
// Update of another process holds it for one batch at a time, a second
// or so, and more than ten on a loaded machine under the race detector.
const busyTimeout = time.Minute

// schemaVersion is the index's layout, kept in the database's
// user_version: Open rebuilds an index of any other version from its
// log (an index is a cache of the log). 0 is a new database, or the
// first layout, which kept no aggregates and no version.
const schemaVersion = 1

// tables are the index's tables, as dropped to rebuild it.
var tables = []string{"state", "conns", "lines", "keys", "minutes", "tops"}

// schema: keys is the table searches read, its primary key (kind, value,
// t, conn) the index that answers "newest connections naming this value"
// with a range scan; t is the connection's first time, so a connection
// that names a value twice is one row. lines answers Trace in the same
// way by (conn, off). WITHOUT ROWID: the primary key is the table, no
// second B-tree to write. minutes and tops are the overview's aggregates
// (stats.go), read by ranges of their primary keys too. state's newest
// is the time of the newest line indexed.
const schema = `
CREATE TABLE state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	dev INTEGER NOT NULL, ino INTEGER NOT NULL, head BLOB NOT NULL, off INTEGER NOT NULL,
	newest INTEGER NOT NULL);
CREATE TABLE conns (
	conn INTEGER PRIMARY KEY, first INTEGER NOT NULL, ip TEXT NOT NULL,
	summary TEXT NOT NULL, nlines INTEGER NOT NULL);
CREATE TABLE lines (
	conn INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL,
	PRIMARY KEY (conn, off)) WITHOUT ROWID;
CREATE TABLE keys (
	kind INTEGER NOT NULL, value TEXT NOT NULL, t INTEGER NOT NULL, conn INTEGER NOT NULL,
	PRIMARY KEY (kind, value, t, conn)) WITHOUT ROWID;
CREATE TABLE minutes (
	t INTEGER NOT NULL, outcome TEXT NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (t, outcome)) WITHOUT ROWID;
CREATE TABLE tops (
	kind INTEGER NOT NULL, hour INTEGER NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (kind, hour, value)) WITHOUT ROWID;
`

// Open opens the index database at dbPath, creating it (and its
// directory) if need be. The file is in WAL mode, so that Search and
// Trace, in this process or another, go on while an Update writes.
func Open(dbPath string) (*Index, error) {
	if strings.ContainsAny(dbPath, "?#") {
		return nil, fmt.Errorf("logindex: the path %q may not contain '?' or '#'", dbPath)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return nil, fmt.Errorf("logindex: %w", err)
	}
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"synchronous(NORMAL)", // an index can be rebuilt: no fsync per batch
	}
	w := url.Values{"_pragma": append([]string{"journal_mode(WAL)", "cache_size(-65536)"}, pragmas...)}
	w.Set("_txlock", "immediate") // take the write lock at BEGIN: no deadlock on upgrade
	db, err := sql.Open("sqlite", "file:"+dbPath+"?"+w.Encode())
	if err != nil {
		return nil, fmt.Errorf("logindex %s: %w", dbPath, err)
	}
	db.SetMaxOpenConns(1) // writes are serialised in the process, not on SQLite's lock
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("logindex %s: %w", dbPath, err)
	}
	// Mail addresses are personal data: not for every local user to read.
	for _, f := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		if err := os.Chmod(f, 0o640); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("logindex: %w", err)
		}
	}
	r := url.Values{"_pragma": append(pragmas, "query_only(1)")}
	rdb, err := sql.Open("sqlite", "file:"+dbPath+"?"+r.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("logindex %s: %w", dbPath, err)
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	return &Index{db: db, rdb: rdb}, nil
}

// Close closes the database.
func (x *Index) Close() error {
	return errors.Join(x.rdb.Close(), x.db.Close())
}

// migrate makes the tables of a new index, or drops and makes again
// those of an index of another version: the next Update indexes the log
// anew. Two processes opening one index at once do it once: the
// transaction takes the write lock at its start.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v == schemaVersion {
		return nil
	}
	for _, t := range tables {
		if _, err := tx.Exec("DROP TABLE IF EXISTS " + t); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// reset empties the index, for a log that was rotated or truncated: its
// offsets point into a file that is no longer there. The aggregates stay:
// they count lines, not places in a file, and the overview's last hours
// go on across a rotation.
func reset(ctx context.Context, tx *sql.Tx) error {
	for _, t := range []string{"state", "conns", "lines", "keys"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return err
		}
	}
	return nil
}
