// Package pgtest runs a private PostgreSQL server for tests: initdb into
// a temporary directory, the server listening only on a unix socket in
// that directory, stopped by its PID when the test ends.
package pgtest

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// Server is a running PostgreSQL.
type Server struct {
	Dir   string // data directory and socket directory
	cmd   *exec.Cmd
	log   mtatest.Buffer
	ended chan struct{}
}

// binDir finds the PostgreSQL server programs: on the PATH, or where
// Debian's postgresql package puts them.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server programs not found (apt-get install postgresql)")
}

// Start initialises and starts a server. PostgreSQL refuses to run as
// root, so under root it runs as the "postgres" user the package creates.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "maxwell-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(bin, name), args...)
		c.Dir = dir
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return c
	}
	data := filepath.Join(dir, "data")
	if out, err := command("initdb", "-D", data, "-U", "maxwell", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s := &Server{Dir: dir, ended: make(chan struct{})}
	s.cmd = command("postgres", "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.ended) }()
	t.Cleanup(s.Stop)
	if err := s.wait(30 * time.Second); err != nil {
		t.Fatalf("PostgreSQL did not start: %v\n%s", err, s.Log())
	}
	return s
}

// DSN is the connection string for a database of the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=maxwell dbname=%s sslmode=disable", s.Dir, db)
}

var dbCount atomic.Int64

// NewDB creates an empty database and returns its connection string.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", dbCount.Add(1))
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return s.DSN(name)
}

func (s *Server) wait(d time.Duration) error {
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-s.ended:
			return fmt.Errorf("postgres exited")
		default:
		}
		var db *sql.DB
		if db, err = sql.Open("pgx", s.DSN("postgres")); err == nil {
			err = db.Ping()
			db.Close()
			if err == nil {
				return nil
			}
		}
	}
	return err
}

// Stop shuts the server down by its PID (fast shutdown: SIGINT), killing
// it if it has not stopped in 10s.
func (s *Server) Stop() { mtatest.Stop(s.cmd.Process, s.ended, syscall.SIGINT) }

// Restart starts the server again on the same data after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	c := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	c.Dir, c.SysProcAttr, c.Stdout, c.Stderr = s.cmd.Dir, s.cmd.SysProcAttr, s.cmd.Stdout, s.cmd.Stderr
	s.cmd, s.ended = c, make(chan struct{})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.Wait(); close(s.ended) }()
	if err := s.wait(30 * time.Second); err != nil {
		t.Fatalf("PostgreSQL did not restart: %v\n%s", err, s.Log())
	}
}

// Log is what the server printed.
func (s *Server) Log() string { return s.log.String() }
