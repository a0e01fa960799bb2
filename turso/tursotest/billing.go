package tursotest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Subscription, Plan, Invoice, User, DatabaseConfig and Instance as the
// API sends them (openapi.json; the invoice's status and hosted link are
// what the official CLI reads besides).
type (
	Subscription struct {
		Name     string `json:"name"`
		Overages bool   `json:"overages"`
		Plan     string `json:"plan"`
		Timeline string `json:"timeline"`
	}
	PlanPrice struct {
		Value    string `json:"value"`
		Timeline string `json:"timeline"`
	}
	PlanQuotas struct {
		RowsRead    int64  `json:"rowsRead"`
		RowsWritten int64  `json:"rowsWritten"`
		Databases   *int64 `json:"databases"`
		Locations   int64  `json:"locations"`
		Storage     int64  `json:"storage"`
		Groups      int64  `json:"groups"`
		BytesSynced int64  `json:"bytesSynced"`
	}
	Plan struct {
		Name   string      `json:"name"`
		Price  string      `json:"price"`
		Prices []PlanPrice `json:"prices"`
		Quotas PlanQuotas  `json:"quotas"`
	}
	Invoice struct {
		Number           string `json:"invoice_number"`
		AmountDue        string `json:"amount_due"`
		DueDate          string `json:"due_date"`
		PaidAt           string `json:"paid_at"`
		PaymentFailedAt  string `json:"payment_failed_at"`
		InvoicePDF       string `json:"invoice_pdf"`
		Status           string `json:"status,omitempty"`
		HostedInvoiceURL string `json:"hosted_invoice_url,omitempty"`
	}
	User struct {
		Username          string `json:"username"`
		Name              string `json:"name"`
		Email             string `json:"email"`
		AvatarURL         string `json:"avatarUrl"`
		Plan              string `json:"plan"`
		MFA               bool   `json:"mfa"`
		HasPendingInvites bool   `json:"has_pending_invites"`
	}
	DatabaseConfig struct {
		SizeLimit        string   `json:"size_limit"`
		AllowAttach      bool     `json:"allow_attach"`
		BlockReads       bool     `json:"block_reads"`
		BlockWrites      bool     `json:"block_writes"`
		DeleteProtection bool     `json:"delete_protection"`
		AllowedIPs       []string `json:"allowed_ips"`
		AllowedVPCs      []string `json:"allowed_aws_vpc_ids"`
	}
	Instance struct {
		UUID     string `json:"uuid"`
		Name     string `json:"name"`
		Type     string `json:"type"`
		Region   string `json:"region"`
		Hostname string `json:"hostname"`
	}
)

func quota(n int64) *int64 { return &n }

// Plans is the plan catalog every org sees.
var Plans = []Plan{
	{Name: "starter", Price: "0", Prices: []PlanPrice{{Value: "0", Timeline: "monthly"}},
		Quotas: PlanQuotas{RowsRead: 500_000_000, RowsWritten: 10_000_000, Databases: quota(100), Locations: 3, Storage: 5_000_000_000, Groups: 1, BytesSynced: 3_000_000_000}},
	{Name: "scaler", Price: "29", Prices: []PlanPrice{{Value: "29", Timeline: "monthly"}, {Value: "290", Timeline: "yearly"}},
		Quotas: PlanQuotas{RowsRead: 100_000_000_000, RowsWritten: 100_000_000, Databases: quota(10_000), Locations: 6, Storage: 24_000_000_000, Groups: 3, BytesSynced: 24_000_000_000}},
	{Name: "pro", Price: "499", Prices: []PlanPrice{{Value: "499", Timeline: "monthly"}},
		Quotas: PlanQuotas{RowsRead: 250_000_000_000, RowsWritten: 250_000_000, Locations: 10, Storage: 50_000_000_000, Groups: 25, BytesSynced: 100_000_000_000}},
}

// invoicesOf makes an org's invoices: one a month for the year before
// genesis, the latest one unpaid. Deterministic, without the generator's
// random stream (which would shift every other generated value).
func invoicesOf(o *org, index int) []Invoice {
	var out []Invoice
	for m := 12; m >= 1; m-- {
		inv := newInvoice(o, 13-m, genesis.AddDate(0, -m+1, 0), fmt.Sprintf("%d.%02d", 29+index%7, (m*13)%100))
		if m > 1 {
			inv.PaidAt, inv.Status = genesis.AddDate(0, -m+1, 0).Add(2*time.Hour).Format("2006-01-02T15:04:05+00:00"), "paid"
		}
		out = append(out, inv)
	}
	return out
}

