package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/mailgen"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/policy"
)

const benchUsage = `usage: maxwell bench [flags]
Sends messages through a milter (maxwell or any other) as Postfix 3.7 does
with its default settings (negotiation, macros, header fields, body chunks,
ABORT and QUIT, one write before each reply), and reports messages/s,
latency and what the milter answered.
`

// benchFlags are maxwell bench's settings.
type benchFlags struct {
	addr       string
	n, c       int
	perConn    int
	bodyBytes  int
	emlDir     string
	ips        []netip.Addr
	ptrs       []string // the clients' names as Postfix found them, in step with ips
	froms      []string
	rcpts      []string
	helo       string
	timeout    time.Duration
	maxTime    time.Duration
	jsonOut    bool
	row        string // print one table row labelled so (make bench)
	quiet      bool
	anyNetwork bool
	pid        int           // the milter's process, to report its CPU and memory
	idle       int           // hold this many idle sessions instead of sending mail
	hold       time.Duration // how long to hold them

	dkimKey, dkimSelector string // sign the messages with this key, once each
}

// benchMessage is one message of the run: its header fields and body,
// and the SIZE= its sender announces at MAIL FROM.
type benchMessage struct {
	headers []policy.Header
	body    []byte
	size    string
}

// benchReport is what a run found; --json prints it.
type benchReport struct {
	Addr        string             `json:"addr"`
	Messages    int                `json:"messages"`
	Failed      int                `json:"failed"`
	Connections int                `json:"connections"`
	Seconds     float64            `json:"seconds"`
	PerSecond   float64            `json:"msgs_per_second"`
	Latency     map[string]float64 `json:"latency_ms"`
	Actions     map[string]int     `json:"actions"`
	Mods        map[string]int     `json:"modifications"`
	Errors      map[string]int     `json:"errors,omitempty"`
	// With -pid: the milter's CPU time per message (ms) and its resident
	// memory (MiB) now and at its peak.
	CPUPerMsg float64 `json:"milter_cpu_ms_per_msg,omitempty"`
	RSS       float64 `json:"milter_rss_mib,omitempty"`
	PeakRSS   float64 `json:"milter_peak_rss_mib,omitempty"`
	Idle      int     `json:"idle_sessions,omitempty"`
}

