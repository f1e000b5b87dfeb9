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
// create one. Without -c they read defaultConfigFile; when there is
// none, they say so and exit 2 (no embedded defaults for them, unless
// -defaults asks: then they look where those put the store,
// data/maxwell.db under the current directory). When nothing is where
// they look, they say which store they looked for and how to name the
// right one, exit 2, and leave no file or directory behind. With the
// store that maxwell serve created, they work.
func TestAdminCommandsCreateNoStore(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	useDefaultConfig(t, filepath.Join(dir, "etc", "maxwell.toml"))
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
	withFlag := func(args []string, flags ...string) []string {
		n := 2 // after the subcommand: greylist list, blacklist add
		if args[0] == "watch" {
			n = 1
		}
		return append(append(append([]string{}, args[:n]...), flags...), args[n:]...)
	}
	for _, args := range commands {
		code, out, errs := capture(t, func() int { return run(args) })
		if code != exitUsage || !strings.Contains(errs, "no configuration: "+defaultConfigFile+" does not exist") || !strings.Contains(errs, "-c FILE") {
			t.Errorf("%v without -c nor %s: exit %d, stderr %q; want %d naming it and -c", args, defaultConfigFile, code, errs, exitUsage)
		}
		if out != "" {
			t.Errorf("%v: stdout %q", args, out)
		}
		args = withFlag(args, "-defaults")
		code, out, errs = capture(t, func() int { return run(args) })
		if want := filepath.Join(dir, "data", "maxwell.db"); code != exitUsage || !strings.Contains(errs, want) || !strings.Contains(errs, "-c FILE") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s and -c", args, code, errs, exitUsage, want)
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
		args = withFlag(args, "-defaults")
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

	// Without -c, defaultConfigFile once it is there; each says which
	// configuration and store it used.
	text, _ := os.ReadFile(cfg)
	os.Mkdir(filepath.Dir(defaultConfigFile), 0o755)
	if err := os.WriteFile(defaultConfigFile, text, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range commands {
		code, out, errs := capture(t, func() int { return run(args) })
		if want := "configuration " + defaultConfigFile + ", store " + filepath.Join(datadir, "maxwell.db"); code != exitOK || !strings.Contains(errs, want) {
			t.Errorf("%v with %s there: exit %d, stderr %q; want 0 and %q\n%s", args, defaultConfigFile, code, errs, want, out)
		}
	}
}

// useDefaultConfig makes path the configuration read without -c, for
// the test.
func useDefaultConfig(t *testing.T, path string) {
	old := defaultConfigFile
	defaultConfigFile = path
	t.Cleanup(func() { defaultConfigFile = old })
}
