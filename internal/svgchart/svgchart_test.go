package svgchart

import (
	"encoding/xml"
	"html/template"
	"strings"
	"testing"
)

func TestBars(t *testing.T) {
	c := Bars("T", []Value{{"a", 10}, {"b", 5}, {"c", 0}})
	if c.Height != 3*22+4 {
		t.Errorf("height %d", c.Height)
	}
	for i, want := range []Bar{
		{Label: "a", N: 10, Color: barColor, Y: 0, Width: 400, TextAt: 616},
		{Label: "b", N: 5, Color: barColor, Y: 22, Width: 200, TextAt: 416},
		{Label: "c", N: 0, Color: barColor, Y: 44, Width: 1, TextAt: 217}, // a bar is never less than a pixel
	} {
		if c.Bars[i] != want {
			t.Errorf("bar %d: %+v, want %+v", i, c.Bars[i], want)
		}
	}
}

func TestStack(t *testing.T) {
	c := Stack("T", []string{"10:00", "", "10:02"}, []Series{
		{Label: "low", Color: "#111", Values: []int{1, 2, 3}},
		{Label: "high", Color: "#222", Values: []int{1, 0, 2}},
	})
	// The top is 5 (3+2): each unit 40 pixels, from the bottom at 210;
	// the points at x 50, 370, 690. A band's top left to right, then
	// its bottom (the band under it) right to left.
	for i, want := range []string{
		"50,170 370,130 690,90 690,210 370,210 50,210",
		"50,130 370,130 690,10 690,90 370,130 50,170",
	} {
		if got := c.Bands[i].Points; got != want {
			t.Errorf("band %d: %s, want %s", i, got, want)
		}
	}
	if got := c.YTicks; len(got) != 3 || got[0] != (Tick{210, "0"}) || got[1] != (Tick{130, "2"}) || got[2] != (Tick{10, "5"}) {
		t.Errorf("y ticks: %v", got)
	}
	if got := c.XTicks; len(got) != 2 || got[0] != (Tick{50, "10:00"}) || got[1] != (Tick{690, "10:02"}) {
		t.Errorf("x ticks: %v", got)
	}
	// The legend: legendRow keys a row.
	many := make([]Series, legendRow+1)
	for i := range many {
		many[i] = Series{Label: "s", Values: []int{1, 1}}
	}
	c = Stack("T", []string{"", ""}, many)
	if k := c.Legend[legendRow]; k.X != plotLeft || k.Y != c.Legend[0].Y+18 || c.Height != k.Y+12+10 {
		t.Errorf("the legend's second row: %+v, height %d", k, c.Height)
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[int]int{1: 1, 2: 2, 3: 5, 5: 5, 6: 10, 11: 20, 21: 50, 99: 100, 101: 200} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", v, got, want)
		}
	}
}

// Labels are text in the drawing, escaped, and the drawings are XML.
func TestTemplates(t *testing.T) {
	page := template.Must(template.New("page").Parse(`<p>{{template "svgchart-bars" .Bars}}{{template "svgchart-stack" .Stack}}</p>`))
	template.Must(page.New("svgchart").Parse(Templates))
	evil := `<script>alert("x")</script>&`
	var b strings.Builder
	err := page.Execute(&b, map[string]any{
		"Bars":  Bars(evil, []Value{{evil, 3}}),
		"Stack": Stack(evil, []string{evil, ""}, []Series{{Label: evil, Color: `"><script>`, Values: []int{1, 2}}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<script") {
		t.Fatalf("a label unescaped:\n%s", out)
	}
	for _, svg := range strings.SplitAfter(strings.TrimSuffix(strings.TrimPrefix(out, "<p>"), "</p>"), "</svg>")[:2] {
		var d struct {
			Texts []string `xml:"text"`
		}
		if err := xml.Unmarshal([]byte(svg), &d); err != nil {
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
		if !strings.Contains(strings.Join(d.Texts, "|"), evil) {
			t.Errorf("the label is not the drawing's text: %q", d.Texts)
		}
	}
}
