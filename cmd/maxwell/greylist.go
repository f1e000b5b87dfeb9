package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

const greylistUsage = `usage: maxwell greylist COMMAND [-c FILE] [flags]
  list    [--ip A | --client KEY] [--sender S] [--rcpt R] [--state pending|passed|expired] [--limit N] [--json]
  allow   --ip A | --client KEY [--sender S --rcpt R]
          with sender and recipient: pass that triplet; without: whitelist the client
  delete  [--ip A | --client KEY] [--sender S] [--rcpt R] [--state S] | --all
  stats   [--json]      pending, passed, expired, auto-whitelisted clients, average delay
  expire                remove expired entries now
A triplet past its retry window (pending) or pass lifetime (passed) is
"expired": it counts for nothing any more and is removed at the daemon's
next cleanup ([store] expire_interval) or by expire; list and stats show
it as such, not as pending or passed.
The store is the one the configuration names (without -c,
/etc/maxwell/maxwell.toml; -defaults for the embedded defaults:
data/maxwell.db under the current directory); these commands
work while the daemon runs. They never create a store: where there is
none, they say where they looked and exit 2.
--ip is turned into the client's network as greylisting keys it; --client
names a key as listed (a network or an SPF-pass domain). Sender and
recipient are normalised as greylisting does; '*' is a wildcard in list
and delete.
`

// greylistFlags are the flags the greylist commands share.
type greylistFlags struct {
	fs                       *flag.FlagSet
	config                   configFlags
	ip, client, sender, rcpt *string
	state                    *string
	limit                    *int
	json, all                *bool
}

func newGreylistFlags(name string) *greylistFlags {
	fs := flag.NewFlagSet("greylist "+name, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, greylistUsage) }
	return &greylistFlags{
		fs:     fs,
		config: addConfigFlags(fs),
		ip:     fs.String("ip", "", "client `address`"),
		client: fs.String("client", "", "client `key`: a network (192.0.2.0/24) or an SPF-pass domain"),
		sender: fs.String("sender", "", "envelope `sender` (<> for the null sender)"),
		rcpt:   fs.String("rcpt", "", "`recipient`"),
		state:  fs.String("state", "", "pending, passed or expired"),
		limit:  fs.Int("limit", 0, "list at most `N` entries (0: all)"),
		json:   fs.Bool("json", false, "print JSON"),
		all:    fs.Bool("all", false, "delete: every entry"),
	}
}

// filter builds the store filter from the flags, keyed as greylisting
// keys triplets, with states judged at now.
func (f *greylistFlags) filter(g *config.Greylist, now time.Time) (store.Filter, error) {
	q := policy.GreylistSearch{IP: *f.ip, Client: *f.client, Sender: *f.sender, Rcpt: *f.rcpt, State: *f.state}
	flt, err := q.Filter(g, now)
	flt.Limit = *f.limit
	return flt, err
}

func greylistCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, greylistUsage)
		return exitUsage
	}
	name := args[0]
	run, ok := map[string]func(context.Context, store.Store, *config.Config, *greylistFlags) error{
		"list": greylistList, "allow": greylistAllow, "delete": greylistDelete,
		"stats": greylistStats, "expire": greylistExpire,
	}[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "maxwell greylist: unknown command %q\n%s", name, greylistUsage)
		return exitUsage
	}
	f := newGreylistFlags(name)
	if err := f.fs.Parse(args[1:]); err != nil || f.fs.NArg() > 0 {
		return exitUsage
	}
	cfg, st, status := adminStore("greylist", f.config)
	if st == nil {
		return status
	}
	defer st.Close()
	ctx := context.Background()
	if err := run(ctx, st, cfg, f); err != nil {
		fmt.Fprintln(os.Stderr, "maxwell greylist "+name+":", err)
		if _, usage := err.(usageError); usage {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// usageError is a mistake on the command line.
type usageError string

func (e usageError) Error() string { return string(e) }

func greylistList(ctx context.Context, st store.Store, cfg *config.Config, f *greylistFlags) error {
	now := time.Now()
	flt, err := f.filter(&cfg.Greylist, now)
	if err != nil {
		return usageError(err.Error())
	}
	es, err := st.Triplets(ctx, flt)
	if err != nil {
		return err
	}
	if *f.json {
		type row struct {
			State    string    `json:"state"`
			Client   string    `json:"client"`
			Sender   string    `json:"sender"`
			Rcpt     string    `json:"rcpt"`
			First    time.Time `json:"first"`
			Last     time.Time `json:"last"`
			Attempts int       `json:"attempts"`
			Passes   int       `json:"passes"`
			Delay    float64   `json:"delay_seconds"`
			Expires  time.Time `json:"expires"`
		}
		rows := []row{}
		for _, e := range es {
			rows = append(rows, row{e.State(now), e.Client, e.Sender, e.Rcpt, e.First.UTC(), e.Last.UTC(),
				e.Attempts, e.Passes, e.Delay.Seconds(), e.Expires.UTC()})
		}
		return printJSON(os.Stdout, rows)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STATE\tCLIENT\tSENDER\tRECIPIENT\tFIRST\tLAST\tATTEMPTS\tPASSES\tDELAY\tEXPIRES")
	for _, e := range es {
		delay := "-"
		if !e.Pending() {
			delay = e.Delay.Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", e.State(now), e.Client, e.Sender, e.Rcpt,
			stamp(e.First), stamp(e.Last), e.Attempts, e.Passes, delay, stamp(e.Expires))
	}
	return w.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func greylistAllow(ctx context.Context, st store.Store, cfg *config.Config, f *greylistFlags) error {
	now := time.Now()
	flt, err := f.filter(&cfg.Greylist, now)
	switch {
	case err != nil:
		return usageError(err.Error())
	case flt.Client == "":
		return usageError("allow needs --ip or --client")
	case (flt.Sender == "") != (flt.Rcpt == ""):
		return usageError("give both --sender and --rcpt to pass a triplet, or neither to whitelist the client")
	case strings.Contains(flt.Client+flt.Sender+flt.Rcpt, "*"):
		return usageError("allow takes no wildcards")
	}
	ttl := cfg.Greylist.PassTTL.D()
	if flt.Sender == "" {
		if _, err := st.CountPass(ctx, store.KindClient, flt.Client, now, ttl, 1); err != nil {
			return err
		}
		fmt.Printf("client %s whitelisted until %s\n", flt.Client, stamp(now.Add(ttl)))
		return nil
	}
	t := store.Triplet{Client: flt.Client, Sender: flt.Sender, Rcpt: flt.Rcpt}
	_, err = store.PassTriplet(ctx, st, t, now, ttl)
	if err == nil {
		fmt.Printf("triplet %s %s %s passed until %s\n", t.Client, t.Sender, t.Rcpt, stamp(now.Add(ttl)))
	}
	return err
}

func greylistDelete(ctx context.Context, st store.Store, cfg *config.Config, f *greylistFlags) error {
	flt, err := f.filter(&cfg.Greylist, time.Now())
	if err != nil {
		return usageError(err.Error())
	}
	if flt == (store.Filter{}) != *f.all {
		return usageError("delete needs a filter (--ip, --client, --sender, --rcpt, --state), or --all alone")
	}
	n, err := st.DeleteTriplets(ctx, flt)
	if err == nil && flt.Client != "" && flt.Sender == "" && flt.Rcpt == "" && flt.State == "" {
		var unlisted bool // deleting a client takes it off the auto-whitelist too
		if unlisted, err = st.Unlist(ctx, store.KindClient, flt.Client); unlisted {
			fmt.Printf("client %s removed from the auto-whitelist\n", flt.Client)
		}
	}
	if err == nil {
		fmt.Printf("%d entries deleted\n", n)
	}
	return err
}

func greylistStats(ctx context.Context, st store.Store, cfg *config.Config, f *greylistFlags) error {
	s, err := st.GreylistStats(ctx, time.Now())
	if err != nil {
		return err
	}
	schema, err := store.Version(ctx, st)
	if err != nil {
		return err
	}
	if *f.json {
		return printJSON(os.Stdout, map[string]any{"pending": s.Pending, "passed": s.Passed, "expired": s.Expired,
			"whitelisted_clients": s.Whitelisted, "avg_delay_seconds": s.AvgDelay.Seconds(),
			"store": storeName(cfg), "schema_version": schema})
	}
	fmt.Printf("pending:              %d\npassed:               %d\nexpired:              %d (awaiting cleanup: maxwell greylist expire)\n"+
		"auto-whitelisted:     %d\naverage delay:        %s\nstore:                %s, schema %d\n",
		s.Pending, s.Passed, s.Expired, s.Whitelisted, s.AvgDelay.Round(time.Second), storeName(cfg), schema)
	return nil
}

func greylistExpire(ctx context.Context, st store.Store, cfg *config.Config, _ *greylistFlags) error {
	n, err := expireAll(ctx, st, time.Now(), cfg.Store.ExpireBatch)
	if err == nil {
		fmt.Printf("%d expired entries removed\n", n)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
