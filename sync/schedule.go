package sync

import (
	"hash/fnv"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser accepts the five standard fields and descriptors (@every 15m,
// @hourly).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a robfig/cron spec.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cronParser.Parse(spec)
}

// spread is a schedule moved by a fixed offset derived from the account id,
// so that a thousand accounts on the same spec do not all fire in the same
// second, yet each account fires at the same moments across restarts.
type spread struct {
	inner  cron.Schedule
	period time.Duration // set for @every schedules
	offset time.Duration
}

// Next implements cron.Schedule.
func (s spread) Next(t time.Time) time.Time {
	if s.period > 0 {
		// @every: fire at offset + k·period (from the zero time), a phase
		// fixed by the account instead of by the moment the daemon started.
		next := t.Truncate(s.period).Add(s.offset)
		for !next.After(t) {
			next = next.Add(s.period)
		}
		return next
	}
	return s.inner.Next(t.Add(-s.offset)).Add(s.offset)
}

// maxSpecJitter bounds how far a cron spec (as opposed to @every) is
// moved: a spec names wall-clock times the operator chose.
const maxSpecJitter = time.Minute

// SpreadSchedule returns the account's schedule with its jitter, and the
// interval between two passes (for staleness alerts).
func SpreadSchedule(account, spec string) (cron.Schedule, time.Duration, error) {
	inner, err := ParseSchedule(spec)
	if err != nil {
		return nil, 0, err
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(account))
	sum := h.Sum64()
	if cd, ok := inner.(cron.ConstantDelaySchedule); ok {
		period := cd.Delay
		// Whole seconds, like the cron specs, so next-run times read well.
		offset := time.Duration(sum%uint64(max(period/time.Second, 1))) * time.Second
		return spread{inner: inner, period: period, offset: offset}, period, nil
	}
	interval := specInterval(inner)
	maxJitter := min(interval/10, maxSpecJitter)
	var offset time.Duration
	if maxJitter >= time.Second {
		offset = time.Duration(sum%uint64(maxJitter/time.Second)) * time.Second
	}
	return spread{inner: inner, offset: offset}, interval, nil
}

// specInterval measures the gap between two firings of a spec from a fixed
// instant, so the figure does not depend on when the daemon started.
func specInterval(s cron.Schedule) time.Duration {
	ref := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	n1 := s.Next(ref)
	return s.Next(n1).Sub(n1)
}
