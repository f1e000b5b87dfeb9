package store

import (
	"database/sql"
	"sync"
	"time"
)

// SQLite appends each commit to the write-ahead log; a checkpoint copies
// the log's pages into the database file. Left to SQLite, the writing
// connection checkpoints at the commit that takes the log past 1 000
// pages, and the commits queued behind it wait: under load, a tenth of
// the single writer's time. A checkpointer does it on a connection of its
// own, on another core, while the writer goes on committing. The writer
// still checkpoints by itself should the log pass walSafetyPages (the
// checkpointer stopped, or behind), so the log stays bounded.
const (
	// checkpointEvery is the least time between two checkpoints: the
	// log holds at most that much of the commits.
	checkpointEvery = 100 * time.Millisecond
	// walSafetyPages is where the writing connection checkpoints by
	// itself (PRAGMA wal_autocheckpoint): 16 MiB of 4 KiB pages.
	walSafetyPages = 4096
	// writerCacheKiB is the writing connection's page cache (PRAGMA
	// cache_size, negative: KiB): a greylist decision reads and writes
	// rows spread over the whole table, and each page not in the cache
	// is a read from the file. 16 MiB at most.
	writerCacheKiB = 16 << 10
)

// A checkpointer checkpoints the write-ahead log of a SQLite database
// after commits, at most every checkpointEvery; an idle store costs it
// nothing.
type checkpointer struct {
	db     *sql.DB       // its own connection
	wake   chan struct{} // a commit was made
	stop   chan struct{} // closed by close
	done   chan struct{} // closed when the loop has ended
	closed sync.Once
	err    error // of closing db
}

func startCheckpointer(db *sql.DB) *checkpointer {
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// committed tells the checkpointer that the log has grown; it does not
// wait.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		// PASSIVE: copy what no reader still needs, wait for no one. A
		// failure (the file gone read-only, say) leaves the pages in the
		// log, and the writer checkpoints by itself past walSafetyPages,
		// where the same failure is the commit's error.
		c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		pause.Reset(checkpointEvery)
		select {
		case <-pause.C:
		case <-c.stop:
			return
		}
	}
}

// close stops the checkpointer and closes its connection. SQLite
// checkpoints the whole log when the store's last connection closes.
func (c *checkpointer) close() error {
	c.closed.Do(func() {
		close(c.stop)
		<-c.done
		c.err = c.db.Close()
	})
	return c.err
}
