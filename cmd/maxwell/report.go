package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/maxwell-milter/maxwell/report"
)

// reportCmd sums up mail logs: plain or gzipped files, stdin by default.
func reportCmd(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: maxwell report [--json | --html FILE] [--top N] [FILE ...]  (FILE: a mail log, plain or .gz; - or none: stdin)\n")
		fs.PrintDefaults()
	}
	jsonOut := fs.Bool("json", false, "print JSON")
	htmlFile := fs.String("html", "", "also write a self-contained HTML page with charts to `file`")
	top := fs.Int("top", 10, "how many clients, domains and reasons to list")
	year := fs.Int("year", time.Now().Year(), "the year of syslog lines, which carry none")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
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
