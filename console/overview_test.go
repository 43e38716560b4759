package console_test

import (
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestOverview_FiguresEqualTheAPI: the overview's counts and amounts are
// what the native API lists for the same merchant: refunds made today, and
// two days ago, succeeded and failed, in SAR and KWD.
func TestOverview_FiguresEqualTheAPI(t *testing.T) {
	e := mustStart(t, false)
	refundNow := func(ref string, amount int64) {
		e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q,"amount":%d}`, e.orders[ref], amount), http.StatusCreated, nil)
	}
	refundNow("ORD-KWD-2001", 1005)
	e.clock.Advance(48 * time.Hour)
	refundNow("ORD-SAR-1001", 500)
	refundNow("ORD-SAR-1001", 250)
	refundNow("ORD-SAR-1051", 1000) // card 0051: declined
	refundNow("ORD-KWD-2001", 2000)

	b := e.mustSignIn(e.key)
	p := b.get("/console/")
	if p.status != 200 || !strings.Contains(p.body, `<svg id="chart" role="img"`) {
		t.Fatalf("overview: %d %s", p.status, p.text())
	}
	// The API's view: every refund, by window.
	var list struct {
		Data []struct {
			Amount    int64     `json:"amount"`
			Currency  string    `json:"currency"`
			Status    string    `json:"status"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"data"`
	}
	e.api("GET", "/v1/refunds?limit=100", e.key, "", http.StatusOK, &list)
	now := e.clock.Now().In(time.FixedZone("AST", 3*3600))
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	starts := map[string]time.Time{"today": today, "week": today.AddDate(0, 0, -6), "month": today.AddDate(0, 0, -29)}
	for window, from := range starts {
		var count, succeeded, failed int64
		amounts := map[string]int64{}
		for _, r := range list.Data {
			if r.CreatedAt.Before(from) {
				continue
			}
			count++
			switch r.Status {
			case "succeeded":
				succeeded++
				amounts[r.Currency] += r.Amount
			case "failed":
				failed++
			}
		}
		row := regexp.MustCompile(`(?s)<tr data-window="` + window + `" data-count="(\d+)">.*?</tr>`).FindStringSubmatch(p.body)
		if row == nil {
			t.Fatalf("no %s row:\n%s", window, p.body)
		}
		num := func(attr string) int64 {
			m := regexp.MustCompile(attr + `="(\d+)"`).FindStringSubmatch(row[0])
			if m == nil {
				return 0
			}
			n, _ := strconv.ParseInt(m[1], 10, 64)
			return n
		}
		if num("data-count") != count || num("data-succeeded") != succeeded || num("data-failed") != failed {
			t.Errorf("%s: overview %d/%d/%d, API %d/%d/%d", window, num("data-count"), num("data-succeeded"), num("data-failed"), count, succeeded, failed)
		}
		for cur, want := range amounts {
			m := regexp.MustCompile(`data-currency="` + cur + `" data-amount="(\d+)"`).FindStringSubmatch(row[0])
			if m == nil || m[1] != strconv.FormatInt(want, 10) {
				t.Errorf("%s %s: overview %v, API %d", window, cur, m, want)
			}
		}
	}
	if !strings.Contains(p.text(), "Failure rate over 30 days (failed of those settled): 20.00 %") || !strings.Contains(p.text(), "51 (1)") {
		t.Errorf("failure rate or codes: %s", p.text())
	}
	// The chart's bars carry the same per-day totals.
	if !strings.Contains(p.body, `data-total="4"`) || !strings.Contains(p.body, `data-total="1"`) {
		t.Errorf("chart totals:\n%s", p.body)
	}
}

// TestRefundList_FiltersAndCSV: the refunds list filters by status,
// currency, amount range, day and order reference, pages with a cursor,
// and downloads the filter as CSV with refundd refunds export's columns.
func TestRefundList_FiltersAndCSV(t *testing.T) {
	e := mustStart(t, false)
	for _, r := range []struct {
		ref    string
		amount int64
	}{{"ORD-SAR-1001", 500}, {"ORD-SAR-1001", 250}, {"ORD-SAR-1051", 1000}, {"ORD-KWD-2001", 1005}} {
		e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q,"amount":%d}`, e.orders[r.ref], r.amount), http.StatusCreated, nil)
	}
	b := e.mustSignIn(e.key)
	rows := func(p page) int { return strings.Count(p.body, `<tr data-refund=`) }
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 4},
		{"status=failed", 1},
		{"currency=SAR", 3},
		{"currency=SAR&min=2.50&max=5.00", 2},
		{"currency=KWD&min=1.005", 1},
		{"reference=ORD-SAR-1001", 2},
		{"reference=ORD-NOPE", 0},
		{"from=2026-03-01&to=2026-03-01", 4},
		{"from=2026-03-02", 0},
		{"surface=sgate", 0},
	} {
		p := b.get("/console/refunds?" + tc.query)
		if p.status != 200 || rows(p) != tc.want {
			t.Errorf("%q: %d, %d rows, want %d: %s", tc.query, p.status, rows(p), tc.want, p.text())
		}
	}
	if p := b.get("/console/refunds?min=1.00"); p.status != http.StatusBadRequest || !strings.Contains(p.text(), "choose a currency") {
		t.Errorf("an amount without a currency: %d %s", p.status, p.text())
	}
	csvPage := b.get("/console/refunds.csv?currency=SAR")
	lines := strings.Split(strings.TrimSpace(csvPage.body), "\n")
	if csvPage.status != 200 || !strings.HasPrefix(csvPage.header.Get("Content-Type"), "text/csv") || len(lines) != 4 ||
		lines[0] != "refund_id,order_id,order_reference,merchant_reference,status,amount,amount_minor,currency,arn,rrn,created_at,updated_at" ||
		!strings.Contains(csvPage.body, ",ORD-SAR-1001,,succeeded,5.00,500,SAR,") {
		t.Fatalf("csv: %d %s", csvPage.status, csvPage.body)
	}
}

