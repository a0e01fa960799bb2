package statuspage

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/tursync/tursync/storage"
)

// chart is one bar chart of the last 24 hours, drawn server-side as SVG.
type chart struct {
	ID, Title string
	// Total sums the bars (for durations: the longest).
	Total string
	SVG   template.HTML
}

// charts draws an account's (or, for "", the fleet's) passes of the last
// 24 hours, an hour a bar: the longest pass, the rows changed, the API
// requests.
func charts(ctx context.Context, src Source, account string) ([]chart, time.Time, error) {
	since := src.Now().UTC().Truncate(chartStep).Add(-(chartBuckets - 1) * chartStep)
	bs, err := src.Mirror.StatusPage().Buckets(ctx, account, since, chartStep, chartBuckets)
	if err != nil {
		return nil, since, err
	}
	series := func(f func(storage.RunBucket) float64) []float64 {
		out := make([]float64, len(bs))
		for i, b := range bs {
			out[i] = f(b)
		}
		return out
	}
	dur := series(func(b storage.RunBucket) float64 { return b.LongestSeconds })
	rows := series(func(b storage.RunBucket) float64 { return float64(b.RowsChanged) })
	reqs := series(func(b storage.RunBucket) float64 { return float64(b.APIRequests) })
	passes := series(func(b storage.RunBucket) float64 { return float64(b.Passes) })
	return []chart{
		{ID: "chart-duration", Title: "Longest pass (seconds)", Total: seconds(maxOf(dur)) + " at most", SVG: bars("chart-duration", since, dur, seconds)},
		{ID: "chart-rows", Title: "Rows changed", Total: count(sum(rows)) + " in all", SVG: bars("chart-rows", since, rows, count)},
		{ID: "chart-requests", Title: "API requests", Total: count(sum(reqs)) + " in all", SVG: bars("chart-requests", since, reqs, count)},
		{ID: "chart-passes", Title: "Passes", Total: count(sum(passes)) + " in all", SVG: bars("chart-passes", since, passes, count)},
	}, since, nil
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 480, 120
	padLeft        = 44 // the axis labels
	padBottom      = 16
	padTop         = 6
)

// bars draws values (one per chartStep from since) as an SVG bar chart:
// a bar's <title> gives its hour and value (the browser shows it on
// hover, without script); the axis shows 0 and the largest value.
func bars(id string, since time.Time, values []float64, format func(float64) string) template.HTML {
	top := maxOf(values)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" data-max="%g" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`,
		id, top, chartW, chartH, chartW, chartH)
	plotW, plotH := float64(chartW-padLeft), float64(chartH-padBottom-padTop)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, padLeft, chartH-padBottom, chartW, chartH-padBottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end" fill="#555">%s</text>`, padLeft-4, padTop+8, template.HTMLEscapeString(format(top)))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end" fill="#555">0</text>`, padLeft-4, chartH-padBottom)
	w := plotW / float64(len(values))
	for i, v := range values {
		h := 0.0
		if top > 0 {
			h = v / top * plotH
		}
		x := float64(padLeft) + float64(i)*w
		at := since.Add(time.Duration(i) * chartStep)
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3b6ea5" data-value="%g"><title>%s: %s</title></rect>`,
			x+1, float64(chartH-padBottom)-h, w-2, h, v, at.Format("15:04Z"), template.HTMLEscapeString(format(v)))
		if i%6 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#555">%s</text>`, x+1, chartH-3, at.Format("15:04"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text only
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

func sum(vs []float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s
}

func seconds(v float64) string { return fmt.Sprintf("%.1f s", v) }

func count(v float64) string { return fmt.Sprintf("%.0f", v) }
