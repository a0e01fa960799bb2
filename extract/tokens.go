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
	mu      stdsync.Mutex // held while minting, so one mint serves every waiter
	secret  turso.Secret
	renewAt time.Time
	// refused is set when the API will not mint for the group: its
	// databases get tokens of their own until renewAt.
	refused error
	// failed is the last mint's failure, remembered until retryAt, so that
	// a group the API refuses costs one request per run, not one per
	// database.
	failed  error
	retryAt time.Time
}

// mintFailureTTL is how long a failed mint is remembered.
const mintFailureTTL = time.Minute

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
	sec, refused, err := c.group(ctx, m, account, org, group)
	if err != nil || refused == nil {
		return sec, err
	}
	d := c.entry(tokenKey{account, org, group, database})
	sec, _, err = c.fetch(ctx, d, false, func() (turso.Secret, error) {
		return m.MintDatabaseToken(ctx, org, database, c.ttl, true)
	})
	if err != nil {
		return turso.Secret{}, fmt.Errorf("mint a read-only token for database %s of org %s (the group token was refused: %v): %w", database, org, refused, err)
	}
	return sec, nil
}

// group returns the group's token; refused is set when the API will not
// mint one for the group.
func (c *tokens) group(ctx context.Context, m Minter, account, org, group string) (sec turso.Secret, refused, err error) {
	g := c.entry(tokenKey{account, org, group, ""})
	sec, refused, err = c.fetch(ctx, g, true, func() (turso.Secret, error) {
		return m.MintGroupToken(ctx, org, group, c.ttl, true)
	})
	if err != nil {
		err = fmt.Errorf("mint a read-only token for group %s of org %s: %w", group, org, err)
	}
	return sec, refused, err
}

// fetch returns the entry's token, minting it when there is none young
// enough. With mayRefuse, a refusal that calls for tokens per database
// (perDatabase) is kept as refused instead of failing.
func (c *tokens) fetch(ctx context.Context, e *tokenEntry, mayRefuse bool, mint func() (turso.Secret, error)) (turso.Secret, error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.now()
	if e.failed != nil && now.Before(e.retryAt) {
		return turso.Secret{}, nil, e.failed
	}
	if (!e.secret.Empty() || e.refused != nil) && now.Before(e.renewAt) {
		return e.secret, e.refused, nil
	}
	sec, err := mint()
	switch {
	case err != nil && mayRefuse && perDatabase(err):
		e.secret, e.refused, e.failed = turso.Secret{}, err, nil
	case err != nil:
		if ctx.Err() == nil { // a cancelled run says nothing of the group
			e.failed, e.retryAt = err, now.Add(mintFailureTTL)
		}
		return turso.Secret{}, nil, err
	default:
		c.counted()
		e.secret, e.refused, e.failed = sec, nil, nil
	}
	e.renewAt = now.Add(time.Duration(float64(c.ttl) * renewAt))
	return e.secret, e.refused, nil
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
