package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

// writefloor --tokens writes every account of a fleet, each under an
// account of its own, as tursync does.
func TestWriteFloorOfAFleet(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 1, Fleet: 3, Size: tursotest.Size{Members: 4, Databases: 20, Groups: 2}})
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("fleet-1\nfleet-2\nfleet-3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "floor.db")
	if err := run([]string{"writefloor", "--api", url, "--tokens", tokens, "--db", db}); err != nil {
		t.Fatal(err)
	}
	st := testmirror.OpenURL(t, "file:"+db, storage.Options{})
	var accounts, dbs int
	if err := st.DB().QueryRow(`SELECT count(DISTINCT account_id), count(*) FROM databases`).Scan(&accounts, &dbs); err != nil {
		t.Fatal(err)
	}
	if accounts != 3 || dbs != 60 {
		t.Errorf("databases of %d accounts, %d rows; want 3 and 60", accounts, dbs)
	}
}

// TestTenantKeyPairMatches writes the bed's key pair and checks that the
// simulator reads the private half and that the public half verifies what
// it signs, as sqld will.
func TestTenantKeyPairMatches(t *testing.T) {
	dir := t.TempDir()
	if err := dispatch([]string{"tenantkey", "--out", dir}); err != nil {
		t.Fatal(err)
	}
	priv, err := tursotest.ReadTenantKey(filepath.Join(dir, "tenant.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tenant.pub"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		t.Fatalf("tenant.pub is not a PEM public key: %q", b)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub.(ed25519.PublicKey), []byte("msg"), ed25519.Sign(priv, []byte("msg"))) {
		t.Error("the public key does not verify the private key's signature")
	}
}
