package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/schema"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigParses(t *testing.T) {
	f, err := os.Open("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f, true, env(map[string]string{"ACME_TURSO_TOKEN": "x", "SECOPS_WEBHOOK_SECRET": hookSecret, "WAREHOUSE_PASSWORD": "pw"}))
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if w := cfg.Webhooks[0]; w.Batch != 100 || time.Duration(w.MaxAge) != 24*time.Hour || len(w.Events) != 3 {
		t.Errorf("example webhook: %+v", w)
	}
	def := DefaultConfig()
	if cfg.API != def.API || cfg.Sync != def.Sync || cfg.DeleteGuard != def.DeleteGuard || cfg.Retention != def.Retention {
		t.Errorf("example defaults drifted from DefaultConfig: %+v", cfg)
	}
	if cfg.Accounts[0].Schedule != "*/10 * * * *" || cfg.Accounts[0].Orgs[0] != "acme-prod" {
		t.Errorf("account: %+v", cfg.Accounts[0])
	}
}

const base = `mirror: {url: "file:x.db"}
accounts:
  - id: acme
    token_env: T
`

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tok")
	os.WriteFile(tokenFile, []byte("secret\n"), 0o600)
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", base + "api: {bogus: 1}\n", "api.bogus (line 5): unknown key"},
		{"unknown top key", base + "mirrors: {}\n", "mirrors (line 5): unknown key"},
		{"bad duration", base + "api: {timeout: 3 minutes}\n", `api.timeout (line 5): bad duration "3 minutes"`},
		{"bad cron", base + "defaults: {schedule: \"every day\"}\n", `defaults.schedule (line 5): bad cron spec "every day"`},
		{"bad account cron", "mirror: {url: \"file:x.db\"}\naccounts:\n  - id: a\n    token_env: T\n    schedule: \"61 * * * *\"\n", "accounts[0].schedule (line 5): bad cron spec"},
		{"every 0s", base + "defaults: {schedule: \"@every 0s\"}\n", `defaults.schedule (line 5): schedule "@every 0s" can fire every 0s, more often than sync.min_interval (1m0s)`},
		{"every 1ms", base + "defaults: {schedule: \"@every 1ms\"}\n", `can fire every 1ms, more often than sync.min_interval`},
		{"policy sql writes", base + "policies:\n  - name: p\n    sql: DELETE FROM invites\n", `policies[0] (line 6): sql: want a SELECT or WITH statement, not DELETE`},
		{"policy severity", base + "policies:\n  - name: p\n    severity: urgent\n    builtin: stale_invites\n", `policies[0] (line 6): severity "urgent": want one of info, warning, critical`},
		{"policy unknown builtin", base + "policies:\n  - name: p\n    builtin: nope\n", `builtin "nope": want one of stale_invites, old_api_tokens`},
		{"policy param", base + "policies:\n  - name: p\n    builtin: stale_invites\n    params: {weeks: 2}\n", `builtin stale_invites: no parameter "weeks" (it takes days)`},
		{"policy param type", base + "policies:\n  - name: p\n    builtin: scope_stale\n    params: {max_age: soon}\n", `max_age: want a positive duration such as 24h, not "soon"`},
		{"policy required param", base + "policies:\n  - name: p\n    builtin: members_outside_domains\n", `domains is required`},
		{"policy params not a map", base + "policies:\n  - name: p\n    builtin: stale_invites\n    params: 3\n", `policies[0].params (line 8): want a map`},
		{"policy account glob", base + "policies:\n  - name: p\n    builtin: stale_invites\n    accounts: [beta*]\n", `policies[0].accounts[0] (line 8): "beta*" matches no account`},
		{"policy duplicate", base + "policies:\n  - {name: p, builtin: stale_invites}\n  - {name: p, builtin: stale_invites}\n", `duplicate policy name "p"`},
		{"every 30s", base + "defaults: {schedule: \"@every 30s\"}\n", `can fire every 30s`},
		{"step past the range", base + "defaults: {schedule: \"*/61 * * * *\"}\n", `defaults.schedule (line 5): bad cron spec "*/61 * * * *": step "61" of the minute field: want 1 to 59`},
		{"hour step", base + "defaults: {schedule: \"0 */24 * * *\"}\n", `step "24" of the hour field`},
		{"every minute under a 5m floor", base + "sync: {min_interval: 5m}\ndefaults: {schedule: \"* * * * *\"}\n", `can fire every 1m0s, more often than sync.min_interval (5m0s)`},
		{"minutes 0 and 1 under a 5m floor", base + "sync: {min_interval: 5m}\ndefaults: {schedule: \"0,1 */2 * * *\"}\n", `can fire every 1m0s`},
		{"extract query under the floor", base + "extract: {queries: [{name: q, sql: \"select 1\", schedule: \"@every 10s\"}]}\n", `extract.queries[0].schedule (line 5): schedule "@every 10s" can fire every 10s`},
		{"min_interval below a second", base + "sync: {min_interval: 500ms}\n", `sync.min_interval (line 5): must be at least 1s, not 500ms`},
		{"duplicate id", base + "  - id: acme\n    token_env: T\n", `accounts[1].id (line 5): duplicate account id "acme"`},
		{"missing env", "mirror: {url: \"file:x.db\"}\naccounts:\n  - id: a\n    token_env: NOPE\n", "accounts[0] (line 3): token_env: environment variable NOPE is not set"},
		{"missing file", "mirror: {url: \"file:x.db\"}\naccounts:\n  - id: a\n    token_file: " + filepath.Join(dir, "none") + "\n", "accounts[0] (line 3): token_file: "},
		{"both token sources", "mirror: {url: \"file:x.db\"}\naccounts:\n  - id: a\n    token_env: T\n    token_file: " + tokenFile + "\n", "not both"},
		{"no accounts", "mirror: {url: \"file:x.db\"}\n", "accounts: at least one account"},
		{"no mirror", "accounts:\n  - id: a\n    token_env: T\n", "mirror.url: required"},
		{"http base url", base + "api: {base_url: \"http://api.example.com\"}\n", "api.base_url (line 5): http:// is only allowed for loopback"},
		{"unknown resource", base + "defaults: {resources: [members, wat]}\n", `defaults.resources[1] (line 5): unknown resource "wat"`},
		{"bad type", base + "sync: {max_concurrent_accounts: many}\n", `sync.max_concurrent_accounts (line 5): bad value "many"`},
		{"typo suggests the key", base + "api: {request_per_second: 3}\n", `api.request_per_second (line 5): unknown key (did you mean "requests_per_second"?)`},
		{"unset variable", "mirror: {url: \"file:${MIRROR_DIR}/t.db\"}\n" + base[strings.Index(base, "accounts"):], "${MIRROR_DIR} (line 1): environment variable MIRROR_DIR is not set"},
		{"write statement", base + "extract: {queries: [{name: q, sql: \"delete from orders\"}]}\n", "extract.queries[0].sql (line 5): want a SELECT or WITH statement, not DELETE"},
		{"with leading to a write", base + "extract: {queries: [{name: q, sql: \"with t as (select 1) delete from orders\"}]}\n", "WITH leads to DELETE"},
		{"two statements", base + "extract: {queries: [{name: q, sql: \"select 1; drop table orders\"}]}\n", "want one statement"},
		{"bad query name", base + "extract: {queries: [{name: Orders-Daily, sql: \"select 1\"}]}\n", `extract.queries[0].name (line 5): want 1 to 48 of a-z`},
		{"duplicate query", base + "extract: {queries: [{name: q, sql: \"select 1\"}, {name: q, sql: \"select 2\"}]}\n", `duplicate query name "q"`},
		{"unknown query account", base + "extract: {queries: [{name: q, sql: \"select 1\", accounts: [nope]}]}\n", `extract.queries[0].accounts[0] (line 5): no account "nope"`},
		{"bad glob", base + "extract: {queries: [{name: q, sql: \"select 1\", databases: {name: \"[\"}}]}\n", `extract.queries[0].databases.name (line 5): bad glob`},
		{"http database url", base + "extract: {database_url: \"http://{hostname}\"}\n", "extract.database_url (line 5): http:// is only allowed with a loopback extract.proxy"},
		{"remote http proxy", base + "extract: {proxy: \"http://proxy.example:3128\"}\n", "extract.proxy (line 5): http:// is only allowed for loopback proxies"},
		{"no hostname", base + "extract: {database_url: \"libsql://db.example\"}\n", "want a URL with {hostname}"},
		{"unset token variable", base[:strings.Index(base, "accounts")] + "accounts:\n  - id: a\n    token_env: ${UNSET_VAR}\n", "${UNSET_VAR} (line 4): environment variable UNSET_VAR is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(c.yaml), true, env(map[string]string{"T": "tok"}))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// Every problem of a file is reported at once, each with its line.
func TestConfigReportsEveryProblem(t *testing.T) {
	y := "mirror: {url: \"file:x.db\"}\napi: {timeout: soon, bogus: 1}\ndefaults: {schedule: \"*/10 * * *\"}\naccounts:\n  - id: a\n    token_env: T\n"
	_, err := ParseConfig(strings.NewReader(y), true, env(map[string]string{"T": "tok"}))
	for _, want := range []string{"3 problems", "api.timeout (line 2)", "api.bogus (line 2): unknown key", "defaults.schedule (line 3): bad cron spec"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestConfigEnvExpansionAndDefaults(t *testing.T) {
	y := "mirror: {url: \"file:${DIR}/m.db\"}\naudit_logs: {backfill: 24h}\naccounts:\n  - id: a\n    token_env: T\n"
	cfg, err := ParseConfig(strings.NewReader(y), true, env(map[string]string{"DIR": "/data", "T": "tok"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mirror.URL != "file:/data/m.db" {
		t.Errorf("mirror url %q", cfg.Mirror.URL)
	}
	if time.Duration(cfg.AuditLogs.Backfill) != 24*time.Hour || cfg.API.RequestsPerSecond != 5 || cfg.Defaults.Schedule != "@every 15m" {
		t.Errorf("values: %+v", cfg)
	}
	if got := cfg.Resources(cfg.Accounts[0]); !slices.Equal(got, schema.DefaultResources) || slices.Contains(got, schema.ResDatabaseDetails) {
		t.Errorf("default resources: %v", got)
	}
}

// Found by FuzzParseConfig: an error quoting a value that came from ${ENV}
// printed the variable's content, which may be a token.
func TestConfigErrorsNeverPrintExpandedValues(t *testing.T) {
	const secret = "cfg-SECRET-token-4242"
	for _, y := range []string{
		"mirror: {url: \"file:m.db\"}\nlog: {level: \"${ACME_TOKEN}\"}\naccounts: [{id: a, token_env: ACME_TOKEN}]\n",
		"mirror: {url: \"file:m.db\"}\naccounts: [{id: \"bad id ${ACME_TOKEN}\", token_env: ACME_TOKEN}]\n",
		"a: *${ACME_TOKEN}\n",
	} {
		_, err := ParseConfig(strings.NewReader(y), true, env(map[string]string{"ACME_TOKEN": secret}))
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "${ACME_TOKEN}") {
			t.Errorf("%q: error %v; want one naming ${ACME_TOKEN}, not its value", y, err)
		}
	}
}

func TestHTTPListensOnLoopbackByDefault(t *testing.T) {
	host, _, err := net.SplitHostPort(DefaultConfig().HTTP.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("default http.listen %q is not a loopback address", DefaultConfig().HTTP.Listen)
	}
}

func TestConfigChangesNamesWhatAReloadChanged(t *testing.T) {
	old := DefaultConfig()
	old.Accounts = []AccountConfig{{ID: "a", TokenEnv: "A"}, {ID: "b", TokenEnv: "B"}, {ID: "c", TokenEnv: "C"}}
	cfg := DefaultConfig()
	cfg.Accounts = []AccountConfig{{ID: "a", TokenEnv: "A"}, {ID: "b", TokenEnv: "B", Schedule: "@every 1h"}, {ID: "d", TokenEnv: "D"}}
	cfg.DeleteGuard.MinRows = 99
	added, removed, changed, sections := configChanges(old, cfg)
	if fmt.Sprint(added, removed, changed, sections) != "[d] [c] [b] [delete_guard]" {
		t.Errorf("added %v removed %v changed %v sections %v", added, removed, changed, sections)
	}
}

func TestExtractDefaultsAndTestBedURL(t *testing.T) {
	yaml := base + "extract:\n  database_url: \"http://{hostname}\"\n  proxy: \"http://127.0.0.1:8080\"\n  queries: [{name: q, sql: \"select 1\"}]\n"
	cfg, err := ParseConfig(strings.NewReader(yaml), true, env(map[string]string{"T": "tok"}))
	if err != nil {
		t.Fatal(err)
	}
	q := cfg.extractQuery(cfg.Extract.Queries[0])
	if q.Timeout != 30*time.Second || q.MaxRows != 10000 || q.Group != "*" || q.Database != "*" || len(q.Accounts) != 1 || q.Accounts[0] != "acme" {
		t.Errorf("query defaults: %+v", q)
	}
	if cfg.extractSchedule(cfg.Extract.Queries[0]) != cfg.Defaults.Schedule || cfg.Extract.Concurrency != 16 {
		t.Errorf("schedule %q, concurrency %d", cfg.extractSchedule(cfg.Extract.Queries[0]), cfg.Extract.Concurrency)
	}
}
