package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/ratelog"
	"github.com/maxwell-milter/maxwell/milter"
	"github.com/maxwell-milter/maxwell/reputation"
	"github.com/maxwell-milter/maxwell/store"
)

const reputationUsage = `usage: maxwell reputation COMMAND [-c FILE] [flags]
  show ID             an identity's reputation: the site's own score, counts and
                      last update, and each peer's answer. ID is spf:DOMAIN,
                      helo:NAME, net:PREFIX, or a bare domain (spf:) or address
                      (its network, as [greylist] ipv4_prefix, ipv6_prefix cut it)
  list [--limit N]    the reputations most recently updated (default 50; 0: all)
The store is the one the configuration names, as for maxwell greylist.
`

func reputationCmd(args []string) int {
	if len(args) == 0 || args[0] != "show" && args[0] != "list" {
		fmt.Fprint(os.Stderr, reputationUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("reputation "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, reputationUsage) }
	conf := addConfigFlags(fs)
	limit := fs.Int("limit", 50, "list: at most `N` reputations (0: all)")
	operands, err := parseInterspersed(fs, args[1:])
	if err != nil || args[0] == "show" && len(operands) != 1 || args[0] == "list" && (len(operands) != 0 || *limit < 0) {
		fs.Usage()
		return exitUsage
	}
	var id string
	if args[0] == "show" {
		// Read before the store is opened: a typo is a usage error.
		cfg, _, err := conf.load(false)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitUsage
		}
		if id, err = reputation.Parse(operands[0], cfg.Greylist.IPv4Prefix, cfg.Greylist.IPv6Prefix); err != nil {
			fmt.Fprintf(os.Stderr, "maxwell reputation show: %s: %v\n", operands[0], err)
			return exitUsage
		}
	}
	cfg, st, status := adminStore("reputation "+args[0], conf)
	if st == nil {
		return status
	}
	defer st.Close()
	now := time.Now()
	if args[0] == "list" {
		return listReputations(os.Stdout, st, &cfg.Reputation, now, *limit)
	}
	return showReputation(os.Stdout, st, &cfg.Reputation, id, now)
}

// showReputation prints one identity's reputation, own and peers'.
func showReputation(w io.Writer, st store.Store, rc *config.Reputation, id string, now time.Time) int {
	ctx := context.Background()
	rs, err := st.Reputation(ctx, id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell reputation show:", err)
		return exitFailure
	}
	fmt.Fprintf(w, "%s\n", id)
	var own float64
	if len(rs) == 0 {
		fmt.Fprintln(w, "  own: unknown here")
	} else {
		r := rs[0].At(now, rc.HalfLife.D())
		own, _ = reputation.Own(rs[0], now, rc.HalfLife.D(), rc.Prior)
		fmt.Fprintf(w, "  own: score %.3f, good %.2f, bad %.2f (decayed to now), %d events, first %s, updated %s\n",
			own, r.Good, r.Bad, r.Events, r.First.UTC().Format(time.RFC3339), r.Updated.UTC().Format(time.RFC3339))
	}
	if len(rc.Peers) == 0 {
		fmt.Fprintln(w, "  peers: none configured")
		return exitOK
	}
	answers := reputation.NewClient(*rc, time.Now).Ask(ctx, []string{id}, len(rc.Peers))[0]
	for _, a := range answers {
		if a.Err != nil {
			fmt.Fprintf(w, "  peer %s (weight %.2f): no answer: %v\n", a.Peer, a.Weight, a.Err)
			continue
		}
		fmt.Fprintf(w, "  peer %s (weight %.2f): score %.3f, %.2f observations\n", a.Peer, a.Weight, a.Score, a.Observations)
	}
	score, peers := reputation.Combine(own, answers)
	fmt.Fprintf(w, "  combined: %.3f (own %.3f, peers %+.3f)\n", score, own, peers)
	return exitOK
}

// listReputations prints the reputations most recently updated.
func listReputations(w io.Writer, st store.Store, rc *config.Reputation, now time.Time, limit int) int {
	rs, err := st.Reputations(context.Background(), limit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell reputation list:", err)
		return exitFailure
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tscore\tgood\tbad\tevents\tupdated")
	for _, r := range rs {
		score, _ := reputation.Own(r, now, rc.HalfLife.D(), rc.Prior)
		d := r.At(now, rc.HalfLife.D())
		fmt.Fprintf(tw, "%s\t%.3f\t%.2f\t%.2f\t%d\t%s\n", r.ID, score, d.Good, d.Bad, r.Events, r.Updated.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return exitFailure
	}
	return exitOK
}

// servePeers starts the reputation peer server ([reputation] listen),
// answering from the store; it stops when ctx ends.
func (d *daemon) servePeers(ctx context.Context, rc config.Reputation) error {
	ln, err := milter.ListenTCP("tcp", rc.Listen)
	if err != nil {
		return err
	}
	if ap, _ := netip.ParseAddrPort(rc.Listen); !ap.Addr().IsLoopback() {
		d.diag.Warn("the reputation peer server is reachable from other hosts: only signed requests are answered, but firewall it to the peers", "listen", rc.Listen)
	}
	hs := reputation.NewServer(rc, d.store, time.Now).NewHTTPServer()
	hs.ErrorLog = ratelog.New("from the reputation peer server", func() *slog.Logger { return d.diag }).Std()
	go hs.Serve(ln)
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	d.diag.Info("serving reputation to peers", "listen", ln.Addr().String(), "peers", len(rc.Peers))
	return nil
}
