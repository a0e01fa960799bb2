package main

import (
	"testing"

	"github.com/tursync/tursync/turso"
)

// The floor's decoder hands each element decoded with its exact raw bytes,
// and reads the pagination on the same pass, nested paths included.
func TestEachElemKeepsRawBytes(t *testing.T) {
	body := []byte(`{"databases": [ {"Name": "a", "DbId": "1"} , {"Name": "b", "DbId": "2", "x": [1, {"y": 2}]}], "pagination": {"next": "c2"}}`)
	var names, raws []string
	var pg struct {
		Next string `json:"next"`
	}
	err := eachElem(body, []string{"databases"}, func(d *turso.Database, raw []byte) {
		names, raws = append(names, d.Name), append(raws, string(raw))
	}, map[string]any{"pagination": &pg})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"Name": "a", "DbId": "1"}`, `{"Name": "b", "DbId": "2", "x": [1, {"y": 2}]}`}
	if len(names) != 2 || names[0] != "a" || names[1] != "b" || raws[0] != want[0] || raws[1] != want[1] || pg.Next != "c2" {
		t.Errorf("names %q raws %q next %q", names, raws, pg.Next)
	}
	usage := []byte(`{"organization": {"uuid": "u", "usage": {}, "databases": [{"uuid": "d1"}, {"uuid": "d2"}]}}`)
	n := 0
	if err := eachElem(usage, []string{"organization", "databases"}, func(_ *turso.DatabaseUsage, _ []byte) { n++ }); err != nil || n != 2 {
		t.Errorf("nested: %d elements, %v", n, err)
	}
	if err := eachElem([]byte(`{"members": []}`), []string{"databases"}, func(*turso.Database, []byte) {}); err == nil {
		t.Error("a missing key is not an error")
	}
}
