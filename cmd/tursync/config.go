package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
)

// Duration is a time.Duration written as "30s" or "720h" in YAML; 0 is allowed.
type Duration time.Duration

// Config is the YAML configuration of PRODUCT.md.
type Config struct {
	Mirror      MirrorConfig      `yaml:"mirror"`
	API         APIConfig         `yaml:"api"`
	HTTP        HTTPConfig        `yaml:"http"`
	Log         LogConfig         `yaml:"log"`
	Sync        SyncConfig        `yaml:"sync"`
	Retention   RetentionConfig   `yaml:"retention"`
	Defaults    DefaultsConfig    `yaml:"defaults"`
	DeleteGuard DeleteGuardConfig `yaml:"delete_guard"`
	AuditLogs   AuditLogsConfig   `yaml:"audit_logs"`
	Accounts    []AccountConfig   `yaml:"accounts"`
}

// MirrorConfig says where the mirror lives.
type MirrorConfig struct {
	URL          string `yaml:"url"`
	AuthTokenEnv string `yaml:"auth_token_env"`
	// BusyTimeout is how long a write waits for another writer's lock
	// (a `tursync sync` beside the daemon) before its org fails.
	BusyTimeout Duration `yaml:"busy_timeout"`
}

// APIConfig tunes the Platform API client.
type APIConfig struct {
	BaseURL           string   `yaml:"base_url"`
	Timeout           Duration `yaml:"timeout"`
	RequestsPerSecond float64  `yaml:"requests_per_second"`
	MaxRetries        int      `yaml:"max_retries"`
}

// HTTPConfig is the daemon's HTTP server.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

// LogConfig sets the logger.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// SyncConfig tunes the scheduler.
type SyncConfig struct {
	MaxConcurrentAccounts int      `yaml:"max_concurrent_accounts"`
	ShutdownTimeout       Duration `yaml:"shutdown_timeout"`
	// LeaseTTL is how long an account's lease outlives a daemon that
	// died holding it.
	LeaseTTL Duration `yaml:"lease_ttl"`
}

// RetentionConfig prunes old operational rows; 0 keeps forever.
type RetentionConfig struct {
	ChangeEvents Duration `yaml:"change_events"`
	SyncRuns     Duration `yaml:"sync_runs"`
}

// Storage is the retention as the mirror applies it.
func (r RetentionConfig) Storage() storage.Retention {
	return storage.Retention{ChangeEvents: time.Duration(r.ChangeEvents), SyncRuns: time.Duration(r.SyncRuns)}
}

// DefaultsConfig applies to every account that does not override it.
type DefaultsConfig struct {
	Schedule  string   `yaml:"schedule"`
	Resources []string `yaml:"resources"`
}

// DeleteGuardConfig is the delete guard of reconcile rule 4.
type DeleteGuardConfig struct {
	MaxFraction float64 `yaml:"max_fraction"`
	MinRows     int     `yaml:"min_rows"`
}

// AuditLogsConfig tunes the audit-log scope.
type AuditLogsConfig struct {
	Backfill Duration `yaml:"backfill"`
}

// AccountConfig is one linked Turso account.
type AccountConfig struct {
	ID        string   `yaml:"id"`
	TokenEnv  string   `yaml:"token_env"`
	TokenFile string   `yaml:"token_file"`
	Orgs      []string `yaml:"orgs"`
	Schedule  string   `yaml:"schedule"`
	Resources []string `yaml:"resources"`

	line int // where the account starts, for errors
}