// newInvoice is an org's n-th invoice, issued and unpaid.
func newInvoice(o *org, n int, due time.Time, amount string) Invoice {
	return Invoice{Number: fmt.Sprintf("%s-%05d", strings.ToUpper(o.Org.Slug), n), AmountDue: amount,
		DueDate: due.Format("2006-01-02T15:04:05+00:00"), Status: "issued",
		InvoicePDF:       "https://invoices.example.com/" + o.Org.Slug + fmt.Sprintf("/%d.pdf", n),
		HostedInvoiceURL: "https://invoices.example.com/" + o.Org.Slug + fmt.Sprintf("/%d", n)}
}

// AddInvoice issues an org a new, unpaid invoice.
func (s *Server) AddInvoice(slug, amount string) Invoice {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	inv := newInvoice(o, len(o.Invoices)+1, genesis.AddDate(0, len(o.Invoices)-11, 0), amount)
	o.Invoices = append(o.Invoices, inv)
	return inv
}

func (s *Server) billingRoutes(h func(route string, fn func(acct, slug string, r *http.Request) (any, int))) {
	h("/v1/organizations/{organizationSlug}/subscription", s.orgHandler(func(o *org, _ *http.Request) any {
		return map[string]any{"subscription": Subscription{Name: o.Org.PlanID, Plan: o.Org.PlanID, Timeline: o.Org.PlanTimeline, Overages: o.Org.Overages}}
	}))
	h("/v1/organizations/{organizationSlug}/plans", s.orgHandler(func(*org, *http.Request) any { return map[string]any{"plans": Plans} }))
	h("/v1/organizations/{organizationSlug}/invoices", s.orgHandler(func(o *org, r *http.Request) any {
		switch r.URL.Query().Get("type") {
		case "", "all", "upcoming", "issued":
		default:
			return errorAnswer{http.StatusBadRequest, "invalid type"}
		}
		return map[string]any{"invoices": nonNil(o.Invoices)}
	}))
	h("/v1/user", func(acct, _ string, _ *http.Request) (any, int) { return map[string]any{"user": s.userOf(acct)}, 200 })
	h("/v1/organizations/{organizationSlug}/databases/{databaseName}/configuration", s.databaseHandler(func(d Database) any {
		return DatabaseConfig{SizeLimit: "0", AllowAttach: true, BlockReads: d.BlockReads, BlockWrites: d.BlockWrites,
			DeleteProtection: d.DeleteProtection, AllowedIPs: []string{}, AllowedVPCs: []string{}}
	}))
	h("/v1/organizations/{organizationSlug}/databases/{databaseName}/instances", s.databaseHandler(func(d Database) any {
		return map[string]any{"instances": []Instance{{UUID: d.DbID, Name: d.PrimaryRegion, Type: "primary", Region: d.PrimaryRegion,
			Hostname: d.PrimaryRegion + "-" + d.Hostname}}}
	}))
}

// databaseHandler answers for one database of an org, 404 when there is
// none of that name (as the API: "could not find database with name").
func (s *Server) databaseHandler(fn func(d Database) any) func(acct, slug string, r *http.Request) (any, int) {
	return s.orgHandler(func(o *org, r *http.Request) any {
		name := r.PathValue("databaseName")
		i, ok := o.dbIndex[name]
		if !ok {
			return errorAnswer{http.StatusNotFound, "could not find database with name " + name + ": record not found"}
		}
		return fn(o.Databases[i])
	})
}

// userOf is the user who owns an account's token.
func (s *Server) userOf(acct string) User {
	if u, ok := s.users[acct]; ok {
		return u
	}
	name := "owner"
	if acct != "" {
		name = "owner-" + acct
	}
	return User{Username: name, Name: "Owner of " + strings.TrimPrefix(acct+" account", " "), Email: name + "@example.com",
		AvatarURL: "https://avatars.example.com/" + name, Plan: "scaler"}
}

// SetUser changes who the default account's token belongs to.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[""] = u
}

// User returns the user the default account's token belongs to.
func (s *Server) User() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userOf("")
}

// Invoices returns an org's invoices.
func (s *Server) Invoices(slug string) []Invoice {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invoice(nil), s.mustOrg(slug).Invoices...)
}

// PayInvoice marks an org's invoice paid at the given time.
func (s *Server) PayInvoice(slug, number string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	for i := range o.Invoices {
		if o.Invoices[i].Number == number {
			o.Invoices[i].PaidAt, o.Invoices[i].Status = at.UTC().Format("2006-01-02T15:04:05+00:00"), "paid"
			return
		}
	}
	panic("tursotest: no invoice " + number + " in " + slug)
}
