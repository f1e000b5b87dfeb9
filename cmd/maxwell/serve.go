package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maxwell-milter/maxwell/dnsbl"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/ratelog"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/metrics"
	"github.com/maxwell-milter/maxwell/milter"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/srs"
	"github.com/maxwell-milter/maxwell/store"
)

// daemon is the state `maxwell serve` keeps across reloads.
type daemon struct {
	path    string
	cfg     *config.Config
	started *config.Config // the configuration at start: what restart-only settings still are
	// running is cfg for the web console, which reads it while a
	// reload replaces it.
	running atomic.Pointer[config.Config]
	res     *resolver.Resolver
	ml      *maillog.Logger
	diag    *slog.Logger
	level   *slog.LevelVar
	srv     *milter.Server
	store   store.Store
	// engineStore is store as the engine and the watcher use it: timed
	// for the metrics when they are on, behind the cache of bans and
	// whitelist entries.
	engineStore store.Store
	metrics     *metrics.Metrics // nil when [metrics] listen is empty
	watching    bool             // the MTA log watcher runs
	srsMap      *srs.MapServer   // nil when [srs] socketmap is empty
	dnsblServer *dnsbl.Server    // nil when [dnsbl_server] listen is empty
	// dnsCounts tallies the lookups of res, and of the resolvers that
	// replace it at a reload, for the web console's overview.
	dnsCounts *resolver.Counts
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	conf := addConfigFlags(fs)
	watchLog := fs.String("watch", "", "tail this MTA `log` for impolite clients (default: [watch] mta_log)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	cfg, path, err := conf.load(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	watching := *watchLog != "" || cfg.Watch.MTALog != ""
	if !checkStart(configName(path), cfg, watching, os.Stderr) {
		return exitUsage
	}
	d := &daemon{path: path, cfg: cfg, started: cfg, level: new(slog.LevelVar), watching: watching}
	d.running.Store(cfg)
	_ = d.level.UnmarshalText([]byte(cfg.Log.Level))
	d.diag = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: d.level}))
	slog.SetDefault(d.diag)

	facility, _ := config.SyslogFacility(cfg.Log.SyslogFacility)
	if d.ml, err = maillog.Open(cfg.Log.MailLog, facility, cfg.Log.FlushInterval.D()); err != nil {
		d.diag.Error("cannot open the mail log", "error", err)
		return exitFailure
	}
	// The first deferred, so run last: after shutdown has waited for the
	// sessions, it writes their last lines, whichever way serve returns.
	defer d.ml.Close()
	d.res = resolver.FromConfig(cfg.DNS)
	d.dnsCounts = resolver.NewCounts(time.Now)
	d.res.Count(d.dnsCounts)
	eng, err := policy.New(cfg, d.res, d.ml, d.diag)
	if err != nil {
		d.diag.Error("bad configuration", "error", err)
		return exitUsage
	}
	if err := makeStateDirs(cfg, watching); err != nil {
		d.diag.Error("cannot make the state directories", "error", err)
		return exitFailure
	}
	ctx, stop := context.WithCancel(context.Background())
	if d.store, err = openStore(ctx, cfg, true); err != nil {
		stop()
		d.diag.Error("cannot open the store", "error", err)
		return exitFailure
	}
	d.engineStore = d.store
	defer func() {
		stop() // the expiry loop ends before the store closes
		// Through the cache: it writes the greylist renewals it holds.
		if err := d.engineStore.Close(); err != nil {
			d.diag.Error("closing the store", "error", err)
		}
	}()
	// Listen before starting anything that makes files: a unix socket is
	// bound under a umask of its own (milter.Listen).
	ln, err := milter.Listen(cfg.Milter.Socket, cfg.Milter.SocketGroup)
	if err != nil {
		d.diag.Error("cannot listen", "socket", cfg.Milter.Socket.String(), "error", err)
		return exitFailure
	}
	defer ln.Close() // if serve stops before serving; Shutdown closes it too
	if !cfg.Milter.Socket.Loopback() {
		d.diag.Warn("the milter socket is reachable from other hosts; restrict it with a firewall", "socket", cfg.Milter.Socket.String())
	}
	if cfg.SRS.Socketmap != "" {
		if err := d.serveSocketmap(cfg, eng.SRS()); err != nil {
			d.diag.Error("cannot serve the SRS socket map", "socketmap", cfg.SRS.Socketmap, "error", err)
			return exitFailure
		}
		defer d.srsMap.Close()
	}
	if r := cfg.Reputation; r.Enabled && r.Listen != "" && len(r.Peers) > 0 {
		if err := d.servePeers(ctx, r); err != nil {
			d.diag.Error("cannot serve the reputation peers", "listen", r.Listen, "error", err)
			return exitFailure
		}
	}
	if cfg.Metrics.Listen != "" {
		if err := d.serveMetrics(ctx, cfg.Metrics.Listen); err != nil {
			d.diag.Error("cannot serve the metrics", "listen", cfg.Metrics.Listen, "error", err)
			return exitFailure
		}
	}
	if cfg.DNSBLServer.Listen != "" {
		if err := d.serveDNSBL(cfg); err != nil {
			d.diag.Error("cannot serve the DNS blocklist", "listen", cfg.DNSBLServer.Listen, "error", err)
			return exitFailure
		}
		defer d.dnsblServer.Close()
	}
	go probeDNSBL(ctx, eng.DNSBL(), d.diag)
	// The bans and whitelist entries asked at every message are
	// remembered for [store] cache_ttl; the watcher bans through the same
	// cache, so its bans count at once.
	d.engineStore = store.Cached(d.engineStore, cfg.Store.CacheTTL.D(), store.DefaultCacheKeys)
	eng.UseStore(d.engineStore)
	eng.EnableCallbacks()
	if cfg.Web.Listen != "" { // before the goroutines that make files: a unix socket is bound under a umask of its own
		if err := d.serveWeb(ctx, cfg); err != nil {
			d.diag.Error("cannot serve the web console", "listen", cfg.Web.Listen, "error", err)
			return exitFailure
		}
	}
	go expireLoop(ctx, d.store, cfg.Store, d.diag)
	if *watchLog == "" {
		*watchLog = cfg.Watch.MTALog
	}
	if *watchLog != "" {
		go func() {
			if _, err := runWatcher(ctx, cfg, d.engineStore, d.ml, d.diag, *watchLog, false); err != nil {
				d.diag.Error("the MTA log watcher stopped", "error", err)
			}
		}()
	}
	policy.NumberSessionsFrom(time.Now())
	d.srv = milter.NewServer(eng, d.diag, cfg.Milter.Timeout.D())
	maxSessions := sessionLimit(cfg.Milter.MaxSessions, d.diag)
	d.srv.LimitSessions(maxSessions)
	if d.metrics != nil {
		d.srv.ObserveRefused(d.metrics.SessionRefused)
	}

	served := make(chan error, 1)
	go func() { served <- d.srv.Serve(ln) }()
	d.diag.Info("maxwell started", "version", version, "socket", cfg.Milter.Socket.String(),
		"listening", ln.Addr().String(), "config", configName(path), "dns", d.res.Servers(), "store", storeName(cfg),
		"max_sessions", maxSessions)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case err := <-served:
			d.diag.Error("milter server stopped", "error", err)
			return exitFailure
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.reload()
				continue
			}
			return d.shutdown(sig, served)
		}
	}
}

