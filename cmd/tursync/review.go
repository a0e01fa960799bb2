package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/tursync/tursync/storage"
)

// reviewFormats are what `tursync export access-review --format` writes.
var reviewFormats = []string{"csv", "json", "baton", "vanta"}

// reviewColumns are the access review's fields, in the CSV's order and
// as the JSON names them (docs/access-review.schema.json).
var reviewColumns = []string{"account", "organization", "organization_name", "user_id", "username", "name", "email", "role", "status",
	"since", "since_source", "last_activity_at", "mfa", "first_seen_at"}

// reviewRecord is one row of the JSON format.
type reviewRecord struct {
	Account          string  `json:"account"`
	Organization     string  `json:"organization"`
	OrganizationName string  `json:"organization_name"`
	UserID           string  `json:"user_id"`
	Username         *string `json:"username"`
	Name             *string `json:"name"`
	Email            *string `json:"email"`
	Role             string  `json:"role"`
	Status           string  `json:"status"`
	Since            string  `json:"since"`
	SinceSource      string  `json:"since_source"`
	LastActivityAt   *string `json:"last_activity_at"`
	MFA              *bool   `json:"mfa"`
	FirstSeenAt      string  `json:"first_seen_at"`
}

// reviewDocument is the JSON format.
type reviewDocument struct {
	Schema      string         `json:"$schema"`
	GeneratedAt string         `json:"generated_at"`
	Rows        []reviewRecord `json:"rows"`
}

// reviewSchemaID names docs/access-review.schema.json, the JSON format's
// schema.
const reviewSchemaID = "https://github.com/tursync/tursync/blob/main/docs/access-review.schema.json"

// runAccessReview is `tursync export access-review`.
func (m *Main) runAccessReview(ctx context.Context, args []string) error {
	fs := m.flags("export")
	account := fs.String("account", "", "only this account")
	org := fs.String("org", "", "only this organization slug")
	format := fs.String("format", "", requiredMark+"csv, json, baton (ConductorOne's baton-file JSON) or vanta (Vanta's user-account sync body)")
	vantaID := fs.String("vanta-resource-id", "", "with --format vanta (required there): the UserAccount resource's id in your Vanta app")
	out := fs.String("out", "-", "the file to write (atomically: all or nothing); - for standard output")
	cfg, _, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	if !slices.Contains(reviewFormats, *format) {
		return &UsageError{Msg: fmt.Sprintf("export access-review: --format %q: want csv, json, baton or vanta", *format)}
	}
	if (*format == "vanta") != (*vantaID != "") {
		return &UsageError{Msg: "export access-review: --vanta-resource-id goes with --format vanta, and --format vanta needs it (the UserAccount resource's id in your Vanta app)"}
	}
	var accounts []string
	for _, a := range cfg.Accounts {
		if *account == "" || a.ID == *account {
			accounts = append(accounts, a.ID)
		}
	}
	if len(accounts) == 0 {
		return &UsageError{Msg: fmt.Sprintf("export access-review: --account %q is not in the config", *account)}
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.AccessReview(ctx, accounts, *org)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch *format {
	case "csv":
		err = writeReviewCSV(&buf, rows)
	case "json":
		err = writeReviewJSON(&buf, rows, m.Now())
	case "baton":
		err = writeReviewBaton(&buf, rows)
	case "vanta":
		err = writeReviewVanta(&buf, rows, *vantaID)
	}
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := m.Stdout.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
		return fmt.Errorf("export access-review: %w", err)
	}
	fmt.Fprintf(m.Stderr, "wrote %d rows to %s\n", len(rows), *out)
	return nil
}

