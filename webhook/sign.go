// Package webhook delivers the mirror's change events to HTTP endpoints:
// read after a cursor from storage, batched, signed to the Standard
// Webhooks spec, sent, and the cursor advanced on a 2xx. It knows no
// Platform API.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SecretPrefix starts a secret as the Standard Webhooks spec writes it.
const SecretPrefix = "whsec_"

// ParseSecret decodes a "whsec_" + base64 secret (the prefix is optional,
// as in the reference libraries). The error never quotes the secret.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix))
	if s == "" {
		return nil, errors.New("the secret is empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New(`the secret is not "whsec_" followed by standard base64`)
	}
	if len(key) < 24 {
		return nil, fmt.Errorf("the secret decodes to %d bytes; want at least 24", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature header for a message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" under each key, space
// separated, so a receiver that knows any one of the keys (during a
// rotation) verifies it.
func Sign(keys [][]byte, id string, timestamp int64, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(timestamp, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}
