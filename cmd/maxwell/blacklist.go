package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/maxwell-milter/maxwell/dnsbl"
	"github.com/maxwell-milter/maxwell/store"
	"github.com/maxwell-milter/maxwell/watch"
)

const blacklistUsage = `usage: maxwell blacklist COMMAND [-c FILE] [flags]
  list    [--json]                   the bans in force: IPs banned for demerits
                                     ([milter] max_demerits), clients blacklisted by
                                     maxwell watch, and blacklisted senders
  add     --ip A | --client A | --sender S [--reason R]
                                     ban an IP (for [milter] ban_time), blacklist a client
                                     (for [watch] good_behaviour) or a sender (until deleted)
  delete  --ip A | --client A | --sender S
                                     lift a ban
  export  [--format rbldnsd] [--ttl D]
                                     the banned and blacklisted IP addresses as a zone
                                     for rbldnsd (a "combined" dataset), for other sites
                                     to query as an RFC 5782 blocklist
The store is the one the configuration names (without -c,
/etc/maxwell/maxwell.toml; -defaults for the embedded defaults:
data/maxwell.db under the current directory); these commands
work while the daemon runs, on every MX host sharing the store. They never
create a store: where there is none, they say where they looked and exit 2.
`

func blacklistCmd(args []string) int {
	if len(args) == 0 || !slices.Contains([]string{"list", "add", "delete", "export"}, args[0]) {
		fmt.Fprint(os.Stderr, blacklistUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("blacklist "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, blacklistUsage) }
	conf := addConfigFlags(fs)
	ip := fs.String("ip", "", "the banned `address`")
	client := fs.String("client", "", "the blacklisted client `address`")
	sender := fs.String("sender", "", "the banned sender `address`")
	reason := fs.String("reason", "by hand", "why (add)")
	jsonOut := fs.Bool("json", false, "print JSON")
	format := fs.String("format", "rbldnsd", "export: the zone's `format` (rbldnsd)")
	ttl := fs.Duration("ttl", 5*time.Minute, "export: the records' time to live")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	if args[0] == "export" && (*format != "rbldnsd" || *ttl < time.Second) {
		fmt.Fprintf(os.Stderr, "maxwell blacklist export: --format %q --ttl %s: the format is rbldnsd, the TTL a second or more\n", *format, *ttl)
		return exitUsage
	}
	var kind, key string
	if args[0] != "list" && args[0] != "export" {
		var flagName, given string
		n := 0
		for _, f := range []struct {
			name, kind string
			v          *string
		}{{"--ip", store.BanIP, ip}, {"--client", store.BanClient, client}, {"--sender", store.BanSender, sender}} {
			if *f.v != "" {
				n++
				flagName, kind, given = f.name, f.kind, *f.v
			}
		}
		if n != 1 {
			fmt.Fprintf(os.Stderr, "maxwell blacklist %s: give one of --ip, --client or --sender\n", args[0])
			return exitUsage
		}
		var err error
		if key, err = watch.BanKey(kind, given); err != nil {
			fmt.Fprintf(os.Stderr, "maxwell blacklist %s: %s %v\n", args[0], flagName, err)
			return exitUsage
		}
		if _, err := watch.BanReason(*reason); err != nil && args[0] == "add" {
			fmt.Fprintf(os.Stderr, "maxwell blacklist add: --%v\n", err)
			return exitUsage
		}
	}
	cfg, st, status := adminStore("blacklist", conf)
	if st == nil {
		return status
	}
	defer st.Close()
	ctx := context.Background()
	switch args[0] {
	case "add":
		if _, err := watch.AddBan(ctx, st, cfg, kind, key, *reason, time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, "maxwell blacklist add:", err)
			return exitFailure
		}
		fmt.Printf("%s %s: banned\n", kind, key)
		return exitOK
	case "delete":
		ok, err := watch.DeleteBan(ctx, st, cfg, kind, key, time.Now())
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "maxwell blacklist delete:", err)
			return exitFailure
		case !ok:
			fmt.Fprintf(os.Stderr, "maxwell blacklist delete: %s is not banned\n", key)
			return exitFailure
		}
		fmt.Printf("%s: ban lifted\n", key)
		return exitOK
	}
	now := time.Now()
	bans, err := st.Bans(ctx, "", now)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell blacklist "+args[0]+":", err)
		return exitFailure
	}
	if args[0] == "export" {
		if err := dnsbl.WriteRbldnsd(os.Stdout, bans, *ttl, now); err != nil {
			fmt.Fprintln(os.Stderr, "maxwell blacklist export:", err)
			return exitFailure
		}
		return exitOK
	}
	bans = slices.DeleteFunc(bans, func(b store.Ban) bool { return b.Kind == store.BanLifted }) // no bans
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
