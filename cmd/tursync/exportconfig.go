package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/tursync/tursync/export"
)

// ExportConfig is one export of the mirror to a warehouse (docs/exports.md).
type ExportConfig struct {
	ID string `yaml:"id"`
	To string `yaml:"to"`
	// PasswordEnv or PasswordFile hold the target's password, when it
	// needs one; never the URL.
	PasswordEnv  string   `yaml:"password_env"`
	PasswordFile string   `yaml:"password_file"`
	Tables       []string `yaml:"tables"`
	Accounts     []string `yaml:"accounts"`
	// Schedule is when the daemon runs it; none: only `tursync export`.
	Schedule string `yaml:"schedule"`
}

var exportID = regexp.MustCompile(`^[a-z0-9_-]{1,48}$`)

// validateExports checks every export; with getenv, that its password can
// be read.
func (c *Config) validateExports(getenv func(string) string, p *configProblems) {
	ids := map[string]bool{}
	targets := map[string]string{}
	for i := range c.Exports {
		e := &c.Exports[i]
		at := fmt.Sprintf("exports[%d]", i)
		if !exportID.MatchString(e.ID) {
			p.add(at+".id", 0, "want 1 to 48 of a-z, 0-9, _ and -, not %q", e.ID)
		} else if ids[e.ID] {
			p.add(at+".id", 0, "duplicate export id %q", e.ID)
		}
		ids[e.ID] = true
		if other, ok := targets[e.To]; ok && e.To != "" {
			p.add(at+".to", 0, "export %q writes the same target: an export owns its tables there, give each its own database or schema", other)
		}
		targets[e.To] = e.ID
		if err := (export.Export{ID: e.ID, To: e.To, Tables: e.Tables, Accounts: e.Accounts}).Validate(); err != nil {
			p.add(at, 0, "%v", err)
		}
		if e.PasswordEnv != "" && e.PasswordFile != "" {
			p.add(at, 0, "set password_env or password_file, not both")
		} else if getenv != nil {
			if _, err := e.password(getenv); err != nil {
				p.add(at, 0, "%v", err)
			}
		}
		if e.Schedule != "" {
			c.checkSchedule(p, at+".schedule", e.Schedule)
		}
	}
}

// password reads the export's password ("" when it has none); the errors
// never quote it.
func (e ExportConfig) password(getenv func(string) string) (string, error) {
	switch {
	case e.PasswordEnv != "":
		v := getenv(e.PasswordEnv)
		if v == "" {
			return "", fmt.Errorf("password_env: environment variable %s is not set or empty", e.PasswordEnv)
		}
		return v, nil
	case e.PasswordFile != "":
		b, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password_file: %v", scrubPathErr(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", errors.New("password_file: " + e.PasswordFile + " is empty")
		}
		return v, nil
	}
	return "", nil
}

// export is the export as the export package runs it.
func (e ExportConfig) export(getenv func(string) string) (export.Export, error) {
	pw, err := e.password(getenv)
	if err != nil {
		return export.Export{}, fmt.Errorf("export %s: %w", e.ID, err)
	}
	return export.Export{ID: e.ID, To: e.To, Password: pw, Tables: e.Tables, Accounts: e.Accounts}, nil
}
