package main

import (
	"bytes"
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
	"strconv"
	"strings"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
)

// Duration is a time.Duration written as "30s" or "720h" in YAML; 0 is allowed.
type Duration time.Duration

// Config is the YAML configuration (config.example.yaml documents every key).
type Config struct {
	Mirror           MirrorConfig      `yaml:"mirror"`
	API              APIConfig         `yaml:"api"`
	HTTP             HTTPConfig        `yaml:"http"`
	Log              LogConfig         `yaml:"log"`
	Sync             SyncConfig        `yaml:"sync"`
	Retention        RetentionConfig   `yaml:"retention"`
	Defaults         DefaultsConfig    `yaml:"defaults"`
	DeleteGuard      DeleteGuardConfig `yaml:"delete_guard"`
	AuditLogs        AuditLogsConfig   `yaml:"audit_logs"`
	ResourceSettings ResourcesConfig   `yaml:"resources"`
	Accounts         []AccountConfig   `yaml:"accounts"`
	Extract          ExtractConfig     `yaml:"extract"`
	Webhooks         []WebhookConfig   `yaml:"webhooks"`
	Exports          []ExportConfig    `yaml:"exports"`
	Policies         []PolicyConfig    `yaml:"policies"`
}

// MirrorConfig says where the mirror lives.
type MirrorConfig struct {
	URL          string `yaml:"url"`
	AuthTokenEnv string `yaml:"auth_token_env"`
	// BusyTimeout is how long a write waits for another writer's lock
	// (a `tursync sync` beside the daemon) before its org fails.
	BusyTimeout Duration `yaml:"busy_timeout"`
	// FileMode is the octal permission a new mirror file is created with,
	// e.g. "0640" to let the analysts' group read it.
	FileMode string `yaml:"file_mode"`
}

// fileMode is FileMode as a permission; Validate has checked it.
func (m MirrorConfig) fileMode() os.FileMode {
	v, _ := strconv.ParseUint(m.FileMode, 8, 32)
	return os.FileMode(v)
}

// APIConfig tunes the Platform API client.
type APIConfig struct {
	BaseURL           string   `yaml:"base_url"`
	Timeout           Duration `yaml:"timeout"`
	RequestsPerSecond float64  `yaml:"requests_per_second"`
	MaxRetries        int      `yaml:"max_retries"`
	// MaxFieldBytes caps one string of an answer: an answer with a longer
	// one fails its scope (class decode) and writes nothing of it.
	MaxFieldBytes int64 `yaml:"max_field_bytes"`
}

// HTTPConfig is the daemon's HTTP server.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// WebConfigFile is the Prometheus ecosystem's web configuration file
	// (TLS, basic auth with bcrypt hashes), read by exporter-toolkit as
	// node_exporter reads it.
	WebConfigFile string `yaml:"web_config_file"`
	// Control serves the control API (docs/control.md); it needs a
	// WebConfigFile that authenticates its callers.
	Control bool `yaml:"control"`
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
	// MinInterval is the floor of every schedule: one that can fire more
	// often is a config error.
	MinInterval Duration `yaml:"min_interval"`
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

// ResourcesConfig tunes the resources that need more than a name in a
// resources list.
type ResourcesConfig struct {
	DatabaseDetails DatabaseDetailsConfig `yaml:"database_details"`
}

