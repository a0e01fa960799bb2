package turso

import (
	"bytes"
	"fmt"
	"io"
)

// DefaultMaxFieldBytes caps one string in an API answer (api.max_field_bytes):
// no username, email, name or message needs 64 KiB, and one 8 MiB username
// would otherwise be stored four times over (users, role assignments,
// change events, an index).
const DefaultMaxFieldBytes = 64 << 10

// FieldTooLongError is an answer holding a string longer than the cap.
// Nothing of the answer is used: the scope it feeds fails (class decode).
type FieldTooLongError struct {
	Key   string // the member the value belongs to ("" for an array element)
	Bytes int64  // how long it was when the read stopped: more than Max
	Max   int64
}

func (e *FieldTooLongError) Error() string {
	key := e.Key
	if key == "" {
		key = "(an array element)"
	}
	return fmt.Sprintf("the value of %q is longer than %d bytes (at least %d; api.max_field_bytes): the answer is refused", key, e.Max, e.Bytes)
}

// fieldCap passes an answer through, failing it once one of its strings
// (escapes counted as written) grows past max. It is a byte scan with a
// little state, so it streams: the members list of a million users is not
// held to be checked.
type fieldCap struct {
	r   io.Reader
	max int64

	inStr, esc bool
	afterStr   bool   // a string just ended: is it a member's name?
	n          int64  // bytes of the current string
	cur        []byte // its first bytes, a key candidate
	last       []byte // the last string that ended
	key        []byte // the key the value being read belongs to
	err        *FieldTooLongError
}

// keyBytes is how much of a key fieldCap keeps to name it.
const keyBytes = 64

func newFieldCap(r io.Reader, max int64) *fieldCap {
	return &fieldCap{r: r, max: max, cur: make([]byte, 0, keyBytes), last: make([]byte, 0, keyBytes), key: make([]byte, 0, keyBytes)}
}

func (f *fieldCap) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.r.Read(p)
	if f.scan(p[:n]) {
		return 0, f.err
	}
	return n, err
}

// scan advances the state over b, jumping from quote to quote with
// bytes.IndexByte rather than stepping byte by byte: the check must not
// slow the decoding of a 250,000-database org. It reports a string past
// the cap.
func (f *fieldCap) scan(b []byte) bool {
	for i := 0; i < len(b); {
		if !f.inStr {
			if f.afterStr {
				// The string just ended: followed by ':', it named a member.
				for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
					i++
				}
				if i == len(b) {
					return false
				}
				if b[i] == ':' {
					f.key = append(f.key[:0], f.last...)
				}
				f.afterStr = false
			}
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				return false
			}
			i += j + 1
			f.inStr, f.n, f.cur = true, 0, f.cur[:0]
			continue
		}
		if f.esc {
			f.esc = false
			f.take(b[i : i+1])
			i++
		} else {
			seg := b[i:]
			end := bytes.IndexByte(seg, '"')
			if end >= 0 {
				seg = seg[:end]
			}
			if k := bytes.IndexByte(seg, '\\'); k >= 0 {
				f.take(seg[:k+1])
				f.esc = true
				i += k + 1
			} else {
				f.take(seg)
				i += len(seg)
				if end >= 0 {
					i++
					f.inStr, f.afterStr = false, true
					f.last = append(f.last[:0], f.cur...)
				}
			}
		}
		if f.n > f.max {
			f.err = &FieldTooLongError{Key: string(f.key), Bytes: f.n, Max: f.max}
			return true
		}
	}
	return false
}

// take counts string bytes, keeping the first few as a key candidate.
func (f *fieldCap) take(b []byte) {
	f.n += int64(len(b))
	if room := keyBytes - len(f.cur); room > 0 {
		f.cur = append(f.cur, b[:min(room, len(b))]...)
	}
}
