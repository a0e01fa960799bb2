package turso

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// The field cap names the key of the first string past it, counts escapes
// as written, and lets through any answer whose strings all fit, whatever
// its total size and however the reads split it.
func TestFieldCap(t *testing.T) {
	cases := []struct {
		name, body, key string // key "" : passes
	}{
		{"fits", `{"a":"` + strings.Repeat("x", 16) + `","b":[1,2,"` + strings.Repeat("y", 16) + `"]}`, ""},
		{"many small strings past the cap in total", `[` + strings.Repeat(`"abcdefgh",`, 100) + `"z"]`, ""},
		{"member value", `{"databases":[{"Name":"ok","hostname":"` + strings.Repeat("h", 17) + `"}]}`, "hostname"},
		{"escapes count", `{"msg":"` + strings.Repeat(`\"`, 9) + `"}`, "msg"},
		{"array element keeps the member's name", `{"regions":["aws","` + strings.Repeat("r", 17) + `"]}`, "regions"},
		{"a key itself", `{"` + strings.Repeat("k", 17) + `":1}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFieldCap(iotestOneByte{strings.NewReader(c.body)}, 16)
			_, err := io.ReadAll(f)
			var fe *FieldTooLongError
			switch {
			case c.name == "a key itself":
				if !errors.As(err, &fe) {
					t.Fatalf("a 17-byte key passed")
				}
			case c.key == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case !errors.As(err, &fe) || fe.Key != c.key || fe.Max != 16 || fe.Bytes != 17:
				t.Fatalf("%v, want the key %q named at 17 bytes", err, c.key)
			}
		})
	}
}

// iotestOneByte reads one byte at a time: state must carry across reads.
type iotestOneByte struct{ r io.Reader }

func (o iotestOneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// FuzzFieldCap: whatever the bytes and however reads split them, a cap no
// string can pass lets them through unchanged, and a small cap refuses
// exactly the answers a plain scan finds a longer string in.
func FuzzFieldCap(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `["x\"y","` + strings.Repeat("z", 40) + `"]`, `{"k":"\\\\","l":"\u00e9"}`, `"unterminated`, `{"a" : "bbbbbbbbbbbbbbbbbbbbbbbbbbb"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := io.ReadAll(newFieldCap(iotestOneByte{strings.NewReader(string(body))}, int64(len(body))+1))
		if err != nil || string(got) != string(body) {
			t.Fatalf("a cap past the whole body changed it: %v", err)
		}
		const capBytes = 8
		_, err = io.ReadAll(newFieldCap(strings.NewReader(string(body)), capBytes))
		if want := longestString(body) > capBytes; (err != nil) != want {
			t.Fatalf("cap %d over %q: error %v, want one: %v", capBytes, body, err, want)
		}
	})
}

// longestString is the longest JSON string of b as written, escapes
// counted, by the plainest scan.
func longestString(b []byte) int {
	longest, n, in, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case !in:
			if c == '"' {
				in, n = true, 0
			}
			continue
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			in = false
			continue
		}
		n++
		longest = max(longest, n)
	}
	return longest
}
