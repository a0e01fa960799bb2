package turso

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// v1Semantics decodes as encoding/json does (case-insensitive names, the
// last of duplicate names, invalid UTF-8 replaced), so the switch to a
// one-pass decoder changes no decoded value.
var v1Semantics = jsonv1.DefaultOptionsV1()

// decodeList decodes the array under key (the body itself when key is "")
// in one pass over the body: each element into a T, handed to setRaw with
// its raw bytes, a sub-slice of body (compacted only when it holds
// insignificant whitespace). extra, when given, names other members of the
// wrapping object to decode on the way (the pagination). A null list is
// empty; when key appears twice, the last wins, as encoding/json has it.
func decodeList[T any](body []byte, key string, setRaw func(*T, json.RawMessage), extra ...map[string]any) ([]T, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body), v1Semantics)
	if key == "" {
		out, err := decodeElems(dec, body, setRaw)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		return out, trailing(dec)
	}
	var want map[string]any
	if len(extra) > 0 {
		want = extra[0]
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '{' {
		return nil, fmt.Errorf("want an object holding %q, not %s", key, tok.Kind())
	}
	var out []T
	found := false
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		switch ptr, ok := want[name.String()]; {
		case name.String() == key:
			found = true
			if out, err = decodeElems(dec, body, setRaw); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		case ok:
			err = jsonv2.UnmarshalDecode(dec, ptr, v1Semantics)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w %q", errNoKey, key)
	}
	return out, trailing(dec)
}

// errNoKey is a wrapping object without the list's key.
var errNoKey = errors.New("response has no key")

// decodeElems decodes the array (or null) at dec's position.
func decodeElems[T any](dec *jsontext.Decoder, body []byte, setRaw func(*T, json.RawMessage)) ([]T, error) {
	switch k := dec.PeekKind(); k {
	case 'n':
		_, err := dec.ReadToken()
		return []T{}, err
	case '[':
	default:
		if k == 0 {
			_, err := dec.ReadToken() // the decoder's own error
			return nil, err
		}
		return nil, fmt.Errorf("want a list, not %s", k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	out := []T{}
	for i := 0; dec.PeekKind() != ']'; i++ {
		start := dec.InputOffset()
		var v T
		if err := jsonv2.UnmarshalDecode(dec, &v, v1Semantics); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		setRaw(&v, rawOf(body[start:dec.InputOffset()]))
		out = append(out, v)
	}
	_, err := dec.ReadToken()
	return out, err
}

// trailing fails a body with anything but whitespace after its value.
func trailing(dec *jsontext.Decoder) error {
	_, err := dec.ReadToken()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return errors.New("data after the top-level value")
	}
	return err
}

// rawOf is an element's bytes as read (without the separators around it),
// a sub-slice of the body, compacted into a copy only when it holds
// whitespace outside its strings.
func rawOf(b []byte) json.RawMessage {
	b = bytes.Trim(b, " \t\r\n,:")
	if looseSpace(b) {
		return compactRaw(b)
	}
	return json.RawMessage(b)
}

// ownedRaw is rawOf in memory of its own, for a value that lives in a
// decoder's buffer only until the next read.
func ownedRaw(b []byte) json.RawMessage {
	b = bytes.Trim(b, " \t\r\n,:")
	if looseSpace(b) {
		return compactRaw(b) // already a copy
	}
	return bytes.Clone(b)
}

// looseSpace reports whether b holds whitespace outside its strings.
func looseSpace(b []byte) bool {
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return true
		}
	}
	return false
}

// pageFnError carries an error of the caller's page function through a
// streaming decoder, so it is not mistaken for a decode error.
type pageFnError struct{ err error }

func (e pageFnError) Error() string { return e.err.Error() }

// streamList walks the object read from r and hands the array under key
// to fn in pages of at most pageSize, each element decoded as it arrives
// and passed to fix with its raw bytes (valid only during the call).
// Unlike decodeList, a key that appears twice is an error: its first
// list was handed on already.
func streamList[T any](r io.Reader, key string, pageSize int, fix func(i int, v *T, raw []byte) error, fn func([]T) error) error {
	dec := jsontext.NewDecoder(r, v1Semantics)
	found := false
	err := walkObject(dec, func(name string) error {
		if name != key {
			return dec.SkipValue()
		}
		if found {
			return fmt.Errorf("%q appears twice in the response", key)
		}
		found = true
		return streamElems(dec, key, pageSize, fix, fn)
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w %q", errNoKey, key)
	}
	return trailing(dec)
}

// streamElems reads the array (or null) at dec's position element by
// element, handing fn a page at a time. path names the array in errors.
func streamElems[T any](dec *jsontext.Decoder, path string, pageSize int, fix func(i int, v *T, raw []byte) error, fn func([]T) error) error {
	switch k := dec.PeekKind(); k {
	case 'n':
		_, err := dec.ReadToken()
		return err // null: no elements
	case '[':
	default:
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		return fmt.Errorf("%s: want an array, got %s", path, k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	page := make([]T, 0, pageSize)
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return pageFnError{err}
		}
		// fn may keep the page: the next one gets an array of its own.
		page = make([]T, 0, pageSize)
		return nil
	}
	for i := 0; dec.PeekKind() != ']'; i++ {
		// The value lives in the decoder's buffer until the next read:
		// decoded from there, and fix copies out what it keeps.
		raw, err := dec.ReadValue()
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		var v T
		if err := jsonv2.Unmarshal(raw, &v, v1Semantics); err != nil {
			return fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		if err := fix(i, &v, raw); err != nil {
			return err
		}
		page = append(page, v)
		if len(page) == pageSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil { // ']'
		return err
	}
	return flush()
}
