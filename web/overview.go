package web

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/offgrid-net/offgrid/node"
)

// chartPoints bounds the points of one chart: a week of minute samples is
// folded into this many buckets.
const chartPoints = 120

// chartGap is the longest time without samples a chart line bridges; a
// longer one (the node was off) shows as a gap.
const chartGap = 5 * time.Minute

// Chart drawing box (SVG user units); the SVG scales to its card.
const (
	chartW = 300
	chartH = 60
)

// overviewRange is a time span the overview's charts can show.
type overviewRange struct {
	Key   string
	Label string
	Span  time.Duration
}

// overviewRanges are the spans offered, shortest first; the default is
// the day.
var overviewRanges = []overviewRange{
	{"1h", "hour", time.Hour},
	{"24h", "day", 24 * time.Hour},
	{"7d", "week", 7 * 24 * time.Hour},
}

// rangeOf picks the span named by ?range=, else the day.
func rangeOf(key string) overviewRange {
	for _, r := range overviewRanges {
		if r.Key == key {
			return r
		}
	}
	return overviewRanges[1]
}

// overviewView is the data of the overview card.
type overviewView struct {
	Now   node.Usage
	Range overviewRange
	// Samples counts the recorded samples in the range.
	Samples int
	Charts  []chart
	Err     string
}

// chart is one small line chart: one or two series over the range.
type chart struct {
	ID     string
	Title  string
	Series []series
	// Max is the top of the scale, shown as a label.
	Max string
}

// series is one line of a chart.
type series struct {
	Name  string
	Class string
	// Path is the SVG path of the line.
	Path string
	// Last is the newest value, as a label.
	Last string
}

// overviewViewFor reads the node's current figures and its history over
// the range.
func (h *Handler) overviewViewFor(ctx context.Context, rng overviewRange) overviewView {
	v := overviewView{Range: rng}
	u, err := h.node.Usage(ctx)
	if err != nil {
		h.log.Warn("Read usage for the overview", "err", err)
		v.Err = "The node's figures could not be read."
		return v
	}
	v.Now = u
	hist, err := h.node.History(ctx, u.At.Add(-rng.Span))
	if err != nil {
		h.log.Warn("Read history for the overview", "err", err)
		v.Err = "The node's history could not be read."
		return v
	}
	v.Samples = len(hist)
	from, to := u.At.Add(-rng.Span), u.At
	peers := bucket(hist, from, to, func(s node.Usage) int64 { return int64(s.PeersUp) }, false)
	in := bucket(hist, from, to, func(s node.Usage) int64 { return s.BytesIn }, true)
	out := bucket(hist, from, to, func(s node.Usage) int64 { return s.BytesOut }, true)
	hosted := bucket(hist, from, to, func(s node.Usage) int64 { return s.HostedBytes }, false)
	gap := gapBuckets(rng.Span)
	peerMax := max(maxOf(peers), 1)
	v.Charts = []chart{
		{ID: "chart-peers", Title: "Peers up", Max: strconv.FormatInt(peerMax, 10), Series: []series{
			{Name: "up", Class: "s1", Path: linePath(peers, peerMax, gap), Last: strconv.Itoa(u.PeersUp)},
		}},
		trafficChart(in, out, gap),
		{ID: "chart-hosted", Title: "Hosted for others", Max: humanBytes(max(maxOf(hosted), 1)), Series: []series{
			{Name: "bytes", Class: "s1", Path: linePath(hosted, max(maxOf(hosted), 1), gap), Last: humanBytes(u.HostedBytes)},
		}},
	}
	return v
}

// trafficChart draws shard bytes in and out per bucket on one scale.
func trafficChart(in, out []point, gap int) chart {
	top := max(maxOf(in), maxOf(out), 1)
	return chart{ID: "chart-traffic", Title: "Shard bytes in and out", Max: humanBytes(top), Series: []series{
		{Name: "in", Class: "s1", Path: linePath(in, top, gap), Last: humanBytes(lastOf(in))},
		{Name: "out", Class: "s2", Path: linePath(out, top, gap), Last: humanBytes(lastOf(out))},
	}}
}

// point is one bucket of a chart: its position (0..1 across the range)
// and value; a bucket without samples has none.
type point struct {
	X     float64
	V     int64
	Valid bool
}

// bucket folds samples into chartPoints buckets over [from, to]: summed
// (traffic, per interval) or the bucket's largest value (levels).
func bucket(hist []node.Usage, from, to time.Time, val func(node.Usage) int64, sum bool) []point {
	pts := make([]point, chartPoints)
	span := to.Sub(from)
	for i := range pts {
		pts[i].X = (float64(i) + 0.5) / chartPoints
	}
	if span <= 0 {
		return pts
	}
	for _, s := range hist {
		i := int(float64(s.At.Sub(from)) / float64(span) * chartPoints)
		if i < 0 || i >= chartPoints {
			if !s.At.Equal(to) {
				continue
			}
			i = chartPoints - 1
		}
		p := &pts[i]
		switch {
		case !p.Valid:
			p.V = val(s)
		case sum:
			p.V += val(s)
		default:
			p.V = max(p.V, val(s))
		}
		p.Valid = true
	}
	return pts
}

func maxOf(pts []point) int64 {
	var m int64
	for _, p := range pts {
		if p.Valid {
			m = max(m, p.V)
		}
	}
	return m
}

// lastOf is the newest bucket's value.
func lastOf(pts []point) int64 {
	for i := len(pts) - 1; i >= 0; i-- {
		if pts[i].Valid {
			return pts[i].V
		}
	}
	return 0
}

// linePath is the SVG path through the buckets that have samples, scaled
// to top. Buckets without samples between two that have are bridged when
// they span at most maxGap buckets; a longer gap (the node was off) breaks
// the line, and a lone point is drawn as a dot (a tiny segment with round
// caps).
func linePath(pts []point, top int64, maxGap int) string {
	var b strings.Builder
	seg, last := 0, -1
	for i, p := range pts {
		if !p.Valid {
			continue
		}
		if seg > 0 && i-last > maxGap {
			if seg == 1 {
				b.WriteString("h0.1 ")
			}
			seg = 0
		}
		x := p.X * chartW
		y := chartH - float64(p.V)/float64(top)*(chartH-2) - 1
		cmd := "L"
		if seg == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, x, y)
		seg++
		last = i
	}
	if seg == 1 {
		b.WriteString("h0.1")
	}
	return strings.TrimSpace(b.String())
}

// gapBuckets is how many buckets of a range a line bridges: those within
// chartGap of each other.
func gapBuckets(span time.Duration) int {
	return max(1, int(chartGap*chartPoints/span))
}

// diskPercent is the share of the file system in use, for the bar.
func diskPercent(u node.Usage) int {
	total := u.DiskUsed + u.DiskFree
	if total <= 0 {
		return 0
	}
	return int(u.DiskUsed * 100 / total)
}

// overviewURL is the dashboard showing a range.
func overviewURL(key string) string {
	return "/?range=" + key
}
