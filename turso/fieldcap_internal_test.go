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