func benchCmd(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, benchUsage); fs.PrintDefaults() }
	var f benchFlags
	var ips, ptrs, froms, rcpts string
	fs.StringVar(&f.addr, "addr", "inet:8895@127.0.0.1", "the milter: inet:PORT@HOST, inet:HOST:PORT or unix:/path")
	fs.IntVar(&f.n, "n", 1000, "messages in all")
	fs.IntVar(&f.c, "c", 8, "concurrent milter sessions (as many as the MTA runs smtpd processes)")
	fs.IntVar(&f.perConn, "per-conn", 1, "messages per milter connection (per SMTP connection)")
	fs.IntVar(&f.bodyBytes, "body-bytes", 8192, "body size of generated messages")
	fs.StringVar(&f.emlDir, "eml-dir", "", "send the .eml files of this `directory` in turn instead")
	fs.StringVar(&ips, "ips", "198.51.100.7", "client addresses, comma-separated, taken in turn per connection")
	fs.StringVar(&ptrs, "ptr", "", "the clients' names (PTR) as Postfix found them, comma-separated, in step with -ips; none: \"unknown\", as when Postfix finds none")
	fs.StringVar(&froms, "from", "alice@sender.example", "envelope senders, comma-separated, taken in turn per message")
	fs.StringVar(&rcpts, "rcpt", "bob@example.org", "recipients, comma-separated: each message goes to all")
	fs.StringVar(&f.helo, "helo", "mail.sender.example", "HELO name")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per milter command")
	fs.DurationVar(&f.maxTime, "max-duration", 5*time.Minute, "stop after this long, whatever -n says")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	fs.StringVar(&f.row, "row", "", "print one line `label` msgs/s p99_ms cpu_ms/msg rss_MiB idle actions, for scripts")
	fs.BoolVar(&f.quiet, "q", false, "no progress line (there is none unless standard error is a terminal)")
	fs.BoolVar(&f.anyNetwork, "allow-nonloopback", false, "allow a milter that is not on this host")
	fs.IntVar(&f.pid, "pid", 0, "the milter's process `id`: report its CPU time per message and its memory")
	fs.IntVar(&f.idle, "idle", 0, "open this many milter sessions (up to HELO), hold them, report memory; send no mail")
	fs.DurationVar(&f.hold, "hold", 3*time.Second, "with -idle: how long to hold the sessions")
	fs.StringVar(&f.dkimKey, "dkim-key", "", "sign every message with this DKIM key `file`, as the domain of -from's first sender")
	fs.StringVar(&f.dkimSelector, "dkim-selector", "bench", "the selector of -dkim-key")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	// The progress line rewrites itself with \r and an erase sequence:
	// on a terminal only, not into a file or a pipe.
	f.quiet = f.quiet || !isTerminal(os.Stderr)
	var err error
	if f.ips, err = parseIPs(ips); err != nil {
		fmt.Fprintln(os.Stderr, "maxwell bench:", err)
		return exitUsage
	}
	f.ptrs, f.froms, f.rcpts = splitList(ptrs), splitList(froms), splitList(rcpts)
	if len(f.ptrs) > 0 && len(f.ptrs) != len(f.ips) {
		fmt.Fprintln(os.Stderr, "maxwell bench: -ptr needs one name for each address of -ips")
		return exitUsage
	}
	if f.n < 1 || f.c < 1 || f.perConn < 1 || len(f.froms) == 0 || len(f.rcpts) == 0 {
		fmt.Fprintln(os.Stderr, "maxwell bench: -n, -c, -per-conn must be positive; -from and -rcpt not empty")
		return exitUsage
	}
	network, address, err := benchAddr(f.addr, f.anyNetwork)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell bench:", err)
		return exitUsage
	}
	msgs, err := benchMessages(f)
	if err == nil && f.dkimKey != "" {
		err = signBenchMessages(msgs, f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell bench:", err)
		return exitFailure
	}
	before := procStat(f.pid)
	var rep benchReport
	if f.idle > 0 {
		rep = holdIdle(network, address, f)
	} else {
		rep = runBench(network, address, f, msgs)
	}
	if f.pid > 0 {
		after := procStat(f.pid)
		if rep.Messages > 0 {
			rep.CPUPerMsg = float64(after.cpu-before.cpu) / float64(rep.Messages) * 1000
		}
		rep.RSS, rep.PeakRSS = after.rss, after.peak
	}
	switch {
	case f.jsonOut:
		printJSON(os.Stdout, rep)
	case f.row != "":
		fmt.Printf("%s %.1f %.3f %.3f %.1f %d %s\n", f.row, rep.PerSecond, rep.Latency["p99"], rep.CPUPerMsg, rep.RSS, rep.Idle,
			countList(mergeCounts(rep.Actions, rep.Mods)))
	default:
		printBenchReport(os.Stdout, rep)
	}
	if rep.Failed > 0 {
		return exitFailure
	}
	return exitOK
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func parseIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, x := range splitList(s) {
		ip, err := netip.ParseAddr(x)
		if err != nil {
			return nil, fmt.Errorf("-ips: %q is not an address", x)
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, errors.New("-ips: no address")
	}
	return out, nil
}

// benchAddr reads the milter address; only this host unless allowed.
func benchAddr(addr string, anyNetwork bool) (network, address string, err error) {
	sock, err := config.ParseSocket(addr)
	if err != nil {
		return "", "", err
	}
	if !sock.Loopback() && !anyNetwork {
		return "", "", fmt.Errorf("%s is not on this host (-allow-nonloopback to measure it anyway)", addr)
	}
	return sock.Network, sock.Address, nil
}

// benchMessages are the messages to send: generated (a mail client's
// plain-text message as the sender's server passes it on), or from
// -eml-dir.
func benchMessages(f benchFlags) ([]benchMessage, error) {
	if f.emlDir == "" {
		return []benchMessage{newBenchMessage(mailgen.Text(f.froms[0], f.rcpts[0], f.bodyBytes))}, nil
	}
	files, err := filepath.Glob(filepath.Join(f.emlDir, "*.eml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no .eml files in %s", f.emlDir)
	}
	sort.Strings(files)
	var out []benchMessage
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, newBenchMessage(raw))
	}
	return out, nil
}

