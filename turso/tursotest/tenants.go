package tursotest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"
)

// TenantBed backs the simulated databases with namespaces of a real sqld
// started with --enable-namespaces and --auth-jwt-key-file: each database
// becomes the namespace named by the first label of its hostname, created
// and seeded on first use (its first token), and the token endpoints answer
// JWTs signed with Key, so sqld itself enforces read-only access.
type TenantBed struct {
	SQLD  string // http://HOST:PORT of sqld's HTTP listener
	Admin string // http://HOST:PORT of sqld's admin listener
	Key   ed25519.PrivateKey
}

// ReadTenantKey reads the Ed25519 private key (PKCS#8 PEM) whose public
// half sqld was started with.
func ReadTenantKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 private key", path)
	}
	return ek, nil
}

// Namespace is the sqld namespace of a database hostname: its first label,
// as sqld reads it from the Host header.
func Namespace(hostname string) string {
	ns, _, _ := strings.Cut(hostname, ".")
	return ns
}

// TenantToken signs a JWT for the bed's sqld: read-write or read-only, for
// the namespaces named (every namespace when none is).
func (b *TenantBed) TenantToken(readWrite bool, ttl time.Duration, now time.Time, namespaces ...string) string {
	access := "ro"
	if readWrite {
		access = "rw"
	}
	claims := map[string]any{"iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if len(namespaces) == 0 {
		claims["a"] = access
	} else {
		claims["p"] = map[string]any{access: map[string]any{"ns": namespaces}}
	}
	enc := base64.RawURLEncoding
	head, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT"})
	body, _ := json.Marshal(claims)
	msg := enc.EncodeToString(head) + "." + enc.EncodeToString(body)
	return msg + "." + enc.EncodeToString(ed25519.Sign(b.Key, []byte(msg)))
}

