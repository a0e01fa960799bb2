package extract

import (
	"fmt"
	"strings"
	stdsync "sync"
)

// DefaultOrgBreaker is how many databases of an org in a row may fail on
// the network, none of the org's answering, before the run stops trying
// the org's others: a wrong extract.database_url fails every database
// alike, and each would take its own DNS lookup or connect timeout.
const DefaultOrgBreaker = 20

// orgKey names an org of an account.
type orgKey struct{ account, org string }

// breaker counts, per org, the network failures in a row of a run.
type breaker struct {
	limit int
	url   string // the database URL template, for the message
	mu    stdsync.Mutex
	orgs  map[orgKey]*orgRun
}

type orgRun struct {
	inRow   int  // network failures since the last success
	success bool // a database of the org answered in this run
	open    bool // the org is given up for this run
}

func newBreaker(limit int, url string) *breaker {
	return &breaker{limit: limit, url: redactTemplate(url), orgs: map[orgKey]*orgRun{}}
}

// redactTemplate is a database URL template without the user info and
// query a credential could hide in ({hostname} keeps url.Parse from
// taking it apart).
func redactTemplate(u string) string {
	u, _, _ = strings.Cut(u, "?")
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		return scheme + "://" + rest
	}
	return u
}

func (b *breaker) org(k orgKey) *orgRun {
	o := b.orgs[k]
	if o == nil {
		o = &orgRun{}
		b.orgs[k] = o
	}
	return o
}

// stopped is the error of a database not tried because its org was given
// up, nil while the org is tried.
func (b *breaker) stopped(k orgKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.org(k).open {
		return nil
	}
	return fmt.Errorf("not tried: %d databases of org %s failed in a row on the network and none answered; "+
		"extract.database_url (%s) may be wrong", b.limit, k.org, b.url)
}

// record notes a database's outcome and reports whether it gave the org
// up (once per org and run).
func (b *breaker) record(k orgKey, class string, ok bool) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.org(k)
	switch {
	case ok:
		o.success, o.inRow = true, 0
	case class == ClassNetwork:
		o.inRow++
		if !o.success && !o.open && o.inRow >= b.limit {
			o.open = true
			return true
		}
	default:
		o.inRow = 0
	}
	return false
}
