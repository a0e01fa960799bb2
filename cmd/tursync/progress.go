package main

import (
	"fmt"
	"io"
	stdsync "sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	tsync "github.com/tursync/tursync/sync"
)

// progressUI draws a live bar per account for the resource it is fetching
// (pages and rows so far, the rate, and an ETA when the last pass says how
// many rows to expect), and prints a line as each resource ends. It is what
// `tursync sync` shows on a terminal; logs go through it so they print
// above the bars instead of through them.
type progressUI struct {
	p    *mpb.Progress
	now  func() time.Time
	mu   stdsync.Mutex
	bars map[string]*mpb.Bar // by account
	once stdsync.Once
}

func newProgressUI(w io.Writer, now func() time.Time) *progressUI {
	return &progressUI{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh()),
		now: now, bars: map[string]*mpb.Bar{}}
}

// Write prints above the bars (the logger writes here).
func (u *progressUI) Write(b []byte) (int, error) { return u.p.Write(b) }

// event is tsync.Options.OnProgress.
func (u *progressUI) event(ev tsync.ProgressEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	bar := u.bars[ev.Account]
	switch ev.Kind {
	case tsync.ProgressResourceStart:
		if bar != nil {
			bar.Abort(true)
		}
		name := fmt.Sprintf("%s %s", ev.Account, ev.Org)
		if ev.Orgs > 0 {
			name += fmt.Sprintf(" (%d/%d)", ev.OrgIndex, ev.Orgs)
		}
		name += " " + ev.Resource
		u.bars[ev.Account] = u.p.AddBar(ev.Expected,
			mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(
				decor.Any(func(s decor.Statistics) string {
					if ev.Expected > 0 {
						return fmt.Sprintf("%d/~%d rows", s.Current, ev.Expected)
					}
					return fmt.Sprintf("%d rows", s.Current)
				}, decor.WCSyncSpace),
				decor.AverageSpeed(0, "%.0f rows/s", decor.WCSyncSpace),
				decor.OnCondition(decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace), ev.Expected > 0),
			))
	case tsync.ProgressPage:
		if bar != nil {
			if ev.Expected > 0 && ev.Rows >= ev.Expected {
				bar.SetTotal(ev.Rows+1, false) // more than the last pass had
			}
			bar.SetCurrent(ev.Rows)
		}
	case tsync.ProgressResourceEnd:
		if bar != nil {
			bar.SetCurrent(ev.Rows)
			bar.SetTotal(-1, true)
			delete(u.bars, ev.Account)
		}
		fmt.Fprintf(u.p, "%s %s %s: %s, %d rows in %d pages, %s\n", ev.Account, ev.Org, ev.Resource, ev.Status, ev.Rows, ev.Pages,
			u.now().Sub(ev.Since).Round(time.Millisecond))
	}
}

// stop ends the bars of passes that did not end a resource (a failure) and
// waits until the last frame is drawn.
func (u *progressUI) stop() {
	u.once.Do(func() {
		u.mu.Lock()
		for id, bar := range u.bars {
			bar.Abort(true)
			delete(u.bars, id)
		}
		u.mu.Unlock()
		u.p.Wait()
	})
}