// Exec runs statements in a namespace with a read-write token, in one
// pipeline request; tests use it to change a tenant.
func (b *TenantBed) Exec(ctx context.Context, namespace string, stmts ...string) error {
	type stmt struct {
		SQL string `json:"sql"`
	}
	var reqs []any
	for _, s := range stmts {
		reqs = append(reqs, map[string]any{"type": "execute", "stmt": stmt{s}})
	}
	reqs = append(reqs, map[string]any{"type": "close"})
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.SQLD+"/v2/pipeline", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = namespace + ".tenant"
	req.Header.Set("Authorization", "Bearer "+b.TenantToken(true, time.Minute, time.Now(), namespace))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", namespace, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tenant %s: HTTP %d: %s", namespace, resp.StatusCode, out)
	}
	var res struct {
		Results []struct {
			Type  string `json:"type"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("tenant %s: %w", namespace, err)
	}
	for _, r := range res.Results {
		if r.Error != nil {
			return fmt.Errorf("tenant %s: %s", namespace, r.Error.Message)
		}
	}
	return nil
}

// admin sends one request to sqld's admin listener.
func (b *TenantBed) admin(ctx context.Context, method, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.Admin+path, strings.NewReader("{}"))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}

// DeleteNamespace destroys a tenant's namespace, as a database deleted
// behind the mirror's back.
func (b *TenantBed) DeleteNamespace(ctx context.Context, namespace string) error {
	code, out, err := b.admin(ctx, http.MethodDelete, "/v1/namespaces/"+namespace)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("HTTP %d: %s", code, out)
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", namespace, err)
	}
	return nil
}

// create makes the namespace and seeds it. Seeding is idempotent, so a
// namespace left from an earlier simulator run, or created by a request
// that failed half way, ends up seeded the same.
func (b *TenantBed) create(ctx context.Context, seed uint64, namespace string) error {
	code, out, err := b.admin(ctx, http.MethodPost, "/v1/namespaces/"+namespace+"/create")
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	if code != http.StatusOK && !strings.Contains(out, "already exists") {
		return fmt.Errorf("create namespace %s: HTTP %d: %s", namespace, code, out)
	}
	// sqld may answer 404 for a namespace for a moment after creating it.
	for attempt := 0; ; attempt++ {
		err = b.Exec(ctx, namespace, TenantSeed(seed, namespace)...)
		if err == nil || attempt == 50 || !strings.Contains(err.Error(), "doesn't exist") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TenantSeed is the statements that seed a tenant: orders (a few to a few
// hundred, deterministic from the seed and the namespace) and events, in one
// transaction.
func TenantSeed(seed uint64, namespace string) []string {
	h := fnv.New64a()
	h.Write([]byte(namespace))
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stmts := []string{"BEGIN",
		"CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, total REAL NOT NULL)",
		"CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL)"}
	var orders, events []string
	for i := range 3 + r.IntN(298) {
		at := base.Add(time.Duration(r.IntN(90*86400)) * time.Second).Format("2006-01-02 15:04:05")
		orders = append(orders, fmt.Sprintf("(%d, '%s', %d.%02d)", i+1, at, r.IntN(500), r.IntN(100)))
	}
	kinds := []string{"signup", "login", "checkout", "refund"}
	for i := range 1 + r.IntN(40) {
		at := base.Add(time.Duration(r.IntN(90*86400)) * time.Second).Format("2006-01-02 15:04:05")
		events = append(events, fmt.Sprintf("(%d, '%s', '%s')", i+1, at, kinds[r.IntN(len(kinds))]))
	}
	return append(stmts, "INSERT OR IGNORE INTO orders VALUES "+strings.Join(orders, ","),
		"INSERT OR IGNORE INTO events VALUES "+strings.Join(events, ","), "COMMIT")
}

// tokenHosts is the hostnames of the databases a token request covers (the
// group's, or the one database's) and its audit code, or the API's error.
func tokenHosts(o *org, r *http.Request) (hosts []string, code string, errBody any, status int) {
	if db := r.PathValue("databaseName"); db != "" {
		i, ok := o.dbIndex[db]
		if !ok {
			return nil, "", map[string]string{"error": "database not found"}, http.StatusNotFound
		}
		return []string{o.Databases[i].Hostname}, "db-token-create", nil, http.StatusOK
	}
	g := r.PathValue("groupName")
	found := false
	for _, grp := range o.Groups {
		found = found || grp.Name == g
	}
	if !found {
		return nil, "", map[string]string{"error": "group not found"}, http.StatusNotFound
	}
	for _, d := range o.Databases {
		if d.Group == g {
			hosts = append(hosts, d.Hostname)
		}
	}
	return hosts, "group-token-create", nil, http.StatusOK
}

// prepareTenants creates and seeds the namespaces a token request covers,
// before serve takes the simulator's lock: each is a request to sqld.
func (s *Server) prepareTenants(r *http.Request) error {
	s.mu.Lock()
	bed, seed := s.cfg.Tenants, s.cfg.Seed
	var hosts []string
	if acct, ok := s.account(r); ok && bed != nil {
		if o := s.findOrg(acct, r.PathValue("organizationSlug")); o != nil {
			hosts, _, _, _ = tokenHosts(o, r)
		}
	}
	s.mu.Unlock()
	for _, h := range hosts {
		if err := s.ensureTenant(r.Context(), bed, seed, Namespace(h)); err != nil {
			return err
		}
	}
	return nil
}

// mintToken answers the group and database token endpoints: a JWT for the
// bed's sqld when there is one, an opaque token otherwise. Each mint is an
// audit event, as on Turso. serve calls it with s.mu held.
func (s *Server) mintToken(acct, slug string, r *http.Request) (any, int) {
	exp := time.Duration(0)
	if v := r.URL.Query().Get("expiration"); v != "" && v != "never" {
		d, err := parseExpiration(v)
		if err != nil {
			return map[string]string{"error": "Invalid expiration format"}, http.StatusBadRequest
		}
		exp = d
	}
	readWrite := true
	switch r.URL.Query().Get("authorization") {
	case "read-only":
		readWrite = false
	case "", "full-access":
	default:
		return map[string]string{"error": "invalid authorization"}, http.StatusBadRequest
	}
	o := s.findOrg(acct, slug)
	if o == nil {
		return map[string]string{"error": "organization not found"}, http.StatusNotFound
	}
	hosts, code, errBody, status := tokenHosts(o, r)
	if errBody != nil {
		return errBody, status
	}
	now := s.cfg.Now()
	raw, _ := json.Marshal(map[string]any{"authorization": r.URL.Query().Get("authorization"), "expiration": r.URL.Query().Get("expiration")})
	o.Audit = append([]AuditLog{{Code: code, Origin: "api", Author: "tursync", CreatedAt: now.UTC().Format(time.RFC3339), Data: raw}}, o.Audit...)
	s.mints++
	if s.cfg.Tenants == nil {
		return map[string]string{"jwt": fmt.Sprintf("simulated.%s.%d", slug, now.UnixNano())}, http.StatusOK
	}
	namespaces := make([]string, len(hosts))
	for i, h := range hosts {
		namespaces[i] = Namespace(h)
	}
	if exp == 0 {
		exp = 10 * 365 * 24 * time.Hour
	}
	if len(namespaces) == 0 {
		namespaces = []string{"-"} // a token for an empty group reaches no database
	}
	// sqld checks exp against its own clock, which is the real one.
	return map[string]string{"jwt": s.cfg.Tenants.TenantToken(readWrite, exp, time.Now(), namespaces...)}, http.StatusOK
}

// ensureTenant creates and seeds a namespace the first time a token covers
// it.
func (s *Server) ensureTenant(ctx context.Context, bed *TenantBed, seed uint64, namespace string) error {
	s.tenantMu.Lock()
	defer s.tenantMu.Unlock()
	if s.tenants[namespace] {
		return nil
	}
	if err := bed.create(ctx, seed, namespace); err != nil {
		return err
	}
	if s.tenants == nil {
		s.tenants = map[string]bool{}
	}
	s.tenants[namespace] = true
	return nil
}

// TenantBed is the simulator's test bed, nil without one.
func (s *Server) TenantBed() *TenantBed { return s.cfg.Tenants }

// Mints is how many tokens the token endpoints have minted.
func (s *Server) Mints() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mints
}

var errExpiration = errors.New("bad expiration")

// parseExpiration reads the API's expiration (2w1d30m).
func parseExpiration(v string) (time.Duration, error) {
	units := map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}
	var total time.Duration
	n, digits := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			n, digits = n*10+int(c-'0'), digits+1
		case units[c] != 0 && digits > 0:
			total += time.Duration(n) * units[c]
			n, digits = 0, 0
		default:
			return 0, errExpiration
		}
	}
	if digits > 0 || total <= 0 {
		return 0, errExpiration
	}
	return total, nil
}
