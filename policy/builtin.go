package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Builtin is a policy of the built-in pack: its statement reads its
// parameters from the one-row table p (p.account and p.now too).
type Builtin struct {
	Name, Description string
	Params            []Param
	SQL               string
	// EveryPass: the statement reads the record of passes (sync_scopes),
	// which every pass changes, so no evaluation of it stands for the
	// next pass (Current).
	EveryPass bool
}

// Param is a builtin's parameter.
type Param struct {
	Name string
	Kind string // an int, a duration ("24h"; p holds seconds), text, a list of texts, or a map of lists
	// Default is used when the config does not give it; nil makes the
	// parameter required.
	Default any
	Doc     string
}

// The kinds of parameter.
const (
	KindInt      = "int"
	KindDuration = "duration"
	KindText     = "text"
	KindList     = "list"
	KindOverride = "map of lists"
)

// Builtins are the built-in pack, in the order docs/policies.md lists
// them.
var Builtins = []Builtin{
	{Name: "stale_invites", Description: "Invites pending for longer than days.",
		Params: []Param{{Name: "days", Kind: KindInt, Default: 30, Doc: "how old a pending invite may get"}},
		SQL: `SELECT i.organization_id, 'invite' AS subject_type, i.email AS subject_id, i.role, i.created_at,
       CAST(julianday(p.now) - julianday(i.created_at) AS INTEGER) AS age_days
FROM invites i, p
WHERE i.account_id = p.account AND i.deleted_at IS NULL
  AND julianday(p.now) - julianday(i.created_at) > p.days`},
	{Name: "old_api_tokens", Description: "Platform API tokens older than days, with their owner.",
		Params: []Param{{Name: "days", Kind: KindInt, Default: 90, Doc: "how old a token may get"}},
		SQL: `SELECT t.organization_id, 'api_token' AS subject_type, t.id AS subject_id, t.name, t.owner_username, t.owner_email, t.created_at,
       CAST(julianday(p.now) - julianday(t.created_at) AS INTEGER) AS age_days
FROM api_tokens t, p
WHERE t.account_id = p.account AND t.deleted_at IS NULL
  AND julianday(p.now) - julianday(t.created_at) > p.days`},
	{Name: "owner_count", Description: "Orgs with fewer than min or more than max owners (max 0: no upper bound).",
		Params: []Param{{Name: "min", Kind: KindInt, Default: 1, Doc: "the fewest owners an org may have"},
			{Name: "max", Kind: KindInt, Default: 0, Doc: "the most; 0 for no bound"}},
		SQL: `SELECT organization_id, 'organization' AS subject_type, organization_id AS subject_id, owners, min_owners, max_owners
FROM (SELECT o.id AS organization_id, p.min AS min_owners, p.max AS max_owners,
             (SELECT count(*) FROM role_assignments r
               WHERE r.account_id = o.account_id AND r.organization_id = o.id
                 AND r.role_id = 'owner' AND r.status = 'active' AND r.deleted_at IS NULL) AS owners
      FROM organizations o, p
      WHERE o.account_id = p.account AND o.deleted_at IS NULL)
WHERE owners < min_owners OR (max_owners > 0 AND owners > max_owners)`},
	{Name: "members_outside_domains", Description: "Members and invites whose email domain is not one of domains.",
		Params: []Param{{Name: "domains", Kind: KindList, Doc: "the email domains allowed, e.g. [example.com]"}},
		// A domain is allowed when it is quoted in the domains' JSON text
		// (lower-cased), the same exact match without a json_each per row.
		SQL: `SELECT r.organization_id, 'member' AS subject_type, r.user_id AS subject_id, u.email, r.role_id AS role
FROM role_assignments r JOIN users u ON u.account_id = r.account_id AND u.id = r.user_id, p
WHERE r.account_id = p.account AND r.deleted_at IS NULL AND r.status = 'active'
  AND instr(lower(p.domains), json_quote(lower(substr(u.email, instr(u.email, '@') + 1)))) = 0
UNION ALL
SELECT i.organization_id, 'invite', i.email, i.email, i.role
FROM invites i, p
WHERE i.account_id = p.account AND i.deleted_at IS NULL
  AND instr(lower(p.domains), json_quote(lower(substr(i.email, instr(i.email, '@') + 1)))) = 0`},
	{Name: "database_outside_locations", Description: "Databases with a location (primary, replica, or their group's) outside the allowed ones: locations, or overrides for an org (\"org\") or a group (\"org/group\").",
		Params: []Param{{Name: "locations", Kind: KindList, Doc: "the location codes allowed, e.g. [aws-eu-west-1, fra]"},
			{Name: "overrides", Kind: KindOverride, Default: map[string]any{}, Doc: "the locations allowed for an org or a group instead, e.g. {acme/us-only: [aws-us-east-1]}"}},
		// A location is allowed when its quoted code is in the allowed
		// array's JSON text: codes are [a-z0-9-], so the quotes make the
		// match exact, and no per-row json_each of the allowed list is
		// needed (it cost 7 s on the large org).
		SQL: `SELECT organization_id, 'database' AS subject_type, id AS subject_id, name, group_name, primary_region, regions, outside
FROM (SELECT b.*,
             CASE WHEN b.regions = json_array(b.primary_region) AND b.group_locations IN ('[]', b.regions)
                  -- one location (most databases): no set to build
                  THEN CASE WHEN instr(b.allowed, json_quote(b.primary_region)) = 0 THEN b.regions ELSE '[]' END
                  ELSE (SELECT json_group_array(x) FROM (SELECT b.primary_region AS x UNION SELECT value FROM json_each(b.regions)
                                                         UNION SELECT value FROM json_each(b.group_locations))
                         WHERE instr(b.allowed, json_quote(x)) = 0) END AS outside
      FROM (SELECT d.organization_id, d.id, d.name, d.group_name, d.primary_region, d.regions,
                   coalesce(g.locations, '[]') AS group_locations,
                   coalesce(json_extract(p.overrides, '$."' || d.organization_id || '/' || d.group_name || '"'),
                            json_extract(p.overrides, '$."' || d.organization_id || '"'), p.locations) AS allowed
            FROM databases d
            LEFT JOIN "groups" g ON g.account_id = d.account_id AND g.organization_id = d.organization_id AND g.name = d.group_name AND g.deleted_at IS NULL, p
            WHERE d.account_id = p.account AND d.deleted_at IS NULL) b)
WHERE outside <> '[]'`},
	{Name: "unprotected_databases", Description: "Databases without delete protection, those whose name matches name_glob (every one by default).",
		Params: []Param{{Name: "name_glob", Kind: KindText, Default: "*", Doc: "a GLOB the database's name must match, e.g. prod-*"}},
		SQL: `SELECT d.organization_id, 'database' AS subject_type, d.id AS subject_id, d.name, d.group_name
FROM databases d, p
WHERE d.account_id = p.account AND d.deleted_at IS NULL AND d.delete_protection = 0 AND d.name GLOB p.name_glob`},
	{Name: "usage_over_quota", Description: "Orgs whose usage this period is above percent of their plan's quota, per quota (rows read, rows written, storage, databases).",
		Params: []Param{{Name: "percent", Kind: KindInt, Default: 80, Doc: "the share of a quota that makes a violation"}},
		SQL: `SELECT organization_id, 'quota' AS subject_type, quota AS subject_id, plan, used, quota_value AS quota, round(100.0 * used / quota_value, 1) AS percent
FROM (SELECT b.organization_id, b.plan, b.threshold, k.column1 AS quota,
             CASE k.column1 WHEN 'rows_read' THEN b.rows_read WHEN 'rows_written' THEN b.rows_written
                            WHEN 'storage_bytes' THEN b.storage_bytes ELSE b.databases END AS used,
             CASE k.column1 WHEN 'rows_read' THEN b.quota_rows_read WHEN 'rows_written' THEN b.quota_rows_written
                            WHEN 'storage_bytes' THEN b.quota_storage_bytes ELSE b.quota_databases END AS quota_value
      FROM (SELECT o.id AS organization_id, pl.id AS plan, p.percent AS threshold,
                   u.rows_read, u.rows_written, u.storage_bytes,
                   (SELECT count(*) FROM databases d WHERE d.account_id = o.account_id AND d.organization_id = o.id AND d.deleted_at IS NULL) AS databases,
                   pl.quota_rows_read, pl.quota_rows_written, pl.quota_storage_bytes, pl.quota_databases
            FROM organizations o
            JOIN plans pl ON pl.account_id = o.account_id AND pl.organization_id = o.id AND pl.id = o.pricing_plan AND pl.deleted_at IS NULL
            LEFT JOIN usage u ON u.account_id = o.account_id AND u.organization_id = o.id AND u.database_id = ''
                 AND u.day = (SELECT max(day) FROM usage WHERE account_id = o.account_id AND organization_id = o.id AND database_id = ''), p
            WHERE o.account_id = p.account AND o.deleted_at IS NULL) b,
           (VALUES ('rows_read'), ('rows_written'), ('storage_bytes'), ('databases')) k)
WHERE quota_value > 0 AND used IS NOT NULL AND 100.0 * used / quota_value > threshold`},
	{Name: "unused_databases", Description: "Databases whose rows read and written have not moved for days, by the daily usage the mirror kept (a database with less usage history than that is not judged).",
		Params: []Param{{Name: "days", Kind: KindInt, Default: 30, Doc: "how long a database may go unused"}},
		SQL: `SELECT d.organization_id, 'database' AS subject_type, d.id AS subject_id, d.name, since.day AS unused_since_at_least, now.rows_read, now.rows_written
FROM p, databases d
JOIN (SELECT u.organization_id, u.database_id, max(u.day) AS day FROM usage u, p WHERE u.account_id = p.account GROUP BY u.organization_id, u.database_id) last
     ON last.organization_id = d.organization_id AND last.database_id = d.id
JOIN usage now ON now.account_id = d.account_id AND now.organization_id = d.organization_id AND now.day = last.day AND now.database_id = d.id
JOIN (SELECT u.organization_id, u.database_id, max(u.day) AS day FROM usage u, p
      WHERE u.account_id = p.account AND u.day <= date(p.now, '-' || p.days || ' days') GROUP BY u.organization_id, u.database_id) before
     ON before.organization_id = d.organization_id AND before.database_id = d.id
JOIN usage since ON since.account_id = d.account_id AND since.organization_id = d.organization_id AND since.day = before.day AND since.database_id = d.id
WHERE d.account_id = p.account AND d.deleted_at IS NULL
  AND now.rows_read = since.rows_read AND now.rows_written = since.rows_written`},
	{Name: "scope_stale", Description: "Scopes (an org's resource) with no complete pass for longer than max_age.",
		Params: []Param{{Name: "max_age", Kind: KindDuration, Default: "24h", Doc: "how old a scope's last complete pass may get"}},
		SQL: `SELECT h.organization_id, 'scope' AS subject_type, h.resource AS subject_id, h.last_complete_at, h.last_status, h.last_error_class
FROM sync_health h, p
WHERE h.account_id = p.account
  AND (h.last_complete_at IS NULL OR (julianday(p.now) - julianday(h.last_complete_at)) * 86400 > p.max_age)`,
		EveryPass: true},
}

