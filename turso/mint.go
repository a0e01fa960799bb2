package turso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Routes of the token endpoints.
const (
	RouteGroupToken    = "/v1/organizations/{organizationSlug}/groups/{groupName}/auth/tokens"
	RouteDatabaseToken = "/v1/organizations/{organizationSlug}/databases/{databaseName}/auth/tokens"
)

// MintGroupToken mints a database token valid for every database of the
// org's group, for ttl, read-only when readOnly is set. Each mint is a
// `group-token-create` entry in the org's audit log. The token comes back
// as a Secret: it never reaches an error, a log or a metric.
func (c *Client) MintGroupToken(ctx context.Context, org, group string, ttl time.Duration, readOnly bool) (Secret, error) {
	path := orgPath("/v1/organizations/%s/groups/", org) + url.PathEscape(group) + "/auth/tokens"
	return c.mint(ctx, call{method: http.MethodPost, endpoint: RouteGroupToken, org: org, path: path}, ttl, readOnly)
}

// MintDatabaseToken mints a token for one database, as MintGroupToken does
// for a group.
func (c *Client) MintDatabaseToken(ctx context.Context, org, database string, ttl time.Duration, readOnly bool) (Secret, error) {
	path := orgPath("/v1/organizations/%s/databases/", org) + url.PathEscape(database) + "/auth/tokens"
	return c.mint(ctx, call{method: http.MethodPost, endpoint: RouteDatabaseToken, org: org, path: path}, ttl, readOnly)
}

func (c *Client) mint(ctx context.Context, cl call, ttl time.Duration, readOnly bool) (Secret, error) {
	cl.query = url.Values{"expiration": {FormatExpiration(ttl)}, "authorization": {"full-access"}}
	if readOnly {
		cl.query.Set("authorization", "read-only")
	}
	body, err := c.get(ctx, cl)
	if err != nil {
		return Secret{}, err
	}
	var v struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		// The error of a syntax failure never quotes the body, which may
		// hold the token.
		return Secret{}, decodeErr(cl, errors.New("response is not a JSON object with a \"jwt\""))
	}
	if v.JWT == "" {
		return Secret{}, decodeErr(cl, errors.New(`response has no "jwt"`))
	}
	return NewSecret(v.JWT), nil
}

// FormatExpiration writes d as the API's expiration (e.g. 2w1d30m), in
// whole minutes rounded up, at least one.
func FormatExpiration(d time.Duration) string {
	mins := int64((d + time.Minute - 1) / time.Minute)
	if mins < 1 {
		mins = 1
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{7 * 24 * 60, "w"}, {24 * 60, "d"}, {60, "h"}, {1, "m"}} {
		if q := mins / u.n; q > 0 {
			fmt.Fprintf(&b, "%d%s", q, u.unit)
			mins -= q * u.n
		}
	}
	return b.String()
}