// sessionLimit is the [milter] max_sessions in force: the configured
// value, or for 0 the default sized to the open-file limit. A configured
// value past what that limit carries is a warning: accept would then run
// out of file descriptors (waited out, but connections wait meanwhile).
func sessionLimit(configured int, diag *slog.Logger) int {
	if configured == 0 {
		return milter.DefaultMaxSessions()
	}
	if budget := milter.FileBudget(); configured > budget {
		diag.Warn("max_sessions is more than the open-file limit allows; raise the limit (LimitNOFILE= in the systemd unit, ulimit -n)",
			"max_sessions", configured, "sessions_allowed", budget)
	}
	return configured
}

// serveSocketmap starts the SRS socket map ([srs] socketmap): Postfix's
// canonical maps and Sendmail's rules ask it to rewrite senders and
// reverse recipients. Each answer is a line of the mail log.
func (d *daemon) serveSocketmap(cfg *config.Config, site *srs.Site) error {
	sock, err := config.ParseSocket(cfg.SRS.Socketmap)
	if err != nil {
		return err
	}
	ln, err := milter.Listen(sock, cfg.Milter.SocketGroup)
	if err != nil {
		return err
	}
	if !sock.Loopback() {
		d.diag.Warn("the SRS socket map is reachable from other hosts; restrict it with a firewall", "socketmap", sock.String())
	}
	d.srsMap = srs.NewMapServer(site, func(mapName, key, answer string, why error) {
		kv := []any{"map", mapName, "key", key, "answer", answer}
		if why != nil {
			kv = append(kv, "reason", why.Error())
		}
		d.ml.Log(0, "srsmap", kv...)
	}, d.diag)
	go func() {
		if err := d.srsMap.Serve(ln); err != nil {
			d.diag.Error("the SRS socket map stopped", "error", err)
		}
	}()
	d.diag.Info("serving the SRS socket map", "socketmap", sock.String(), "listening", ln.Addr().String())
	return nil
}

