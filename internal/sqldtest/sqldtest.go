// Package sqldtest starts a real libSQL server (sqld) on a free loopback
// port for a test, and stops it when the test ends. Tests that need it
// skip where sqld is not installed, except in CI, which sets RequireEnv.
package sqldtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testport"
)

// RequireEnv, set to 1, turns a missing sqld into a test failure.
const RequireEnv = "TURSYNC_REQUIRE_SQLD"

// BinEnv names the sqld binary when it is not on PATH.
const BinEnv = "TURSYNC_SQLD"

// Find returns the sqld binary, or skips the test (fails it in CI).
func Find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinEnv); p != "" {
		return p
	}
	p, err := exec.LookPath("sqld")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("sqld is required (%s=1) but not found: set %s or put sqld on PATH (.ci/run installs it)", RequireEnv, BinEnv)
		}
		t.Skip("sqld not installed (see .ci/run for how CI gets it); skipping")
	}
	return p
}

// Server is a running sqld.
type Server struct {
	URL   string // http://127.0.0.1:PORT
	Admin string // http://127.0.0.1:PORT of the admin listener, with Namespaces
	Dir   string
	cmd   *exec.Cmd
	key   ed25519.PrivateKey
	Logs  *os.File
}

// Options tune Start.
type Options struct {
	// Auth makes the server require EdDSA JWTs signed by a key the test
	// holds; Token mints them.
	Auth bool
	// Namespaces starts sqld with --enable-namespaces and an admin
	// listener (Admin) that creates them; the default namespace is off.
	Namespaces bool
}

// Key is the Ed25519 private key whose public half sqld checks JWTs with
// (Auth).
func (s *Server) Key() ed25519.PrivateKey { return s.key }

// Start runs sqld in a temporary directory and waits until it answers a
// query.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Find(t)
	dir := t.TempDir()
	s := &Server{Dir: dir}
	args := []string{"-d", filepath.Join(dir, "data"), "--http-listen-addr", ""}
	if o.Auth {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.key = priv
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(dir, "jwt.pem")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--auth-jwt-key-file", keyFile)
	}
	adminAt := -1
	if o.Namespaces {
		adminAt = len(args) + 1
		// Past --max-active-namespaces (default 100) sqld evicts namespaces,
		// and a namespace evicted before its first checkpoint can come back
		// as "doesn't exist".
		args = append(args, "--admin-listen-addr", "", "--enable-namespaces", "--max-active-namespaces", "4096")
	}
	logs, err := os.Create(filepath.Join(dir, "sqld.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.Logs = logs
	// The port is picked here and bound by sqld a moment later; another
	// process taking it in between is retried with a new port.
	for attempt := 0; attempt < 5; attempt++ {
		addr := testport.Addr(t)
		args[3] = addr
		if adminAt > 0 {
			args[adminAt] = testport.Addr(t)
			s.Admin = "http://" + args[adminAt]
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sqld: %v", err)
		}
		s.cmd = cmd
		s.URL = "http://" + addr
		if s.waitReady(10 * time.Second) {
			// A failed test shows what sqld said (registered first, so it
			// runs after Stop: the log is whole).
			t.Cleanup(func() {
				if t.Failed() {
					b, _ := os.ReadFile(logs.Name())
					t.Logf("sqld's log, its last 8 KB:\n%s", b[max(0, len(b)-8192):])
				}
			})
			t.Cleanup(s.Stop)
			return s
		}
		s.Stop()
	}
	b, _ := os.ReadFile(logs.Name())
	t.Fatalf("sqld did not become ready; its log:\n%s", b)
	return nil
}

func (s *Server) waitReady(d time.Duration) bool {
	deadline := time.Now().Add(d)
	body := `{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}},{"type":"close"}]}`
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("POST", s.URL+"/v2/pipeline", strings.NewReader(body))
		if s.key != nil {
			req.Header.Set("Authorization", "Bearer "+s.Token("rw"))
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			// With namespaces the Host (127) names no namespace: any answer,
			// and one from the admin listener, means ready.
			if resp.StatusCode == 200 || s.Admin != "" && s.adminAnswers() {
				return true
			}
		}
		if s.cmd.ProcessState != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (s *Server) adminAnswers() bool {
	resp, err := http.Get(s.Admin + "/v1/namespaces/ready-probe/config")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// Stop kills sqld (as a crash would) and waits for it.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Restart starts sqld again on the same port and data directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = s.Logs, s.Logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart sqld: %v", err)
	}
	s.cmd = cmd
	if !s.waitReady(10 * time.Second) {
		t.Fatal("sqld did not come back")
	}
}

// Token mints a JWT with access "rw" or "ro", valid for an hour.
func (s *Server) Token(access string) string {
	if s.key == nil {
		return ""
	}
	enc := base64.RawURLEncoding
	head, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"a": access, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	msg := enc.EncodeToString(head) + "." + enc.EncodeToString(claims)
	return msg + "." + enc.EncodeToString(ed25519.Sign(s.key, []byte(msg)))
}
