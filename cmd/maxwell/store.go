package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// openStore opens the store [store] names. maxwell serve creates it on
// first start; the admin commands only open a store that is there
// (store.ErrNoStore otherwise), so that a wrong or missing -c does not
// leave a new, empty store behind.
func openStore(ctx context.Context, cfg *config.Config, create bool) (store.Store, error) {
	sc := &cfg.Store
	switch {
	case sc.Driver == config.DriverPostgres && create:
		return store.OpenPostgres(ctx, sc.DSN, sc.Timeout.D())
	case sc.Driver == config.DriverPostgres:
		return store.OpenExistingPostgres(ctx, sc.DSN, sc.Timeout.D())
	case create:
		return store.OpenSQLite(ctx, cfg.StorePath(), sc.Timeout.D())
	}
	return store.OpenExistingSQLite(ctx, cfg.StorePath(), sc.Timeout.D())
}

// adminStore loads the configuration (-c, else defaultConfigFile) and
// opens the store it names, for the admin commands, and says on
// standard error which configuration and store it used. On failure it
// says why and returns the exit status: 2 (as for a bad configuration)
// when there is no configuration file or no store where it says, 1 when
// the store cannot be opened. The admin commands have no embedded
// defaults: a store is only where maxwell serve's configuration says.
func adminStore(command string, conf configFlags) (*config.Config, store.Store, int) {
	cfg, path, err := conf.load(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return nil, nil, exitUsage
	}
	st, err := openStore(context.Background(), cfg, false)
	switch {
	case errors.Is(err, store.ErrNoStore):
		named := path + " names ([milter] datadir, [store] path)"
		switch {
		case path == "":
			named = "the embedded defaults name (-defaults): data/maxwell.db under the current directory"
		case cfg.Store.Driver == config.DriverPostgres:
			named = path + " names ([store] dsn)"
		}
		fmt.Fprintf(os.Stderr, "maxwell %s: %v\n"+
			"  That is the store %s.\n"+
			"  Give the configuration maxwell serve runs with (-c FILE);\n"+
			"  only maxwell serve creates the store, on its first start.\n", command, err, named)
		return nil, nil, exitUsage
	case err != nil:
		fmt.Fprintf(os.Stderr, "maxwell %s: %v\n", command, err)
		return nil, nil, exitFailure
	}
	fmt.Fprintf(os.Stderr, "maxwell %s: configuration %s, store %s\n", command, configName(path), storeName(cfg))
	return cfg, st, exitOK
}

// expireAll removes everything expired at now, batch rows at a time, with
// a pause between batches so that sessions get the database in between.
func expireAll(ctx context.Context, st store.Store, now time.Time, batch int) (int, error) {
	total := 0
	for {
		n, err := st.Expire(ctx, now, batch)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// expireLoop runs expireAll every [store] expire_interval until ctx ends.
func expireLoop(ctx context.Context, st store.Store, sc config.Store, diag *slog.Logger) {
	tick := time.NewTicker(sc.ExpireInterval.D())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := expireAll(ctx, st, time.Now(), sc.ExpireBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			diag.Warn("store expiry failed; it is retried at the next interval", "removed", n, "error", err)
		case n > 0:
			diag.Info("store expiry", "removed", n)
		}
	}
}