// signBenchMessages puts a DKIM signature (relaxed/relaxed, the fields
// [dkim] signs by default) on top of each message, made once before the
// run: the milter verifies one signature per message, the load
// generator signs nothing while it measures.
func signBenchMessages(msgs []benchMessage, f benchFlags) error {
	key, err := dkim.LoadKey(f.dkimKey)
	if err != nil {
		return err
	}
	_, domain, _ := strings.Cut(f.froms[0], "@")
	keys := []dkim.Key{{Domain: domain, Selector: f.dkimSelector, Signer: key}}
	opts := dkim.SignOptions{Headers: config.DefaultSignHeaders, Oversign: []string{"From"}, HeaderCanon: "relaxed", BodyCanon: "relaxed"}
	for i := range msgs {
		m := &msgs[i]
		var hb dkim.HeaderBuilder
		for _, h := range m.headers {
			hb.Add(h.Name, h.Value, false)
		}
		sg, err := dkim.NewSigning(hb.Bytes(), keys, opts)
		if err != nil {
			return err
		}
		sg.Write(m.body)
		sigs, err := sg.Close()
		if err != nil {
			return err
		}
		m.headers = append([]policy.Header{{Name: "DKIM-Signature", Value: sigs[0]}}, m.headers...)
	}
	return nil
}

func newBenchMessage(raw []byte) benchMessage {
	h, body := mime.SplitMessage(raw)
	return benchMessage{h, body, fmt.Sprintf("SIZE=%d", len(raw))}
}

// benchResult is one message's outcome.
type benchResult struct {
	latency time.Duration
	action  string
	mods    []string
	err     error
	newConn bool
}

