// Command maxwell is a mail-policy milter for Sendmail and Postfix.
//
//	maxwell serve [-c FILE]          run the milter daemon
//	maxwell check [flags] FILE.eml   dry-run one message through the policy
//	maxwell spf --ip A --helo H ...  check SPF as maxwell would
//	maxwell greylist COMMAND ...     list, allow, delete greylist entries; stats; expire
//	maxwell blacklist COMMAND ...    banned IPs and blacklisted senders
//	maxwell report [FILE ...]        sum up mail logs
//	maxwell watch [MTA_LOG]          blacklist clients that hang up after greylisting
//	maxwell web passwd [USER]        hash a password for the web console
//	maxwell reputation show|list     reputations, the site's own and its peers'
//	maxwell srs forward|reverse|rrs  rewrite and reverse SRS addresses, RRS aliases
//	maxwell ses sign|check ADDR      sign and check SES addresses
//	maxwell bench --addr A ...       load a milter and measure it
//	maxwell config check [FILE]      validate a configuration file
//	maxwell config import MILTER.CFG carry bms.py's milter.cfg over
//	maxwell templates check DIR      validate DSN templates
//	maxwell version                  print the version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/maxwell-milter/maxwell/dryrun"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/safefile"
	"github.com/maxwell-milter/maxwell/policy"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// Exit statuses shared by the subcommands.
const (
	exitOK       = 0
	exitFailure  = 1 // could not do the job (I/O, a socket, ...)
	exitUsage    = 2 // bad command line or bad configuration; for the admin commands, also no store where the configuration says
	exitDiscard  = 3 // maxwell check: the message would be discarded
	exitTempfail = 4 // maxwell check: 4xx
	exitReject   = 5 // maxwell check: 5xx
)

const usage = `usage:
  maxwell serve [-c FILE] [--watch MTA_LOG]
                                   run the milter daemon (embedded defaults without -c)
  maxwell check [flags] FILE.eml   run one message through the policy, offline
  maxwell spf --ip A --helo H [--sender S] [--trace]
                                   check SPF for a client as maxwell would
  maxwell greylist list|allow|delete|stats|expire [-c FILE] [flags]
                                   look at and change the greylist
  maxwell blacklist list|add|delete|export [-c FILE] [--ip A | --client A | --sender S]
                                   banned IPs, blacklisted clients and senders
  maxwell reputation show ID | list [--limit N] [-c FILE]
                                   reputations: the site's own, and what its peers say
  maxwell watch [-c FILE] [--once] [MTA_LOG]
                                   blacklist clients that hang up after greylisting
  maxwell web passwd [USER]        read a password on stdin, print its hash for [[web.users]]
  maxwell dkim keygen [--algorithm rsa|ed25519] DOMAIN SELECTOR
                                   write a DKIM signing key, print its DNS record
  maxwell srs forward|reverse|rrs [-c FILE] ADDRESS...
                                   rewrite senders with SRS ([srs]), reverse them; RRS aliases
  maxwell ses sign|check [-c FILE] ADDRESS...
                                   sign senders with SES, and check signed ones
  maxwell report [--json | --html FILE] [FILE ...]
                                   sum up mail logs (plain or .gz; stdin by default)
  maxwell bench --addr A [-n N] [-c C] [flags]
                                   load a milter (maxwell or another) as Postfix does, and measure it
  maxwell config check [FILE]      validate a configuration file (default: /etc/maxwell/maxwell.toml)
  maxwell config import MILTER.CFG carry a bms.py configuration over to maxwell.toml
  maxwell templates check DIR      validate DSN templates ([cbv] templates_dir)
  maxwell version                  print the version
Run "maxwell COMMAND -h" for the flags of a command.
`

func main() {
	policy.Version = version
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "check":
		return check(args[1:])
	case "spf":
		return spfQuery(args[1:])
	case "greylist":
		return greylistCmd(args[1:])
	case "bench":
		return benchCmd(args[1:])
	case "report":
		return reportCmd(args[1:])
	case "blacklist":
		return blacklistCmd(args[1:])
	case "watch":
		return watchCmd(args[1:])
	case "reputation":
		return reputationCmd(args[1:])
	case "dkim":
		return dkimCmd(args[1:])
	case "web":
		return webCmd(args[1:])
	case "srs", "ses":
		return srsCmd(args[0], args[1:])
	case "config":
		if len(args) >= 2 && args[1] == "check" {
			return configCheck(args[2:])
		}
		if len(args) >= 2 && args[1] == "import" {
			return configImport(args[2:])
		}
	case "templates":
		if len(args) >= 2 && args[1] == "check" {
			return templatesCheck(args[2:])
		}
	case "version", "-version", "--version":
		fmt.Println("maxwell", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "maxwell: unknown command %q\n%s", strings.Join(args, " "), usage)
	return exitUsage
}

