package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// displayNames are the names the charts show for the benchmarks' library
// labels; a label not listed is shown as it is.
var displayNames = map[string]string{"appcred": "appcred", "msalgo": "MSAL Go", "azidentity": "azidentity"}

// display returns the name a chart shows for lib.
func display(lib string) string {
	if name, ok := displayNames[lib]; ok {
		return name
	}
	return lib
}

// newPlot returns a plot in sans-serif type with a title and, under it, a
// smaller subtitle line.
func newPlot(title, subtitle string) *plot.Plot {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
	p := plot.New()
	p.Title.Text = title + "\n" + subtitle
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Title.Padding = vg.Points(8)
	return p
}

// fontFamily is how the SVG names its font, and what it names instead:
// Liberation Sans has the metrics of Arial and Helvetica, so a viewer
// without it lays the text out the same with either.
var fontFamily = [2]string{"font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"}

// Chart size in inches.
const width, height = 7, 4.5

// svg renders p as an SVG document.
func svg(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(width*vg.Inch, height*vg.Inch, "svg")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return bytes.ReplaceAll(buf.Bytes(), []byte(fontFamily[0]), []byte(fontFamily[1])), nil
}

// hitChart draws ns per hit against tokens cached, log-log, one line per
// library; a library measured at fewer sizes than the largest says so in
// the legend.
func hitChart(res *results, subtitle string) ([]byte, error) {
	p := newPlot("Cache hit: time per token call vs tokens cached", subtitle)
	p.X.Label.Text = "tokens cached"
	p.Y.Label.Text = "time per hit"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = decades{format: countLabel}
	p.Y.Tick.Marker = decades{format: durationLabel}
	p.Legend.Top, p.Legend.Left, p.Legend.XOffs = true, true, vg.Points(12)
	maxTokens := res.maxTokens()
	var xs, ys []float64
	for i, lib := range slices.DeleteFunc(slices.Clone(res.libs), func(l string) bool { return res.hit[l] == nil }) {
		pts := res.hit[lib]
		xy := make(plotter.XYs, len(pts))
		for j, pt := range pts {
			xy[j] = plotter.XY{X: pt.tokens, Y: pt.nsPerOp}
			xs, ys = append(xs, pt.tokens), append(ys, pt.nsPerOp)
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, fmt.Errorf("%s hit line: %w", lib, err)
		}
		line.Color, points.Color, points.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		line.Width, points.Radius = vg.Points(1.5), vg.Points(3)
		last := pts[len(pts)-1]
		label := display(lib)
		if last.tokens < maxTokens {
			label += fmt.Sprintf(" (filled to %s tokens only)", countLabel(last.tokens))
		}
		end, err := plotter.NewLabels(plotter.XYLabels{XYs: xy[len(xy)-1:], Labels: []string{durationLabel(last.nsPerOp)}})
		if err != nil {
			return nil, err
		}
		end.TextStyle[0].Color, end.TextStyle[0].XAlign, end.TextStyle[0].YAlign = plotutil.Color(i), draw.XRight, draw.YBottom
		end.Offset = vg.Point{X: -vg.Points(4), Y: vg.Points(3)}
		p.Add(line, points, end)
		p.Legend.Add(label, line, points)
	}
	p.X.Min, p.X.Max = decadeBounds(xs)
	p.Y.Min, p.Y.Max = decadeBounds(ys)
	return svg(p)
}

// herdChart draws one bar per library: the token requests it sent for the
// herd's concurrent cold callers.
func herdChart(res *results, subtitle string) ([]byte, error) {
	title := "Token requests for concurrent cold callers of one scope (1 is ideal)"
	if res.callers > 0 {
		title = fmt.Sprintf("Token requests for %.0f concurrent cold callers of one scope (1 is ideal)", res.callers)
	}
	p := newPlot(title, subtitle)
	p.Y.Label.Text = "token requests sent"
	var names []string
	top := 0.0
	for _, lib := range res.libs {
		v, ok := res.herd[lib]
		if !ok {
			continue
		}
		i := len(names)
		bar, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(48))
		if err != nil {
			return nil, fmt.Errorf("%s herd bar: %w", lib, err)
		}
		bar.XMin, bar.Color, bar.LineStyle.Width = float64(i), plotutil.Color(i), 0
		num, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(i), Y: v}},
			Labels: []string{fmt.Sprintf("%.4g", v)}})
		if err != nil {
			return nil, err
		}
		num.TextStyle[0].XAlign, num.TextStyle[0].YAlign = draw.XCenter, draw.YBottom
		p.Add(bar, num)
		names, top = append(names, display(lib)), max(top, v)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	p.Y.Min, p.Y.Max = 0, top*1.15
	return svg(p)
}

// decades is a log-axis ticker with a labelled major tick at every power of
// ten and unlabelled minor ticks at 2…9 times it.
type decades struct {
	format func(float64) string
}

// Ticks implements plot.Ticker.
func (d decades) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		major := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: major, Label: d.format(major)})
		for m := 2.0; m < 10 && m*major <= hi; m++ {
			ticks = append(ticks, plot.Tick{Value: m * major})
		}
	}
	return ticks
}

// decadeBounds returns the powers of ten just below and above vs (positive).
func decadeBounds(vs []float64) (lo, hi float64) {
	lo, hi = slices.Min(vs), slices.Max(vs)
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if lo == hi {
		hi *= 10
	}
	return lo, hi
}

// countLabel formats a token count: 1, 100, 10k, 1M.
func countLabel(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%gM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%gk", n/1e3)
	}
	return fmt.Sprintf("%g", n)
}

// durationLabel formats nanoseconds in ns, µs, ms or s.
func durationLabel(ns float64) string {
	switch {
	case ns >= 1e9:
		return sig3(ns/1e9) + " s"
	case ns >= 1e6:
		return sig3(ns/1e6) + " ms"
	case ns >= 1e3:
		return sig3(ns/1e3) + " µs"
	}
	return sig3(ns) + " ns"
}

// sig3 formats v (below 1000) with three significant digits at most, never
// in exponent form: 471, 7.49, 10.
func sig3(v float64) string {
	prec := 2
	switch {
	case v >= 100:
		prec = 0
	case v >= 10:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
