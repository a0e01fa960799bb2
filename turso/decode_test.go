package turso

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
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
