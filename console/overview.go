package console

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/refundd/refundd/refund"
)

type windowRow struct {
	Name, Key string
	F         refund.Figures
}

type overviewView struct {
	base
	O       *refund.Overview
	Windows []windowRow
	Chart   template.HTML // inline SVG, built from the figures only
	Rate    string        // failure rate, "12.34 %" or "—"
}

// overview is the page after sign-in: refunds today and over 7 and 30
// days, what fails, what needs a person, and refunds per day as a chart.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.svc.Overview(r.Context(), s.principal)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := overviewView{base: c.base(s, "Overview", "overview"), O: o, Chart: chart(o.Days), Rate: "—",
		Windows: []windowRow{{"Today", "today", o.Today}, {"Last 7 days", "week", o.Week}, {"Last 30 days", "month", o.Month}}}
	if o.FailureRate >= 0 {
		v.Rate = fmt.Sprintf("%d.%02d %%", o.FailureRate/100, o.FailureRate%100)
	}
	c.render(w, r, http.StatusOK, "overview.html", v)
}

// chartStatuses are the chart's stacks, bottom up, with their colours;
// every other status is counted as "in progress".
var chartStatuses = []struct {
	status refund.Status
	label  string
	color  string
}{
	{refund.StatusSucceeded, "succeeded", "#1b7f4b"},
	{refund.StatusFailed, "failed", "#b3261e"},
	{"", "in progress or canceled", "#8a94a6"},
}

// chart draws refunds per day as stacked bars in SVG: no script, nothing
// fetched. Each bar has a title (a tooltip and an accessible name); the
// page also has the same figures as a table.
func chart(days []refund.DayFigures) template.HTML {
	const w, h, bar, gap, top = 620, 180, 16, 4, 10
	var peak int64 = 1
	for _, d := range days {
		peak = max(peak, d.Total)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, w, h+24, w, h+24)
	fmt.Fprintf(&b, `<title id="chart-title">Refunds per day, last 30 days</title><desc id="chart-desc">Stacked bars: succeeded, failed, other; the busiest day had %d refunds. The table below has the same figures.</desc>`, peak)
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" stroke="#c9ced6"/>`, h, w, h)
	for i, d := range days {
		x := 10 + i*(bar+gap)
		y := h
		var parts []string
		for _, s := range chartStatuses {
			n := d.ByStatus[s.status]
			if s.status == "" {
				n = d.Total - d.ByStatus[refund.StatusSucceeded] - d.ByStatus[refund.StatusFailed]
			}
			if n == 0 {
				continue
			}
			ht := int(n * int64(h-top) / peak)
			ht = max(ht, 1)
			y -= ht
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, x, y, bar, ht, s.color)
			parts = append(parts, fmt.Sprintf("%d %s", n, s.label))
		}
		label := d.Day.Format("2 Jan") + ": no refunds"
		if len(parts) > 0 {
			label = d.Day.Format("2 Jan") + ": " + strings.Join(parts, ", ")
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="transparent" data-day="%s" data-total="%d"><title>%s</title></rect>`,
			x, top, bar, h-top, d.Day.Format("2006-01-02"), d.Total, template.HTMLEscapeString(label))
		if (len(days)-1-i)%7 == 0 { // today, and every week back from it
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#5b6472">%s</text>`, x, h+14, d.Day.Format("2 Jan"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped labels only
}
