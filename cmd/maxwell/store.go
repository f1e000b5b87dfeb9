package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// openStore opens the store [store] names, creating the SQLite file
// under [milter] datadir on first use.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.Store.Driver == config.DriverPostgres {
		return store.OpenPostgres(ctx, cfg.Store.DSN, cfg.Store.Timeout.D())
	}
	return store.OpenSQLite(ctx, cfg.StorePath(), cfg.Store.Timeout.D())
}

// adminStore loads the configuration at path and opens the store it
// names, for the admin commands; on failure it says why and returns the
// exit status.
func adminStore(command, path string) (*config.Config, store.Store, int) {
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return nil, nil, exitUsage
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "maxwell %s: %v\n", command, err)
		return nil, nil, exitFailure
	}
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
