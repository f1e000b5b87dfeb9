package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/store"
)

// The write-ahead log is copied into the database file while the store is
// open and the writer goes on (the checkpointer), long before the log
// reaches the size at which the writer would checkpoint by itself; and
// every commit is in the file once the store is closed.
func TestCheckpointsWhileOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "maxwell.db")
	st, err := store.OpenSQLite(ctx, path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	size := func(name string) int64 {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size(path)
	now := testclock.Epoch()
	var entries []store.Entry
	for i := range 500 {
		entries = append(entries, store.Entry{Triplet: store.Triplet{Client: "192.0.2.0/24", Sender: fmt.Sprintf("s%d@example.com", i), Rcpt: "r@example.org"},
			First: now, Last: now, Expires: now.Add(time.Hour), Attempts: 1})
	}
	for i := 0; i < len(entries); i += 50 {
		if err := st.PutTriplets(ctx, entries[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	wal := size(path + "-wal")
	if !testclock.Poll(5*time.Second, 20*time.Millisecond, func() bool { return size(path) > before }) {
		t.Fatalf("the database file stayed at %d bytes with %d bytes of log: no checkpoint while open", before, wal)
	}
	t.Logf("database file %d → %d bytes, log %d bytes", before, size(path), wal)

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.OpenExistingSQLite(ctx, path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Triplets(ctx, store.Filter{}); err != nil || len(got) != len(entries) {
		t.Errorf("after reopening, %d triplets (%v), want %d", len(got), err, len(entries))
	}
}
