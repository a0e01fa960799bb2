package storage

import (
	"context"
	"fmt"
	"time"
)

// StatusPage is what the status page reads of the mirror besides /status
// (docs/deploy.md): how passes went over time, and one account's runs.
type StatusPage struct{ s *Store }

// StatusPage reads the mirror for the status page.
func (s *Store) StatusPage() *StatusPage { return &StatusPage{s: s} }

// RunBucket is the passes that started in one step of a chart.
type RunBucket struct {
	Start  time.Time
	Passes int
	// LongestSeconds is the longest finished pass's duration.
	LongestSeconds float64
	// RowsChanged are the rows they created, updated and deleted.
	RowsChanged int64
	APIRequests int64
}

// Buckets are the finished passes started in [since, since + n*step),
// one bucket per step (empty ones included), of one account or ("")
// every account, from run_hours (the passes summed per account and hour
// by a trigger as they end). since is a whole hour; step is hours.
func (p *StatusPage) Buckets(ctx context.Context, account string, since time.Time, step time.Duration, n int) ([]RunBucket, error) {
	since = since.UTC().Truncate(time.Hour)
	step = max(step.Truncate(time.Hour), time.Hour)
	out := make([]RunBucket, n)
	for i := range out {
		out[i].Start = since.Add(time.Duration(i) * step)
	}
	const layout = "2006-01-02T15"
	q := `SELECT hour, sum(passes), max(longest_seconds), sum(rows_changed), sum(api_requests) FROM run_hours
		WHERE hour >= ? AND hour < ?`
	args := []any{since.Format(layout), since.Add(time.Duration(n) * step).Format(layout)}
	if account != "" {
		q += ` AND account_id = ?`
		args = append(args, account)
	}
	rows, err := p.s.db.QueryContext(ctx, q+` GROUP BY hour`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the passes since %s: %w", since.Format(time.RFC3339), p.s.explain(err))
	}
	defer rows.Close()
	for rows.Next() {
		var hour string
		var rb RunBucket
		if err := rows.Scan(&hour, &rb.Passes, &rb.LongestSeconds, &rb.RowsChanged, &rb.APIRequests); err != nil {
			return nil, err
		}
		at, err := time.Parse(layout, hour)
		if err != nil {
			continue
		}
		if b := int(at.Sub(since) / step); b >= 0 && b < n {
			out[b].Passes += rb.Passes
			out[b].LongestSeconds = max(out[b].LongestSeconds, rb.LongestSeconds)
			out[b].RowsChanged += rb.RowsChanged
			out[b].APIRequests += rb.APIRequests
		}
	}
	return out, rows.Err()
}

// AccountRuns are an account's last n passes, newest first.
func (p *StatusPage) AccountRuns(ctx context.Context, account string, n int) ([]RunRecord, error) {
	runs, err := p.s.queryRuns(ctx, `WHERE r.account_id = ? ORDER BY r.id DESC LIMIT ?`, account, n)
	if err != nil {
		return nil, fmt.Errorf("read the runs of account %s: %w", account, p.s.explain(err))
	}
	return runs, nil
}
