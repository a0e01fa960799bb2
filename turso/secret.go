package turso

import "log/slog"

// Secret holds a bearer token. Every way of printing it prints REDACTED, so a
// token cannot leak through a log line, an error or a JSON dump by accident.
type Secret struct{ value string }

// NewSecret wraps a token.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the token itself; only the HTTP layer calls it.
func (s Secret) Reveal() string { return s.value }

// Empty reports whether no token is set.
func (s Secret) Empty() bool { return s.value == "" }

func (s Secret) String() string               { return "REDACTED" }
func (s Secret) GoString() string             { return "REDACTED" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }
