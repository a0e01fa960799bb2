package extract

import (
	"context"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/tursync/tursync/turso"
)

// Minter mints database tokens through the Platform API; *turso.Client is
// one.
type Minter interface {
	MintGroupToken(ctx context.Context, org, group string, ttl time.Duration, readOnly bool) (turso.Secret, error)
	MintDatabaseToken(ctx context.Context, org, database string, ttl time.Duration, readOnly bool) (turso.Secret, error)
}

// renewAt is the share of a token's life after which it is minted again:
// a token is never used in the last fifth of its life, so a query that
// starts with it finishes well before it expires.
const renewAt = 0.8

// tokens keeps the read-only tokens minted for each (account, org, group),
// and for single databases where a group token is refused, in memory only:
// they are never written to the mirror, a log, an error or a metric. Each
// mint is an audit-log entry in the customer's org, so a token is reused
// until renewAt of its life.
type tokens struct {
	ttl time.Duration
	now func() time.Time

	mu      stdsync.Mutex
	entries map[tokenKey]*tokenEntry
	mints   int
}

type tokenKey struct{ account, org, group, database string }

type tokenEntry struct {
	mu       stdsync.Mutex // held while minting, so one mint serves every waiter
	secret   turso.Secret
	renewAt  time.Time
	groupErr error // the group refused a group token: mint per database
}

func newTokens(ttl time.Duration, now func() time.Time) *tokens {
	return &tokens{ttl: ttl, now: now, entries: map[tokenKey]*tokenEntry{}}
}

func (c *tokens) entry(k tokenKey) *tokenEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil {
		e = &tokenEntry{}
		c.entries[k] = e
	}
	return e
}

// forDatabase returns a read-only token for the target's database: its
// group's, minted if there is none young enough, or the database's own
// where the API refuses a token for the group.
func (c *tokens) forDatabase(ctx context.Context, m Minter, account, org, group, database string) (turso.Secret, error) {
	g := c.entry(tokenKey{account, org, group, ""})
	g.mu.Lock()
	if g.secret.Empty() || !c.now().Before(g.renewAt) {
		if g.groupErr == nil || !c.now().Before(g.renewAt) {
			g.groupErr = nil
			sec, err := m.MintGroupToken(ctx, org, group, c.ttl, true)
			if err != nil && !perDatabase(err) {
				g.mu.Unlock()
				return turso.Secret{}, fmt.Errorf("mint a read-only token for group %s of org %s: %w", group, org, err)
			}
			c.counted()
			g.secret, g.groupErr = sec, err
			g.renewAt = c.now().Add(time.Duration(float64(c.ttl) * renewAt))
		}
	}
	sec, groupErr := g.secret, g.groupErr
	g.mu.Unlock()
	if groupErr == nil {
		return sec, nil
	}
	d := c.entry(tokenKey{account, org, group, database})
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.secret.Empty() || !c.now().Before(d.renewAt) {
		sec, err := m.MintDatabaseToken(ctx, org, database, c.ttl, true)
		if err != nil {
			return turso.Secret{}, fmt.Errorf("mint a read-only token for database %s of org %s (the group token was refused: %v): %w", database, org, groupErr, err)
		}
		c.counted()
		d.secret, d.renewAt = sec, c.now().Add(time.Duration(float64(c.ttl)*renewAt))
	}
	return d.secret, nil
}

func (c *tokens) counted() {
	c.mu.Lock()
	c.mints++
	c.mu.Unlock()
}

// Mints is how many tokens were minted since the start.
func (c *tokens) Mints() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mints
}

// perDatabase reports whether a refused group token calls for a token per
// database: the route or the group is unknown to the API (404), or the
// API will not mint for it (400). A refused token, a plan limit or a rate
// limit fails the group instead.
func perDatabase(err error) bool {
	s := turso.StatusOf(err)
	return s == 404 || s == 400
}
