package daemon

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser accepts the five standard fields and descriptors (@every 15m,
// @hourly).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a robfig/cron spec. Beyond what robfig/cron
// checks, a step must be smaller than its field's range: "*/61" in the
// minutes would fire once an hour, not what it seems to say.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if err := checkSteps(spec); err != nil {
		return nil, err
	}
	return cronParser.Parse(spec)
}

// DefaultMinInterval is the floor of sync.min_interval: no schedule may
// fire more often, so a typo cannot run full passes against a customer's
// API every second.
const DefaultMinInterval = time.Minute

// MinScheduleInterval is the floor sync.min_interval itself may not go
// under.
const MinScheduleInterval = time.Second

// fieldRanges are the five fields' bounds, in order.
var fieldRanges = []struct {
	name     string
	min, max int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day of month", 1, 31}, {"month", 1, 12}, {"day of week", 0, 6}}

func checkSteps(spec string) error {
	fields := strings.Fields(spec)
	if len(fields) != len(fieldRanges) {
		return nil // a descriptor, or a count robfig/cron reports
	}
	for i, f := range fields {
		for _, part := range strings.Split(f, ",") {
			_, step, ok := strings.Cut(part, "/")
			if !ok {
				continue
			}
			r := fieldRanges[i]
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > r.max-r.min {
				return fmt.Errorf("step %q of the %s field: want 1 to %d", step, r.name, r.max-r.min)
			}
		}
	}
	return nil
}

// ShortestGap is the shortest time between two firings of a spec: the
// duration an @every schedule names (as written: robfig/cron would round
// "@every 0s" up to a second), else the smallest gap over a year of
// firings (a cron spec's gaps vary; a year sees every month and weekday).
// It stops early at the first gap under floor.
func ShortestGap(spec string, floor time.Duration) (time.Duration, error) {
	s, err := ParseSchedule(spec)
	if err != nil {
		return 0, err
	}
	if every, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		return time.ParseDuration(strings.TrimSpace(every))
	}
	ref := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	end := ref.AddDate(1, 0, 0)
	shortest := time.Duration(1<<63 - 1)
	prev := s.Next(ref)
	for i := 0; i < 600_000 && prev.Before(end) && !prev.IsZero(); i++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		shortest = min(shortest, next.Sub(prev))
		if shortest < floor {
			break
		}
		prev = next
	}
	return shortest, nil
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
