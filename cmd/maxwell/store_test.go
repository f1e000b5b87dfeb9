package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/store"
)

// The commands that open the store (greylist, blacklist, watch) never
// create one: without -c they look where the embedded defaults put it
// (data/maxwell.db under the current directory), and when nothing is
// there they say which store they looked for and how to name the right
// one, exit 2, and leave no file or directory behind. With the store
// that maxwell serve created, they work.
func TestAdminCommandsCreateNoStore(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	mtaLog := filepath.Join(dir, "mta.log")
	os.WriteFile(mtaLog, nil, 0o644)
	commands := [][]string{
		{"greylist", "list"},
		{"greylist", "stats"},
		{"greylist", "allow", "--client", "example.net"},
		{"greylist", "expire"},
		{"blacklist", "list"},
		{"blacklist", "add", "--ip", "192.0.2.1"},
		{"watch", "--once", mtaLog},
	}
	for _, args := range commands {
		code, out, errs := capture(t, func() int { return run(args) })
		if want := filepath.Join(dir, "data", "maxwell.db"); code != exitUsage || !strings.Contains(errs, want) || !strings.Contains(errs, "-c /etc/maxwell/maxwell.toml") {
			t.Errorf("%v without -c: exit %d, stderr %q; want %d naming %s and -c", args, code, errs, exitUsage, want)
		}
		if out != "" {
			t.Errorf("%v: stdout %q", args, out)
		}
		if _, err := os.Stat("data"); !os.IsNotExist(err) {
			t.Fatalf("%v created ./data (%v)", args, err)
		}
	}

	// An empty file where the store goes (touched by hand, or left by a
	// failed copy) is no store: the commands say so and leave it empty,
	// as SQLite would not (it writes its header into an empty file).
	os.Mkdir("data", 0o750)
	os.WriteFile(filepath.Join("data", "maxwell.db"), nil, 0o640)
	for _, args := range commands {
		code, _, errs := capture(t, func() int { return run(args) })
		if want := "no maxwell store (the file is empty, not a SQLite database)"; code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("%v on an empty data/maxwell.db: exit %d, stderr %q; want %d and %q", args, code, errs, exitUsage, want)
		}
		if fi, err := os.Stat(filepath.Join("data", "maxwell.db")); err != nil || fi.Size() != 0 {
			t.Fatalf("%v wrote into the empty data/maxwell.db (%v)", args, err)
		}
	}
	os.RemoveAll("data")

	// A configuration naming a store that is not there yet.
	datadir := filepath.Join(dir, "state")
	cfg, _ := writeConfig(t, dir, fmt.Sprintf("[milter]\ndatadir = %q\n[dns]\nservers = [\"DNS\"]\n", datadir))
	for _, args := range commands {
		args := append([]string{args[0], args[1], "-c", cfg}, args[2:]...)
		code, _, errs := capture(t, func() int { return run(args) })
		if want := filepath.Join(datadir, "maxwell.db"); code != exitUsage || !strings.Contains(errs, want) || !strings.Contains(errs, cfg) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s and %s", args, code, errs, exitUsage, want, cfg)
		}
		if _, err := os.Stat(datadir); !os.IsNotExist(err) {
			t.Fatalf("%v created %s (%v)", args, datadir, err)
		}
	}

	// A PostgreSQL database without maxwell's tables is no store either,
	// and the commands create none in it.
	pg := pgtest.Start(t)
	dsn := pg.NewDB(t)
	pgConfig, _ := writeConfig(t, t.TempDir(), fmt.Sprintf("[store]\ndriver = \"postgres\"\ndsn = %q\n[dns]\nservers = [\"DNS\"]\n", dsn))
	for _, args := range commands {
		args := append([]string{args[0], args[1], "-c", pgConfig}, args[2:]...)
		code, _, errs := capture(t, func() int { return run(args) })
		if code != exitUsage || !strings.Contains(errs, "postgres store: no maxwell store (no maxwell tables in the database)") || !strings.Contains(errs, pgConfig) {
			t.Errorf("%v: exit %d, stderr %q; want %d, no maxwell tables", args, code, errs, exitUsage)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("the admin commands created %d tables (%v)", tables, err)
	}

	// Once the daemon has created it, they use it.
	st, err := store.OpenSQLite(context.Background(), filepath.Join(datadir, "maxwell.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range commands {
		args := append([]string{args[0], args[1], "-c", cfg}, args[2:]...)
		if code, out, errs := capture(t, func() int { return run(args) }); code != exitOK {
			t.Errorf("%v on the daemon's store: exit %d\n%s%s", args, code, out, errs)
		}
	}
}