// DatabaseDetailsConfig is the opt-in database_details resource: one
// configuration and one instances request per database, at most
// MaxCallsPerPass requests per account pass, least recently refreshed
// databases first.
type DatabaseDetailsConfig struct {
	Enabled         bool `yaml:"enabled"`
	MaxCallsPerPass int  `yaml:"max_calls_per_pass"`
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

// DefaultConfig returns the defaults config.example.yaml shows.
func DefaultConfig() Config {
	return Config{
		Mirror: MirrorConfig{BusyTimeout: Duration(storage.DefaultBusyTimeout), FileMode: "0600"},
		API: APIConfig{BaseURL: turso.DefaultBaseURL, Timeout: Duration(turso.DefaultTimeout), RequestsPerSecond: 5, MaxRetries: turso.DefaultMaxRetries,
			MaxFieldBytes: turso.DefaultMaxFieldBytes},
		HTTP: HTTPConfig{Listen: "127.0.0.1:9464"},
		Log:  LogConfig{Level: "info", Format: "auto"},
		Sync: SyncConfig{MaxConcurrentAccounts: tsync.DefaultMaxConcurrentAccounts, ShutdownTimeout: Duration(30 * time.Second),
			LeaseTTL: Duration(tsync.DefaultLeaseTTL), MinInterval: Duration(daemon.DefaultMinInterval)},
		Retention:        RetentionConfig{ChangeEvents: 0, SyncRuns: Duration(2160 * time.Hour)},
		Defaults:         DefaultsConfig{Schedule: tsync.DefaultSchedule, Resources: append([]string(nil), schema.DefaultResources...)},
		DeleteGuard:      DeleteGuardConfig{MaxFraction: tsync.DefaultGuardMaxFraction, MinRows: tsync.DefaultGuardMinRows},
		AuditLogs:        AuditLogsConfig{Backfill: Duration(tsync.DefaultBackfill)},
		ResourceSettings: ResourcesConfig{DatabaseDetails: DatabaseDetailsConfig{MaxCallsPerPass: tsync.DefaultDetailsBudget}},
		Extract:          defaultExtractConfig(),
	}
}

// ConfigError is a configuration problem; the command exits 2.
type ConfigError struct {
	Msg string
	// Problems are the problems one by one, for --output json; empty when
	// the error is not about keys (an unreadable file).
	Problems []errorProblem
}

func (e *ConfigError) Error() string { return "config: " + e.Msg }

func configErr(path string, line int, format string, args ...any) error {
	where := path
	if line > 0 {
		where += fmt.Sprintf(" (line %d)", line)
	}
	msg := fmt.Sprintf(format, args...)
	return &ConfigError{Msg: where + ": " + msg, Problems: []errorProblem{problemOf(path, line, msg)}}
}

// problemOf splits a problem's message from its hint: what follows "did
// you mean", or the advice after a ": " that names what to do.
func problemOf(key string, line int, msg string) errorProblem {
	p := errorProblem{Key: key, Line: line, Message: msg}
	if i := strings.Index(msg, " (did you mean "); i >= 0 {
		p.Message, p.Hint = msg[:i], strings.TrimSuffix(msg[i+2:], ")")
	} else if i := strings.LastIndex(msg, ": "); i >= 0 && startsAdvice(msg[i+2:]) {
		p.Message, p.Hint = msg[:i], msg[i+2:]
	}
	return p
}

// startsAdvice reports whether text tells the reader what to do.
func startsAdvice(text string) bool {
	for _, w := range []string{"choose ", "set ", "use ", "want ", "remove ", "give ", "rerun ", "add "} {
		if strings.HasPrefix(text, w) {
			return true
		}
	}
	return false
}

// configProblems collects every problem of a config file, so one run of
// `check` shows them all, each with its key path and, when known, its line.
type configProblems struct {
	lines map[string]int // key path -> line of its value
	msgs  []string
	probs []errorProblem
}

func newProblems() *configProblems { return &configProblems{lines: map[string]int{}} }

// add records a problem at path; line 0 takes the line the path was read
// from.
func (p *configProblems) add(path string, line int, format string, args ...any) {
	if line == 0 {
		line = p.lines[path]
	}
	ce := configErr(path, line, format, args...).(*ConfigError)
	p.msgs = append(p.msgs, ce.Msg)
	p.probs = append(p.probs, ce.Problems...)
}

// err is nil, or one ConfigError listing every problem.
func (p *configProblems) err() error {
	switch len(p.msgs) {
	case 0:
		return nil
	case 1:
		return &ConfigError{Msg: p.msgs[0], Problems: p.probs}
	}
	return &ConfigError{Msg: fmt.Sprintf("%d problems:\n  %s", len(p.msgs), strings.Join(p.msgs, "\n  ")), Problems: p.probs}
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
	probs := newProblems()
	if expandEnv {
		for _, loc := range envRef.FindAllIndex(data, -1) {
			name := string(data[loc[0]+2 : loc[1]-1])
			if getenv(name) == "" && !inComment(data, loc[0]) {
				line := 1 + bytes.Count(data[:loc[0]], []byte("\n"))
				probs.add("${"+name+"}", line, "environment variable %s is not set or empty", name)
			}
		}
		data = envRef.ReplaceAllFunc(data, func(m []byte) []byte {
			v := getenv(string(m[2 : len(m)-1]))
			if v != "" {
				expanded = append(expanded, string(m), v)
			}
			return []byte(v)
		})
	}
	cfg, err := parseExpanded(data, getenv, checkTokens, probs)
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
			probs := make([]errorProblem, len(ce.Problems))
			for i, p := range ce.Problems {
				p.Message, p.Hint = scrub(p.Message), scrub(p.Hint)
				probs[i] = p
			}
			return Config{}, &ConfigError{Msg: scrub(ce.Msg), Problems: probs}
		}
		return Config{}, errors.New(scrub(err.Error()))
	}
	return cfg, err
}

