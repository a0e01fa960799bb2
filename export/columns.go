package export

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// A column's type in the target, from its data dictionary entry
// (docs/exports.md lists the rules).
type colType string

const (
	typeText      colType = "text"
	typeBigint    colType = "bigint"
	typeDouble    colType = "double precision"
	typeBoolean   colType = "boolean"
	typeJSONB     colType = "jsonb"
	typeTimestamp colType = "timestamp with time zone"
)

type column struct {
	name string
	typ  colType
}

// columnOf types a column: INTEGER flags ("1 when ...") are booleans,
// other INTEGERs bigints, REAL double precision; TEXT holding JSON (the
// description says so, or remote_data) is jsonb, the times the mirror
// stamps itself (derived *_at, *_since and valid_* columns, RFC 3339) are
// timestamptz, and the rest text, API times included: their format is the
// API's and is kept as it came.
func columnOf(c schema.ColumnDoc) column {
	t := typeText
	switch c.Type {
	case "INTEGER":
		t = typeBigint
		for _, p := range []string{"1 when", "1 once", "1 for", "1 while"} {
			if strings.HasPrefix(c.Description, p) {
				t = typeBoolean
			}
		}
	case "REAL":
		t = typeDouble
	default:
		switch {
		case c.Name == "remote_data" || strings.Contains(c.Description, "JSON"):
			t = typeJSONB
		case (strings.HasSuffix(c.Name, "_at") || strings.HasSuffix(c.Name, "_since") || c.Name == "at" || c.Name == "valid_from" || c.Name == "valid_to") &&
			strings.HasPrefix(c.Source, "derived"):
			t = typeTimestamp
		}
	}
	return column{name: c.Name, typ: t}
}

// value converts a mirror value to what the target's column takes.
func (c column) value(v any) (any, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if v == nil {
		return nil, nil
	}
	switch c.typ {
	case typeBoolean:
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("column %s: %q is not a flag (0 or 1)", c.name, x)
			}
			return n != 0, nil
		}
	case typeBigint:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("column %s: %q is not an integer", c.name, x)
			}
			return n, nil
		}
	case typeDouble:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		}
	case typeTimestamp:
		s := asText(v)
		if s == "" {
			return nil, nil
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("column %s: %q is not an RFC 3339 time", c.name, s)
		}
		return ts, nil
	case typeJSONB:
		// The mirror's JSON is what the API sent, checked when decoded;
		// PostgreSQL checks it again as jsonb.
		s := asText(v)
		if s == "" {
			return nil, nil
		}
		return s, nil
	default:
		return asText(v), nil
	}
	return nil, fmt.Errorf("column %s: a %T where the target takes %s", c.name, v, c.typ)
}

// asText is a mirror value as text ("" for NULL), without formatting the
// strings most values are.
func asText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
