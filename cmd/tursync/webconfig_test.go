package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testwait"
	"golang.org/x/crypto/bcrypt"
)

// writeWebConfig writes a self-signed certificate for 127.0.0.1 and a web
// config with TLS and one basic-auth user; it returns the config's path
// and a client that trusts the certificate.
func writeWebConfig(t *testing.T, user, password string) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tursync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	y := "tls_server_config:\n  cert_file: " + certPath + "\n  key_file: " + keyPath + "\nbasic_auth_users:\n  " + user + ": " + string(hash) + "\n"
	if err := os.WriteFile(webCfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return webCfg, &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestListenerWithTLSAndBasicAuth: with http.web_config_file the daemon
// serves over TLS and asks for the password; a wrong one gets 401.
func TestListenerWithTLSAndBasicAuth(t *testing.T) {
	webCfg, client := writeWebConfig(t, "prom", "s3cret-pass")
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.write(t, cfgPath)
	b, _ := os.ReadFile(cfgPath)
	y := strings.Replace(string(b), "http: {listen: \""+cfg.listen+"\"}", "http: {listen: \""+cfg.listen+"\", web_config_file: \""+webCfg+"\"}", 1)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	get := func(user, pass string) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+cfg.listen+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body := new(strings.Builder)
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, body.String()
	}
	testwait.UntilSays(t, "a scrape over TLS with the password", func() (bool, string) {
		code, body := get("prom", "s3cret-pass")
		return code == 200 && strings.Contains(body, "tursync_build_info"), body
	})
	if code, _ := get("prom", "wrong"); code != 401 {
		t.Errorf("wrong password: HTTP %d, want 401", code)
	}
	if code, _ := get("", ""); code != 401 {
		t.Errorf("no password: HTTP %d, want 401", code)
	}
	if code, body := httpGet("http://" + cfg.listen + "/metrics"); code == 200 {
		t.Errorf("plain HTTP answered 200: %s", body)
	}
}

func TestBadWebConfigIsAConfigError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "web.yml")
	os.WriteFile(bad, []byte("basic_auth_users:\n  prom: not-a-bcrypt-hash\n"), 0o600)
	y := "mirror: {url: \"file:x.db\"}\nhttp: {web_config_file: \"" + bad + "\"}\naccounts:\n  - id: a\n    token_env: T\n"
	_, err := ParseConfig(strings.NewReader(y), true, env(map[string]string{"T": "tok"}))
	if err == nil || !strings.Contains(err.Error(), "http.web_config_file") {
		t.Errorf("bad web config: %v, want an error naming http.web_config_file", err)
	}
}

// A listener on every interface without a web config is warned about.
func TestOpenListenerIsWarnedAbout(t *testing.T) {
	_, cfg, cfgPath := newDaemonConfig(t)
	_, port, _ := net.SplitHostPort(cfg.listen)
	cfg.listen = "0.0.0.0:" + port
	cfg.write(t, cfgPath)
	p := startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	p.waitLog(msgOpenListener)
}