// inComment reports whether offset i of data lies in a YAML comment: after
// a '#' that starts its line or follows a blank.
func inComment(data []byte, i int) bool {
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	line := data[start:i]
	for j, c := range line {
		if c == '#' && (j == 0 || line[j-1] == ' ' || line[j-1] == '\t') {
			return true
		}
	}
	return false
}

// parseExpanded decodes and validates YAML whose ${ENV} references are
// already expanded.
func parseExpanded(data []byte, getenv func(string) string, checkTokens bool, probs *configProblems) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, &ConfigError{Msg: err.Error()}
	}
	cfg := DefaultConfig()
	if len(root.Content) == 0 {
		return Config{}, &ConfigError{Msg: "the file is empty"}
	}
	decodeStrict(root.Content[0], reflect.ValueOf(&cfg).Elem(), "", probs)
	if !checkTokens {
		getenv = nil
	}
	cfg.validate(getenv, probs)
	if err := probs.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

var durationType = reflect.TypeOf(Duration(0))

// decodeStrict walks the YAML node into v, recording unknown keys and bad
// values by field path (accounts[2].schedule) and line, and the line of
// every path it reads for the checks that follow.
func decodeStrict(n *yaml.Node, v reflect.Value, path string, probs *configProblems) {
	name := path
	if name == "" {
		name = "(top level)"
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	probs.lines[path] = n.Line
	switch {
	case v.Type() == durationType:
		decodeDuration(n, v, name, probs)
	case v.Kind() == reflect.Struct:
		decodeStruct(n, v, path, probs)
	case v.Kind() == reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.SequenceNode {
			probs.add(name, n.Line, "want a list")
			return
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeStrict(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i), probs)
		}
		v.Set(out)
	case v.Kind() == reflect.Map && v.Type().Elem().Kind() == reflect.Interface:
		// A free-form map (a builtin policy's params): its values are
		// checked by what reads them.
		if n.Kind != yaml.MappingNode && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			probs.add(name, n.Line, "want a map")
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			probs.add(name, n.Line, "%v", err)
		}
	case n.Kind != yaml.ScalarNode:
		probs.add(name, n.Line, "want a single value")
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			probs.add(name, n.Line, "bad value %q for a %s", n.Value, v.Kind())
		}
	}
}

func decodeDuration(n *yaml.Node, v reflect.Value, name string, probs *configProblems) {
	if n.Kind != yaml.ScalarNode {
		probs.add(name, n.Line, "want a duration such as 30s or 720h")
		return
	}
	s := strings.TrimSpace(n.Value)
	if s == "0" {
		v.SetInt(0)
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		probs.add(name, n.Line, "bad duration %q (want e.g. 30s, 15m, 720h)", n.Value)
		return
	}
	v.SetInt(int64(d))
}

