package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"

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
	// A directory refused is named once: not again on the way to the
	// datadir's save/ and spool/, or to the SQLite file in it.
	var refused places
	problem := func(key string, err error) {
		var fe *safefile.Error
		if errors.As(err, &fe) && !refused.first(fe.Path) {
			return
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
	if l := cfg.DNSBLServer.Listen; l != "" {
		err := milter.CheckTCP("tcp", l)
		if err == nil {
			err = milter.CheckUDP(l)
		}
		problem("dnsbl_server.listen", err)
	}
	if l := cfg.Web.Listen; l != "" {
		if p := cfg.Web.UnixPath(); p != "" {
			sock, _ := config.ParseSocket(l)
			problem("web.listen", milter.CheckListen(sock))
		} else {
			problem("web.listen", milter.CheckTCP("tcp", l))
		}
		found := true
		for _, f := range []struct{ key, path string }{{"web.cert_file", cfg.Web.CertFile}, {"web.key_file", cfg.Web.KeyFile}} {
			if f.path != "" {
				if _, err := os.Stat(f.path); err != nil {
					problem(f.key, err)
					found = false
				}
			}
		}
		// Loaded as serve loads them at start: a key of another
		// certificate, or a file of no PEM, would stop it there.
		if cfg.Web.TLS() && found {
			if _, err := tls.LoadX509KeyPair(cfg.Web.CertFile, cfg.Web.KeyFile); err != nil {
				problem("web.cert_file", fmt.Errorf("%s with key_file %s: %w", cfg.Web.CertFile, cfg.Web.KeyFile, err))
			}
		}
	}
	srsMap, srsMapErr := config.ParseSocket(cfg.SRS.Socketmap)
	if cfg.SRS.Socketmap != "" && srsMapErr == nil { // a bad one is a configuration error already
		problem("srs.socketmap", milter.CheckListen(srsMap))
	}
	_, err := milter.SocketGroup(cfg.Milter.SocketGroup)
	problem("milter.socket_group", err)

	// A file or directory another user owns — a state directory, one on
	// the way to what maxwell writes, a file it appends to — is warned
	// about once.
	var warnings []string
	var warned places
	foreign := func(key, name, why string) {
		if !warned.first(name) {
			return
		}
		if uid, foreign := safefile.ForeignOwner(name); foreign {
			warnings = append(warnings, fmt.Sprintf("%s: %s belongs to uid %d, %s: run maxwell as that user, or chown root %[2]s",
				key, name, uid, why))
		}
	}
	const (
		plants = "who could plant there links to files maxwell, running as root, would then write"
		reads  = "who can read and change what maxwell, running as root, writes there"
	)
	var written []place
	for _, w := range []place{{"log.mail_log", cfg.Log.MailLog}, {"wiretap.archive", cfg.Wiretap.Archive}} {
		if w.path != "" && (w.key != "log.mail_log" || maillog.IsFile(w.path)) {
			foreign(w.key, w.path, reads)
			written = append(written, w)
		}
	}
	if cfg.Milter.Socket.Network == "unix" {
		written = append(written, place{"milter.socket", cfg.Milter.Socket.Address})
	}
	if srsMapErr == nil && srsMap.Network == "unix" {
		written = append(written, place{"srs.socketmap", srsMap.Address})
	}
	for _, d := range stateDirs(cfg, watching) {
		problem(d.key, safefile.CheckDir(d.path))
		foreign(d.key, d.path, plants)
		written = append(written, d)
	}
	for _, w := range written {
		way, _ := safefile.Way(w.path) // refused above
		for _, dir := range way {
			foreign(w.key, dir, plants)
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
	if cfg.SRS.Socketmap != "" && srsMapErr == nil && srsMap.Network != "unix" && !srsMap.Loopback() {
		warnings = append(warnings, "srs.socketmap: "+srsMap.String()+" is reachable from other hosts, who could have senders rewritten and signed with your secret: keep it on loopback, or firewall it")
	}
	for _, secret := range cfg.SRS.Secret {
		if len(secret) < 16 {
			warnings = append(warnings, fmt.Sprintf("srs.secret: %d characters: one easy to guess lets anyone make your SRS and SES addresses; use 20 or more random ones (openssl rand -base64 24)", len(secret)))
			break
		}
	}
	for _, f := range []string{file, cfg.SRS.Config} {
		if fi, err := os.Stat(f); err == nil && f != "" && cfg.SRS.Enabled() && fi.Mode().Perm()&0o004 != 0 {
			warnings = append(warnings, fmt.Sprintf("%s may hold srs.secret, and every user may read it: chmod o-r %[1]s (the package makes maxwell.toml root:maxwell, mode 0640)", f))
		}
	}
	if cfg.SRS.Enabled() && cfg.SRS.MaxAge > 30 {
		warnings = append(warnings, fmt.Sprintf("srs.maxage: SRS and SES addresses stay valid %d days (bms.py's default is 8, pysrs's 21): a forged bounce has as long to use one", cfg.SRS.MaxAge))
	}
	if ap, err := netip.ParseAddrPort(cfg.DNSBLServer.Listen); err == nil && !ap.Addr().IsLoopback() {
		warnings = append(warnings, "dnsbl_server.listen: "+ap.String()+" answers anyone who reaches it: firewall it to your group's resolvers (an open DNS server can amplify floods)")
	}
	warnings = append(warnings, cfg.Reputation.Warnings()...)
	warnings = append(warnings, cfg.Web.Warnings()...)
	if cfg.DMARC.Enabled && !cfg.DKIM.Verify && (cfg.DMARC.OnReject != config.DMARCReport || cfg.DMARC.OnQuarantine != config.DMARCReport) {
		warnings = append(warnings, "dkim.verify is off and DMARC is enforced: mail that only DKIM authenticates (forwarded, sent through a mailing list or a mail service) fails DMARC and is refused or held; turn dkim.verify on, or set dmarc on_reject and on_quarantine to \"report\"")
	}
	if r := cfg.Reputation; r.Enabled && r.Listen != "" && len(r.Peers) > 0 {
		problem("reputation.listen", milter.CheckTCP("tcp", r.Listen))
	}
	return errs, warnings
}

// place is a file or directory the configuration names, and the key
// that names it.
type place struct{ key, path string }

// places remembers the files and directories seen: one that exists by
// what it is (a link and its target, a relative and an absolute name are
// one), one that does not by its name.
type places struct {
	found []os.FileInfo
	names []string
}

// first reports whether path is seen for the first time, and remembers it.
func (p *places) first(path string) bool {
	if fi, err := os.Stat(path); err == nil {
		if slices.ContainsFunc(p.found, func(f os.FileInfo) bool { return os.SameFile(f, fi) }) {
			return false
		}
		p.found = append(p.found, fi)
		return true
	}
	name := safefile.Join(path, ".")
	if slices.Contains(p.names, name) {
		return false
	}
	p.names = append(p.names, name)
	return true
}

// stateDirs are the directories `serve` writes to: the data directory
// and its spool/ and save/, and where the SQLite file and the watcher's
// state go, if elsewhere.
func stateDirs(cfg *config.Config, watching bool) []place {
	dirs := []place{{"milter.datadir", cfg.Milter.DataDir}, {"milter.datadir", cfg.SpoolDir()}, {"milter.tempdir", cfg.SaveDir()}}
	if cfg.Store.Driver == config.DriverSQLite {
		dirs = append(dirs, place{"store.path", safefile.Parent(cfg.StorePath())})
	}
	if watching {
		dirs = append(dirs, place{"watch.state_file", safefile.Parent(cfg.WatchStatePath())})
	}
	var seen places
	unique := dirs[:0]
	for _, d := range dirs {
		if seen.first(d.path) {
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
