package tursotest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The mutation API: tests change the simulated account between passes. Every
// method takes the account key ("" for the default account, fleet-<i> in
// fleet mode) implicitly as the default account unless it says otherwise, and
// panics on a slug or name that does not exist, since that is a bug in the
// test itself.

func (s *Server) mustOrg(slug string) *org {
	for _, orgs := range s.accounts {
		for _, o := range orgs {
			if o.Org.Slug == slug && !o.gone {
				return o
			}
		}
	}
	panic(fmt.Sprintf("tursotest: no org %q", slug))
}

// Orgs returns the slugs of the default account's live orgs.
func (s *Server) Orgs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.accounts[""] {
		if !o.gone {
			out = append(out, o.Org.Slug)
		}
	}
	return out
}

// Members returns a copy of an org's members.
func (s *Server) Members(slug string) []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Member(nil), s.mustOrg(slug).Members...)
}

// Invites returns a copy of an org's pending invites.
func (s *Server) Invites(slug string) []Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invite(nil), s.mustOrg(slug).Invites...)
}

// Databases returns a copy of an org's databases.
func (s *Server) Databases(slug string) []Database {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Database(nil), s.mustOrg(slug).Databases...)
}

// Groups returns a copy of an org's groups.
func (s *Server) Groups(slug string) []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Group(nil), s.mustOrg(slug).Groups...)
}

// AuditEvents returns how many audit events an org has.
func (s *Server) AuditEvents(slug string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mustOrg(slug).Audit)
}

// Audit returns a copy of an org's audit log, newest first.
func (s *Server) Audit(slug string) []AuditLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditLog(nil), s.mustOrg(slug).Audit...)
}

// AddMember adds a member to an org.
func (s *Server) AddMember(slug string, m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Members = append(o.Members, m)
	s.audit(o, "org-member-add", "", map[string]any{"username": m.Username, "role": m.Role})
}

// RemoveMember removes a member from an org.
func (s *Server) RemoveMember(slug, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Members = without(o.Members, func(m Member) bool { return m.Username == username }, "member "+username)
	s.audit(o, "org-member-rm", "", map[string]any{"username": username})
}

// SetMemberRole changes a member's role.
func (s *Server) SetMemberRole(slug, username, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	for i := range o.Members {
		if o.Members[i].Username == username {
			o.Members[i].Role = role
			s.audit(o, "org-member-role-update", "", map[string]any{"username": username, "role": role})
			return
		}
	}
	panic("tursotest: no member " + username)
}

// CreateInvite adds a pending invite and returns it.
func (s *Server) CreateInvite(slug, email, role string) Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	inv := Invite{ID: o.nextInvID, Email: email, Role: role, CreatedAt: s.cfg.Now().UTC().Format(time.RFC3339)}
	o.nextInvID++
	o.Invites = append(o.Invites, inv)
	return inv
}

// AcceptInvite turns the pending invite for email into a membership of
// username, as the real API does when the invitee signs up.
func (s *Server) AcceptInvite(slug, email, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	var role string
	o.Invites = without(o.Invites, func(i Invite) bool {
		if strings.EqualFold(i.Email, email) {
			role = i.Role
			return true
		}
		return false
	}, "invite "+email)
	o.Members = append(o.Members, Member{Username: username, Role: role, Email: strings.ToLower(email)})
	s.audit(o, "org-member-add", username, map[string]any{"username": username, "role": role})
}

// RevokeInvite deletes the pending invite for email.
func (s *Server) RevokeInvite(slug, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Invites = without(o.Invites, func(i Invite) bool { return strings.EqualFold(i.Email, email) }, "invite "+email)
}

// CreateDatabase adds a database to a group ("" picks one) and returns it.
func (s *Server) CreateDatabase(slug, name, group string) Database {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	d := o.addDatabase(s.r, name, group)
	s.audit(o, "db-create", "", map[string]any{"name": name, "group": d.Group})
	return d
}

// DeleteDatabase removes a database by name.
func (s *Server) DeleteDatabase(slug, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Databases = without(o.Databases, func(d Database) bool { return d.Name == name }, "database "+name)
	o.dbIndex = map[string]int{}
	for i, d := range o.Databases {
		o.dbIndex[d.Name] = i
	}
	s.audit(o, "db-delete", "", map[string]any{"name": name})
}

// UpdateDatabase applies fn to a database, for tests that change fields.
func (s *Server) UpdateDatabase(slug, name string, fn func(*Database)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	i, ok := o.dbIndex[name]
	if !ok {
		panic("tursotest: no database " + name)
	}
	fn(&o.Databases[i])
}

// SetDatabases keeps only the first n databases of an org (n may exceed the
// count, which keeps all), for tests that empty a list.
func (s *Server) SetDatabases(slug string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Databases = o.Databases[:min(n, len(o.Databases))]
}

// CreateGroup adds a group.
func (s *Server) CreateGroup(slug, name, primary string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Groups = append(o.Groups, Group{Name: name, Version: "v0.24.32", UUID: uuidFrom(s.r), Locations: []string{primary}, Primary: primary})
	s.audit(o, "group-create", "", map[string]any{"name": name, "location": primary})
}