// defaultConfigFile is the configuration a command reads without -c,
// when the file is there: where the Debian package installs it.
var defaultConfigFile = "/etc/maxwell/maxwell.toml"

// configFlags are -c (--config) and -defaults: the configuration a
// command reads.
type configFlags struct {
	file     *string
	defaults *bool
}

// addConfigFlags registers -c, --config and -defaults.
func addConfigFlags(fs *flag.FlagSet) configFlags {
	f := configFlags{
		file:     fs.String("c", "", "configuration `file` (default: "+defaultConfigFile+" if it exists)"),
		defaults: fs.Bool("defaults", false, "the embedded defaults, even if "+defaultConfigFile+" exists (as make run)"),
	}
	fs.StringVar(f.file, "config", "", "same as -c")
	return f
}

// load reads the configuration the flags name: -c's file, else
// defaultConfigFile, else — when orDefaults, or with -defaults — the
// embedded defaults. It returns the file read too ("" for the defaults).
// A defaultConfigFile that exists but cannot be read is still the one
// read, so that the error says why.
func (f configFlags) load(orDefaults bool) (*config.Config, string, error) {
	switch {
	case *f.defaults && *f.file != "":
		return nil, "", errors.New("maxwell: -c and -defaults exclude each other")
	case *f.defaults:
		return config.Default(), "", nil
	}
	file := *f.file
	if file == "" {
		if _, err := os.Stat(defaultConfigFile); errors.Is(err, fs.ErrNotExist) {
			if orDefaults {
				return config.Default(), "", nil
			}
			return nil, "", fmt.Errorf("maxwell: no configuration: %s does not exist.\n"+
				"  Give the configuration maxwell serve runs with (-c FILE), or -defaults for the embedded defaults (make run).", defaultConfigFile)
		}
		file = defaultConfigFile
	}
	cfg, err := config.Load(file)
	return cfg, file, err
}

// offlineEngine builds the policy engine for a command that runs it
// without an MTA, writing the mail log to mailLog.
func offlineEngine(cfg *config.Config, mailLog io.Writer) (*policy.Engine, error) {
	return dryrun.Engine(cfg, mailLog, stderrLog())
}

// stderrLog is the diagnostic log of the commands that run the engine
// offline: standard error.
func stderrLog() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// exitStatus is the exit status of check and spf for a final action.
func exitStatus(a policy.Action) int {
	switch a {
	case policy.Reject:
		return exitReject
	case policy.Tempfail:
		return exitTempfail
	case policy.Discard:
		return exitDiscard
	}
	return exitOK
}

// configCheck validates a file and what it names, as `serve` would at
// start (preflight); problems go to stderr, one per line, each with the
// key (and line), and the status is 2.
// configImport prints bms.py's milter.cfg as a maxwell.toml, and on
// standard error what it did not carry over, with why.
func configImport(args []string) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(os.Stderr, "usage: maxwell config import MILTER.CFG > maxwell.toml\n"+
			"Carries a bms.py configuration over to maxwell's: same-named and renamed keys,\n"+
			"0/1 booleans, comma lists, minutes, hours and days; every key it cannot carry\n"+
			"is listed on standard error with the reason. Check the result with\n"+
			"maxwell config check.\n")
		return exitUsage
	}
	src, err := safefile.Read(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell config import:", err)
		return exitUsage
	}
	out, dropped, err := config.ImportBMS(args[0], src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maxwell config import:", err)
		return exitUsage
	}
	os.Stdout.Write(out)
	if len(dropped) > 0 {
		keys := "keys"
		if len(dropped) == 1 {
			keys = "key"
		}
		fmt.Fprintf(os.Stderr, "maxwell config import: %d %s of %s not carried over (also listed at the end of the output):\n", len(dropped), keys, args[0])
		for _, d := range dropped {
			fmt.Fprintf(os.Stderr, "  %s\n", d)
		}
	}
	return exitOK
}

func configCheck(args []string) int {
	flags := flag.NewFlagSet("maxwell config check", flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), "usage: maxwell config check [FILE | -c FILE] (default: "+defaultConfigFile+")\n")
	}
	var file string
	flags.StringVar(&file, "c", "", "configuration `file`")
	flags.StringVar(&file, "config", "", "same as -c")
	operands, err := parseInterspersed(flags, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(operands) > 1 || len(operands) == 1 && file != "" {
		flags.Usage()
		return exitUsage
	}
	if len(operands) == 1 {
		file = operands[0]
	}
	if _, err := os.Stat(defaultConfigFile); file == "" && errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "maxwell config check: no FILE given, and %s does not exist\n", defaultConfigFile)
		return exitUsage
	}
	cfg, path, err := configFlags{file: &file, defaults: new(bool)}.load(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	if !checkStart(path, cfg, cfg.Watch.MTALog != "", os.Stderr) {
		return exitUsage
	}
	fmt.Printf("%s: ok\n", path)
	return exitOK
}
