package main

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig: any YAML either parses into a config that validates, or
// fails with a *ConfigError; it never panics, and never echoes a token.
func FuzzParseConfig(f *testing.F) {
	f.Add("mirror: {url: \"file:./m.db\"}\naccounts:\n  - id: acme\n    token_env: T\n")
	f.Add("mirror: {url: \"file:./m.db\"}\ndefaults: {schedule: \"@every 15m\"}\naccounts: [{id: a, token_env: T, orgs: [x]}]\n")
	f.Add("accounts:\n  - &a {id: x, token_env: T}\n  - *a\n")
	f.Add("mirror: {url: 42}\n")
	f.Add("api: {timeout: -1s}\n")
	f.Add("sync: {shutdown_timeout: 0}\n")
	f.Add("defaults: {schedule: \"61 * * * *\"}\n")
	f.Add("a: &x [*x]\n")
	f.Add("mirror: {url: \"${T}\"}\n")
	f.Fuzz(func(t *testing.T, yaml string) {
		const token = "fuzz-SECRET-token-0000"
		cfg, err := ParseConfig(strings.NewReader(yaml), true, func(string) string { return token })
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConfigError: %v", err, err)
			}
			if strings.Contains(err.Error(), token) && !strings.Contains(yaml, token) {
				t.Fatalf("an expanded token appears in the error: %v", err)
			}
			return
		}
		if cfg.Mirror.URL == "" || len(cfg.Accounts) == 0 {
			t.Fatalf("a config without mirror.url or accounts was accepted")
		}
	})
}
