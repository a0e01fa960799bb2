package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/webhook"
)

// WebhookConfig is one endpoint that hears the mirror's changes.
type WebhookConfig struct {
	ID  string `yaml:"id"`
	URL string `yaml:"url"`
	// SecretEnv or SecretFile hold the signing secret, "whsec_" + base64;
	// during a rotation, several separated by spaces: each signs.
	SecretEnv         string   `yaml:"secret_env"`
	SecretFile        string   `yaml:"secret_file"`
	Events            []string `yaml:"events"`
	Accounts          []string `yaml:"accounts"`
	Batch             int      `yaml:"batch"`
	Timeout           Duration `yaml:"timeout"`
	MaxAge            Duration `yaml:"max_age"`
	IncludeRemoteData bool     `yaml:"include_remote_data"`
}

var webhookID = regexp.MustCompile(`^[a-z0-9_-]{1,48}$`)

// validateWebhooks checks every endpoint and fills its defaults; with
// getenv, that its secret can be read.
func (c *Config) validateWebhooks(getenv func(string) string, p *configProblems) {
	ids := map[string]bool{}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		at := fmt.Sprintf("webhooks[%d]", i)
		if !webhookID.MatchString(w.ID) {
			p.add(at+".id", 0, "want 1 to 48 of a-z, 0-9, _ and -, not %q", w.ID)
		} else if ids[w.ID] {
			p.add(at+".id", 0, "duplicate webhook id %q", w.ID)
		}
		ids[w.ID] = true
		if err := checkWebhookURL(w.URL); err != nil {
			p.add(at+".url", 0, "%v", err)
		}
		if getenv != nil {
			if _, err := w.Keys(getenv); err != nil {
				p.add(at, 0, "%v", err)
			}
		} else if (w.SecretEnv == "") == (w.SecretFile == "") {
			p.add(at, 0, "set secret_env or secret_file, one of them")
		}
		for j, g := range w.Events {
			if _, err := path.Match(g, "x.y"); err != nil || !strings.Contains(g, ".") && g != "*" {
				p.add(fmt.Sprintf("%s.events[%d]", at, j), 0, "want a glob over <entity>.<op> such as role_assignments.* , not %q", g)
			}
		}
		for j, a := range w.Accounts {
			if !slices.ContainsFunc(c.Accounts, func(ac AccountConfig) bool { return ac.ID == a }) {
				p.add(fmt.Sprintf("%s.accounts[%d]", at, j), 0, "no account %q in the config", a)
			}
		}
		if w.Batch == 0 {
			w.Batch = webhook.DefaultBatch
		}
		if w.Batch < 1 || w.Batch > 1000 {
			p.add(at+".batch", 0, "want 1 to 1000 events per request, not %d", w.Batch)
		}
		if w.Timeout == 0 {
			w.Timeout = Duration(webhook.DefaultTimeout)
		}
		if w.MaxAge == 0 {
			w.MaxAge = Duration(webhook.DefaultMaxAge)
		}
		if time.Duration(w.Timeout) < 0 || time.Duration(w.MaxAge) < time.Minute {
			p.add(at, 0, "timeout must not be negative and max_age at least 1m")
		}
	}
}

// checkWebhookURL wants https://, or http:// to a loopback host. The error
// never quotes the URL: its query may hold a credential.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("want an https:// URL")
	}
	if u.Scheme == "http" && !loopbackURL(raw) {
		return errors.New("http:// is only allowed for loopback hosts; use https://")
	}
	return nil
}

// Keys reads the endpoint's signing keys; the errors never quote a secret.
func (w WebhookConfig) Keys(getenv func(string) string) ([][]byte, error) {
	var raw string
	switch {
	case w.SecretEnv != "" && w.SecretFile != "":
		return nil, errors.New("set secret_env or secret_file, not both")
	case w.SecretEnv != "":
		raw = getenv(w.SecretEnv)
		if strings.TrimSpace(raw) == "" {
			return nil, fmt.Errorf("secret_env: environment variable %s is not set or empty", w.SecretEnv)
		}
	case w.SecretFile != "":
		b, err := os.ReadFile(w.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("secret_file: %v", scrubPathErr(err))
		}
		raw = string(b)
	default:
		return nil, errors.New("secret_env or secret_file is required")
	}
	var keys [][]byte
	for i, s := range strings.Fields(raw) {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d of %s: %v", i+1, w.secretSource(), err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no secret", w.secretSource())
	}
	return keys, nil
}

func (w WebhookConfig) secretSource() string {
	if w.SecretFile != "" {
		return "secret_file " + w.SecretFile
	}
	return "environment variable " + w.SecretEnv
}

// Endpoint is the endpoint as delivery takes it.
func (w WebhookConfig) Endpoint(keys [][]byte) webhook.Endpoint {
	return webhook.Endpoint{ID: w.ID, URL: w.URL, Keys: keys, Events: w.Events, Batch: w.Batch, Timeout: time.Duration(w.Timeout),
		MaxAge: time.Duration(w.MaxAge), IncludeRemoteData: w.IncludeRemoteData}
}

// webhookAccounts are the accounts an endpoint hears: its list, or every
// configured account.
func (c *Config) webhookAccounts(w WebhookConfig) []string {
	if len(w.Accounts) > 0 {
		return w.Accounts
	}
	out := make([]string, len(c.Accounts))
	for i, a := range c.Accounts {
		out[i] = a.ID
	}
	return out
}

// webhookNamed returns the configured endpoint with an id.
func (c *Config) webhookNamed(id string) (WebhookConfig, error) {
	i := slices.IndexFunc(c.Webhooks, func(w WebhookConfig) bool { return w.ID == id })
	if i < 0 {
		var ids []string
		for _, w := range c.Webhooks {
			ids = append(ids, w.ID)
		}
		return WebhookConfig{}, &UsageError{Msg: fmt.Sprintf("no webhook %q in the config (configured: %s)", id, strings.Join(ids, ", "))}
	}
	return c.Webhooks[i], nil
}
