package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/ratelog"
	"github.com/maxwell-milter/maxwell/logindex"
	"github.com/maxwell-milter/maxwell/milter"
	"github.com/maxwell-milter/maxwell/web"
	"golang.org/x/crypto/bcrypt"
)

const webUsage = `usage: maxwell web passwd [USER]
  passwd  read a password (one line) from stdin, print its bcrypt hash and
          the [[web.users]] entry to paste into maxwell.toml (docs/web.md)
`

// webPasswordCost is the bcrypt cost of `web passwd`'s hashes.
const webPasswordCost = 12

func webCmd(args []string) int {
	if len(args) == 0 || args[0] != "passwd" {
		fmt.Fprint(os.Stderr, webUsage)
		return exitUsage
	}
	return webPasswd(args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// webPasswd is `maxwell web passwd [USER]`.
func webPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 1 || len(args) == 1 && strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, webUsage)
		return exitUsage
	}
	user := "admin"
	if len(args) == 1 {
		user = args[0]
	}
	if user == "" || len(user) > 64 || strings.ContainsFunc(user, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' || r == '\\' }) {
		fmt.Fprintf(stderr, "maxwell web passwd: %q: a user name is 1 to 64 characters, without spaces, quotes or control characters\n", user)
		return exitUsage
	}
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "Password (shown as typed): ")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "maxwell web passwd:", err)
		return exitFailure
	}
	password := strings.TrimRight(line, "\r\n")
	switch {
	case password == "":
		fmt.Fprintln(stderr, "maxwell web passwd: no password on stdin")
		return exitUsage
	case len(password) > 72: // bcrypt reads no further
		fmt.Fprintln(stderr, "maxwell web passwd: a password of at most 72 bytes (bcrypt reads no further)")
		return exitUsage
	case len(password) < 10:
		fmt.Fprintln(stderr, "maxwell web passwd: warning: a password under 10 characters is easy to guess")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), webPasswordCost)
	if err != nil {
		fmt.Fprintln(stderr, "maxwell web passwd:", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s\n\n[[web.users]]\nname = \"%s\"\npassword_hash = \"%s\"\nread_only = false\n", hash, user, hash)
	return exitOK
}

// serveWeb starts the web console ([web] listen) on the engine's
// store, through its cache: a triplet deleted there is gone for the
// daemon at once. It stops when ctx ends.
func (d *daemon) serveWeb(ctx context.Context, cfg *config.Config) error {
	c := cfg.Web
	deps := web.Deps{Store: d.engineStore, DNS: d.dnsCounts, Log: d.ml, Now: time.Now, Diag: d.diag, Config: d.running.Load, ConfigFile: d.path}
	if f := d.ml.Path(); f != "" {
		idx, err := logindex.Open(cfg.UserFile("logindex.db"))
		if err != nil {
			return fmt.Errorf("the mail log's index: %w", err)
		}
		deps.Index, deps.LogFile = idx, f
		go indexMailLog(ctx, idx, f, d.diag)
	}
	hs := &http.Server{
		Handler:           web.New(cfg, deps),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          ratelog.New("from the web console", func() *slog.Logger { return d.diag }).Std(),
	}
	if c.TLS() {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return err
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var (
		lnr net.Listener
		err error
	)
	if c.UnixPath() != "" {
		// Made with mode 0660, as the milter's socket: for a reverse
		// proxy of the group.
		sock, perr := config.ParseSocket(c.Listen)
		if perr != nil {
			return perr
		}
		lnr, err = milter.Listen(sock, "")
	} else {
		lnr, err = milter.ListenTCP("tcp", c.Listen)
	}
	if err != nil {
		return err
	}
	for _, w := range c.Warnings() {
		d.diag.Warn(w)
	}
	go func() {
		var err error
		if c.TLS() {
			err = hs.ServeTLS(lnr, "", "")
		} else {
			err = hs.Serve(lnr)
		}
		if err != nil && err != http.ErrServerClosed {
			d.diag.Error("the web console stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	d.diag.Info("serving the web console", "listen", lnr.Addr().String(), "tls", c.TLS())
	return nil
}

// indexMailLog keeps the mail log's index up to date for the log pages:
// what was appended since, every logIndexInterval, until ctx ends; then
// it closes the index. A rotated log is indexed again from its start.
func indexMailLog(ctx context.Context, idx *logindex.Index, file string, diag *slog.Logger) {
	defer idx.Close()
	tick := time.NewTicker(logIndexInterval)
	defer tick.Stop()
	for {
		if _, err := idx.Update(ctx, file); err != nil && ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) {
			diag.Warn("indexing the mail log", "file", file, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// logIndexInterval is how soon a line of the mail log can be searched
// in the web console.
const logIndexInterval = 2 * time.Second