// serveDNSBL starts the RFC 5782 server of maxwell's blacklist
// ([dnsbl_server]), which reads the bans from the store every refresh.
func (d *daemon) serveDNSBL(cfg *config.Config) error {
	c := cfg.DNSBLServer
	d.dnsblServer = &dnsbl.Server{Zone: c.Zone, TTL: c.TTL.D(), Refresh: c.Refresh.D(), Store: d.store, Now: time.Now, Diag: d.diag}
	if d.metrics != nil {
		d.dnsblServer.Count = d.metrics.DNSBLServed
	}
	if err := d.dnsblServer.Start(c.Listen); err != nil {
		return err
	}
	if ap, _ := netip.ParseAddrPort(c.Listen); !ap.Addr().IsLoopback() {
		d.diag.Warn("the DNS blocklist is served to other hosts: let only your group's resolvers ask it", "listen", c.Listen)
	}
	d.diag.Info("serving the DNS blocklist", "zone", c.Zone, "listen", d.dnsblServer.Addr())
	return nil
}

// probeDNSBL asks each configured list about its RFC 5782 test entries
// once, and warns about a list that does not answer as a list should:
// a dead list, a typo in its zone, or a list that refuses this site.
func probeDNSBL(ctx context.Context, c *dnsbl.Checker, diag *slog.Logger) {
	if c == nil {
		return
	}
	for _, l := range c.Lists {
		if err := l.Probe(ctx); err != nil {
			diag.Warn("a DNS blocklist does not answer as RFC 5782 says", "zone", l.Zone, "problem", err)
		}
	}
}

// serveMetrics starts the Prometheus endpoint ([metrics] listen): the
// metrics count the mail log's events, the resolver's queries and the
// engine's store operations. It stops when ctx ends.
func (d *daemon) serveMetrics(ctx context.Context, addr string) error {
	ln, err := milter.ListenTCP("tcp", addr)
	if err != nil {
		return err
	}
	if ap, _ := netip.ParseAddrPort(addr); !ap.Addr().IsLoopback() {
		d.diag.Warn("the metrics are reachable from other hosts; restrict them with a firewall", "listen", addr)
	}
	d.metrics = metrics.New(d.store, d.res)
	d.ml.Observe(d.metrics.Event)
	d.res.Observe(d.metrics.DNS)
	d.engineStore = d.metrics.Store(d.store)
	hs := &http.Server{Handler: d.metrics.Handler(), ReadHeaderTimeout: 10 * time.Second,
		// net/http logs each retry of a failing accept (out of file
		// descriptors: once a second while it lasts) and other lines a
		// client can cause: rate-limited, as the milter listener's are.
		ErrorLog: ratelog.New("from the metrics server", func() *slog.Logger { return d.diag }).Std()}
	go hs.Serve(ln)
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	d.diag.Info("serving metrics", "listen", ln.Addr().String())
	return nil
}

// storeName says where the state is kept, without a password.
func storeName(cfg *config.Config) string {
	if cfg.Store.Driver == config.DriverPostgres {
		return "postgres"
	}
	return cfg.StorePath()
}

func configName(path string) string {
	if path == "" {
		return "(embedded defaults)"
	}
	return path
}