// DefaultConfig returns the defaults PRODUCT.md lists.
func DefaultConfig() Config {
	return Config{
		Mirror:      MirrorConfig{BusyTimeout: Duration(storage.DefaultBusyTimeout)},
		API:         APIConfig{BaseURL: turso.DefaultBaseURL, Timeout: Duration(30 * time.Second), RequestsPerSecond: 5, MaxRetries: 6},
		HTTP:        HTTPConfig{Listen: "127.0.0.1:9464"},
		Log:         LogConfig{Level: "info", Format: "auto"},
		Sync:        SyncConfig{MaxConcurrentAccounts: 4, ShutdownTimeout: Duration(30 * time.Second), LeaseTTL: Duration(30 * time.Second)},
		Retention:   RetentionConfig{ChangeEvents: 0, SyncRuns: Duration(2160 * time.Hour)},
		Defaults:    DefaultsConfig{Schedule: "@every 15m", Resources: append([]string(nil), schema.Resources...)},
		DeleteGuard: DeleteGuardConfig{MaxFraction: 0.5, MinRows: 10},
		AuditLogs:   AuditLogsConfig{Backfill: Duration(720 * time.Hour)},
	}
}

// ConfigError is a configuration problem; the command exits 2.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return "config: " + e.Msg }

func configErr(path string, line int, format string, args ...any) error {
	where := path
	if line > 0 {
		where += fmt.Sprintf(" (line %d)", line)
	}
	return &ConfigError{Msg: where + ": " + fmt.Sprintf(format, args...)}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ParseConfig reads YAML, expands ${ENV} references when expandEnv is set,
// rejects unknown keys and bad values with their field path and line, and
// validates the result.
func ParseConfig(r io.Reader, expandEnv bool, getenv func(string) string) (Config, error) {
	return parseConfig(r, expandEnv, getenv, true)
}

// parseConfig is ParseConfig; checkTokens false leaves the accounts'
// tokens unread, for commands that need none (migrate).
func parseConfig(r io.Reader, expandEnv bool, getenv func(string) string, checkTokens bool) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	// Every value substituted for ${NAME} is scrubbed back out of errors: a
	// referenced variable may hold a secret, and YAML errors quote input.
	var expanded []string
	if expandEnv {
		data = envRef.ReplaceAllFunc(data, func(m []byte) []byte {
			v := getenv(string(m[2 : len(m)-1]))
			if v != "" {
				expanded = append(expanded, string(m), v)
			}
			return []byte(v)
		})
	}
	cfg, err := parseExpanded(data, getenv, checkTokens)
	if err != nil && len(expanded) > 0 {
		// Longer values first, so one that contains another is replaced whole.
		pairs := make([][2]string, 0, len(expanded)/2)
		for i := 0; i < len(expanded); i += 2 {
			pairs = append(pairs, [2]string{expanded[i], expanded[i+1]})
		}
		slices.SortFunc(pairs, func(a, b [2]string) int { return len(b[1]) - len(a[1]) })
		scrub := func(msg string) string {
			for _, p := range pairs {
				msg = strings.ReplaceAll(msg, p[1], p[0])
			}
			return msg
		}
		var ce *ConfigError
		if errors.As(err, &ce) {
			return Config{}, &ConfigError{Msg: scrub(ce.Msg)}
		}
		return Config{}, errors.New(scrub(err.Error()))
	}
	return cfg, err
}

// parseExpanded decodes and validates YAML whose ${ENV} references are
// already expanded.
func parseExpanded(data []byte, getenv func(string) string, checkTokens bool) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, &ConfigError{Msg: err.Error()}
	}
	cfg := DefaultConfig()
	if len(root.Content) == 0 {
		return Config{}, &ConfigError{Msg: "the file is empty"}
	}
	if err := decodeStrict(root.Content[0], reflect.ValueOf(&cfg).Elem(), ""); err != nil {
		return Config{}, err
	}
	if !checkTokens {
		getenv = nil
	}
	if err := cfg.Validate(getenv); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

var durationType = reflect.TypeOf(Duration(0))

