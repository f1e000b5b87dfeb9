package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	"github.com/maxwell-milter/maxwell/store"
)

const blacklistUsage = `usage: maxwell blacklist COMMAND [-c FILE] [flags]
  list    [--json]     the bans in force: IPs banned for demerits ([milter] max_demerits)
  delete  --ip A       lift the ban on an address
The store is the one the configuration names; these commands work while
the daemon runs, on every MX host sharing the store.
`

func blacklistCmd(args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "delete") {
		fmt.Fprint(os.Stderr, blacklistUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("blacklist "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, blacklistUsage) }
	path := configFlag(fs)
	ip := fs.String("ip", "", "the banned `address`")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	var addr netip.Addr
	if args[0] == "delete" {
		var err error
		if addr, err = netip.ParseAddr(*ip); err != nil {
			fmt.Fprintf(os.Stderr, "maxwell blacklist delete: --ip %q is not an address\n", *ip)
			return exitUsage
		}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell blacklist:", err)
		return exitFailure
	}
	defer st.Close()
	if args[0] == "delete" {
		ok, err := st.Unban(ctx, store.BanIP, addr.Unmap().String())
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "maxwell blacklist delete:", err)
			return exitFailure
		case !ok:
			fmt.Fprintf(os.Stderr, "maxwell blacklist delete: %s is not banned\n", addr)
			return exitFailure
		}
		fmt.Printf("%s: ban lifted\n", addr)
		return exitOK
	}
	bans, err := st.Bans(ctx, "", time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell blacklist list:", err)
		return exitFailure
	}
	if *jsonOut {
		type row struct {
			Kind    string    `json:"kind"`
			Key     string    `json:"key"`
			Reason  string    `json:"reason"`
			Created time.Time `json:"created"`
			Expires time.Time `json:"expires,omitzero"`
		}
		rows := []row{}
		for _, b := range bans {
			rows = append(rows, row{b.Kind, b.Key, b.Reason, b.Created.UTC(), b.Expires.UTC()})
		}
		printJSON(os.Stdout, rows)
		return exitOK
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tKEY\tSINCE\tUNTIL\tREASON")
	for _, b := range bans {
		until := "-"
		if !b.Expires.IsZero() {
			until = stamp(b.Expires)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.Kind, b.Key, stamp(b.Created), until, b.Reason)
	}
	w.Flush()
	return exitOK
}
