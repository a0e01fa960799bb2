package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tursync/tursync/turso"
)

// fetchFloor reads every page a pass reads (the audit log's first page
// only, as an unchanged pass does, unless allAudit), with one HTTP request
// each and one decoding pass over each body: each element of a list is
// decoded into its wire struct with go-json-experiment/json, and its raw
// bytes are kept as a sub-slice of the body, which is all a pass needs of
// them. Nothing is mapped, hashed or written: no pass can fetch faster.
func fetchFloor(ctx context.Context, api, token string, allAudit bool) (result, error) {
	f := &floorClient{api: api, token: token, http: &http.Client{Timeout: time.Minute}}
	res := result{Case: "fetchfloor"}
	start := time.Now()
	var orgs []turso.Organization
	body, err := f.get(ctx, "/v1/organizations", nil)
	if err != nil {
		return res, err
	}
	if err := eachElem(body, nil, func(o *turso.Organization, _ []byte) { orgs = append(orgs, *o) }); err != nil {
		return res, fmt.Errorf("organizations: %w", err)
	}
	for _, o := range orgs {
		n, err := f.org(ctx, o.Slug, allAudit)
		if err != nil {
			return res, fmt.Errorf("org %s: %w", o.Slug, err)
		}
		res.Rows += n
	}
	res.WallSeconds = time.Since(start).Seconds()
	res.Requests = f.requests
	res.RowsPerSec = float64(res.Rows) / res.WallSeconds
	return res, nil
}

type floorClient struct {
	api, token string
	http       *http.Client
	requests   int64
}

func (f *floorClient) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := f.api + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	f.requests++
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return body, err
}

// org reads one org's pages and returns the elements decoded.
func (f *floorClient) org(ctx context.Context, slug string, allAudit bool) (int, error) {
	base := "/v1/organizations/" + url.PathEscape(slug)
	rows := 0
	keep := func([]byte) { rows++ }
	steps := []struct {
		path string
		read func(body []byte) error
	}{
		{base, func(b []byte) error {
			return eachElem(b, []string{"organization"}, func(_ *turso.Organization, raw []byte) { keep(raw) })
		}},
		{base + "/members", func(b []byte) error {
			return eachElem(b, []string{"members"}, func(_ *turso.Member, raw []byte) { keep(raw) })
		}},
		{"/v2/organizations/" + url.PathEscape(slug) + "/invites", func(b []byte) error {
			return eachElem(b, []string{"invites"}, func(_ *turso.Invite, raw []byte) { keep(raw) })
		}},
		{base + "/groups", func(b []byte) error {
			return eachElem(b, []string{"groups"}, func(_ *turso.Group, raw []byte) { keep(raw) })
		}},
		{base + "/api-tokens", func(b []byte) error {
			return eachElem(b, []string{"tokens"}, func(_ *turso.APIToken, raw []byte) { keep(raw) })
		}},
	}
	for _, s := range steps {
		body, err := f.get(ctx, s.path, nil)
		if err != nil {
			return rows, err
		}
		if err := s.read(body); err != nil {
			return rows, fmt.Errorf("%s: %w", s.path, err)
		}
	}
	n, err := f.databases(ctx, base)
	rows += n
	if err != nil {
		return rows, err
	}
	n, err = f.audit(ctx, base, allAudit)
	rows += n
	if err != nil {
		return rows, err
	}
	n, err = f.usage(ctx, base)
	return rows + n, err
}

func (f *floorClient) databases(ctx context.Context, base string) (int, error) {
	rows, cursor := 0, ""
	for {
		q := url.Values{"limit": {strconv.Itoa(turso.DatabasePageSize)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		body, err := f.get(ctx, base+"/databases", q)
		if err != nil {
			return rows, err
		}
		var pg struct {
			Next string `json:"next"`
		}
		if err := eachElem(body, []string{"databases"}, func(*turso.Database, []byte) { rows++ },
			map[string]any{"pagination": &pg}); err != nil {
			return rows, err
		}
		if pg.Next == "" {
			return rows, nil
		}
		cursor = pg.Next
	}
}

func (f *floorClient) audit(ctx context.Context, base string, all bool) (int, error) {
	rows := 0
	for page := 1; ; page++ {
		body, err := f.get(ctx, base+"/audit-logs", url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(turso.AuditLogPageSize)}})
		if err != nil {
			return rows, err
		}
		n := 0
		var pg struct {
			TotalPages int `json:"total_pages"`
		}
		if err := eachElem(body, []string{"audit_logs"}, func(*turso.AuditLog, []byte) { n++ },
			map[string]any{"pagination": &pg}); err != nil {
			return rows, err
		}
		rows += n
		if !all || n == 0 || page >= pg.TotalPages {
			return rows, nil
		}
	}
}

func (f *floorClient) usage(ctx context.Context, base string) (int, error) {
	body, err := f.get(ctx, base+"/usage", nil)
	if err != nil {
		return 0, err
	}
	rows := 0
	// {"organization": {..., "databases": [...]}}: the databases' usage.
	err = eachElem(body, []string{"organization", "databases"}, func(*turso.DatabaseUsage, []byte) { rows++ })
	return rows, err
}

// eachElem decodes each element of the array under the object keys of
// path (or the value there when it is not an array) into a T, and hands it
// to fn with its raw bytes, a sub-slice of body; members of the outer
// object named in extra (pagination) are decoded into their pointers on
// the way. One pass over the bytes.
func eachElem[T any](body []byte, path []string, fn func(v *T, raw []byte), extra ...map[string]any) error {
	want := map[string]any{}
	if len(extra) > 0 {
		want = extra[0]
	}
	return walk(jsontext.NewDecoder(bytes.NewReader(body)), body, path, fn, want)
}

func walk[T any](dec *jsontext.Decoder, body []byte, path []string, fn func(v *T, raw []byte), want map[string]any) error {
	if len(path) == 0 {
		return elems(dec, body, fn)
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return fmt.Errorf("want an object holding %q: %v", path[0], err)
	}
	found := false
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		switch ptr, ok := want[name.String()]; {
		case name.String() == path[0]:
			found = true
			err = walk(dec, body, path[1:], fn, nil)
		case ok:
			err = jsonv2.UnmarshalDecode(dec, ptr)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("no %q member", path[0])
	}
	return nil
}

// elems decodes the array (or single value) at dec's position.
func elems[T any](dec *jsontext.Decoder, body []byte, fn func(v *T, raw []byte)) error {
	one := func() error {
		start := dec.InputOffset()
		var v T
		if err := jsonv2.UnmarshalDecode(dec, &v); err != nil {
			return err
		}
		fn(&v, bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n,:"))
		return nil
	}
	if dec.PeekKind() != '[' {
		return one()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		if err := one(); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}
