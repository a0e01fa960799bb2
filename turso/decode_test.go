package turso

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// refDecodeList is the decoder before the one-pass one: encoding/json
// reading the wrapper, the list, then each element, compacting each raw.
func refDecodeList[T any](body []byte, key string, setRaw func(*T, json.RawMessage)) ([]T, error) {
	raw := json.RawMessage(body)
	if key != "" {
		var wrap map[string]json.RawMessage
		if err := json.Unmarshal(body, &wrap); err != nil {
			return nil, err
		}
		v, ok := wrap[key]
		if !ok {
			return nil, fmt.Errorf("no key")
		}
		raw = v
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]T, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if json.Compact(&buf, it) == nil {
			it = buf.Bytes()
		}
		setRaw(&out[i], it)
	}
	return out, nil
}

// FuzzDecodeListMatchesEncodingJSON: whatever the body, the one-pass
// decoder decodes the same members as encoding/json did, with the same raw
// bytes, and fails where it failed.
func FuzzDecodeListMatchesEncodingJSON(f *testing.F) {
	f.Add(`{"members":[{"username":"a","role":"owner","email":"a@x"}, {"USERNAME": "b", "role": "member"}]}`)
	f.Add(`{"members": [ {"username" : "a" , "email":"x y"} ] , "other": {"a": [1, 2]}}`)
	f.Add(`{"members":[{"username":"a","username":"b"}]}`)
	f.Add(`{"members":null}`)
	f.Add(`{"members":[]} x`)
	f.Add(`{"members":[{"username":"\u00e9\ud800"}]}`)
	f.Add("{\"members\":[{\"username\":\"\xff\"}]}")
	f.Add(`{"members":[1]}`)
	f.Add(`{"members":{}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		set := func(m *Member, r json.RawMessage) { m.Raw = r }
		got, err := decodeList([]byte(body), "members", set)
		want, werr := refDecodeList([]byte(body), "members", set)
		if (err == nil) != (werr == nil) {
			t.Fatalf("body %q: one-pass error %v, encoding/json error %v", body, err, werr)
		}
		if err != nil {
			return
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		for i := range got {
			got[i].Raw, want[i].Raw = bytes.Clone(got[i].Raw), bytes.Clone(want[i].Raw)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q:\none-pass      %+v\nencoding/json %+v", body, got, want)
		}
	})
}

// refDecodeUsage is the usage decoder before the one-pass one:
// encoding/json's streaming Decoder.
func refDecodeUsage(body []byte) (OrgUsage, []DatabaseUsage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out OrgUsage
	var dbs []DatabaseUsage
	walk := func(fn func(string) error) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fmt.Errorf("want an object")
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			if err := fn(tok.(string)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	skip := func() error { var r json.RawMessage; return dec.Decode(&r) }
	found := false
	err := walk(func(key string) error {
		if key != "organization" {
			return skip()
		}
		found = true
		return walk(func(key string) error {
			switch key {
			case "uuid":
				return dec.Decode(&out.UUID)
			case "usage":
				return dec.Decode(&out.Usage)
			case "databases":
				tok, err := dec.Token()
				if err != nil || tok == nil {
					return err
				}
				if d, ok := tok.(json.Delim); !ok || d != '[' {
					return fmt.Errorf("want an array")
				}
				for dec.More() {
					var raw json.RawMessage
					if err := dec.Decode(&raw); err != nil {
						return err
					}
					var d DatabaseUsage
					if err := json.Unmarshal(raw, &d); err != nil {
						return err
					}
					d.Raw = compactRaw(raw)
					switch {
					case d.Total != nil:
						d.Counters = *d.Total
					case d.Usage != nil:
						d.Counters = *d.Usage
					}
					dbs = append(dbs, d)
				}
				_, err = dec.Token()
				return err
			}
			return skip()
		})
	})
	if err == nil && !found {
		err = fmt.Errorf("no organization")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = fmt.Errorf("trailing data")
		}
	}
	return out, dbs, err
}

// FuzzDecodeUsageMatchesEncodingJSON: the one-pass usage decoder hands on
// the same databases' usage, raw bytes included, as encoding/json did, and
// fails where it failed.
func FuzzDecodeUsageMatchesEncodingJSON(f *testing.F) {
	f.Add(`{"organization":{"uuid":"u","usage":{"rows_read":1},"databases":[{"uuid":"d","total":{"rows_read":2}},{"uuid":"e","usage":{}}]}}`)
	f.Add(`{"organization": {"databases": null, "uuid": "x"}, "other": [1, {"a": "b c"}]}`)
	f.Add(`{"organization":{"databases":[{"uuid":"a", "total": {"rows_read": 1.5}}]}}`)
	f.Add(`{"organization":{"databases":[]}} {}`)
	f.Add(`{"organization":{"UUID":"u","databases":[{"UUID":"d","Usage":{"ROWS_READ":3}}]}}`)
	f.Add(`{"organization":{"databases":{}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var got []DatabaseUsage
		out, err := decodeUsage(strings.NewReader(body), func(p []DatabaseUsage) error {
			for _, d := range p {
				d.Raw = bytes.Clone(d.Raw)
				got = append(got, d)
			}
			return nil
		})
		wout, want, werr := refDecodeUsage([]byte(body))
		if (err == nil) != (werr == nil) {
			t.Fatalf("body %q: one-pass error %v, encoding/json error %v", body, err, werr)
		}
		if err != nil {
			return
		}
		if out != wout || len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("body %q:\none-pass      %+v %+v\nencoding/json %+v %+v", body, out, got, wout, want)
		}
	})
}