func decodeStruct(n *yaml.Node, v reflect.Value, path string, probs *configProblems) {
	name := path
	if name == "" {
		name = "(top level)"
	}
	if n.Kind != yaml.MappingNode {
		probs.add(name, n.Line, "want a mapping of keys")
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		if tag := v.Type().Field(i).Tag.Get("yaml"); tag != "" {
			key := strings.Split(tag, ",")[0]
			fields[key] = i
			names = append(names, key)
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
		switch {
		case !ok:
			if guess := closest(k.Value, names); guess != "" {
				probs.add(p, k.Line, "unknown key (did you mean %q?)", guess)
			} else {
				probs.add(p, k.Line, "unknown key (known here: %s)", strings.Join(names, ", "))
			}
		case seen[k.Value]:
			probs.add(p, k.Line, "key given twice")
		default:
			seen[k.Value] = true
			decodeStrict(val, v.Field(fi), p, probs)
		}
	}
	if ac, ok := v.Addr().Interface().(*AccountConfig); ok {
		ac.line = n.Line
	}
}

// closest is the known key nearest to key by edit distance, when it is
// near enough to be a typo (at most a third of the key's letters, or 2).
func closest(key string, known []string) string {
	best, bestD := "", max(2, len(key)/3)+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var accountID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate checks the values, every cron spec and every account's token
// source.
// A nil getenv skips the accounts' tokens.
func (c *Config) Validate(getenv func(string) string) error {
	p := newProblems()
	c.validate(getenv, p)
	return p.err()
}

// validate records every problem of the values in p.
func (c *Config) validate(getenv func(string) string, p *configProblems) {
	if c.Mirror.URL == "" {
		p.add("mirror.url", 0, "required (e.g. file:./tursync.db)")
	} else if u, err := url.Parse(c.Mirror.URL); err != nil || !slices.Contains([]string{"file", "libsql", "http", "https", "ws", "wss"}, u.Scheme) {
		p.add("mirror.url", 0, "want file:PATH, libsql://HOST or http(s)://HOST")
	}
	if err := checkBaseURL(c.API.BaseURL); err != nil {
		p.add("api.base_url", 0, "%v", err)
	}
	if c.API.Timeout <= 0 {
		p.add("api.timeout", 0, "must be more than 0")
	}
	if c.API.RequestsPerSecond <= 0 {
		p.add("api.requests_per_second", 0, "must be more than 0")
	}
	if c.API.MaxFieldBytes < 1024 {
		p.add("api.max_field_bytes", 0, "must be at least 1024, not %d", c.API.MaxFieldBytes)
	}
	if c.API.MaxRetries < 0 {
		p.add("api.max_retries", 0, "must not be negative")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		p.add("http.listen", 0, "want HOST:PORT: %v", err)
	}
	if c.HTTP.WebConfigFile != "" {
		if err := web.Validate(c.HTTP.WebConfigFile); err != nil {
			p.add("http.web_config_file", 0, "%v", err)
		} else if c.HTTP.Control && !authenticates(c.HTTP.WebConfigFile) {
			p.add("http.control", 0, "the control API runs passes and pauses accounts: http.web_config_file must authenticate its callers "+
				"(basic_auth_users, or tls_server_config.client_auth_type: RequireAndVerifyClientCert)")
		}
	} else if c.HTTP.Control {
		p.add("http.control", 0, "the control API runs passes and pauses accounts: set http.web_config_file with basic_auth_users "+
			"or TLS client certificates (client_auth_type: RequireAndVerifyClientCert)")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level", 0, "want debug, info, warn or error, not %q", c.Log.Level)
	}
	if !slices.Contains([]string{"auto", "json", "text"}, c.Log.Format) {
		p.add("log.format", 0, "want auto, json or text, not %q", c.Log.Format)
	}
	if c.Sync.MaxConcurrentAccounts < 1 {
		p.add("sync.max_concurrent_accounts", 0, "must be at least 1")
	}
	if c.Mirror.BusyTimeout <= 0 {
		p.add("mirror.busy_timeout", 0, "must be more than 0")
	}
	if v, err := strconv.ParseUint(c.Mirror.FileMode, 8, 32); err != nil || v&^0o777 != 0 || v&0o600 != 0o600 || v&0o002 != 0 {
		p.add("mirror.file_mode", 0, "want an octal permission the owner can read and write and others cannot write, such as 0600 or 0640, not %q", c.Mirror.FileMode)
	}
	c.Sync.validate(p)
	if c.DeleteGuard.MaxFraction <= 0 || c.DeleteGuard.MaxFraction > 1 {
		p.add("delete_guard.max_fraction", 0, "want a fraction in (0, 1]")
	}
	if c.DeleteGuard.MinRows < 0 {
		p.add("delete_guard.min_rows", 0, "must not be negative")
	}
	c.checkSchedule(p, "defaults.schedule", c.Defaults.Schedule)
	checkResources(p, "defaults.resources", c.Defaults.Resources)
	if n := c.ResourceSettings.DatabaseDetails.MaxCallsPerPass; n < 2 {
		p.add("resources.database_details.max_calls_per_pass", 0, "want at least 2 (a database costs two requests), not %d", n)
	}
	if len(c.Accounts) == 0 {
		p.add("accounts", 0, "at least one account is required")
	}
	c.validateAccounts(getenv, p)
	c.validateExtract(p)
	c.validateWebhooks(getenv, p)
	c.validateExports(getenv, p)
	c.validatePolicies(p)
}

// validateAccounts checks each account: its id, schedule, resources and,
// unless getenv is nil, that its token can be read.
func (c *Config) validateAccounts(getenv func(string) string, probs *configProblems) {
	ids := map[string]bool{}
	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		if !accountID.MatchString(a.ID) {
			probs.add(p+".id", 0, "want letters, digits, '.', '_' or '-', not %q", a.ID)
		}
		if ids[a.ID] {
			probs.add(p+".id", 0, "duplicate account id %q", a.ID)
		}
		ids[a.ID] = true
		if a.Schedule != "" {
			c.checkSchedule(probs, p+".schedule", a.Schedule)
		}
		if a.Resources != nil {
			checkResources(probs, p+".resources", a.Resources)
		}
		if getenv == nil {
			continue // the command reads no token
		}
		if _, err := a.Token(getenv); err != nil {
			probs.add(p, a.line, "%v", err)
		}
	}
}

func checkResources(p *configProblems, path string, rs []string) {
	for i, r := range rs {
		if !slices.Contains(schema.Resources, r) {
			p.add(fmt.Sprintf("%s[%d]", path, i), 0, "unknown resource %q (want one of %s)", r, strings.Join(schema.Resources, ", "))
		}
	}
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
		if loopbackURL(raw) {
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

// tokenSource names where the account's token is read from, for errors
// that tell the operator where to put a new one.
func (a AccountConfig) tokenSource() string {
	if a.TokenFile != "" {
		return "token_file " + a.TokenFile + " of account " + a.ID
	}
	return "environment variable " + a.TokenEnv + " (token_env of account " + a.ID + ")"
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

// Resources returns the account's resources, or the defaults, with
// database_details when resources.database_details.enabled says so.
func (c *Config) Resources(a AccountConfig) []string {
	rs := c.Defaults.Resources
	if a.Resources != nil {
		rs = a.Resources
	}
	if c.ResourceSettings.DatabaseDetails.Enabled && !slices.Contains(rs, schema.ResDatabaseDetails) {
		rs = append(slices.Clone(rs), schema.ResDatabaseDetails)
	}
	return rs
}

// Schedule returns the account's schedule, or the default one.
func (c *Config) Schedule(a AccountConfig) string {
	if a.Schedule != "" {
		return a.Schedule
	}
	return c.Defaults.Schedule
}

func (sc SyncConfig) validate(p *configProblems) {
	if time.Duration(sc.LeaseTTL) < 3*time.Second {
		p.add("sync.lease_ttl", 0, "must be at least 3s (it is renewed every third of it)")
	}
	if sc.ShutdownTimeout <= 0 {
		p.add("sync.shutdown_timeout", 0, "must be more than 0")
	}
	if time.Duration(sc.MinInterval) < daemon.MinScheduleInterval {
		p.add("sync.min_interval", 0, "must be at least %s, not %s", daemon.MinScheduleInterval, time.Duration(sc.MinInterval))
	}
}

// checkSchedule records a spec that does not parse, or that can fire more
// often than sync.min_interval.
func (c *Config) checkSchedule(p *configProblems, key, spec string) {
	floor := max(time.Duration(c.Sync.MinInterval), daemon.MinScheduleInterval)
	gap, err := daemon.ShortestGap(spec, floor)
	if err != nil {
		p.add(key, 0, "bad cron spec %q: %v", spec, err)
		return
	}
	if gap < floor {
		p.add(key, 0, "schedule %q can fire every %s, more often than sync.min_interval (%s): "+
			"choose a longer interval, or lower sync.min_interval (never below %s)", spec, gap, floor, daemon.MinScheduleInterval)
	}
}

// authenticates reports whether a web config file (already validated)
// makes every caller prove who it is: basic auth users, or verified TLS
// client certificates.
func authenticates(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var wc web.Config
	if err := yaml.Unmarshal(b, &wc); err != nil {
		return false
	}
	return len(wc.Users) > 0 || wc.TLSConfig.ClientAuth == "RequireAndVerifyClientCert"
}
