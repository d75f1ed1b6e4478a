package status

import (
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"secs": secs,
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return secs(now.Sub(t).Seconds()) + " ago"
	},
	"bytes": bytesOf,
}).Parse(pageHTML))

// chart is one inline SVG line chart.
type chart struct {
	ID, Title, Unit string
	Path            string // SVG path data; empty without two points
	Area            string // the same, closed along the x axis
	Points          int
	Max, Last       string
	Since           string
}

const (
	chartW, chartH = 560.0, 120.0
	maxPoints      = 360 // a point per 10s over an hour
)

type tableCount struct {
	Table  string
	Events uint64
}

type pageData struct {
	Doc      Doc
	Problems []string
	Charts   []chart
	Tables   []tableCount
	Step     time.Duration
}

func (s *Service) servePage(w http.ResponseWriter, _ *http.Request) {
	d := s.Doc()
	data := pageData{Doc: d, Problems: d.Problems(DefaultThresholds()), Charts: charts(s.History(), d.At), Step: s.cfg.Step}
	for t, n := range d.Pipeline.Tables {
		data.Tables = append(data.Tables, tableCount{t, n})
	}
	slices.SortFunc(data.Tables, func(a, b tableCount) int {
		if a.Events != b.Events {
			return int(int64(b.Events) - int64(a.Events))
		}
		return strings.Compare(a.Table, b.Table)
	})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// point is one value at one time.
type point struct {
	at time.Time
	v  float64
}

// charts turns the samples into the page's four series: lag and
// checkpoint age as sampled, events/s and sink errors as the increase
// between samples.
func charts(samples []Sample, now time.Time) []chart {
	var lag, age, rate, errs []point
	for i, s := range samples {
		lag = append(lag, point{s.At, s.Lag})
		age = append(age, point{s.At, s.CheckpointAge})
		if i == 0 {
			continue
		}
		prev := samples[i-1]
		dt := s.At.Sub(prev.At).Seconds()
		if dt <= 0 {
			continue
		}
		r, e := 0.0, 0.0
		if s.Events >= prev.Events {
			r = float64(s.Events-prev.Events) / dt
		}
		if s.SinkErrors >= prev.SinkErrors {
			e = float64(s.SinkErrors - prev.SinkErrors)
		}
		rate = append(rate, point{s.At, r})
		errs = append(errs, point{s.At, e})
	}
	return []chart{
		drawChart("lag", "Replication lag", "s", lag, now, maxOf),
		drawChart("events", "Events/s", "/s", rate, now, meanOf),
		drawChart("checkpoint-age", "Checkpoint age", "s", age, now, maxOf),
		drawChart("sink-errors", "Sink errors", "", errs, now, sumOf),
	}
}

func maxOf(ps []point) float64 {
	m := ps[0].v
	for _, p := range ps[1:] {
		m = max(m, p.v)
	}
	return m
}

func meanOf(ps []point) float64 {
	var s float64
	for _, p := range ps {
		s += p.v
	}
	return s / float64(len(ps))
}

func sumOf(ps []point) float64 {
	var s float64
	for _, p := range ps {
		s += p.v
	}
	return s
}

// drawChart scales ps into the chart box, x from the first point to now,
// y from 0 to the largest value; more than maxPoints points are merged
// into buckets with merge.
func drawChart(id, title, unit string, ps []point, now time.Time, merge func([]point) float64) chart {
	c := chart{ID: id, Title: title, Unit: unit, Max: "0", Last: "-"}
	if len(ps) > maxPoints {
		per := (len(ps) + maxPoints - 1) / maxPoints
		var merged []point
		for i := 0; i < len(ps); i += per {
			b := ps[i:min(i+per, len(ps))]
			merged = append(merged, point{b[len(b)-1].at, merge(b)})
		}
		ps = merged
	}
	c.Points = len(ps)
	if len(ps) < 2 {
		return c
	}
	start := ps[0].at
	span := now.Sub(start).Seconds()
	if span <= 0 {
		span = 1
	}
	top := 0.0
	for _, p := range ps {
		top = max(top, p.v)
	}
	c.Max, c.Last = value(top, unit), value(ps[len(ps)-1].v, unit)
	c.Since = start.Format("15:04:05")
	if top == 0 {
		top = 1 // a flat line along the bottom
	}
	var path strings.Builder
	for i, p := range ps {
		x := chartW * min(1, p.at.Sub(start).Seconds()/span)
		y := chartH - chartH*p.v/top*0.92
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, x, y)
	}
	c.Path = strings.TrimSpace(path.String())
	first := chartW * min(1, ps[0].at.Sub(start).Seconds()/span)
	last := chartW * min(1, ps[len(ps)-1].at.Sub(start).Seconds()/span)
	c.Area = fmt.Sprintf("%s L%.1f,%.1f L%.1f,%.1f Z", c.Path, last, chartH, first, chartH)
	return c
}

func value(v float64, unit string) string {
	switch unit {
	case "s":
		return secs(v)
	case "/s":
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.0f", v)
}