// BuiltinNamed is the builtin of that name, or nil.
func BuiltinNamed(name string) *Builtin {
	for i := range Builtins {
		if Builtins[i].Name == name {
			return &Builtins[i]
		}
	}
	return nil
}

// BuiltinNames lists the built-in pack's names.
func BuiltinNames() []string {
	out := make([]string, len(Builtins))
	for i, b := range Builtins {
		out[i] = b.Name
	}
	return out
}

// args are a builtin's parameter values as its statement binds them, in
// Params order, from the config's params (defaults filling the gaps).
func (b Builtin) args(given map[string]any) ([]any, error) {
	for k := range given {
		if !slices.ContainsFunc(b.Params, func(p Param) bool { return p.Name == k }) {
			names := make([]string, len(b.Params))
			for i, p := range b.Params {
				names[i] = p.Name
			}
			return nil, fmt.Errorf("no parameter %q (it takes %s)", k, strings.Join(names, ", "))
		}
	}
	out := make([]any, len(b.Params))
	for i, p := range b.Params {
		v, ok := given[p.Name]
		if !ok {
			if p.Default == nil {
				return nil, fmt.Errorf("%s is required: %s", p.Name, p.Doc)
			}
			v = p.Default
		}
		val, err := p.value(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		out[i] = val
	}
	return out, nil
}

// value checks a parameter's value and converts it to what its statement
// binds.
func (p Param) value(v any) (any, error) {
	switch p.Kind {
	case KindInt:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) {
				return int64(x), nil
			}
		}
		return nil, fmt.Errorf("want a whole number, not %v", v)
	case KindDuration:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a duration such as 24h, not %v", v)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("want a positive duration such as 24h, not %q", s)
		}
		return int64(d / time.Second), nil
	case KindText:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want text, not %v", v)
		}
		return s, nil
	case KindList:
		list, err := texts(v)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("want at least one")
		}
		return jsonText(list)
	case KindOverride:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a map of org or org/group to a list, not %v", v)
		}
		out := map[string][]string{}
		for k, l := range m {
			list, err := texts(l)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = list
		}
		return jsonText(out)
	}
	return nil, fmt.Errorf("unknown kind %s", p.Kind)
}

// texts is a list of texts from a decoded config value.
func texts(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		if ss, ok := v.([]string); ok {
			return ss, nil
		}
		return nil, fmt.Errorf("want a list, not %v", v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("want text, not %v", x)
		}
		out[i] = s
	}
	return out, nil
}
