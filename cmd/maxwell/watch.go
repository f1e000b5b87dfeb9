package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/store"
	"github.com/maxwell-milter/maxwell/watch"
)

const watchUsage = `usage: maxwell watch [-c FILE] [--once] [MTA_LOG]
Tail the MTA's log (Postfix or Sendmail, or Exim 4's main log; MTA_LOG, else
[watch] mta_log) and blacklist, in the store, clients that maxwell (or, at an
Exim site, Exim's ACL) greylisted and that then hung up without QUIT or never
came back; they are answered at connect as
[watch] answer says until [watch] good_behaviour has passed without a new
offence. The place in the log is kept in [watch] state_file.
The store is maxwell serve's: watch does not create one, and exits 2 when
there is none where the configuration says (start it after maxwell serve,
or run serve --watch).
  --once   read what is new, then exit (for cron)
`

func watchCmd(args []string) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, watchUsage); fs.PrintDefaults() }
	conf := addConfigFlags(fs)
	once := fs.Bool("once", false, "read what is new in the log, then exit")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		return exitUsage
	}
	cfg, st, status := adminStore("watch", conf)
	if st == nil {
		return status
	}
	defer st.Close()
	logPath := cfg.Watch.MTALog
	if fs.NArg() == 1 {
		logPath = fs.Arg(0)
	}
	if logPath == "" {
		fmt.Fprintln(os.Stderr, "maxwell watch: no MTA log: give its path, or set [watch] mta_log")
		return exitUsage
	}
	diag := slog.New(slog.NewTextHandler(os.Stderr, nil))
	facility, _ := config.SyslogFacility(cfg.Log.SyslogFacility)
	ml, err := maillog.Open(cfg.Log.MailLog, facility, cfg.Log.FlushInterval.D())
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell watch:", err)
		return exitFailure
	}
	defer ml.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := ml.Reopen(); err != nil {
				diag.Error("cannot reopen the mail log", "error", err)
			}
		}
	}()
	counts, err := runWatcher(ctx, cfg, st, ml, diag, logPath, *once)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell watch:", err)
		return exitFailure
	}
	if *once {
		fmt.Printf("%s: %d lines read, %d clients blacklisted, %d greylisted clients waiting for their retry\n",
			logPath, counts.Lines, counts.Blacklisted, counts.Waiting)
	}
	return exitOK
}

// runWatcher runs the log watcher on path until ctx ends (or, with once,
// until it has read what is there), and says what it did.
func runWatcher(ctx context.Context, cfg *config.Config, st store.Store, ml *maillog.Logger, diag *slog.Logger, path string, once bool) (watch.Counts, error) {
	if !once {
		diag.Info("watching the MTA log", "log", path, "state", cfg.WatchStatePath(), "good_behaviour", cfg.Watch.GoodBehaviour.String())
	}
	w := watch.New(cfg, st, ml, diag)
	err := w.Run(ctx, path, once)
	c := w.Counts()
	if !once && err == nil {
		diag.Info("the MTA log watcher stopped", "log", path, "lines", c.Lines, "blacklisted", c.Blacklisted, "waiting", c.Waiting)
	}
	return c, err
}
