package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/report"
)

// reportCmd sums up mail logs: plain or gzipped files, stdin by default.
func reportCmd(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: maxwell report [--json | --html FILE] [--top N] [FILE ...]\n"+
			"       maxwell report --dmarc-aggregate DIR [--since T] [--until T] [--org NAME] [--email ADDR] [FILE ...]\n"+
			"  (FILE: a mail log, plain or .gz; - or none: stdin)\n")
		fs.PrintDefaults()
	}
	jsonOut := fs.Bool("json", false, "print JSON")
	htmlFile := fs.String("html", "", "also write a self-contained HTML page with charts to `file`")
	top := fs.Int("top", 10, "how many clients, domains and reasons to list")
	year := fs.Int("year", time.Now().Year(), "the year of syslog lines, which carry none")
	var agg aggregateFlags
	fs.StringVar(&agg.dir, "dmarc-aggregate", "", "write a DMARC aggregate report (RFC 7489) per policy domain into `dir`, instead of the summary")
	fs.StringVar(&agg.since, "since", "", "with --dmarc-aggregate: report the lines from `time` on (RFC 3339, YYYY-MM-DD, today or yesterday; dates are midnight UTC); default: from the first line")
	fs.StringVar(&agg.until, "until", "", "with --dmarc-aggregate: report the lines before `time` (as --since); default: to the last line")
	fs.StringVar(&agg.org, "org", "", "with --dmarc-aggregate: the reporting organization's `domain`, its org_name and the receiver in the file names (default: this host's name)")
	fs.StringVar(&agg.email, "email", "", "with --dmarc-aggregate: the reporting organization's contact `address` (default: postmaster@ORG)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	if agg.dir != "" {
		if *jsonOut || *htmlFile != "" {
			fmt.Fprintln(os.Stderr, "maxwell report: --dmarc-aggregate writes reports instead of the summary: it takes no --json or --html")
			return exitUsage
		}
		return dmarcAggregate(agg, files, *year)
	}
	if agg.since != "" || agg.until != "" || agg.org != "" || agg.email != "" {
		fmt.Fprintln(os.Stderr, "maxwell report: --since, --until, --org and --email go with --dmarc-aggregate DIR")
		return exitUsage
	}
	var readers []io.Reader
	for _, name := range files {
		r, closeFn, err := openLog(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "maxwell report:", err)
			return exitFailure
		}
		defer closeFn()
		readers = append(readers, r)
	}
	rep, err := report.Read(io.MultiReader(readers...), *year, *top)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell report:", err)
		return exitFailure
	}
	for _, name := range files {
		if name == "-" {
			name = "standard input"
		}
		rep.Sources = append(rep.Sources, name)
	}
	rep.Host, _ = os.Hostname()
	rep.Generated = time.Now()
	if *htmlFile != "" {
		f, err := os.Create(*htmlFile)
		if err == nil {
			err = rep.WriteHTML(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "maxwell report:", err)
			return exitFailure
		}
	}
	if *jsonOut {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteText(os.Stdout)
	}
	if err != nil {
		return exitFailure
	}
	return exitOK
}

// aggregateFlags are the flags of maxwell report --dmarc-aggregate.
type aggregateFlags struct{ dir, since, until, org, email string }

// dmarcAggregate writes the DMARC aggregate reports of the mail logs
// files into a.dir, and prints a line per file written.
func dmarcAggregate(a aggregateFlags, files []string, year int) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "maxwell report: "+format+"\n", args...)
		return exitFailure
	}
	if err := report.CheckReportDir(a.dir); err != nil {
		return fail("--dmarc-aggregate %s: cannot write reports there: %v", a.dir, err)
	}
	opt := report.AggregateOptions{Org: a.org, Email: a.email, Year: year}
	now := time.Now()
	var err error
	if a.since != "" {
		if opt.Since, err = report.ParseReportTime(a.since, now); err != nil {
			return fail("--since: %v", err)
		}
	}
	if a.until != "" {
		if opt.Until, err = report.ParseReportTime(a.until, now); err != nil {
			return fail("--until: %v", err)
		}
	}
	if !opt.Since.IsZero() && !opt.Until.IsZero() && !opt.Since.Before(opt.Until) {
		return fail("--since %s is not before --until %s: the period is empty", a.since, a.until)
	}
	if opt.Org == "" {
		if opt.Org, err = os.Hostname(); err != nil {
			return fail("no --org, and this host's name cannot be had: %v", err)
		}
		opt.Org = strings.ToLower(opt.Org)
		if !report.ValidDomain(opt.Org) {
			return fail("this host's name %q is no domain name: give --org DOMAIN", opt.Org)
		}
	} else if opt.Org = strings.ToLower(strings.TrimSuffix(opt.Org, ".")); !report.ValidDomain(opt.Org) {
		return fail("--org %q: give the reporting organization's domain name (example.org): it goes into the file names", a.org)
	}
	if opt.Email == "" {
		opt.Email = "postmaster@" + opt.Org
	} else if local, dom, ok := strings.Cut(opt.Email, "@"); !ok || local == "" || dom == "" || strings.ContainsAny(opt.Email, " \t\r\n<>") {
		return fail("--email %q: give an address (dmarc-reports@example.org)", opt.Email)
	}
	aggr := report.NewAggregator(opt)
	for _, name := range files {
		r, closeFn, err := openLog(name)
		if err != nil {
			return fail("%v", err)
		}
		if name == "-" {
			name = "standard input"
		}
		err = aggr.Read(name, r)
		closeFn()
		if err != nil {
			return fail("%s: %v", name, err)
		}
	}
	agg := aggr.Aggregate()
	if agg.Skipped > 0 {
		fmt.Fprintf(os.Stderr, "maxwell report: skipped %d DMARC lines that cannot be read (the first: %s)\n", agg.Skipped, agg.FirstSkipped)
	}
	written, err := agg.WriteFiles(a.dir)
	for _, w := range written {
		fmt.Printf("%s: %s, %s\n", w.Path, plural(w.Records, "record"), plural(w.Messages, "message"))
	}
	if err != nil {
		return fail("%v", err)
	}
	if len(written) == 0 {
		fmt.Fprintf(os.Stderr, "maxwell report: no DMARC result with a policy in the period of the %d lines read: no report written\n", agg.Lines)
	}
	return exitOK
}

// plural is "1 record", "2 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// openLog opens a log file (- for stdin), gunzipping it if it is gzipped.
func openLog(name string) (io.Reader, func(), error) {
	var f *os.File = os.Stdin
	if name != "-" {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, nil, err
		}
	}
	closeFn := func() {
		if f != os.Stdin {
			f.Close()
		}
	}
	br := bufio.NewReader(f)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return zr, closeFn, nil
	}
	return br, closeFn, nil
}