// shutdown stops accepting connections and lets the sessions in flight
// finish, for at most [milter] shutdown_timeout.
func (d *daemon) shutdown(sig os.Signal, served <-chan error) int {
	d.diag.Info("shutting down", "signal", sig.String(), "grace", d.cfg.Milter.ShutdownTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Milter.ShutdownTimeout.D())
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.diag.Warn("sessions still open at the end of the grace period were closed", "error", err)
	}
	<-served
	d.diag.Info("stopped")
	return exitOK
}

// reload reopens the mail log (for logrotate) and rereads the
// configuration. A configuration with errors is refused and the running
// one stays. New sessions use the new configuration; sessions in flight
// finish with the one they began with.
func (d *daemon) reload() {
	if err := d.ml.Reopen(); err != nil {
		d.diag.Error("cannot reopen the mail log", "error", err)
	}
	if d.path == "" {
		d.diag.Info("SIGHUP: mail log reopened; no configuration file to reload")
		return
	}
	cfg, err := config.Load(d.path)
	if err == nil {
		if errs, _ := preflight(d.path, cfg, d.watching); len(errs) > 0 {
			err = errs
		}
	}
	if err != nil {
		d.diag.Error("configuration reload refused; the running configuration stays", "file", d.path, "error", err)
		return
	}
	res := d.res
	if !reflect.DeepEqual(cfg.DNS, d.cfg.DNS) {
		res = resolver.FromConfig(cfg.DNS)
		res.Count(d.dnsCounts)
	}
	eng, err := policy.New(cfg, res, d.ml, d.diag)
	if err != nil {
		d.diag.Error("configuration reload refused; the running configuration stays", "file", d.path, "error", err)
		return
	}
	if d.metrics != nil && res != d.res {
		res.Observe(d.metrics.DNS)
		d.metrics.SetDNS(res)
	}
	eng.UseStore(d.engineStore)
	eng.EnableCallbacks()
	for _, k := range restartOnly(d.started, cfg) { // what runs is what started
		d.diag.Warn("this setting changes only at restart; the one started with stays", "key", k)
	}
	_ = d.level.UnmarshalText([]byte(cfg.Log.Level))
	if d.srsMap != nil {
		d.srsMap.SetSite(eng.SRS())
	}
	d.srv.SetEngine(eng)
	d.cfg, d.res = cfg, res
	d.running.Store(cfg)
	d.diag.Info("configuration reloaded", "file", d.path)
}

// watcherSettings are the [watch] keys the running watcher took at start.
func watcherSettings(w config.Watch) config.Watch {
	w.Answer, w.Text = "", ""
	return w
}

// restartOnly lists the changed keys a reload cannot apply.
func restartOnly(old, cur *config.Config) []string {
	var keys []string
	for _, f := range []struct {
		key      string
		old, cur any
	}{
		{"milter.socket", old.Milter.Socket.String(), cur.Milter.Socket.String()},
		{"milter.socket_group", old.Milter.SocketGroup, cur.Milter.SocketGroup},
		{"milter.timeout", old.Milter.Timeout, cur.Milter.Timeout},
		{"milter.max_sessions", old.Milter.MaxSessions, cur.Milter.MaxSessions},
		{"log.mail_log", old.Log.MailLog, cur.Log.MailLog},
		{"log.syslog_facility", old.Log.SyslogFacility, cur.Log.SyslogFacility},
		{"log.flush_interval", old.Log.FlushInterval, cur.Log.FlushInterval},
		{"milter.datadir", old.Milter.DataDir, cur.Milter.DataDir},
		{"store", old.Store, cur.Store},
		{"metrics.listen", old.Metrics.Listen, cur.Metrics.Listen},
		{"reputation (the peer server's settings)", fmt.Sprint(old.Reputation.Listen, old.Reputation.Peers, old.Reputation.PeerRate), fmt.Sprint(cur.Reputation.Listen, cur.Reputation.Peers, cur.Reputation.PeerRate)},
		{"srs.socketmap", old.SRS.Socketmap, cur.SRS.Socketmap},
		{"dnsbl_server", old.DNSBLServer, cur.DNSBLServer},
		{"web", fmt.Sprintf("%+v", old.Web), fmt.Sprintf("%+v", cur.Web)},
		{"watch (the watcher's settings; answer and text apply at once)", watcherSettings(old.Watch), watcherSettings(cur.Watch)},
	} {
		if f.old != f.cur {
			keys = append(keys, f.key)
		}
	}
	return keys
}