// TestRefundList_LinksKeepTheFilter: the refunds list's "Download CSV"
// and "Older" links carry the filter (and the cursor), as the page's own
// query. The CSV an operator downloads after filtering must hold the
// refunds the page lists, and the next page must be the next page of
// those.
func TestRefundList_LinksKeepTheFilter(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	for range refund.MaxPageSize + 1 {
		e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q,"amount":1}`, e.orders["ORD-SAR-1001"]), http.StatusCreated, nil)
	}
	e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q,"amount":1}`, e.orders["ORD-KWD-2001"]), http.StatusCreated, nil)
	b := e.mustSignIn(e.key)
	list := b.get("/console/refunds?currency=SAR")
	if n := strings.Count(list.body, `<tr data-refund=`); list.status != http.StatusOK || n != refund.MaxPageSize {
		t.Fatalf("the first page: %d, %d rows", list.status, n)
	}
	for _, tc := range []struct {
		name string
		id   string // the link's id
		rows int    // SAR refunds it shows
	}{
		{"Older", "older", 1},
		{"CSV", "csv", refund.MaxPageSize + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			href := html.UnescapeString(regexpFind(t, list.body, `<a href="([^"]*)" id="`+tc.id+`"`))
			p := b.get(href)
			if p.status != http.StatusOK {
				t.Fatalf("%s: %d", href, p.status)
			}
			var currencies []string
			if tc.id == "csv" {
				rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
				if err != nil || len(rows) == 0 {
					t.Fatalf("%s: %v", href, err)
				}
				for _, row := range rows[1:] {
					currencies = append(currencies, row[7])
				}
			} else {
				for _, m := range regexp.MustCompile(`<td class="num"><span class="amount" dir="ltr">[0-9.]+ ([A-Z]{3})</span>`).FindAllStringSubmatch(p.body, -1) {
					currencies = append(currencies, m[1])
				}
			}
			if len(currencies) != tc.rows || slices.ContainsFunc(currencies, func(c string) bool { return c != "SAR" }) {
				t.Fatalf("%s lists %d refunds (%s), want %d in SAR", href, len(currencies), strings.Join(slices.Compact(slices.Sorted(slices.Values(currencies))), ", "), tc.rows)
			}
		})
	}
}
