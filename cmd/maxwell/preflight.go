package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/safefile"
	"github.com/maxwell-milter/maxwell/milter"
	"github.com/maxwell-milter/maxwell/store"
)

// preflight checks, without changing anything, what `serve` needs at
// start from the files and places the configuration names: the files it
// reads (list files, templates), the files and directories it writes
// (mail log, archive, state directories, SQLite files), syslog, the
// sockets it listens on (listened on and closed) and the socket's group,
// the store's connection string. `config check` and
// `serve` (at start and on reload) run it, so that a file the check
// passes does not stop the daemon; only what running shows is left: a
// socket or port in use, a database that does not answer. It returns
// the problems, and warnings that do not stop maxwell.
func preflight(file string, cfg *config.Config, watching bool) (config.Errors, []string) {
	var errs config.Errors
	// A directory refused is named once for a key: not again on the way
	// to the datadir's save/ and spool/.
	refused := map[string]bool{}
	problem := func(key string, err error) {
		var fe *safefile.Error
		if errors.As(err, &fe) {
			abs, _ := filepath.Abs(fe.Path)
			if refused[key+"\x00"+abs] {
				return
			}
			refused[key+"\x00"+abs] = true
		}
		if err != nil {
			errs = append(errs, &config.Error{File: file, Key: key, Msg: err.Error()})
		}
	}
	// Reading the list files and templates is building the engine.
	if _, err := offlineEngine(cfg, io.Discard); err != nil {
		errs = append(errs, &config.Error{File: file, Msg: err.Error()})
	}
	problem("log.mail_log", maillog.Check(cfg.Log.MailLog))
	if cfg.Wiretap.Archive != "" {
		problem("wiretap.archive", safefile.CheckAppend(cfg.Wiretap.Archive))
	}
	problem("milter.socket", milter.CheckListen(cfg.Milter.Socket))
	if cfg.Metrics.Listen != "" {
		problem("metrics.listen", milter.CheckTCP("tcp", cfg.Metrics.Listen))
	}
	_, err := milter.SocketGroup(cfg.Milter.SocketGroup)
	problem("milter.socket_group", err)

	// A directory another user owns, kept state in or on the way to what
	// maxwell writes, is warned about once.
	var warnings []string
	warned := map[string]bool{}
	foreign := func(key, name string) {
		real, err := filepath.EvalSymlinks(name)
		if err == nil {
			real, err = filepath.Abs(real)
		}
		if err != nil || warned[real] {
			return
		}
		warned[real] = true
		if uid, foreign := safefile.ForeignOwner(real); foreign {
			warnings = append(warnings, fmt.Sprintf("%s: %s belongs to uid %d, who could plant there links to files maxwell, running as root, would then write: run maxwell as that user, or chown root %[2]s",
				key, name, uid))
		}
	}
	written := []place{{"wiretap.archive", cfg.Wiretap.Archive}}
	if maillog.IsFile(cfg.Log.MailLog) {
		written = append(written, place{"log.mail_log", cfg.Log.MailLog})
	}
	for _, d := range stateDirs(cfg, watching) {
		problem(d.key, safefile.CheckDir(d.path))
		foreign(d.key, d.path)
		written = append(written, d)
	}
	for _, w := range written {
		if w.path == "" {
			continue
		}
		way, _ := safefile.Way(w.path) // refused above
		for _, dir := range way {
			foreign(w.key, dir)
		}
	}
	switch cfg.Store.Driver {
	case config.DriverPostgres:
		problem("store.dsn", store.CheckDSN(cfg.Store.DSN))
	case config.DriverSQLite:
		// SQLite opens its files following links: none may be planted.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if f := cfg.StorePath() + suffix; exists(f) {
				problem("store.path", safefile.CheckAppend(f))
			}
		}
	}
	return errs, warnings
}

// place is a file or directory the configuration names, and the key
// that names it.
type place struct{ key, path string }

// stateDirs are the directories `serve` writes to: the data directory
// and its spool/ and save/, and where the SQLite file and the watcher's
// state go, if elsewhere.
func stateDirs(cfg *config.Config, watching bool) []place {
	data := cfg.Milter.DataDir
	dirs := []place{{"milter.datadir", data}, {"milter.datadir", filepath.Join(data, "spool")}, {"milter.datadir", filepath.Join(data, "save")}}
	if cfg.Store.Driver == config.DriverSQLite {
		dirs = append(dirs, place{"store.path", filepath.Dir(cfg.StorePath())})
	}
	if watching {
		dirs = append(dirs, place{"watch.state_file", filepath.Dir(cfg.WatchStatePath())})
	}
	seen := map[string]bool{}
	unique := dirs[:0]
	for _, d := range dirs {
		if !seen[filepath.Clean(d.path)] {
			seen[filepath.Clean(d.path)] = true
			unique = append(unique, d)
		}
	}
	return unique
}

// makeStateDirs makes the state directories `serve` needs (mode 0750),
// checking each as preflight does.
func makeStateDirs(cfg *config.Config, watching bool) error {
	for _, d := range stateDirs(cfg, watching) {
		if err := safefile.MakeDir(d.path); err != nil {
			return fmt.Errorf("%s: %w", d.key, err)
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// checkStart runs preflight for a command and reports to stderr: the
// problems, and the warnings. It returns false if there were problems.
func checkStart(file string, cfg *config.Config, watching bool, stderr io.Writer) bool {
	errs, warnings := preflight(file, cfg, watching)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", file, w)
	}
	if len(errs) > 0 {
		fmt.Fprintln(stderr, errs)
		return false
	}
	return true
}