// decodeStrict walks the YAML node into v, reporting unknown keys and bad
// values by field path (accounts[2].schedule) and line.
func decodeStrict(n *yaml.Node, v reflect.Value, path string) error {
	name := path
	if name == "" {
		name = "(top level)"
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			return configErr(name, n.Line, "want a duration such as 30s or 720h")
		}
		s := strings.TrimSpace(n.Value)
		if s == "0" {
			v.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return configErr(name, n.Line, "bad duration %q (want e.g. 30s, 15m, 720h)", n.Value)
		}
		v.SetInt(int64(d))
		return nil
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return configErr(name, n.Line, "want a mapping of keys")
		}
		fields := map[string]int{}
		for i := 0; i < v.NumField(); i++ {
			if tag := v.Type().Field(i).Tag.Get("yaml"); tag != "" {
				fields[strings.Split(tag, ",")[0]] = i
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			fi, ok := fields[k.Value]
			if !ok {
				return configErr(p, k.Line, "unknown key")
			}
			if seen[k.Value] {
				return configErr(p, k.Line, "key given twice")
			}
			seen[k.Value] = true
			if err := decodeStrict(val, v.Field(fi), p); err != nil {
				return err
			}
		}
		if ac, ok := v.Addr().Interface().(*AccountConfig); ok {
			ac.line = n.Line
		}
		return nil
	case v.Kind() == reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return configErr(name, n.Line, "want a list")
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeStrict(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return configErr(name, n.Line, "want a single value")
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return configErr(name, n.Line, "bad value %q for a %s", n.Value, v.Kind())
	}
	return nil
}

var accountID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate checks the values, every cron spec and every account's token
// source.
// A nil getenv skips the accounts' tokens.
func (c *Config) Validate(getenv func(string) string) error {
	if c.Mirror.URL == "" {
		return configErr("mirror.url", 0, "required (e.g. file:./tursync.db)")
	}
	if u, err := url.Parse(c.Mirror.URL); err != nil || !slices.Contains([]string{"file", "libsql", "http", "https", "ws", "wss"}, u.Scheme) {
		return configErr("mirror.url", 0, "want file:PATH, libsql://HOST or http(s)://HOST")
	}
	if err := checkBaseURL(c.API.BaseURL); err != nil {
		return configErr("api.base_url", 0, "%v", err)
	}
	if c.API.Timeout <= 0 {
		return configErr("api.timeout", 0, "must be more than 0")
	}
	if c.API.RequestsPerSecond <= 0 {
		return configErr("api.requests_per_second", 0, "must be more than 0")
	}
	if c.API.MaxRetries < 0 {
		return configErr("api.max_retries", 0, "must not be negative")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		return configErr("http.listen", 0, "want HOST:PORT: %v", err)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		return configErr("log.level", 0, "want debug, info, warn or error, not %q", c.Log.Level)
	}
	if !slices.Contains([]string{"auto", "json", "text"}, c.Log.Format) {
		return configErr("log.format", 0, "want auto, json or text, not %q", c.Log.Format)
	}
	if c.Sync.MaxConcurrentAccounts < 1 {
		return configErr("sync.max_concurrent_accounts", 0, "must be at least 1")
	}
	if c.Mirror.BusyTimeout <= 0 {
		return configErr("mirror.busy_timeout", 0, "must be more than 0")
	}
	if err := c.Sync.validate(); err != nil {
		return err
	}
	if c.DeleteGuard.MaxFraction <= 0 || c.DeleteGuard.MaxFraction > 1 {
		return configErr("delete_guard.max_fraction", 0, "want a fraction in (0, 1]")
	}
	if c.DeleteGuard.MinRows < 0 {
		return configErr("delete_guard.min_rows", 0, "must not be negative")
	}
	if _, err := tsync.ParseSchedule(c.Defaults.Schedule); err != nil {
		return configErr("defaults.schedule", 0, "bad cron spec %q: %v", c.Defaults.Schedule, err)
	}
	if err := checkResources("defaults.resources", c.Defaults.Resources); err != nil {
		return err
	}
	if len(c.Accounts) == 0 {
		return configErr("accounts", 0, "at least one account is required")
	}
	return c.validateAccounts(getenv)
}

