// Package pgtest starts a real PostgreSQL server on a free loopback port
// for a test, in a temporary directory, and stops it when the test ends.
// Tests that need it skip where PostgreSQL is not installed, except in
// CI, which sets RequireEnv.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tursync/tursync/internal/testport"
)

// RequireEnv, set to 1, turns a missing PostgreSQL into a test failure.
const RequireEnv = "TURSYNC_REQUIRE_POSTGRES"

// BinEnv names the directory of initdb and postgres when they are not on
// PATH or in Debian's /usr/lib/postgresql/N/bin.
const BinEnv = "TURSYNC_POSTGRES_BIN"

// Find returns the directory of PostgreSQL's initdb and postgres, or skips
// the test (fails it in CI).
func Find(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(BinEnv); d != "" {
		return d
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("PostgreSQL is required (%s=1) but initdb was not found: install Debian's postgresql package or set %s (.ci/run installs it)", RequireEnv, BinEnv)
	}
	t.Skip("PostgreSQL not installed (see .ci/run for how CI gets it); skipping")
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Server is a running PostgreSQL with trust authentication on loopback.
type Server struct {
	URL  string // postgres://tursync@127.0.0.1:PORT/tursync
	Port int
	dir  string
	bin  string
	cmd  *exec.Cmd
	t    testing.TB
}

// Start initialises a cluster in a temporary directory and runs it until
// the test ends. As root, the cluster belongs to the postgres user (the
// server refuses to run as root).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Find(t)
	dir, err := os.MkdirTemp("", "tursync-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{dir: dir, bin: bin, t: t}
	if err := s.own(dir); err != nil {
		t.Fatal(err)
	}
	out, err := s.command("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "tursync", "--no-sync", "-E", "UTF8").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Port = testport.Port(t)
	s.URL = fmt.Sprintf("postgres://tursync@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// own gives the directory to the postgres user when running as root.
func (s *Server) own(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres user to own the cluster: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

// command runs a PostgreSQL program, as the postgres user when root.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Restart starts the server (again, after Stop) and waits until it
// accepts a connection.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = s.command("postgres", "-D", filepath.Join(s.dir, "data"), "-c", "listen_addresses=127.0.0.1",
		"-p", strconv.Itoa(s.Port), "-k", s.dir, "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	logs, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logs, logs
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start postgres: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			s.t.Fatalf("postgres did not accept connections in 30 s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown: open transactions roll
// back) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// Conn opens a connection for the test to read the target with.
func (s *Server) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
