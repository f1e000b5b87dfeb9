// Package svgchart lays out the charts of maxwell's HTML pages — the
// report's (maxwell report --html) and the web console's — and draws
// them as inline SVG through html/template: a label that came with mail
// is escaped as any other text, and a page needs no script or image.
//
// A page parses Templates into its template set and calls
// {{template "svgchart-bars" .}} on a *BarChart, {{template
// "svgchart-stack" .}} on a *StackChart.
package svgchart

import (
	"strconv"
)

// Templates are the charts' templates, for a page's html/template set.
const Templates = `{{define "svgchart-bars"}}<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{{.Height}}" font-family="sans-serif" font-size="12" role="img" aria-label="{{.Title}}">
{{range .Bars}}<text x="0" y="{{.Y}}" dy="15">{{.Label}}</text><rect x="210" y="{{.Y}}" width="{{.Width}}" height="18" fill="{{.Color}}"/><text x="{{.TextAt}}" y="{{.Y}}" dy="15">{{.N}}</text>
{{end}}</svg>{{end}}
{{define "svgchart-stack"}}<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" font-family="sans-serif" font-size="12" role="img" aria-label="{{.Title}}">
{{range .Bands}}<polygon points="{{.Points}}" fill="{{.Color}}"/>
{{end}}<line x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}" stroke="#444"/><line x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}" stroke="#444"/>
{{range .YTicks}}<text x="{{$.YLabelAt}}" y="{{.At}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<line x1="{{.At}}" y1="{{$.Bottom}}" x2="{{.At}}" y2="{{$.TickEnd}}" stroke="#444"/><text x="{{.At}}" y="{{$.XLabelAt}}" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Legend}}<rect x="{{.X}}" y="{{.Y}}" width="12" height="12" fill="{{.Color}}"/><text x="{{.TextAt}}" y="{{.Y}}" dy="11">{{.Label}}</text>
{{end}}</svg>{{end}}`

// Value is a labelled count.
type Value struct {
	Label string
	N     int
}

// Bar is one bar of a BarChart, laid out.
type Bar struct {
	Label  string
	N      int
	Color  string
	Y      int // top of the bar's row
	Width  int // in pixels
	TextAt int // where its count is written
}

// BarChart is a horizontal bar chart: a bar per value, its label on the
// left, its count on the right.
type BarChart struct {
	Title  string
	Height int
	Bars   []Bar
}

// barColor is the bars' colour.
const barColor = "#4a7ab5"

// Bars lays out a horizontal bar chart of values, 400 pixels for the
// largest.
func Bars(title string, values []Value) *BarChart {
	most := 1
	for _, v := range values {
		most = max(most, v.N)
	}
	c := &BarChart{Title: title, Height: len(values)*22 + 4, Bars: make([]Bar, len(values))}
	for i, v := range values {
		w := max(v.N*400/most, 1)
		c.Bars[i] = Bar{Label: v.Label, N: v.N, Color: barColor, Y: i * 22, Width: w, TextAt: 210 + w + 6}
	}
	return c
}

// Series is one layer of a StackChart: a count per point.
type Series struct {
	Label, Color string
	Values       []int
}

// Band is a series drawn: a polygon between its top and the top of the
// series under it.
type Band struct {
	Color  string
	Points string // x,y pairs
}

// Tick is a label on an axis, at a pixel.
type Tick struct {
	At    int
	Label string
}

// Key is a series' entry in the legend.
type Key struct {
	X, Y, TextAt int
	Color, Label string
}

// StackChart is counts over time, stacked: a band per series, the first
// at the bottom, and a legend under the axis.
type StackChart struct {
	Title                       string
	Width, Height               int
	Left, Right, Top, Bottom    int // the plot area
	TickEnd, XLabelAt, YLabelAt int
	Bands                       []Band
	XTicks, YTicks              []Tick
	Legend                      []Key
}

// Layout of a StackChart, in pixels.
const (
	stackWidth  = 720
	plotLeft    = 50
	plotRight   = 690
	plotTop     = 10
	plotHeight  = 200
	legendWidth = 160 // per entry; a row holds legendRow
	legendRow   = 4
)

// Stack lays out series of the same number of points (two or more, to
// draw an area), stacked in their order. labels names the points on the
// time axis: a tick for each that is not "".
func Stack(title string, labels []string, series []Series) *StackChart {
	n := len(labels)
	bottom := plotTop + plotHeight
	c := &StackChart{Title: title, Width: stackWidth, Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: bottom,
		TickEnd: bottom + 4, XLabelAt: bottom + 18, YLabelAt: plotLeft - 6}
	x := func(i int) int { return plotLeft + i*(plotRight-plotLeft)/max(n-1, 1) }
	sums := make([]int, n)
	for _, s := range series {
		for i := range n {
			sums[i] += s.Values[i]
		}
	}
	top := niceCeil(max(1, maxOf(sums)))
	y := func(v int) int { return bottom - v*plotHeight/top }
	for _, v := range []int{0, top / 2, top} {
		if v > 0 || len(c.YTicks) == 0 {
			c.YTicks = append(c.YTicks, Tick{At: y(v), Label: strconv.Itoa(v)})
		}
	}
	for i, l := range labels {
		if l != "" {
			c.XTicks = append(c.XTicks, Tick{At: x(i), Label: l})
		}
	}
	under := make([]int, n)
	for k, s := range series {
		var p []byte
		point := func(i, v int) {
			p = strconv.AppendInt(p, int64(x(i)), 10)
			p = append(p, ',')
			p = strconv.AppendInt(p, int64(y(v)), 10)
			p = append(p, ' ')
		}
		for i := range n {
			point(i, under[i]+s.Values[i])
		}
		for i := n - 1; i >= 0; i-- {
			point(i, under[i])
			under[i] += s.Values[i]
		}
		c.Bands = append(c.Bands, Band{Color: s.Color, Points: string(p[:max(0, len(p)-1)])})
		row, col := k/legendRow, k%legendRow
		ky := bottom + 32 + row*18
		c.Legend = append(c.Legend, Key{X: plotLeft + col*legendWidth, Y: ky, TextAt: plotLeft + col*legendWidth + 16, Color: s.Color, Label: s.Label})
	}
	c.Height = bottom + 32 + (len(series)+legendRow-1)/legendRow*18 + 4
	return c
}

func maxOf(vs []int) int {
	m := 0
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// niceCeil is the least of 1, 2, 5, 10, 20, 50, ... that is at least v.
func niceCeil(v int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
	}
}