// runBench sends the messages from f.c workers and collects the report.
func runBench(network, address string, f benchFlags, msgs []benchMessage) benchReport {
	ctx, cancel := context.WithTimeout(context.Background(), f.maxTime)
	defer cancel()
	var next atomic.Int64 // messages handed out
	results := make(chan benchResult, 1024)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < f.c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for conn := 0; ctx.Err() == nil; conn++ {
				first := next.Add(int64(f.perConn)) - int64(f.perConn)
				if first >= int64(f.n) {
					return
				}
				count := min(int64(f.perConn), int64(f.n)-first)
				benchConnection(network, address, f, msgs, first, count, results)
			}
		}(w)
	}
	go func() { wg.Wait(); close(results) }()

	rep := benchReport{Addr: f.addr, Actions: map[string]int{}, Mods: map[string]int{}, Errors: map[string]int{}}
	var lat []time.Duration
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case r, ok := <-results:
			if !ok {
				done = true
				break
			}
			if r.newConn {
				rep.Connections++
			}
			if r.err != nil {
				rep.Failed++
				rep.Errors[r.err.Error()]++
				continue
			}
			rep.Messages++
			lat = append(lat, r.latency)
			rep.Actions[r.action]++
			for _, m := range r.mods {
				rep.Mods[m]++
			}
		case <-tick.C:
			if !f.quiet {
				el := time.Since(start).Seconds()
				fmt.Fprintf(os.Stderr, "\r%d/%d messages, %.0f/s, %d errors ", rep.Messages, f.n, float64(rep.Messages)/el, rep.Failed)
			}
		}
	}
	if !f.quiet {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.PerSecond = float64(rep.Messages) / rep.Seconds
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	rep.Latency = map[string]float64{"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1)}
	if len(rep.Errors) == 0 {
		rep.Errors = nil
	}
	return rep
}

// benchConnection sends count messages, from the first-th on, over one
// milter connection, as Postfix does for one SMTP connection.
func benchConnection(network, address string, f benchFlags, msgs []benchMessage, first, count int64, out chan<- benchResult) {
	t0 := time.Now()
	c, res, err := benchDial(network, address, f, int(first/int64(f.perConn)))
	if err != nil || !res.Accepted() || res.Code == 'a' {
		for i := int64(0); i < count; i++ {
			r := benchResult{newConn: i == 0, err: err}
			if err == nil { // decided at connect or HELO: that is the answer
				r.latency, r.action = time.Since(t0), actionName(res)
			}
			out <- r
		}
		if c != nil {
			c.Close()
		}
		return
	}
	defer c.Close()
	for i := int64(0); i < count; i++ {
		m := msgs[int(first+i)%len(msgs)]
		from := f.froms[int(first+i)%len(f.froms)]
		res, err := c.Message(from, m.size, f.rcpts, m.headers, m.body)
		r := benchResult{newConn: i == 0, latency: time.Since(t0), err: err}
		if err == nil {
			r.action = actionName(res)
			if res.Stage != "eom" {
				r.action += " at " + strings.Fields(res.Stage)[0]
			}
			seen := map[string]bool{}
			for _, mod := range res.Mods {
				name := modName(mod)
				if name == "replace_body" && seen[name] { // one body, maybe in several chunks
					continue
				}
				seen[name] = true
				r.mods = append(r.mods, name)
			}
		}
		out <- r
		t0 = time.Now()
		if err != nil {
			return // the connection is broken: the rest of its messages are lost too
		}
	}
}

// benchDial opens the milter session of the n-th SMTP connection and
// reports its client and HELO. The session is nil only with an error.
func benchDial(network, address string, f benchFlags, n int) (*mtaclient.PostfixConn, mtaclient.PostfixAnswer, error) {
	c, err := mtaclient.DialPostfix(network, address, f.timeout)
	if err != nil {
		return nil, mtaclient.PostfixAnswer{}, err
	}
	name := ""
	if len(f.ptrs) > 0 {
		name = f.ptrs[n%len(f.ptrs)]
	}
	res, err := c.Connect(mtaclient.DefaultMTA, f.ips[n%len(f.ips)], uint16(32768+n%28000), name)
	if err == nil && res.Code == 'c' {
		res, err = c.Helo(f.helo)
	}
	if err != nil {
		c.Close()
		return nil, res, err
	}
	return c, res, nil
}

// actionName names a milter's answer.
func actionName(a mtaclient.PostfixAnswer) string {
	switch a.Code {
	case 'a', 'c':
		return "accept"
	case 'd':
		return "discard"
	case 'r':
		return "reject"
	case 't':
		return "tempfail"
	case 'y':
		if strings.HasPrefix(a.Reply, "5") {
			return "reject"
		}
		return "tempfail"
	}
	return fmt.Sprintf("reply %q", a.Code)
}

// modName names a modification a milter asked for (SMFIR_*).
func modName(code byte) string {
	switch code {
	case 'h':
		return "add_header"
	case 'i':
		return "insert_header"
	case 'm':
		return "change_header"
	case 'b':
		return "replace_body"
	case '+', '2':
		return "add_rcpt"
	case '-':
		return "del_rcpt"
	case 'e':
		return "change_from"
	case 'q':
		return "quarantine"
	}
	return fmt.Sprintf("modification %q", code)
}

// procState is what /proc says of a process.
type procState struct {
	cpu       float64 // user+system seconds
	rss, peak float64 // MiB
}

// procStat reads a process's CPU time and memory; zero for pid 0 or
// where /proc does not exist.
func procStat(pid int) procState {
	var p procState
	if pid <= 0 {
		return p
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// the command name, in parentheses, may hold spaces: count after it
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			fields := strings.Fields(string(stat)[i+1:])
			if len(fields) > 13 {
				var ut, st float64
				fmt.Sscan(fields[11], &ut)
				fmt.Sscan(fields[12], &st)
				p.cpu = (ut + st) / 100 // USER_HZ
			}
		}
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			var kb float64
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				fmt.Sscan(v, &kb)
				p.rss = kb / 1024
			} else if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				fmt.Sscan(v, &kb)
				p.peak = kb / 1024
			}
		}
	}
	return p
}

