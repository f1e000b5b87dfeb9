package main

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxwell report --dmarc-aggregate writes a report per policy domain and
// prints a line per file; it reads gzipped logs as well as plain ones,
// and tells the lines it skipped.
func TestReportDMARCAggregate(t *testing.T) {
	log, err := os.ReadFile("../../report/testdata/dmarc.log")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	// the log cut in two files, the second gzipped
	half := strings.LastIndex(string(log[:strings.Index(string(log), " conn=21 ")]), "\n") + 1 // the line of 13:00
	plain, gz := filepath.Join(tmp, "mail.log.1"), filepath.Join(tmp, "mail.log.gz")
	if err := os.WriteFile(plain, log[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create(gz)
	zw := gzip.NewWriter(f)
	zw.Write(log[half:])
	zw.Close()
	f.Close()
	dir := filepath.Join(tmp, "reports")
	os.Mkdir(dir, 0o755)

	code, out, errs := capture(t, func() int {
		return run([]string{"report", "--dmarc-aggregate", dir, "--since", "2026-12-03", "--until", "2026-12-04",
			"--org", "MX.example.net.", "--email", "dmarc-reports@example.net", "--year", "2026", plain, gz})
	})
	want := filepath.Join(dir, "mx.example.net!example.com!1796256000!1796342399.xml") + ": 4 records, 5 messages\n" +
		filepath.Join(dir, "mx.example.net!example.org!1796256000!1796342399.xml") + ": 1 record, 2 messages\n"
	if code != exitOK || out != want {
		t.Errorf("status %d\n%s\nwant\n%s", code, out, want)
	}
	if !strings.Contains(errs, "skipped 4 DMARC lines that cannot be read (the first: "+gz+`, line 5: bad ip "not-an-ip")`) {
		t.Errorf("stderr: %s", errs)
	}
	data, err := os.ReadFile(filepath.Join(dir, "mx.example.net!example.com!1796256000!1796342399.xml"))
	if err != nil || !strings.Contains(string(data), "<email>dmarc-reports@example.net</email>") {
		t.Errorf("%v\n%s", err, data)
	}

	code, out, errs = capture(t, func() int {
		return run([]string{"report", "--dmarc-aggregate", dir, "--since", "2027-01-01", "--org", "mx.example.net", plain})
	})
	if code != exitOK || out != "" || !strings.Contains(errs, "no report written") {
		t.Errorf("an empty period: status %d\n%s%s", code, out, errs)
	}
}

// Bad arguments are refused with a message that names them, before
// anything is read.
func TestReportDMARCAggregateRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--dmarc-aggregate", filepath.Join(dir, "missing")}, exitFailure, "--dmarc-aggregate " + filepath.Join(dir, "missing") + ": cannot write reports there"},
		{[]string{"--dmarc-aggregate", file}, exitFailure, "is not a directory"},
		{[]string{"--dmarc-aggregate", dir, "--since", "last week"}, exitFailure, `--since: bad time "last week"`},
		{[]string{"--dmarc-aggregate", dir, "--until", "2026-12-32"}, exitFailure, `--until: bad time "2026-12-32"`},
		{[]string{"--dmarc-aggregate", dir, "--since", "today", "--until", "yesterday"}, exitFailure, "is not before --until"},
		{[]string{"--dmarc-aggregate", dir, "--org", "Example Org"}, exitFailure, `--org "Example Org"`},
		{[]string{"--dmarc-aggregate", dir, "--org", "example.org", "--email", "nobody"}, exitFailure, `--email "nobody"`},
		{[]string{"--dmarc-aggregate", dir, "--json"}, exitUsage, "no --json or --html"},
		{[]string{"--since", "yesterday"}, exitUsage, "go with --dmarc-aggregate"},
	} {
		code, out, errs := capture(t, func() int { return run(append([]string{"report"}, append(tc.args, file)...)) })
		if code != tc.code || out != "" || !strings.Contains(errs, tc.says) {
			t.Errorf("%v: status %d, want %d, saying %q\n%s%s", tc.args, code, tc.code, tc.says, out, errs)
		}
	}
}

// The example of docs/dkim-dmarc.md's aggregate reports is what the
// command writes: its output, the report of example.org, the record of
// example.com.
func TestReportDMARCAggregateDoc(t *testing.T) {
	var doc []byte
	for _, name := range []string{"../../docs/dkim-dmarc.md"} {
		if b, err := os.ReadFile(name); err == nil && strings.Contains(string(b), "## Aggregate reports") {
			doc = b
			break
		}
	}
	if doc == nil {
		t.Fatal("docs/dkim-dmarc.md has no Aggregate reports section")
	}
	text := string(doc[strings.Index(string(doc), "### Example"):])
	blocks := func(lang string) []string {
		var out []string
		for _, part := range strings.Split(text, "```"+lang+"\n")[1:] {
			block, _, _ := strings.Cut(part, "```\n")
			out = append(out, block)
		}
		return out
	}
	console, xmls := blocks("console"), blocks("xml")
	if len(console) != 1 || len(xmls) != 2 {
		t.Fatalf("%d console and %d xml blocks in the example", len(console), len(xmls))
	}
	lines := strings.Split(strings.ReplaceAll(console[0], "\\\n", ""), "\n")
	command, wantOut := strings.Fields(strings.TrimPrefix(lines[0], "$ ")), strings.Join(lines[1:], "\n")
	if len(command) < 3 || command[0] != "maxwell" || command[1] != "report" {
		t.Fatalf("the example's command: %q", lines[0])
	}
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "mail.log")
	data, err := os.ReadFile("../../report/testdata/dmarc.log")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(logFile, data, 0o644)
	const docDir = "/var/spool/maxwell/dmarc"
	dir := filepath.Join(tmp, "dmarc")
	os.Mkdir(dir, 0o755)
	args := []string{"--year", "2026"} // the syslog line of the log is of 2026
	for _, a := range command[2:] {
		switch a {
		case docDir:
			a = dir
		case "mail.log":
			a = logFile
		}
		args = append(args, a)
	}
	code, out, errs := capture(t, func() int { return run(append([]string{"report"}, args...)) })
	got := strings.ReplaceAll(out+errs, dir, docDir)
	got = strings.ReplaceAll(got, logFile, "mail.log")
	if code != exitOK || got != wantOut {
		t.Errorf("status %d, the command says\n%s\nthe page\n%s", code, got, wantOut)
	}
	org, err := os.ReadFile(filepath.Join(dir, "mx.example.net!example.org!1796256000!1796342399.xml"))
	if err != nil || string(org) != xmls[0] {
		t.Errorf("the report of example.org (%v):\n%s\nthe page:\n%s", err, org, xmls[0])
	}
	com, err := os.ReadFile(filepath.Join(dir, "mx.example.net!example.com!1796256000!1796342399.xml"))
	if err != nil || !strings.Contains(string(com), xmls[1]) {
		t.Errorf("the report of example.com (%v):\n%s\nholds not the page's record:\n%s", err, com, xmls[1])
	}
}
