package sync

import (
	"context"
	"slices"
	"time"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// prefetched is what an account's pass reads before it writes any org:
// every org's invites, then every org's members, streamed and diffed a page
// at a time, so that an invite in one org resolves against the members of
// all. Memory holds a page of members, the invites, and what the invites
// need to resolve: never every member or every email of the account.
type prefetched struct {
	p       Pass // the pass that reads
	invites map[string]*fetchedInvites
	members map[string]*fetchedMembers
	// byEmail maps each invite's normalized email that belongs to a
	// member to its username: the mirror's members, overridden by the
	// members just fetched. Nil when the invites were not prefetched.
	byEmail map[string]string
	// users is the account's users as the mirror held them when the pass
	// began, which members are diffed against while they are prefetched.
	users *storage.Snapshot
	// ahead holds the role-assignment snapshots being read ahead, by org.
	ahead   map[string]func() (*storage.Snapshot, error)
	stagers []remover
	// detailCalls is what the pass spent of its database_details budget;
	// the orgs of a pass are synced one at a time.
	detailCalls int
}

// detailCallsLeft is what is left of the pass's database_details budget.
func (pf *prefetched) detailCallsLeft(budget int) int { return max(budget-pf.detailCalls, 0) }

// fetchedInvites is one org's pending invites, fetched before any org is
// written.
type fetchedInvites struct {
	invites    []turso.Invite
	err        error
	start, end time.Time
}

// fetchedMembers is one org's members, staged before any org is written.
type fetchedMembers struct {
	roles *storage.Staged // the org's role assignments from members
	users storage.RowIter // users new or changed when fetched
	// members says which usernames an invite may resolve to are members
	// of the org: those with an invited email or a mirror match.
	members    map[string]bool
	emails     map[string]string // invited emails of the org's members
	err        error
	start, end time.Time
}

// close waits for the snapshots still being read ahead and removes the
// spill files of the prefetched members.
func (pf *prefetched) close() {
	for _, get := range pf.ahead {
		_, _ = get()
	}
	for _, r := range pf.stagers {
		r.Remove()
	}
}

// prefetch reads the invites, then the members, of the orgs a pass syncs.
// An error is the mirror's; the API's failures are recorded per org and
// reported by its scope.
func (s *Syncer) prefetch(ctx context.Context, a Account, p Pass, orgs []plannedOrg) (*prefetched, error) {
	pf := &prefetched{p: p, invites: map[string]*fetchedInvites{}, members: map[string]*fetchedMembers{}}
	if !syncsResource(a, schema.ResMembers) {
		return pf, nil // invites resolve against the mirror, org by org
	}
	var live []string
	for _, po := range orgs {
		if !po.vanished && po.unknown == nil {
			live = append(live, po.slug)
		}
	}
	// The account's users are read while the invites are fetched, and so
	// are the first org's role assignments; each next org's while the one
	// before it streams.
	pf.readAhead(ctx, live, 0)
	usersDone := make(chan error, 1)
	go func() {
		var err error
		pf.users, err = p.Lookup().Users(ctx)
		usersDone <- err
	}()
	want := map[string]bool{}
	if syncsResource(a, schema.ResInvites) {
		for _, org := range live {
			fi := s.prefetchInvites(ctx, a, org)
			pf.invites[org] = fi
			for _, inv := range fi.invites {
				want[mapper.NormalizeEmail(inv.Email)] = true
			}
			if turso.ClassOf(fi.err) == turso.ClassAuth {
				break
			}
		}
	}
	if err := <-usersDone; err != nil {
		pf.close()
		return nil, err
	}
	// The snapshot is a million users' worth for a large account: the
	// org passes do not need it.
	defer func() { pf.users = nil }()
	emails := make([]string, 0, len(want))
	for e := range want {
		emails = append(emails, e)
	}
	slices.Sort(emails)
	mirror, err := p.Lookup().UsersByEmail(ctx, emails)
	if err != nil {
		pf.close()
		return nil, err
	}
	candidates := map[string]bool{}
	for _, u := range mirror {
		candidates[u] = true
	}
	pf.byEmail = mirror
	for i, org := range live {
		if fi := pf.invites[org]; fi != nil && turso.ClassOf(fi.err) == turso.ClassAuth {
			break // the org pass reports it and stops the account
		}
		pf.readAhead(ctx, live, i+1)
		f := s.prefetchMembers(ctx, a, org, pf, want, candidates)
		pf.members[org] = f
		if f.err != nil {
			if turso.ClassOf(f.err) == turso.ClassAuth {
				break
			}
			continue
		}
		for e, u := range f.emails {
			pf.byEmail[e] = u
		}
	}
	return pf, nil
}

// syncsResource reports whether the account's passes sync res: those its
// config lists, or every resource but the opt-in ones.
func syncsResource(a Account, res string) bool {
	if len(a.Resources) == 0 {
		return slices.Contains(schema.DefaultResources, res)
	}
	return slices.Contains(a.Resources, res)
}

func (s *Syncer) prefetchInvites(ctx context.Context, a Account, org string) *fetchedInvites {
	tr := trackerOf(ctx)
	tr.update(func(p *Progress) { p.Org = org })
	tr.resourceStart(ctx, schema.ResInvites)
	fi := &fetchedInvites{start: s.o.Now()}
	fi.invites, fi.err = a.API.ListInvites(ctx, org)
	fi.end = s.o.Now()
	tr.page(len(fi.invites))
	st, _ := scopeStatus(fi.err)
	tr.resourceEnd(st)
	return fi
}

// prefetchMembers streams an org's members, tracked as its members scope.
func (s *Syncer) prefetchMembers(ctx context.Context, a Account, org string, pf *prefetched, want, candidates map[string]bool) *fetchedMembers {
	tr := trackerOf(ctx)
	tr.update(func(p *Progress) { p.Org = org })
	tr.resourceStart(ctx, schema.ResMembers)
	f := &fetchedMembers{start: s.o.Now()}
	f.err = s.stageMembers(ctx, a, org, f, pf, want, candidates)
	f.end = s.o.Now()
	if f.err != nil {
		f.roles, f.users, f.members, f.emails = nil, nil, nil, nil
	}
	st, _ := scopeStatus(f.err)
	tr.resourceEnd(st)
	return f
}

// stageMembers diffs each page of members as it is decoded: role
// assignments against the org's snapshot, users against the mirror. Only
// the rows to write and the keys of all are spilled, so memory holds a
// page whatever the org's size. It notes which members an invite may
// resolve to: those whose email is in want, and the usernames in
// candidates.
func (s *Syncer) stageMembers(ctx context.Context, a Account, org string, f *fetchedMembers, pf *prefetched, want, candidates map[string]bool) error {
	snap, err := pf.roles(ctx, org)
	if err != nil {
		return err
	}
	roles, users := storage.NewRowStager(snap, s.o.SpillDir), storage.NewRowSpill(s.o.SpillDir)
	pf.stagers = append(pf.stagers, roles, users)
	f.members, f.emails = map[string]bool{}, map[string]string{}
	diff := startPipeline(2, func(ms []turso.Member) error {
		us, ras := mapper.Members(org, ms)
		// A member the answer repeats: the first wins, the stager counts
		// the rest (Staged.Repeated).
		taken, err := roles.Page(ctx, schema.Rows(ras))
		if err != nil {
			return err
		}
		page := make([]schema.Row, 0, len(us))
		for i, ok := range taken {
			if !ok {
				continue
			}
			u := us[i]
			page = append(page, u)
			if want[u.Email] {
				f.emails[u.Email] = u.ID
			}
			if want[u.Email] || candidates[u.ID] {
				f.members[u.ID] = true
			}
		}
		ukinds, err := pf.diffUsers(ctx, page)
		if err != nil {
			return err
		}
		for i, u := range page {
			if ukinds[i] != storage.Unchanged {
				if err := users.Add(u); err != nil {
					return err
				}
			}
		}
		return nil
	})
	tr := trackerOf(ctx)
	err = a.API.Members(ctx, org, func(page []turso.Member) error {
		tr.page(len(page))
		return diff.send(ctx, page)
	})
	if derr := diff.wait(); err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	if f.roles, err = roles.Finish(); err != nil {
		return err
	}
	f.users, err = users.Rows()
	return err
}

// directory is what an org's invites resolve against: the prefetched
// members when there are, the mirror's otherwise (the members scope was
// not synced or failed for the org).
func (s *Syncer) directory(ctx context.Context, a Account, org string, is []turso.Invite, pf *prefetched) (mapper.Directory, error) {
	dir := mapper.Directory{UserByEmail: pf.byEmail}
	if dir.UserByEmail == nil {
		emails := make([]string, 0, len(is))
		for _, inv := range is {
			emails = append(emails, mapper.NormalizeEmail(inv.Email))
		}
		var err error
		if dir.UserByEmail, err = pf.p.Lookup().UsersByEmail(ctx, emails); err != nil {
			return dir, err
		}
	}
	if f := pf.members[org]; f != nil && f.err == nil {
		dir.OrgMembers = f.members
		return dir, nil
	}
	// The members scope failed or was skipped: the mirror's memberships
	// decide whom an invite must not re-assign.
	var uids []string
	for _, inv := range is {
		if u, ok := dir.UserByEmail[mapper.NormalizeEmail(inv.Email)]; ok {
			uids = append(uids, u)
		}
	}
	var err error
	dir.OrgMembers, err = pf.p.Lookup().OrgMembers(ctx, org, uids)
	return dir, err
}

// prefetchedMembers fills an org's members scope from what the pass
// prefetched, and reports whether it did.
func (s *Syncer) prefetchedMembers(_ context.Context, j fetchJob) (bool, error) {
	f := j.pf.members[j.org]
	if f == nil {
		return false, nil
	}
	j.sc.StartedAt, j.sc.FinishedAt = f.start, f.end
	if f.err != nil {
		return true, f.err
	}
	j.sc.Rows, j.sc.Users = f.roles, f.users
	return true, nil
}

// prefetchedInvites fills an org's invites scope from what the pass
// prefetched, and reports whether it did.
func (s *Syncer) prefetchedInvites(ctx context.Context, j fetchJob) (bool, error) {
	fi := j.pf.invites[j.org]
	if fi == nil {
		return false, nil
	}
	j.sc.StartedAt, j.sc.FinishedAt = fi.start, fi.end
	if fi.err != nil {
		return true, fi.err
	}
	return true, s.stageInvites(ctx, j.a, j.org, fi.invites, j.pf, j.sc)
}

// fetchInvites reads and stages an org's invites the pass did not
// prefetch.
func (s *Syncer) fetchInvites(ctx context.Context, j fetchJob) error {
	is, err := j.a.API.ListInvites(ctx, j.org)
	if err != nil {
		return err
	}
	trackerOf(ctx).page(len(is))
	return s.stageInvites(ctx, j.a, j.org, is, j.pf, j.sc)
}

// stageInvites maps and diffs an org's invites into its scope.
func (s *Syncer) stageInvites(ctx context.Context, a Account, org string, is []turso.Invite, pf *prefetched, sc *storage.Scope) error {
	dir, err := s.directory(ctx, a, org, is, pf)
	if err != nil {
		return err
	}
	invs, users, ras := mapper.Invites(org, is, dir)
	sc.Users = storage.SliceIter(schema.Rows(users))
	sc.Rows, err = pf.p.Org(org).Stage(ctx, append(schema.Rows(invs), schema.Rows(ras)...))
	return err
}

// fetchMembers streams an org's members the pass did not prefetch. With
// no invites to match, the org's invites resolve against the mirror.
func (s *Syncer) fetchMembers(ctx context.Context, j fetchJob) error {
	f := &fetchedMembers{}
	if err := s.stageMembers(ctx, j.a, j.org, f, j.pf, nil, nil); err != nil {
		return err
	}
	j.sc.Rows, j.sc.Users = f.roles, f.users
	return nil
}

// diffUsers classifies users against the prefetched snapshot, or the
// mirror when there is none.
func (pf *prefetched) diffUsers(ctx context.Context, users []schema.Row) ([]storage.Kind, error) {
	if pf.users != nil {
		return pf.users.Diff(ctx, users)
	}
	return pf.p.Lookup().Diff(ctx, users)
}

// readAhead starts reading the role assignments of orgs[i], if any.
func (pf *prefetched) readAhead(ctx context.Context, orgs []string, i int) {
	if i >= len(orgs) {
		return
	}
	done := make(chan struct{})
	var sn *storage.Snapshot
	var err error
	go func() {
		defer close(done)
		sn, err = pf.p.Org(orgs[i]).Snapshot(ctx, schema.ResMembers)
	}()
	if pf.ahead == nil {
		pf.ahead = map[string]func() (*storage.Snapshot, error){}
	}
	pf.ahead[orgs[i]] = func() (*storage.Snapshot, error) {
		<-done
		return sn, err
	}
}

// roles returns an org's role assignments as the mirror holds them: the
// snapshot read ahead, or one read now.
func (pf *prefetched) roles(ctx context.Context, org string) (*storage.Snapshot, error) {
	if get, ok := pf.ahead[org]; ok {
		delete(pf.ahead, org)
		return get()
	}
	return pf.p.Org(org).Snapshot(ctx, schema.ResMembers)
}
