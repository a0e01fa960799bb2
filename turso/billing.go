package turso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// The routes of the billing, account and per-database detail resources.
const (
	RouteSubscription      = "/v1/organizations/{organizationSlug}/subscription"
	RoutePlans             = "/v1/organizations/{organizationSlug}/plans"
	RouteInvoices          = "/v1/organizations/{organizationSlug}/invoices"
	RouteCurrentUser       = "/v1/user"
	RouteDatabaseConfig    = "/v1/organizations/{organizationSlug}/databases/{databaseName}/configuration"
	RouteDatabaseInstances = "/v1/organizations/{organizationSlug}/databases/{databaseName}/instances"
)

// Subscription is an org's current plan.
type Subscription struct {
	Name     string `json:"name"`
	Plan     string `json:"plan"`
	Timeline string `json:"timeline"`
	Overages bool   `json:"overages"`

	Raw json.RawMessage `json:"-"`
}

// PlanPrice is one of a plan's prices; the value is a string.
type PlanPrice struct {
	Value    string `json:"value"`
	Timeline string `json:"timeline"`
}

// PlanQuotas are a plan's limits. The API writes them in camelCase, unlike
// usage; databases may be null.
type PlanQuotas struct {
	RowsRead    *int64 `json:"rowsRead"`
	RowsWritten *int64 `json:"rowsWritten"`
	Databases   *int64 `json:"databases"`
	Locations   *int64 `json:"locations"`
	Storage     *int64 `json:"storage"`
	Groups      *int64 `json:"groups"`
	BytesSynced *int64 `json:"bytesSynced"`
}

// Plan is a plan an org may be on.
type Plan struct {
	Name   string      `json:"name"`
	Price  string      `json:"price"`
	Prices []PlanPrice `json:"prices"`
	Quotas PlanQuotas  `json:"quotas"`

	Raw json.RawMessage `json:"-"`
}

// Invoice is one of an org's invoices. Amounts and dates are strings as
// the API sends them; status and hosted_invoice_url are what the official
// CLI reads beyond the spec.
type Invoice struct {
	Number           string `json:"invoice_number"`
	AmountDue        string `json:"amount_due"`
	DueDate          string `json:"due_date"`
	PaidAt           string `json:"paid_at"`
	PaymentFailedAt  string `json:"payment_failed_at"`
	InvoicePDF       string `json:"invoice_pdf"`
	Status           string `json:"status"`
	HostedInvoiceURL string `json:"hosted_invoice_url"`

	Raw json.RawMessage `json:"-"`
}

// User is the user who owns the token (GET /v1/user).
type User struct {
	Username          string `json:"username"`
	Name              string `json:"name"`
	Email             string `json:"email"`
	AvatarURL         string `json:"avatarUrl"`
	Plan              string `json:"plan"`
	MFA               bool   `json:"mfa"`
	HasPendingInvites bool   `json:"has_pending_invites"`

	Raw json.RawMessage `json:"-"`
}

// DatabaseConfig is a database's configuration. size_limit is a string;
// the pointer fields may be absent.
type DatabaseConfig struct {
	SizeLimit        string   `json:"size_limit"`
	AllowAttach      *bool    `json:"allow_attach"`
	BlockReads       bool     `json:"block_reads"`
	BlockWrites      bool     `json:"block_writes"`
	DeleteProtection *bool    `json:"delete_protection"`
	AllowedIPs       []string `json:"allowed_ips"`
	AllowedVPCs      []string `json:"allowed_aws_vpc_ids"`

	Raw json.RawMessage `json:"-"`
}

// Instance is one place a database runs.
type Instance struct {
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Region   string `json:"region"`
	Hostname string `json:"hostname"`
}

// getObject reads the object under key of a GET's response ("" for an
// unwrapped body) into v.
func (c *Client) getObject(ctx context.Context, cl call, key string, v any) (json.RawMessage, error) {
	body, err := c.get(ctx, cl)
	if err != nil {
		return nil, err
	}
	raw := json.RawMessage(body)
	if key != "" {
		var wrap map[string]json.RawMessage
		if err := json.Unmarshal(body, &wrap); err != nil {
			return nil, decodeErr(cl, err)
		}
		raw = wrap[key]
		if len(raw) == 0 || string(raw) == "null" {
			return nil, decodeErr(cl, fmt.Errorf("response has no %q object", key))
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, decodeErr(cl, fmt.Errorf("%s: %w", key, err))
	}
	return compactRaw(raw), nil
}

// GetSubscription returns the org's subscription.
func (c *Client) GetSubscription(ctx context.Context, org string) (Subscription, error) {
	var s Subscription
	cl := orgCall(RouteSubscription, "/v1/organizations/%s/subscription", org)
	raw, err := c.getObject(ctx, cl, "subscription", &s)
	if err == nil && s.Plan == "" && s.Name == "" {
		err = decodeErr(cl, errors.New("subscription has neither plan nor name"))
	}
	s.Raw = raw
	return s, err
}

// ListPlans returns the plans the org may be on.
func (c *Client) ListPlans(ctx context.Context, org string) ([]Plan, error) {
	return getList(ctx, c, orgCall(RoutePlans, "/v1/organizations/%s/plans", org), "plans",
		func(p *Plan, r json.RawMessage) { p.Raw = r }, "name", func(p Plan) string { return p.Name })
}

// ListInvoices returns every invoice of the org, issued and upcoming.
func (c *Client) ListInvoices(ctx context.Context, org string) ([]Invoice, error) {
	cl := orgCall(RouteInvoices, "/v1/organizations/%s/invoices", org)
	cl.query = url.Values{"type": {"all"}}
	return getList(ctx, c, cl, "invoices", func(i *Invoice, r json.RawMessage) { i.Raw = r }, "invoice_number", func(i Invoice) string { return i.Number })
}

// CurrentUser returns the user who owns the token.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	var u User
	cl := call{endpoint: RouteCurrentUser, path: RouteCurrentUser}
	raw, err := c.getObject(ctx, cl, "user", &u)
	if err == nil && u.Username == "" {
		err = decodeErr(cl, errors.New("user has no username"))
	}
	u.Raw = raw
	return u, err
}

func dbCall(route, suffix, org, db string) call {
	return call{endpoint: route, org: org, path: orgPath("/v1/organizations/%s/databases/", org) + url.PathEscape(db) + suffix}
}

// DatabaseConfiguration returns a database's configuration.
func (c *Client) DatabaseConfiguration(ctx context.Context, org, db string) (DatabaseConfig, error) {
	var cfg DatabaseConfig
	raw, err := c.getObject(ctx, dbCall(RouteDatabaseConfig, "/configuration", org, db), "", &cfg)
	cfg.Raw = raw
	return cfg, err
}

// DatabaseInstances returns where a database's instances run.
func (c *Client) DatabaseInstances(ctx context.Context, org, db string) ([]Instance, error) {
	return getList[Instance](ctx, c, dbCall(RouteDatabaseInstances, "/instances", org, db), "instances", func(*Instance, json.RawMessage) {}, "", nil)
}