func writeReviewCSV(w io.Writer, rows []storage.ReviewRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reviewColumns); err != nil {
		return err
	}
	for _, r := range rows {
		mfa := ""
		if r.MFA != nil {
			mfa = strconv.FormatBool(*r.MFA)
		}
		if err := cw.Write([]string{r.Account, r.Org, r.OrgName, r.UserID, r.Username, r.Name, r.Email, r.Role, r.Status, r.Since, r.SinceSource,
			r.LastActivity, mfa, r.FirstSeenAt}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeReviewJSON(w io.Writer, rows []storage.ReviewRow, now time.Time) error {
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	doc := reviewDocument{Schema: reviewSchemaID, GeneratedAt: now.UTC().Format(time.RFC3339), Rows: []reviewRecord{}}
	for _, r := range rows {
		doc.Rows = append(doc.Rows, reviewRecord{Account: r.Account, Organization: r.Org, OrganizationName: r.OrgName, UserID: r.UserID,
			Username: orNull(r.Username), Name: orNull(r.Name), Email: orNull(r.Email), Role: r.Role, Status: r.Status, Since: r.Since,
			SinceSource: r.SinceSource, LastActivityAt: orNull(r.LastActivity), MFA: r.MFA, FirstSeenAt: r.FirstSeenAt})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeFileAtomic writes data to path all or nothing: a temporary file
// beside it, synced, then renamed over it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// The baton format: the JSON input of ConductorOne's baton-file connector
// (docs/access-review.md quotes its field lists). Each org is a resource
// whose entitlements are the four roles; each active member holds a
// direct grant of their role; a person only invited is a user with status
// inactive and no grant.
type batonFile struct {
	Users            []batonUser        `json:"users"`
	Resources        []batonResource    `json:"resources"`
	Entitlements     []batonEntitlement `json:"entitlements"`
	DirectUserGrants []batonGrant       `json:"direct_user_grants"`
}

type batonUser struct {
	ID            string            `json:"id"`
	DisplayName   string            `json:"display_name"`
	Email         string            `json:"email,omitempty"`
	Status        string            `json:"status"`
	Type          string            `json:"type"`
	Login         string            `json:"login,omitempty"`
	MFAEnabled    *bool             `json:"mfa_enabled,omitempty"`
	StatusDetails string            `json:"status_details,omitempty"`
	Profile       map[string]string `json:"profile,omitempty"`
}

type batonResource struct {
	ResourceType string            `json:"resource_type"`
	Trait        string            `json:"trait"`
	ID           string            `json:"id"`
	DisplayName  string            `json:"display_name"`
	Description  string            `json:"description,omitempty"`
	Profile      map[string]string `json:"profile,omitempty"`
}

type batonEntitlement struct {
	ResourceID      string `json:"resource_id"`
	EntitlementSlug string `json:"entitlement_slug"`
	DisplayName     string `json:"display_name,omitempty"`
	Description     string `json:"description,omitempty"`
}

type batonGrant struct {
	PrincipalID     string `json:"principal_id"`
	ResourceID      string `json:"resource_id"`
	EntitlementSlug string `json:"entitlement_slug"`
}

// batonRoles are the entitlements of every org, as the Platform API names
// its roles.
var batonRoles = []struct{ slug, what string }{
	{"owner", "full control, billing and deleting the org included"}, {"admin", "manages members, invites, databases, groups and tokens"},
	{"member", "creates and manages databases and groups"}, {"viewer", "read-only access"}}

func writeReviewBaton(w io.Writer, rows []storage.ReviewRow) error {
	f := batonFile{Users: []batonUser{}, Resources: []batonResource{}, Entitlements: []batonEntitlement{}, DirectUserGrants: []batonGrant{}}
	users, orgs := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		// Ids are per account in the mirror: the account keeps them apart.
		uid, oid := r.Account+"/"+r.UserID, r.Account+"/"+r.Org
		if !users[uid] {
			users[uid] = true
			u := batonUser{ID: uid, DisplayName: firstOf(r.Name, r.Username, r.Email, r.UserID), Email: r.Email, Status: "active", Type: "human",
				Login: r.Username, MFAEnabled: r.MFA, Profile: map[string]string{"account": r.Account}}
			if r.Status == "invited" {
				u.Status, u.StatusDetails = "inactive", "invited: a pending invite, no access yet"
			}
			f.Users = append(f.Users, u)
		} else if r.Status == "active" {
			// A person active in one org and invited to another is active.
			for i := range f.Users {
				if f.Users[i].ID == uid {
					f.Users[i].Status, f.Users[i].StatusDetails = "active", ""
				}
			}
		}
		if !orgs[oid] {
			orgs[oid] = true
			f.Resources = append(f.Resources, batonResource{ResourceType: "organization", Trait: "group", ID: oid, DisplayName: r.OrgName,
				Description: "Turso organization " + r.Org, Profile: map[string]string{"account": r.Account, "slug": r.Org}})
			for _, role := range batonRoles {
				f.Entitlements = append(f.Entitlements, batonEntitlement{ResourceID: oid, EntitlementSlug: role.slug, DisplayName: role.slug, Description: role.what})
			}
		}
		if r.Status == "active" {
			f.DirectUserGrants = append(f.DirectUserGrants, batonGrant{PrincipalID: uid, ResourceID: oid, EntitlementSlug: r.Role})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// The vanta format: the body of Vanta's user-account sync (PUT
// /v1/resources/user_account), its UserAccount fields as Vanta's API
// reference lists them (docs/access-review.md). Each active membership is
// an account of the app; a pending invite is no account yet.
type vantaBody struct {
	ResourceID string         `json:"resourceId"`
	Resources  []vantaAccount `json:"resources"`
}

type vantaAccount struct {
	DisplayName      string   `json:"displayName"`
	UniqueID         string   `json:"uniqueId"`
	FullName         string   `json:"fullName,omitempty"`
	AccountName      string   `json:"accountName"`
	Email            string   `json:"email,omitempty"`
	CreatedTimestamp string   `json:"createdTimestamp,omitempty"`
	MFAEnabled       *bool    `json:"mfaEnabled,omitempty"`
	RoleDescription  string   `json:"roleDescription"`
	GroupIDs         []string `json:"groupIds"`
}

func writeReviewVanta(w io.Writer, rows []storage.ReviewRow, resourceID string) error {
	body := vantaBody{ResourceID: resourceID, Resources: []vantaAccount{}}
	for _, r := range rows {
		if r.Status != "active" {
			continue
		}
		// since is when the person came to hold the role: the audit
		// log's org-member-add where known, else the mirror's first
		// sighting of the membership.
		body.Resources = append(body.Resources, vantaAccount{DisplayName: firstOf(r.Name, r.Username, r.Email), UniqueID: r.Account + "/" + r.Org + "/" + r.UserID,
			FullName: r.Name, AccountName: r.Username, Email: r.Email, CreatedTimestamp: r.Since, MFAEnabled: r.MFA,
			RoleDescription: r.Role + " of Turso organization " + r.Org, GroupIDs: []string{r.Account + "/" + r.Org}})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(body)
}
