package main

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/extract"
	"github.com/tursync/tursync/sqlcheck"
)

// ExtractConfig is cross-tenant extraction (docs/extract.md).
type ExtractConfig struct {
	// Concurrency is how many databases are queried at once, per process.
	Concurrency int `yaml:"concurrency"`
	// TokenTTL is the life of the read-only tokens tursync mints; each
	// mint is an entry in the customer's audit log.
	TokenTTL Duration `yaml:"token_ttl"`
	// DatabaseURL is a database's URL, {hostname} standing for its
	// hostname.
	DatabaseURL string `yaml:"database_url"`
	// Proxy receives every database request (an egress proxy).
	Proxy string `yaml:"proxy"`
	// AlertFailedShare is the share of a query's databases whose failure
	// fires TursyncExtractFailing; it is exported as a metric the rule
	// reads.
	AlertFailedShare float64              `yaml:"alert_failed_share"`
	Queries          []ExtractQueryConfig `yaml:"queries"`
}

// ExtractQueryConfig is one query.
type ExtractQueryConfig struct {
	Name      string        `yaml:"name"`
	SQL       string        `yaml:"sql"`
	Schedule  string        `yaml:"schedule"`
	Accounts  []string      `yaml:"accounts"`
	Databases DatabaseGlobs `yaml:"databases"`
	Timeout   Duration      `yaml:"timeout"`
	MaxRows   int           `yaml:"max_rows"`
}

// DatabaseGlobs select databases by group and name.
type DatabaseGlobs struct {
	Group string `yaml:"group"`
	Name  string `yaml:"name"`
}

// The defaults of a query's settings, applied where the config is silent.
const (
	defaultExtractTimeout = 30 * time.Second
	defaultExtractMaxRows = 10000
)

func defaultExtractConfig() ExtractConfig {
	return ExtractConfig{Concurrency: extract.DefaultConcurrency, TokenTTL: Duration(extract.DefaultTokenTTL), DatabaseURL: extract.DefaultDatabaseURL,
		AlertFailedShare: 0.1}
}

var queryName = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)

// validateExtract checks the extract section, every query's statement and
// schedule, and fills each query's defaults.
func (c *Config) validateExtract(p *configProblems) {
	e := &c.Extract
	if e.Concurrency < 1 {
		p.add("extract.concurrency", 0, "must be at least 1")
	}
	if time.Duration(e.TokenTTL) < 5*time.Minute {
		p.add("extract.token_ttl", 0, "must be at least 5m (a token is minted again at 80%% of its life)")
	}
	if e.AlertFailedShare <= 0 || e.AlertFailedShare > 1 {
		p.add("extract.alert_failed_share", 0, "want a fraction in (0, 1]")
	}
	if err := checkDatabaseURL(e.DatabaseURL, e.Proxy); err != nil {
		p.add("extract.database_url", 0, "%v", err)
	}
	if e.Proxy != "" {
		if err := checkProxy(e.Proxy); err != nil {
			p.add("extract.proxy", 0, "%v", err)
		}
	}
	names := map[string]bool{}
	for i := range e.Queries {
		q := &e.Queries[i]
		at := fmt.Sprintf("extract.queries[%d]", i)
		if !queryName.MatchString(q.Name) {
			p.add(at+".name", 0, "want 1 to 48 of a-z, 0-9 and _ (the view is extract_<name>), not %q", q.Name)
		} else if names[q.Name] {
			p.add(at+".name", 0, "duplicate query name %q", q.Name)
		}
		names[q.Name] = true
		if err := sqlcheck.Check(q.SQL); err != nil {
			p.add(at+".sql", 0, "%v", err)
		}
		c.validateQuery(q, at, p)
	}
}

func (c *Config) validateQuery(q *ExtractQueryConfig, at string, p *configProblems) {
	if q.Schedule != "" {
		c.checkSchedule(p, at+".schedule", q.Schedule)
	}
	for j, a := range q.Accounts {
		if !slices.ContainsFunc(c.Accounts, func(ac AccountConfig) bool { return ac.ID == a }) {
			p.add(fmt.Sprintf("%s.accounts[%d]", at, j), 0, "no account %q in accounts", a)
		}
	}
	for _, g := range []struct{ key, glob string }{{"group", q.Databases.Group}, {"name", q.Databases.Name}} {
		if _, err := path.Match(g.glob, ""); err != nil {
			p.add(at+".databases."+g.key, 0, "bad glob %q: %v", g.glob, err)
		}
	}
	if q.Timeout < 0 || q.MaxRows < 0 {
		p.add(at, 0, "timeout and max_rows must not be negative")
	}
	if q.Timeout == 0 {
		q.Timeout = Duration(defaultExtractTimeout)
	}
	if q.MaxRows == 0 {
		q.MaxRows = defaultExtractMaxRows
	}
	if q.Databases.Group == "" {
		q.Databases.Group = "*"
	}
	if q.Databases.Name == "" {
		q.Databases.Name = "*"
	}
}

// checkDatabaseURL wants libsql:// or https:// with {hostname}; http://
// only beside a loopback proxy (the test bed), since the token would
// otherwise cross the network in clear text.
func checkDatabaseURL(raw, proxy string) error {
	if !strings.Contains(raw, "{hostname}") {
		return fmt.Errorf("want a URL with {hostname}, such as libsql://{hostname}, not %q", raw)
	}
	u, err := url.Parse(strings.ReplaceAll(raw, "{hostname}", "db.example"))
	if err != nil {
		return fmt.Errorf("bad URL %q: %v", raw, err)
	}
	switch u.Scheme {
	case "libsql", "https":
		return nil
	case "http":
		if proxy != "" && checkProxy(proxy) == nil && loopbackURL(proxy) {
			return nil
		}
		return fmt.Errorf("http:// is only allowed with a loopback extract.proxy (the test bed); use libsql:// or https://")
	}
	return fmt.Errorf("want libsql://, https:// or (with a loopback proxy) http://, not %q", raw)
}

func checkProxy(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("want http(s)://HOST:PORT, not %q", raw)
	}
	if u.Scheme == "http" && !loopbackURL(raw) {
		return fmt.Errorf("http:// is only allowed for loopback proxies (the token would cross the network in clear text); use https://")
	}
	return nil
}

func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// extractQuery is the query as extract runs it: its accounts default to
// every configured account.
func (c *Config) extractQuery(q ExtractQueryConfig) extract.Query {
	accts := q.Accounts
	if len(accts) == 0 {
		for _, a := range c.Accounts {
			accts = append(accts, a.ID)
		}
	}
	return extract.Query{Name: q.Name, SQL: q.SQL, Accounts: accts, Group: q.Databases.Group, Database: q.Databases.Name,
		Timeout: time.Duration(q.Timeout), MaxRows: q.MaxRows}
}

// extractSchedule is the query's schedule, or the default one.
func (c *Config) extractSchedule(q ExtractQueryConfig) string {
	if q.Schedule != "" {
		return q.Schedule
	}
	return c.Defaults.Schedule
}
