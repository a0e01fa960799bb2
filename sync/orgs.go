package sync

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// UnknownOrgError is an org named by the config or --org that the account's
// token does not list: a typo or a lost membership, reported before any
// request is made for it.
type UnknownOrgError struct {
	Account string
	Org     string
	Visible []string // the slugs the token lists
}

func (e *UnknownOrgError) Error() string {
	msg := fmt.Sprintf("org %q is not listed by account %s's token", e.Org, e.Account)
	if s := e.Suggestion(); s != "" {
		msg += fmt.Sprintf(" (did you mean %q? org slugs are case-sensitive)", s)
	}
	if len(e.Visible) == 0 {
		return msg + "; the token lists no org"
	}
	return msg + "; it lists: " + strings.Join(e.Visible, ", ")
}

// Suggestion is the visible org that differs from Org only in case, if any.
func (e *UnknownOrgError) Suggestion() string {
	for _, v := range e.Visible {
		if strings.EqualFold(v, e.Org) {
			return v
		}
	}
	return ""
}

// Class is not_found, like the API's 404 for the org.
func (e *UnknownOrgError) Class() turso.Class { return turso.ClassNotFound }

// OrgSlugs returns the slugs of orgs.
func OrgSlugs(orgs []turso.Organization) []string {
	out := make([]string, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, o.Slug)
	}
	return out
}

// unknownOrg fails every scope of an org the token does not list, without
// a request for it, and records them so /status and the alerts show it.
func (s *Syncer) unknownOrg(ctx context.Context, a Account, o Org, po plannedOrg, log *slog.Logger) OrgResult {
	or := OrgResult{Org: po.slug, Err: po.unknown}
	now := s.o.Now()
	for _, r := range registry {
		res := r.Name
		if r.PerAccount || !syncsResource(a, res) {
			continue
		}
		or.Scopes = append(or.Scopes, &storage.Scope{Resource: res, Status: storage.StatusFailed,
			ErrorClass: string(turso.ClassNotFound), Error: po.unknown.Error(), StartedAt: now, FinishedAt: now})
	}
	log.Error("org not synced", "error", po.unknown)
	if err := o.Abandon(ctx, or.Scopes); err != nil {
		log.Error("record failed scopes", "error", err)
	}
	return or
}
