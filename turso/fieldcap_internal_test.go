package turso

import (
	"encoding/json"
	"errors"
	"fmt"
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

// BenchmarkFieldCap reads a page of 1,000 databases through the cap, beside
// the floor of reading it plainly, in the same run: the cap's cost per
// answer byte.
func BenchmarkFieldCap(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"databases":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"Name":"db-%06d","DbId":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0-%06d","Hostname":"db-%06d-acme.aws-us-east-1.turso.io",`+
			`"is_schema":false,"schema":"","block_reads":false,"block_writes":false,"allow_attach":false,"regions":["aws-us-east-1","aws-eu-west-1"],`+
			`"primaryRegion":"aws-us-east-1","type":"logical","version":"0.24.32","group":"default","sleeping":false,"archived":false,"parent":null}`, i, i, i)
	}
	sb.WriteString(`],"pagination":{"next":"abc"}}`)
	body := sb.String()
	b.Run("decode", func(b *testing.B) {
		// The floor: what the client does with the page anyway.
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeList([]byte(body), "databases", func(d *Database, r json.RawMessage) { d.Raw = r }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cap", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		buf := make([]byte, 32<<10)
		for b.Loop() {
			// struct{io.Reader} hides strings.Reader's WriteTo: every byte
			// passes through Read, as an HTTP body's do.
			if _, err := io.CopyBuffer(io.Discard, newFieldCap(struct{ io.Reader }{strings.NewReader(body)}, DefaultMaxFieldBytes), buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