// DeleteGroup removes a group.
func (s *Server) DeleteGroup(slug, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Groups = without(o.Groups, func(g Group) bool { return g.Name == name }, "group "+name)
	s.audit(o, "group-delete", "", map[string]any{"name": name})
}

// AppendAudit adds an audit event at the simulator's now, newest first.
func (s *Server) AppendAudit(slug, code, author string, data map[string]any) AuditLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.audit(s.mustOrg(slug), code, author, data)
}

// SetActor names who the mutation API's audit events say did them (""
// restores the default: the org's first owner).
func (s *Server) SetActor(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actor = username
}

// audit logs an event at the simulator's now, newest first, as the real
// API logs the mutation it simulates: the code the spec gives it and data
// naming the object the way its route does (docs/history.md says which of
// that is assumed). author "" is the actor.
func (s *Server) audit(o *org, code, author string, data map[string]any) AuditLog {
	raw, _ := json.Marshal(data)
	if data == nil {
		raw = []byte("{}")
	}
	if author == "" {
		author = s.actorOf(o)
	}
	a := AuditLog{Code: code, Origin: "cli", Author: author, CreatedAt: s.cfg.Now().UTC().Format(time.RFC3339), Data: raw}
	o.Audit = append([]AuditLog{a}, o.Audit...)
	return a
}

// actorOf is who did a mutation of o: the actor set, else o's first owner.
func (s *Server) actorOf(o *org) string {
	if s.actor != "" {
		return s.actor
	}
	for _, m := range o.Members {
		if m.Role == "owner" {
			return m.Username
		}
	}
	return "system"
}

// UpdateOrg applies fn to an org's settings (its slug must not change).
func (s *Server) UpdateOrg(slug string, fn func(*Organization)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	fn(&o.Org)
	o.Org.Slug = slug
}

// AddUsage adds to a database's billing-cycle counters.
func (s *Server) AddUsage(slug, name string, rowsRead, rowsWritten int64) {
	s.UpdateDatabase(slug, name, func(d *Database) {
		d.usage.RowsRead += rowsRead
		d.usage.RowsWritten += rowsWritten
	})
}

// APITokens returns a copy of an org's API tokens.
func (s *Server) APITokens(slug string) []APIToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]APIToken(nil), s.mustOrg(slug).Tokens...)
}

// CreateAPIToken mints an org-wide token owned by the org's first member.
func (s *Server) CreateAPIToken(slug, name string) APIToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	t := APIToken{ID: fmt.Sprintf("tok%s-%s", slug, name), Name: name, Organization: slug,
		CreatedAt: s.cfg.Now().UTC().Format("2006-01-02")}
	if len(o.Members) > 0 {
		t.Owner = &TokenOwner{Username: o.Members[0].Username, Email: o.Members[0].Email}
	}
	o.Tokens = append(o.Tokens, t)
	s.audit(o, "user-token-create", "", map[string]any{"name": name})
	return t
}

// RevokeAPIToken removes a token by id.
func (s *Server) RevokeAPIToken(slug, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrg(slug)
	o.Tokens = without(o.Tokens, func(t APIToken) bool { return t.ID == id }, "api token "+id)
}

// DeleteOrg makes an org vanish: it is no longer listed and answers 404.
func (s *Server) DeleteOrg(slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustOrg(slug).gone = true
}

func without[T any](list []T, match func(T) bool, what string) []T {
	out := list[:0:0]
	found := false
	for _, v := range list {
		if match(v) {
			found = true
			continue
		}
		out = append(out, v)
	}
	if !found {
		panic("tursotest: no " + what)
	}
	return out
}

// Churn changes a fraction of every org's databases (it flips block_reads
// on every 1/fraction-th one, starting further along at each call) and
// returns how many it changed.
func (s *Server) Churn(fraction float64) int {
	return s.churn(fraction, func(o *org) int {
		return s.everyNth(fraction, len(o.Databases), func(i int) bool {
			o.Databases[i].BlockReads = !o.Databases[i].BlockReads
			return true
		})
	})
}

// ChurnMembers changes the role of a fraction of every org's members
// (member and viewer swap on every 1/fraction-th one that holds either,
// starting further along at each call), logs each change in the org's
// audit log, and returns how many it changed.
func (s *Server) ChurnMembers(fraction float64) int {
	return s.churn(fraction, func(o *org) int {
		return s.everyNth(fraction, len(o.Members), func(i int) bool {
			m := &o.Members[i]
			switch m.Role {
			case "member":
				m.Role = "viewer"
			case "viewer":
				m.Role = "member"
			default:
				return false
			}
			s.audit(o, "org-member-role-update", "", map[string]any{"username": m.Username, "role": m.Role})
			return true
		})
	})
}

// churn applies change to every org of every account, as one call of the
// churn counter, and returns how many objects it changed.
func (s *Server) churn(fraction float64, change func(*org) int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.churns++
	n := 0
	for _, orgs := range s.accounts {
		for _, o := range orgs {
			n += change(o)
		}
	}
	return n
}

// everyNth calls change on every 1/fraction-th of n indexes, starting
// further along at each churn, and counts those it changed.
func (s *Server) everyNth(fraction float64, n int, change func(i int) bool) int {
	step := max(1, int(1/fraction+0.5))
	changed := 0
	for i := s.churns % step; i < n; i += step {
		if change(i) {
			changed++
		}
	}
	return changed
}
