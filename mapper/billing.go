package mapper

import (
	"encoding/json"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/turso"
)

// AccountUser maps the user who owns an account's token.
func AccountUser(u turso.User) schema.AccountUser {
	return schema.AccountUser{ID: u.Username, Name: u.Name, Email: NormalizeEmail(u.Email), Plan: u.Plan, MFA: u.MFA,
		AvatarURL: u.AvatarURL, HasPendingInvites: u.HasPendingInvites, RemoteData: raw(u.Raw)}
}

// Subscription maps an org's subscription. Plan falls back to the
// subscription's name, which the spec documents as the same plan.
func Subscription(org string, s turso.Subscription) schema.Subscription {
	plan := s.Plan
	if plan == "" {
		plan = s.Name
	}
	return schema.Subscription{OrganizationID: org, Plan: plan, Name: s.Name, Timeline: s.Timeline, Overages: s.Overages, RemoteData: raw(s.Raw)}
}

// Plan maps one of the plans an org may be on.
func Plan(org string, p turso.Plan) schema.Plan {
	prices := p.Prices
	if prices == nil {
		prices = []turso.PlanPrice{}
	}
	b, _ := json.Marshal(prices)
	q := p.Quotas
	return schema.Plan{OrganizationID: org, ID: p.Name, Price: p.Price, Prices: string(b),
		QuotaRowsRead: q.RowsRead, QuotaRowsWritten: q.RowsWritten, QuotaDatabases: q.Databases, QuotaLocations: q.Locations,
		QuotaStorageBytes: q.Storage, QuotaGroups: q.Groups, QuotaBytesSynced: q.BytesSynced, RemoteData: raw(p.Raw)}
}

// Invoice maps an invoice; it is paid once the API gives it a paid_at.
func Invoice(org string, i turso.Invoice) schema.Invoice {
	return schema.Invoice{OrganizationID: org, ID: i.Number, AmountDue: i.AmountDue, DueDate: i.DueDate, PaidAt: i.PaidAt,
		PaymentFailedAt: i.PaymentFailedAt, Paid: i.PaidAt != "", Status: i.Status, InvoicePDF: i.InvoicePDF,
		HostedInvoiceURL: i.HostedInvoiceURL, RemoteData: raw(i.Raw)}
}

// DatabaseDetail maps a database's configuration and instances; its
// remote data holds both answers.
func DatabaseDetail(org, dbID, dbName string, cfg turso.DatabaseConfig, instances []turso.Instance) schema.DatabaseDetail {
	if instances == nil {
		instances = []turso.Instance{}
	}
	inst, _ := json.Marshal(instances)
	remote, _ := json.Marshal(map[string]any{"configuration": json.RawMessage(raw(cfg.Raw)), "instances": json.RawMessage(inst)})
	return schema.DatabaseDetail{OrganizationID: org, ID: dbID, Name: dbName, SizeLimit: cfg.SizeLimit, AllowAttach: cfg.AllowAttach,
		BlockReads: cfg.BlockReads, BlockWrites: cfg.BlockWrites, DeleteProtection: cfg.DeleteProtection,
		AllowedIPs: jsonList(cfg.AllowedIPs), AllowedVPCs: jsonList(cfg.AllowedVPCs), Instances: string(inst), RemoteData: remote}
}