// holdIdle opens f.idle milter sessions, as an MTA with that many SMTP
// clients that have said HELO and nothing more, and holds them.
func holdIdle(network, address string, f benchFlags) benchReport {
	rep := benchReport{Addr: f.addr, Errors: map[string]int{}}
	start := time.Now()
	var conns []*mtaclient.PostfixConn
	for i := 0; i < f.idle; i++ {
		c, res, err := benchDial(network, address, f, i)
		if err != nil || res.Code != 'c' {
			rep.Failed++
			if err != nil {
				rep.Errors[err.Error()]++
			} else {
				c.Close()
			}
			continue
		}
		conns = append(conns, c)
		if !f.quiet && i%500 == 0 {
			fmt.Fprintf(os.Stderr, "\r%d sessions open ", len(conns))
		}
	}
	rep.Idle, rep.Connections = len(conns), len(conns)
	time.Sleep(f.hold)
	if f.pid > 0 { // memory while they are all open
		st := procStat(f.pid)
		rep.RSS, rep.PeakRSS = st.rss, st.peak
	}
	for _, c := range conns {
		c.Close()
	}
	if !f.quiet {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	rep.Seconds = time.Since(start).Seconds()
	if len(rep.Errors) == 0 {
		rep.Errors = nil
	}
	return rep
}

func printBenchReport(w io.Writer, r benchReport) {
	if r.Idle > 0 || r.Messages == 0 {
		fmt.Fprintf(w, "milter        %s\nidle sessions %d held, %d failed\n", r.Addr, r.Idle, r.Failed)
		if r.RSS > 0 {
			fmt.Fprintf(w, "milter        %.1f MiB resident with them open (peak %.1f MiB)\n", r.RSS, r.PeakRSS)
		}
		for e, n := range r.Errors {
			fmt.Fprintf(w, "error         %d× %s\n", n, e)
		}
		return
	}
	fmt.Fprintf(w, "milter        %s\nmessages      %d ok, %d failed, %d connections, %.2f s\nthroughput    %.1f msgs/s\n",
		r.Addr, r.Messages, r.Failed, r.Connections, r.Seconds, r.PerSecond)
	fmt.Fprintf(w, "latency ms    p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", r.Latency["p50"], r.Latency["p90"], r.Latency["p99"], r.Latency["max"])
	fmt.Fprintf(w, "actions       %s\n", countList(r.Actions))
	if len(r.Mods) > 0 {
		fmt.Fprintf(w, "modifications %s\n", countList(r.Mods))
	}
	if r.RSS > 0 {
		fmt.Fprintf(w, "milter        %.3f ms CPU per message, %.1f MiB resident (peak %.1f MiB)\n", r.CPUPerMsg, r.RSS, r.PeakRSS)
	}
	for e, n := range r.Errors {
		fmt.Fprintf(w, "error         %d× %s\n", n, e)
	}
}

func mergeCounts(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range []map[string]int{a, b} {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// isTerminal tells whether f is a terminal (its terminal attributes can
// be read).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
