package sync_test

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

var updateCookbook = flag.Bool("update", false, "write each cookbook query's answer into docs/cookbook.md")

// cookbookNow is the scenario's clock when the queries run: 'now' in them
// means this.
const cookbookNow = "2026-11-20T12:02:00Z"

// cookbookBlock is one query of docs/cookbook.md and its sample answer.
var cookbookBlock = regexp.MustCompile("(?s)## ([^\n]+)\n.*?```sql\n(.*?)```\n\n```text\n(.*?)```")

// Every query of docs/cookbook.md runs on a mirror built by a scripted
// scenario (two passes: a role changed, a member removed, an invite
// accepted, a database deleted with its audit event, an API token
// created), and answers what the cookbook says it answers, on a file and
// (TURSYNC_TEST_MIRROR=sqld) on sqld.
func TestCookbook(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 2, Members: 6, Invites: 3, Databases: 8, Groups: 2, APITokens: 3, AuditEvents: 10})
	if r := e.pass(); r.Status != storage.StatusComplete {
		t.Fatalf("first pass: %s %v", r.Status, r.Err)
	}
	org := e.sim.Orgs()[0]
	ms := e.sim.Members(org)
	e.sim.SetMemberRole(org, ms[1].Username, "admin")
	e.sim.RemoveMember(org, ms[2].Username)
	e.sim.AcceptInvite(org, e.sim.Invites(org)[0].Email, "newcomer")
	db := e.sim.Databases(org)[0].Name
	e.sim.DeleteDatabase(org, db)
	e.sim.CreateAPIToken(org, "ci-deploy")
	if r := e.pass(); r.Status != storage.StatusComplete {
		t.Fatalf("second pass: %s %v", r.Status, r.Err)
	}
	if got := e.clk.Now().UTC().Format(time.RFC3339); got != cookbookNow {
		t.Fatalf("the scenario's clock is %s, the cookbook says %s", got, cookbookNow)
	}
	const path = "../docs/cookbook.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := cookbookBlock.FindAllSubmatchIndex(doc, -1)
	if len(blocks) < 15 {
		t.Fatalf("the cookbook has %d questions with a query and an answer, want at least 15", len(blocks))
	}
	var out strings.Builder
	last := 0
	for _, b := range blocks {
		title, query, answer := string(doc[b[2]:b[3]]), string(doc[b[4]:b[5]]), string(doc[b[6]:b[7]])
		got, err := cookbookAnswer(e.db(), strings.ReplaceAll(query, "'now'", "'"+cookbookNow+"'"))
		if err != nil {
			t.Errorf("%s: %v", title, err)
			continue
		}
		if got != answer && !*updateCookbook {
			t.Errorf("%s: the answer is\n%s\nthe cookbook says\n%s(run go test ./sync -run TestCookbook -update)", title, got, answer)
		}
		out.Write(doc[last:b[6]])
		out.WriteString(got)
		last = b[7]
	}
	out.Write(doc[last:])
	if *updateCookbook {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cookbookAnswer runs q and renders its rows as the cookbook shows them:
// a header, then one line a row, " | " between values, NULL for NULL.
func cookbookAnswer(db *sql.DB, q string) (string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(strings.Join(cols, " | ") + "\n")
	n := 0
	for rows.Next() {
		vals, err := rowValues(rows, len(cols))
		if err != nil {
			return "", err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				parts[i] = "NULL"
			case []byte:
				parts[i] = string(v)
			case float64:
				parts[i] = fmt.Sprintf("%g", v)
			default:
				parts[i] = fmt.Sprint(v)
			}
		}
		b.WriteString(strings.Join(parts, " | ") + "\n")
		n++
	}
	if n == 0 {
		b.WriteString("(no rows)\n")
	}
	return b.String(), rows.Err()
}
