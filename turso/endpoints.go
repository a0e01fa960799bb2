package turso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Route templates: the endpoint label of metrics and errors.
const (
	RouteOrganizations = "/v1/organizations"
	RouteOrganization  = "/v1/organizations/{organizationSlug}"
	RouteMembers       = "/v1/organizations/{organizationSlug}/members"
	RouteInvites       = "/v2/organizations/{organizationSlug}/invites"
	RouteDatabases     = "/v1/organizations/{organizationSlug}/databases"
	RouteGroups        = "/v1/organizations/{organizationSlug}/groups"
	RouteAPITokens     = "/v1/organizations/{organizationSlug}/api-tokens"
	RouteAuditLogs     = "/v1/organizations/{organizationSlug}/audit-logs"
	RouteUsage         = "/v1/organizations/{organizationSlug}/usage"
	RouteLocations     = "/v1/locations"
	RouteValidate      = "/v1/auth/validate"
)

func orgCall(route, format, org string) call {
	return call{endpoint: route, org: org, path: orgPath(format, org)}
}

// ListOrganizations returns every org the token sees. The API sends a bare
// array; a {"organizations": [...]} wrapper (the v2 shape) is accepted too.
func (c *Client) ListOrganizations(ctx context.Context) ([]Organization, error) {
	cl := call{endpoint: RouteOrganizations, path: RouteOrganizations}
	body, err := c.get(ctx, cl)
	if err != nil {
		return nil, err
	}
	key := ""
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		key = "organizations"
	}
	orgs, err := decodeList(body, key, func(o *Organization, r json.RawMessage) { o.Raw = r })
	if err != nil {
		return nil, decodeErr(cl, err)
	}
	for i, o := range orgs {
		if o.Slug == "" {
			return nil, decodeErr(cl, fmt.Errorf("organizations[%d] has no slug", i))
		}
	}
	return orgs, nil
}

// GetOrganization returns one org.
func (c *Client) GetOrganization(ctx context.Context, org string) (Organization, error) {
	cl := orgCall(RouteOrganization, "/v1/organizations/%s", org)
	body, err := c.get(ctx, cl)
	if err != nil {
		return Organization{}, err
	}
	var wrap struct {
		Organization json.RawMessage `json:"organization"`
	}
	if err := json.Unmarshal(body, &wrap); err != nil {
		return Organization{}, decodeErr(cl, err)
	}
	if len(wrap.Organization) == 0 || string(wrap.Organization) == "null" {
		return Organization{}, decodeErr(cl, errors.New(`response has no "organization" object`))
	}
	var o Organization
	if err := json.Unmarshal(wrap.Organization, &o); err != nil {
		return Organization{}, decodeErr(cl, fmt.Errorf("organization: %w", err))
	}
	if o.Slug == "" {
		return Organization{}, decodeErr(cl, errors.New("organization has no slug"))
	}
	o.Raw = compactRaw(wrap.Organization)
	return o, nil
}

