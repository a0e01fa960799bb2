package tursotest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Size says how much a generated account holds. Every org gets the same size.
type Size struct {
	Orgs        int
	Members     int
	Invites     int
	Databases   int
	Groups      int
	APITokens   int
	AuditEvents int
}

// The scales of `tursync simulate`.
var (
	Small = Size{Orgs: 3, Members: 24, Invites: 6, Databases: 300, Groups: 4, APITokens: 5, AuditEvents: 240}
	Large = Size{Orgs: 1, Members: 5000, Invites: 1000, Databases: 250000, Groups: 100, APITokens: 50, AuditEvents: 20000}
)

// ScaleSize returns the Size of a named scale.
func ScaleSize(name string) (Size, error) {
	switch name {
	case "small", "":
		return Small, nil
	case "large":
		return Large, nil
	}
	return Size{}, fmt.Errorf("unknown scale %q (want small or large)", name)
}

var regions = []string{"aws-us-east-1", "aws-us-west-2", "aws-eu-west-1", "aws-ap-south-1", "aws-ap-northeast-1"}

// Locations is the simulated GET /v1/locations map.
var Locations = map[string]string{
	"aws-us-east-1":      "AWS US East (Virginia)",
	"aws-us-west-2":      "AWS US West (Oregon)",
	"aws-eu-west-1":      "AWS EU West (Ireland)",
	"aws-ap-south-1":     "AWS AP South (Mumbai)",
	"aws-ap-northeast-1": "AWS AP NorthEast (Tokyo)",
}

var auditCodes = []string{"db-create", "db-delete", "db-protect", "group-create", "org-member-add", "org-member-rm", "db-token-create", "org-plan-update"}

// uuidFrom makes a stable UUID-shaped id from the generator.
func uuidFrom(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xffffffffffff)
}

// genesis anchors the generated objects' creation times, so that two
// simulators of one seed serve the same invites and tokens whenever they
// start (a repeated demo changes nothing).
var genesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// generate fills an account's orgs deterministically from seed. Audit
// events count back from the hour of now (a backfill window must hold
// them; they are append-only, so a later start only adds newer ones);
// every other timestamp counts back from genesis.
func generate(seed uint64, size Size, prefix string, now time.Time) []*org {
	r := rand.New(rand.NewPCG(seed, 0x7475727379))
	// A pool of people larger than one org, so orgs share members and the
	// mirror's unified users are exercised.
	pool := size.Members * 3 / 2
	if size.Orgs <= 1 {
		pool = size.Members
	}
	var orgs []*org
	for oi := 0; oi < size.Orgs; oi++ {
		slug := fmt.Sprintf("%s%d", prefix, oi+1)
		if size.Orgs == 1 {
			slug = prefix + "1"
		}
		o := &org{
			Org: Organization{
				Name: slug, Slug: slug, Type: "team", PlanID: "scaler", PlanTimeline: "monthly",
				Overages: oi%2 == 0,
			},
			uuid:      uuidFrom(r),
			dbIndex:   map[string]int{},
			nextInvID: int64(oi*100000 + 1),
		}
		// Members: a window of the pool, the first one the owner.
		start := (oi * size.Members / 2) % max(pool, 1)
		for mi := 0; mi < size.Members; mi++ {
			p := (start + mi) % pool
			role := []string{"admin", "member", "member", "viewer", "member"}[r.IntN(5)]
			if mi == 0 {
				role = "owner"
			}
			o.Members = append(o.Members, Member{Username: fmt.Sprintf("user%05d", p), Role: role, Email: fmt.Sprintf("user%05d@example.com", p)})
		}
		for ii := 0; ii < size.Invites; ii++ {
			email := fmt.Sprintf("guest%d-%05d@Example.com", oi+1, ii)
			if ii%3 == 2 && pool > size.Members {
				// Someone who is a member of another org.
				email = fmt.Sprintf("user%05d@example.com", (start+size.Members+ii)%pool)
			}
			o.Invites = append(o.Invites, Invite{ID: o.nextInvID, Email: email, Role: []string{"admin", "member", "viewer"}[r.IntN(3)],
				CreatedAt: genesis.Add(-time.Duration(r.IntN(60*24)) * time.Hour).Format(time.RFC3339)})
			o.nextInvID++
		}
		for gi := 0; gi < size.Groups; gi++ {
			name := "default"
			if gi > 0 {
				name = fmt.Sprintf("group-%03d", gi)
			}
			prim := regions[r.IntN(len(regions))]
			o.Groups = append(o.Groups, Group{Name: name, Version: "v0.24.32", UUID: uuidFrom(r), Locations: []string{prim}, Primary: prim, DeleteProtection: gi%7 == 3})
		}
		for di := 0; di < size.Databases; di++ {
			o.addDatabase(r, fmt.Sprintf("db-%06d", di), "")
		}
		for ti := 0; ti < size.APITokens; ti++ {
			m := o.Members[r.IntN(len(o.Members))]
			t := APIToken{ID: fmt.Sprintf("tok%s%04d", slug, ti), Name: fmt.Sprintf("ci-bot-%d", ti), Organization: slug,
				CreatedAt: genesis.AddDate(0, 0, -r.IntN(300)).Format("2006-01-02"),
				Owner:     &TokenOwner{Username: m.Username, Email: m.Email}}
			if ti%2 == 1 && len(o.Groups) > 0 {
				t.Group = o.Groups[r.IntN(len(o.Groups))].Name
				t.Scopes = []string{"read"}
			}
			o.Tokens = append(o.Tokens, t)
		}
		o.Audit = generateAudit(r, o, size.AuditEvents, now)
		o.Invoices = invoicesOf(o, oi)
		orgs = append(orgs, o)
	}
	return orgs
}

