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
	v := overviewView{base: c.base(r, s, "overview", "overview.title"), O: o, Rate: "—"}
	v.loc.zone = o.Zone // the zone the days were counted in
	v.Chart = chart(v.loc, o.Days)
	v.Windows = []windowRow{{v.loc.S("overview.today"), "today", o.Today}, {v.loc.S("overview.week"), "week", o.Week},
		{v.loc.S("overview.month"), "month", o.Month}}
	if o.FailureRate >= 0 {
		v.Rate = fmt.Sprintf("%d.%02d %%", o.FailureRate/100, o.FailureRate%100)
	}
	c.render(w, r, http.StatusOK, "overview.html", &v)
}

// chartStatuses are the chart's stacks, bottom up, with their colours and
// the message ids of their labels; every other status is counted as "in
// progress".
var chartStatuses = []struct {
	status refund.Status
	label  string
	color  string
}{
	{refund.StatusSucceeded, "chart.succeeded", "#1b7f4b"},
	{refund.StatusFailed, "chart.failed", "#b3261e"},
	{"", "chart.other", "#8a94a6"},
}

// chart draws refunds per day as stacked bars in SVG, in the page's
// language: no script, nothing fetched. Each bar has a title (a tooltip
// and an accessible name); the page also has the same figures as a table.
// Right to left, time runs right to left too: today is the leftmost bar.
func chart(loc locale, days []refund.DayFigures) template.HTML {
	const w, h, bar, gap, top = 620, 180, 16, 4, 10
	var peak int64 = 1
	for _, d := range days {
		peak = max(peak, d.Total)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, w, h+24, w, h+24)
	fmt.Fprintf(&b, `<title id="chart-title">%s</title><desc id="chart-desc">%s</desc>`,
		template.HTMLEscapeString(loc.S("chart.title")), template.HTMLEscapeString(loc.S("chart.desc", peak)))
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" stroke="#c9ced6"/>`, h, w, h)
	for i, d := range days {
		x := 10 + i*(bar+gap)
		if loc.dir == "rtl" {
			x = w - bar - x
		}
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
			parts = append(parts, loc.S(s.label, n))
		}
		label := loc.S("chart.bar.none", loc.day(d.Day))
		if len(parts) > 0 {
			label = loc.S("chart.bar", loc.day(d.Day), strings.Join(parts, loc.S("list.sep")))
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="transparent" data-day="%s" data-total="%d"><title>%s</title></rect>`,
			x, top, bar, h-top, d.Day.Format("2006-01-02"), d.Total, template.HTMLEscapeString(label))
		if (len(days)-1-i)%7 == 0 { // today, and every week back from it
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#5b6472" text-anchor="middle">%s</text>`,
				x+bar/2, h+14, template.HTMLEscapeString(loc.day(d.Day)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped labels only
}