// ListMembers returns the org's members.
func (c *Client) ListMembers(ctx context.Context, org string) ([]Member, error) {
	out := []Member{}
	err := c.Members(ctx, org, func(page []Member) error {
		out = append(out, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MembersPage is how many members Members hands over at a time.
const MembersPage = 1000

// Members hands the org's members to fn a page at a time, decoded as the
// body arrives. The API sends every member in one body (75 MB for a
// million): streamed, neither the body nor the list is ever held whole.
// A failure after fn got a page is not retried; fn's own error comes back
// as it is.
func (c *Client) Members(ctx context.Context, org string, fn func([]Member) error) error {
	cl := orgCall(RouteMembers, "/v1/organizations/%s/members", org)
	return c.getStream(ctx, cl, func(r io.Reader) error {
		return streamList(r, "members", MembersPage, func(i int, m *Member, raw []byte) error {
			if m.Username == "" {
				return fmt.Errorf("members[%d] has no username", i)
			}
			m.Raw = ownedRaw(raw)
			return nil
		}, fn)
	})
}

// ListInvites returns the org's pending invites (v2: no token in the list).
func (c *Client) ListInvites(ctx context.Context, org string) ([]Invite, error) {
	cl := orgCall(RouteInvites, "/v2/organizations/%s/invites", org)
	body, err := c.get(ctx, cl)
	if err != nil {
		return nil, err
	}
	is, err := decodeList(body, "invites", func(i *Invite, r json.RawMessage) { i.Raw = stripToken(r) })
	if err != nil {
		return nil, decodeErr(cl, err)
	}
	for i, inv := range is {
		if inv.Email == "" {
			return nil, decodeErr(cl, fmt.Errorf("invites[%d] has no email", i))
		}
	}
	return is, nil
}

// stripToken removes an invite token should an old API version still send
// one: an invite token is a secret and must not reach the mirror.
func stripToken(r json.RawMessage) json.RawMessage {
	if !bytes.Contains(bytes.ToLower(r), []byte(`"token"`)) {
		return r
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r, &m) != nil {
		return r
	}
	for k := range m {
		if k == "token" || k == "Token" {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// ListDatabases walks every page of the org's databases (limit=1000, cursor,
// pagination.next) and hands each page to fn as it arrives, so an org of
// 250,000 databases is never in memory at once.
func (c *Client) ListDatabases(ctx context.Context, org string, fn func(page []Database) error) error {
	seen := map[string]bool{}
	cursor := ""
	for page := 1; ; page++ {
		cl := orgCall(RouteDatabases, "/v1/organizations/%s/databases", org)
		cl.query = url.Values{"limit": {strconv.Itoa(DatabasePageSize)}}
		if cursor != "" {
			cl.query.Set("cursor", cursor)
		}
		body, err := c.get(ctx, cl)
		if err != nil {
			return fmt.Errorf("databases page %d: %w", page, err)
		}
		var pg *struct {
			Next *string `json:"next"`
		}
		dbs, err := decodeList(body, "databases", func(d *Database, r json.RawMessage) { d.Raw = r }, map[string]any{"pagination": &pg})
		if errors.Is(err, errNoKey) {
			return decodeErr(cl, fmt.Errorf("databases page %d: response has no \"databases\" key", page))
		}
		if err != nil {
			return decodeErr(cl, fmt.Errorf("databases page %d: %w", page, err))
		}
		for i, d := range dbs {
			if d.DbID == "" || d.Name == "" {
				return decodeErr(cl, fmt.Errorf("databases page %d item %d has no DbId or Name", page, i))
			}
		}
		if err := fn(dbs); err != nil {
			return err
		}
		if pg == nil || pg.Next == nil || *pg.Next == "" {
			return nil
		}
		cursor = *pg.Next
		if seen[cursor] {
			return decodeErr(cl, fmt.Errorf("databases page %d: cursor repeats (pagination loop)", page))
		}
		seen[cursor] = true
	}
}

// getList reads a list answered in one page under key: each element
// decoded with its raw JSON kept by setRaw, and refused when its
// identifying field (named field, read by id) is empty.
func getList[T any](ctx context.Context, c *Client, cl call, key string, setRaw func(*T, json.RawMessage), field string, id func(T) string) ([]T, error) {
	body, err := c.get(ctx, cl)
	if err != nil {
		return nil, err
	}
	out, err := decodeList(body, key, setRaw)
	if err != nil {
		return nil, decodeErr(cl, err)
	}
	for i, v := range out {
		if id != nil && id(v) == "" {
			return nil, decodeErr(cl, fmt.Errorf("%s[%d] has no %s", key, i, field))
		}
	}
	return out, nil
}

// ListGroups returns the org's groups.
func (c *Client) ListGroups(ctx context.Context, org string) ([]Group, error) {
	return getList(ctx, c, orgCall(RouteGroups, "/v1/organizations/%s/groups", org), "groups",
		func(g *Group, r json.RawMessage) { g.Raw = r }, "name", func(g Group) string { return g.Name })
}

// ListAPITokens returns the org's API tokens (names and ids, never values).
func (c *Client) ListAPITokens(ctx context.Context, org string) ([]APIToken, error) {
	return getList(ctx, c, orgCall(RouteAPITokens, "/v1/organizations/%s/api-tokens", org), "tokens",
		func(t *APIToken, r json.RawMessage) { t.Raw = stripToken(r) }, "id", func(t APIToken) string { return t.ID })
}

// AuditLogs returns one page (1-based) of the org's audit log, newest first.
func (c *Client) AuditLogs(ctx context.Context, org string, page, pageSize int) (AuditLogPage, error) {
	cl := orgCall(RouteAuditLogs, "/v1/organizations/%s/audit-logs", org)
	cl.query = url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(pageSize)}}
	body, err := c.get(ctx, cl)
	if err != nil {
		return AuditLogPage{}, err
	}
	var p AuditLogPage
	p.AuditLogs, err = decodeList(body, "audit_logs", func(a *AuditLog, r json.RawMessage) { a.Raw = r }, map[string]any{"pagination": &p.Pagination})
	switch {
	case errors.Is(err, errNoKey):
		p.AuditLogs = nil // a page without events: the end
	case err != nil:
		return AuditLogPage{}, decodeErr(cl, err)
	}
	return p, nil
}

// OrganizationUsage returns the org's billing-cycle usage with every
// database's usage in the same response.
func (c *Client) OrganizationUsage(ctx context.Context, org string, fn func([]DatabaseUsage) error) (OrgUsage, error) {
	cl := orgCall(RouteUsage, "/v1/organizations/%s/usage", org)
	// One call carries every database's usage (38 MB for 250,000
	// databases): it is decoded as it arrives, never held whole.
	var out OrgUsage
	err := c.getStream(ctx, cl, func(r io.Reader) error {
		var err error
		out, err = decodeUsage(r, fn)
		return err
	})
	if err != nil {
		return OrgUsage{}, err
	}
	return out, nil
}

// UsagePage is how many databases' usage OrganizationUsage hands over at a
// time.
const UsagePage = 1000

// decodeUsage walks {"organization": {"uuid", "usage", "databases": [...]}}
// token by token as it arrives, so the databases' usage reaches fn a page
// at a time and is never held whole, neither as bytes nor as Go values.
func decodeUsage(r io.Reader, fn func([]DatabaseUsage) error) (OrgUsage, error) {
	dec := jsontext.NewDecoder(r, v1Semantics)
	var out OrgUsage
	found := false
	err := walkObject(dec, func(key string) error {
		if key != "organization" {
			return dec.SkipValue()
		}
		found = true
		return walkObject(dec, func(key string) error {
			switch key {
			case "uuid":
				return jsonv2.UnmarshalDecode(dec, &out.UUID, v1Semantics)
			case "usage":
				return jsonv2.UnmarshalDecode(dec, &out.Usage, v1Semantics)
			case "databases":
				return decodeDatabaseUsage(dec, fn)
			}
			return dec.SkipValue()
		})
	})
	if err != nil {
		return OrgUsage{}, err
	}
	if !found {
		return OrgUsage{}, errors.New(`response has no "organization" object`)
	}
	if trailing(dec) != nil {
		return OrgUsage{}, errors.New("data after the response object")
	}
	return out, nil
}

func decodeDatabaseUsage(dec *jsontext.Decoder, fn func([]DatabaseUsage) error) error {
	return streamElems(dec, "organization.databases", UsagePage, func(_ int, d *DatabaseUsage, raw []byte) error {
		d.Raw = ownedRaw(raw)
		switch {
		case d.Total != nil:
			d.Counters = *d.Total
		case d.Usage != nil:
			d.Counters = *d.Usage
		}
		return nil
	}, fn)
}

// walkObject reads one JSON object, calling fn with dec positioned at each
// key's value; fn must consume that value.
func walkObject(dec *jsontext.Decoder, fn func(key string) error) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("want an object, got %s", tok.Kind())
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if err := fn(tok.String()); err != nil {
			return err
		}
	}
	_, err = dec.ReadToken() // '}'
	return err
}

// ListLocations returns the locations map as a list sorted by code.
func (c *Client) ListLocations(ctx context.Context) ([]Location, error) {
	cl := call{endpoint: RouteLocations, path: RouteLocations}
	body, err := c.get(ctx, cl)
	if err != nil {
		return nil, err
	}
	var wrap struct {
		Locations map[string]string `json:"locations"`
	}
	if err := json.Unmarshal(body, &wrap); err != nil {
		return nil, decodeErr(cl, err)
	}
	out := make([]Location, 0, len(wrap.Locations))
	for code, desc := range wrap.Locations {
		out = append(out, Location{Code: code, Description: desc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, nil
}

// ValidateToken returns the token's expiry in Unix seconds, -1 for a token
// that never expires.
func (c *Client) ValidateToken(ctx context.Context) (int64, error) {
	cl := call{endpoint: RouteValidate, path: RouteValidate}
	body, err := c.get(ctx, cl)
	if err != nil {
		return 0, err
	}
	var v struct {
		Exp *int64 `json:"exp"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, decodeErr(cl, err)
	}
	if v.Exp == nil {
		return 0, decodeErr(cl, errors.New(`response has no "exp"`))
	}
	return *v.Exp, nil
}