// generateAudit makes n audit events by the org's members, newest first,
// spread over the 20 days before the hour of now (the same events for
// every start within one hour). Each names a real object the way the
// mutation API's events do (audit): a database or group of the org, or,
// for deletes and removals, one that is gone.
func generateAudit(r *rand.Rand, o *org, n int, now time.Time) []AuditLog {
	members := o.Members
	var out []AuditLog
	span := 20 * 24 * time.Hour
	now = now.UTC().Truncate(time.Hour)
	for ai := 0; ai < n; ai++ {
		at := now.Add(-span / time.Duration(n+1) * time.Duration(ai+1)).Truncate(time.Second)
		author := "system"
		if len(members) > 0 {
			author = members[r.IntN(len(members))].Username
		}
		code := auditCodes[r.IntN(len(auditCodes))]
		data, _ := json.Marshal(map[string]any{"seq": ai, "name": pastObject(o, code, r.IntN(1000))})
		if code == "org-member-rm" {
			data, _ = json.Marshal(map[string]any{"username": fmt.Sprintf("former%03d", ai%1000)})
		}
		if code == "org-member-add" && len(members) > 1 {
			// The body of POST /members: who was added, as what. The
			// mirror's access review dates a role from it.
			m := members[1+r.IntN(len(members)-1)]
			data, _ = json.Marshal(map[string]any{"username": m.Username, "role": m.Role})
		}
		out = append(out, AuditLog{Code: code, Message: "", Origin: []string{"cli", "web"}[r.IntN(2)], Author: author,
			CreatedAt: at.Format(time.RFC3339), Data: data})
	}
	return out
}

// pastObject is the name a generated event of code gives its object: the
// n-th (modulo) database or group of o, or a database deleted before the
// mirror began.
func pastObject(o *org, code string, n int) string {
	switch {
	case code == "db-delete" || len(o.Databases) == 0 && strings.HasPrefix(code, "db-"):
		return fmt.Sprintf("retired-db-%03d", n)
	case strings.HasPrefix(code, "db-"):
		return o.Databases[n%len(o.Databases)].Name
	case strings.HasPrefix(code, "group-") && len(o.Groups) > 0:
		return o.Groups[n%len(o.Groups)].Name
	}
	return fmt.Sprintf("obj-%d", n)
}

func (o *org) addDatabase(r *rand.Rand, name, group string) Database {
	if group == "" && len(o.Groups) > 0 {
		group = o.Groups[r.IntN(len(o.Groups))].Name
	}
	prim := regions[0]
	for _, g := range o.Groups {
		if g.Name == group {
			prim = g.Primary
		}
	}
	d := Database{
		Name: name, DbID: uuidFrom(r), Hostname: fmt.Sprintf("%s-%s.turso.io", name, o.Org.Slug),
		Regions: []string{prim}, PrimaryRegion: prim, Group: group, DeleteProtection: r.IntN(10) == 0,
		Type: "logical", Version: "0.24.32",
		usage: UsageCounters{RowsRead: r.Int64N(1_000_000), RowsWritten: r.Int64N(100_000), StorageBytes: 4096 * (1 + r.Int64N(1000))},
	}
	if n := len(o.Databases); n > 0 && r.IntN(20) == 0 {
		p := o.Databases[r.IntN(n)]
		d.Parent = &DatabaseParent{ID: p.DbID, Name: p.Name, BranchedAt: "2026-04-15T13:14:34.468213117Z"}
	}
	o.dbIndex[name] = len(o.Databases)
	o.Databases = append(o.Databases, d)
	return d
}
