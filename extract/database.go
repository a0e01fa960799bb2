package extract

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/tursodatabase/libsql-client-go/libsql"

	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// The classes of a database's failure (extract_status.error_class).
const (
	ClassTimeout     = "timeout"
	ClassAuth        = "auth"
	ClassSQL         = "sql"
	ClassNetwork     = "network"
	ClassTooManyRows = "too_many_rows"
)

// outcome is one database's outcome with the columns its statement
// returned.
type outcome struct {
	storage.ExtractOutcome
	Columns []string
}

// size is about how many bytes saving the outcome writes.
func (o outcome) size() int {
	n := 256
	for _, r := range o.Rows {
		n += len(r) + 128
	}
	return n
}

// minterCache builds each account's client once per run.
type minterCache struct {
	build Accounts
	mu    stdsync.Mutex
	m     map[string]minterOrErr
}

type minterOrErr struct {
	m   Minter
	err error
}

func newMinterCache(build Accounts) *minterCache {
	return &minterCache{build: build, m: map[string]minterOrErr{}}
}

func (c *minterCache) get(account string) (Minter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[account]
	if !ok {
		v.m, v.err = c.build(account)
		c.m[account] = v
	}
	return v.m, v.err
}

// runState is what every database of one run shares: the query, the
// statement as it runs (bounded once per run, not once per database), the
// run's id and the accounts' clients.
type runState struct {
	q       Query
	stmt    string
	runID   int64
	minters *minterCache
	breaker *breaker
}

// database queries one database and returns its outcome; it never fails
// the run.
func (e *Extractor) database(ctx context.Context, rs *runState, p Planned) outcome {
	q := rs.q
	start := e.opts.Now()
	o := outcome{ExtractOutcome: storage.ExtractOutcome{Query: q.Name, RunID: rs.runID, Target: p.ExtractTarget}}
	finish := func(status, class string, err error) outcome {
		o.Status, o.Class = status, class
		if err != nil {
			o.Error = truncate(err.Error(), 1000)
		}
		o.At = e.opts.Now()
		o.Duration = o.At.Sub(start)
		return o
	}
	if p.Skip != "" {
		return finish(storage.ExtractSkipped, "", errors.New(p.Skip))
	}
	org := orgKey{p.Account, p.Org}
	if err := rs.breaker.stopped(org); err != nil {
		return finish(storage.ExtractFailed, ClassNetwork, err)
	}
	defer func() {
		if rs.breaker.record(org, o.Class, o.Status == storage.ExtractOK) {
			e.opts.Logger.Error("extraction gave up an org: its databases fail on the network one after another and none answers; extract.database_url may be wrong",
				"query", q.Name, "account", p.Account, "org", p.Org, "failed_in_a_row", rs.breaker.limit, "database_url", rs.breaker.url)
		}
	}()
	m, err := rs.minters.get(p.Account)
	if err != nil {
		return finish(storage.ExtractFailed, ClassAuth, fmt.Errorf("account %s: %w", p.Account, err))
	}
	tok, err := e.tokens.forDatabase(ctx, m, p.Account, p.Org, p.Group, p.Name)
	if err != nil {
		return finish(storage.ExtractFailed, mintClass(err), err)
	}
	qctx, cancel := context.WithTimeout(ctx, q.Timeout)
	defer cancel()
	cols, rows, err := e.query(qctx, rs.stmt, q.MaxRows, p.Hostname, tok)
	switch {
	case err == nil:
		o.Columns, o.Rows = cols, rows
		return finish(storage.ExtractOK, "", nil)
	case errors.Is(err, errTooManyRows):
		return finish(storage.ExtractFailed, ClassTooManyRows, err)
	case qctx.Err() != nil && ctx.Err() == nil:
		return finish(storage.ExtractFailed, ClassTimeout, fmt.Errorf("no answer within the query's timeout of %s", q.Timeout))
	}
	return finish(storage.ExtractFailed, queryClass(err), err)
}

var errTooManyRows = errors.New("too many rows")

// query runs the bounded statement in the database at hostname and returns
// its columns and at most maxRows rows as JSON objects.
func (e *Extractor) query(ctx context.Context, stmt string, maxRows int, hostname string, tok turso.Secret) ([]string, [][]byte, error) {
	opts := []libsql.Option{libsql.WithAuthToken(tok.Reveal())}
	if e.opts.Proxy != "" {
		opts = append(opts, libsql.WithProxy(e.opts.Proxy))
	}
	conn, err := libsql.NewConnector(strings.ReplaceAll(e.opts.DatabaseURL, "{hostname}", hostname), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("database URL: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	rows, err := db.QueryContext(ctx, stmt)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out [][]byte
	for rows.Next() {
		if len(out) == maxRows {
			return nil, nil, fmt.Errorf("%w: the statement returns more than max_rows (%d); nothing of this database was kept", errTooManyRows, maxRows)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		obj, err := rowJSON(cols, vals)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, obj)
	}
	return cols, out, rows.Err()
}

// rowJSON writes a row as a JSON object in column order. A blob becomes
// its base64 text; a float that JSON cannot hold, null.
func rowJSON(cols []string, vals []any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c)
		b.Write(k)
		b.WriteByte(':')
		switch v := vals[i].(type) {
		case nil:
			b.WriteString("null")
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				b.WriteString("null")
			} else {
				// A whole REAL keeps its ".0", so json_extract gives back a
				// REAL, not an INTEGER.
				f := strconv.FormatFloat(v, 'g', -1, 64)
				if !strings.ContainsAny(f, ".e") {
					f += ".0"
				}
				b.WriteString(f)
			}
		case []byte:
			s, _ := json.Marshal(base64.StdEncoding.EncodeToString(v))
			b.Write(s)
		case time.Time:
			s, _ := json.Marshal(v.UTC().Format(time.RFC3339Nano))
			b.Write(s)
		default:
			s, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", c, err)
			}
			b.Write(s)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// mintClass classes a failed mint: a refused token, a plan limit or a
// forbidden group is auth; a rate limit, a server or network failure is
// network.
func mintClass(err error) string {
	switch turso.ClassOf(err) {
	case turso.ClassAuth, turso.ClassForbidden, turso.ClassPlan:
		return ClassAuth
	}
	return ClassNetwork
}

var httpCode = regexp.MustCompile(`error code (\d{3})`)

// queryClass classes a failed statement from what libsql-client-go
// returns: an HTTP status in its text, a transport error, or the
// database's own error for the statement.
func queryClass(err error) string {
	if m := httpCode.FindStringSubmatch(err.Error()); m != nil {
		switch m[1] {
		case "401", "403":
			return ClassAuth
		}
		return ClassNetwork // 404: no such database at that address; 5xx
	}
	var ne net.Error
	if errors.As(err, &ne) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection") {
		return ClassNetwork
	}
	return ClassSQL
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
