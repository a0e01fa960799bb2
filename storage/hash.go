package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tursync/tursync/schema"
)

// seenKey identifies a row within one org's batch, scope or fetch: a byte
// for its table and its key columns but the org, which is the same for
// all. A million role assignments are remembered in 11 bytes each, not 34.
func seenKey(t *schema.Table, keys []string) string {
	if len(keys) > 1 && t.Keys[0] == "organization_id" {
		keys = keys[1:]
	}
	tag, ok := tableTags[t]
	if !ok {
		return t.Name + "\x00" + strings.Join(keys, "\x00")
	}
	return string(rune(tag)) + strings.Join(keys, "\x00")
}

// tableTags are the one-byte table markers of seenKey (control bytes, so
// no table name, the fallback, starts with one).
var tableTags = func() map[*schema.Table]byte {
	tags := map[*schema.Table]byte{}
	for i, t := range schema.EntityTables {
		tags[t] = byte(i + 1)
	}
	return tags
}()

// rowHash hashes a row's mapped content and remote data, as stored in
// content_hash: the hex of rowSum.
func rowHash(vals []any, remote []byte) string {
	sum := rowSum(vals, remote)
	return hex.EncodeToString(sum[:])
}

// rowSum is the first 16 bytes of the SHA-256 of the values as
// encoding/json encodes them (every stored content_hash depends on those
// exact bytes), a zero byte, and the remote data. Snapshots compare it as
// it is, with no hex round trip per row.
func rowSum(vals []any, remote []byte) [16]byte {
	var buf [512]byte
	b, ok := appendValues(buf[:0], vals)
	if !ok {
		b, _ = json.Marshal(vals)
	}
	b = append(b, 0)
	b = append(b, remote...)
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// appendValues appends vals as json.Marshal encodes them, for the values
// rows are made of (plain strings, integers, nil) at a tenth of its cost;
// ok is false for anything else (a string that needs escaping, another
// type), which the caller hands to json.Marshal.
func appendValues(b []byte, vals []any) ([]byte, bool) {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		switch x := v.(type) {
		case string:
			var ok bool
			if b, ok = appendString(b, x); !ok {
				return b, false
			}
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case nil:
			b = append(b, "null"...)
		default:
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendString appends s quoted as encoding/json quotes it, for s of
// printable ASCII (a database's regions list is JSON text, full of quotes);
// ok is false for anything else.
func appendString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e:
			return b, false
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '<':
			b = append(b, `\u003c`...)
		case c == '>':
			b = append(b, `\u003e`...)
		case c == '&':
			b = append(b, `\u0026`...)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"'), true
}

// norm makes a scanned or mapped value comparable and JSON-friendly.
func norm(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int:
		return int64(x)
	}
	return v
}