// validateAccounts checks each account: its id, schedule, resources and,
// unless getenv is nil, that its token can be read.
func (c *Config) validateAccounts(getenv func(string) string) error {
	ids := map[string]bool{}
	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		if !accountID.MatchString(a.ID) {
			return configErr(p+".id", a.line, "want letters, digits, '.', '_' or '-', not %q", a.ID)
		}
		if ids[a.ID] {
			return configErr(p+".id", a.line, "duplicate account id %q", a.ID)
		}
		ids[a.ID] = true
		if a.Schedule != "" {
			if _, err := tsync.ParseSchedule(a.Schedule); err != nil {
				return configErr(p+".schedule", a.line, "bad cron spec %q: %v", a.Schedule, err)
			}
		}
		if a.Resources != nil {
			if err := checkResources(p+".resources", a.Resources); err != nil {
				return err
			}
		}
		if getenv == nil {
			continue // the command reads no token
		}
		if _, err := a.Token(getenv); err != nil {
			return configErr(p, a.line, "%v", err)
		}
	}
	return nil
}

func checkResources(path string, rs []string) error {
	for i, r := range rs {
		if !slices.Contains(schema.Resources, r) {
			return configErr(fmt.Sprintf("%s[%d]", path, i), 0, "unknown resource %q (want one of %s)", r, strings.Join(schema.Resources, ", "))
		}
	}
	return nil
}

// checkBaseURL refuses plain http to anything but a loopback host: the
// bearer token would cross the network in clear text.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("want https://HOST, not %q", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("http:// is only allowed for loopback hosts; use https://")
	}
	return fmt.Errorf("want https://HOST, not %q", raw)
}

// Token reads the account's token from its env var or file. It is called at
// every pass, so a rotated token file needs no restart.
func (a AccountConfig) Token(getenv func(string) string) (turso.Secret, error) {
	switch {
	case a.TokenEnv != "" && a.TokenFile != "":
		return turso.Secret{}, errors.New("set token_env or token_file, not both")
	case a.TokenEnv != "":
		v := strings.TrimSpace(getenv(a.TokenEnv))
		if v == "" {
			return turso.Secret{}, fmt.Errorf("token_env: environment variable %s is not set or empty", a.TokenEnv)
		}
		return turso.NewSecret(v), nil
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return turso.Secret{}, fmt.Errorf("token_file: %v", scrubPathErr(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return turso.Secret{}, fmt.Errorf("token_file: %s is empty", a.TokenFile)
		}
		return turso.NewSecret(v), nil
	}
	return turso.Secret{}, errors.New("token_env or token_file is required")
}

// warnTokenFiles logs each token_file that group or others may read: the
// token works for anyone who can read it.
func warnTokenFiles(log *slog.Logger, cfg Config) {
	for _, a := range cfg.Accounts {
		if a.TokenFile == "" {
			continue
		}
		if st, err := os.Stat(a.TokenFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Warn("token_file is readable by group or others; chmod 600 it", "account", a.ID, "path", a.TokenFile,
				"mode", fmt.Sprintf("%04o", st.Mode().Perm()))
		}
	}
}

func scrubPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// Resources returns the account's resources, or the defaults.
func (c *Config) Resources(a AccountConfig) []string {
	if a.Resources != nil {
		return a.Resources
	}
	return c.Defaults.Resources
}

// Schedule returns the account's schedule, or the default one.
func (c *Config) Schedule(a AccountConfig) string {
	if a.Schedule != "" {
		return a.Schedule
	}
	return c.Defaults.Schedule
}

func (sc SyncConfig) validate() error {
	if time.Duration(sc.LeaseTTL) < 3*time.Second {
		return configErr("sync.lease_ttl", 0, "must be at least 3s (it is renewed every third of it)")
	}
	if sc.ShutdownTimeout <= 0 {
		return configErr("sync.shutdown_timeout", 0, "must be more than 0")
	}
	return nil
}
