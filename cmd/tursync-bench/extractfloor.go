package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	stdsync "sync"
	"time"

	"github.com/tursodatabase/libsql-client-go/libsql"

	"github.com/tursync/tursync/turso"
)

// extractResult is what extractfloor prints.
type extractResult struct {
	Case        string  `json:"case"`
	WallSeconds float64 `json:"wall_seconds"`
	Databases   int     `json:"databases"`
	Failed      int     `json:"failed"`
	Rows        int     `json:"rows"`
	Mints       int     `json:"mints"`
}

// extractFloor is the floor of `tursync extract`: the same statement in
// the same databases at the same concurrency, with one read-only token per
// group, rows read and dropped; no mirror, no JSON, no status.
func extractFloor(args []string) error {
	fs := flag.NewFlagSet("extractfloor", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8081", "simulator base URL")
	token := fs.String("token", "bench", "bearer token")
	proxy := fs.String("proxy", "", "the tenant sqld, as extract.proxy")
	stmt := fs.String("sql", "", "the statement")
	conc := fs.Int("concurrency", 16, "databases at once")
	name := fs.String("name", "*", "glob over database names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	c, err := turso.NewClient(turso.Options{BaseURL: *api, Token: turso.NewSecret(*token), Timeout: time.Minute})
	if err != nil {
		return err
	}
	type target struct{ org, group, host string }
	var targets []target
	orgs, err := c.ListOrganizations(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		err := c.ListDatabases(ctx, o.Slug, func(page []turso.Database) error {
			for _, d := range page {
				if ok, _ := path.Match(*name, d.Name); ok {
					targets = append(targets, target{o.Slug, d.Group, d.Hostname})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	start := time.Now()
	res := extractResult{Case: "extractfloor", Databases: len(targets)}
	tokens := map[[2]string]turso.Secret{}
	for _, t := range targets {
		k := [2]string{t.org, t.group}
		if _, ok := tokens[k]; !ok {
			if tokens[k], err = c.MintGroupToken(ctx, t.org, t.group, time.Hour, true); err != nil {
				return err
			}
			res.Mints++
		}
	}
	work := make(chan target)
	var mu stdsync.Mutex
	var wg stdsync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				n, err := queryOnce(ctx, "http://"+t.host, *proxy, tokens[[2]string{t.org, t.group}], *stmt)
				mu.Lock()
				res.Rows += n
				if err != nil {
					res.Failed++
				}
				mu.Unlock()
			}
		}()
	}
	for _, t := range targets {
		work <- t
	}
	close(work)
	wg.Wait()
	res.WallSeconds = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func queryOnce(ctx context.Context, url, proxy string, tok turso.Secret, stmt string) (int, error) {
	conn, err := libsql.NewConnector(url, libsql.WithAuthToken(tok.Reveal()), libsql.WithProxy(proxy))
	if err != nil {
		return 0, err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	rows, err := db.QueryContext(ctx, stmt)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// tenantKey writes an Ed25519 key pair for a test bed: tenant.key (PKCS#8
// PEM, for simulate --tenant-jwt-key) and tenant.pub (for sqld
// --auth-jwt-key-file).
func tenantKey(args []string) error {
	fs := flag.NewFlagSet("tenantkey", flag.ContinueOnError)
	out := fs.String("out", ".", "directory to write tenant.key and tenant.pub into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "tenant.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "tenant.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(*out, "tenant.key"), filepath.Join(*out, "tenant.pub"))
	return nil
}
