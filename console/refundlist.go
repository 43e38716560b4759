package console

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// refundQuery is the refunds list's filter as the page's form sends it.
type refundQuery struct {
	Status, Surface, Currency, From, To, Min, Max, Reference string
}

func readRefundQuery(q url.Values) refundQuery {
	return refundQuery{Status: q.Get("status"), Surface: q.Get("surface"), Currency: strings.ToUpper(q.Get("currency")),
		From: q.Get("from"), To: q.Get("to"), Min: q.Get("min"), Max: q.Get("max"), Reference: q.Get("reference")}
}

// values is the query again, for links to other pages and the CSV.
func (rq refundQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": rq.Status, "surface": rq.Surface, "currency": rq.Currency, "from": rq.From,
		"to": rq.To, "min": rq.Min, "max": rq.Max, "reference": rq.Reference} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// filter turns the form into the core's filter: days are the merchant's
// (in its time zone), "to" included; amounts are decimals of the chosen
// currency. A reference that names no order matches nothing.
func (c *Console) filter(r *http.Request, s *session, rq refundQuery) (refund.RefundFilter, bool, error) {
	f := refund.RefundFilter{Status: refund.Status(rq.Status), Surface: rq.Surface, Currency: rq.Currency, Limit: refund.MaxPageSize}
	day := func(field, v string) (time.Time, error) {
		t, err := time.ParseInLocation("2006-01-02", v, c.locale(r, s).zone)
		if err != nil {
			return t, errorf(refund.EInvalidRequest, field, "refunds.error.day")
		}
		return t, nil
	}
	var err error
	if rq.From != "" {
		if f.CreatedAfter, err = day("from", rq.From); err != nil {
			return f, false, err
		}
	}
	if rq.To != "" {
		if f.CreatedBefore, err = day("to", rq.To); err != nil {
			return f, false, err
		}
		f.CreatedBefore = f.CreatedBefore.AddDate(0, 0, 1)
	}
	if rq.Min != "" || rq.Max != "" {
		cur, err := money.LookupCurrency(rq.Currency)
		if err != nil {
			return f, false, errorf(refund.EInvalidRequest, "currency", "refunds.error.currency")
		}
		for _, a := range []struct {
			field, v string
			to       *int64
		}{{"min", rq.Min, &f.MinAmount}, {"max", rq.Max, &f.MaxAmount}} {
			if a.v == "" {
				continue
			}
			if *a.to, err = money.ParseDecimal(a.v, cur); err != nil {
				return f, false, errorf(refund.EInvalidAmount, a.field, "refunds.error.amount", a.v, cur.Code)
			}
		}
	}
	if rq.Reference != "" {
		page, err := c.svc.ListOrders(r.Context(), s.principal, refund.OrderFilter{Reference: rq.Reference, Limit: 1})
		if err != nil {
			return f, false, err
		}
		if len(page.Data) == 0 {
			return f, true, nil
		}
		f.OrderID = page.Data[0].ID
	}
	return f, false, nil
}

type refundListView struct {
	base
	Q       refundQuery
	Refunds []*refund.Refund
	// Older and CSV are the queries of the next page and of the CSV
	// download, encoded (url.Values.Encode): template.URL, so the
	// template keeps their & and = (a string in a URL's query is escaped
	// as one value, and the links lost the filter and the cursor).
	Older    template.URL
	CSV      template.URL
	Statuses []refund.Status
	Surfaces []string
}

// refundList lists the merchant's refunds, newest first, filtered by the
// form, a page at a time.
func (c *Console) refundList(w http.ResponseWriter, r *http.Request, s *session) {
	rq := readRefundQuery(r.URL.Query())
	v := refundListView{base: c.base(r, s, "refunds", "refunds.title"), Q: rq, CSV: template.URL(rq.values().Encode()),
		Statuses: []refund.Status{refund.StatusRequiresApproval, refund.StatusPending, refund.StatusProcessing, refund.StatusRequiresReview,
			refund.StatusSucceeded, refund.StatusFailed, refund.StatusCanceled, refund.StatusReversed},
		Surfaces: []string{"native", "console", "gateway", "sgate", "upayments", "paylink", "techrar"}}
	f, none, err := c.filter(r, s, rq)
	if err != nil {
		p, status := c.explain(w, v.loc, r, err)
		v.Problem = p
		c.render(w, r, status, "refunds.html", &v)
		return
	}
	if !none {
		f.Cursor = r.URL.Query().Get("cursor")
		page, err := c.svc.ListRefunds(r.Context(), s.principal, f)
		if err != nil {
			p, status := c.explain(w, v.loc, r, err)
			v.Problem = p
			c.render(w, r, status, "refunds.html", &v)
			return
		}
		v.Refunds = page.Data
		if page.HasMore {
			q := rq.values()
			q.Set("cursor", page.NextCursor)
			v.Older = template.URL(q.Encode())
		}
	}
	c.render(w, r, http.StatusOK, "refunds.html", &v)
}

// refundCSV downloads every refund the filter selects, with the columns
// of `refundd refunds export`.
func (c *Console) refundCSV(w http.ResponseWriter, r *http.Request, s *session) {
	f, none, err := c.filter(r, s, readRefundQuery(r.URL.Query()))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="refunds.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"refund_id", "order_id", "order_reference", "merchant_reference", "status", "amount", "amount_minor",
		"currency", "arn", "rrn", "created_at", "updated_at"})
	refs := map[string]string{}
	for !none {
		page, err := c.svc.ListRefunds(r.Context(), s.principal, f)
		if err != nil {
			c.log.Error("console: refunds csv", "err", err)
			break // the header is out: a cut file is what the client gets
		}
		for _, rf := range page.Data {
			ref, ok := refs[rf.OrderID]
			if !ok {
				if o, err := c.svc.GetOrder(r.Context(), s.principal, rf.OrderID); err == nil {
					ref = o.Reference
				}
				refs[rf.OrderID] = ref
			}
			cur, _ := money.LookupCurrency(rf.Currency)
			_ = cw.Write([]string{rf.ID, rf.OrderID, asText(ref), asText(rf.MerchantReference), string(rf.Status), money.Format(rf.Amount, cur),
				strconv.FormatInt(rf.Amount, 10), rf.Currency, asText(rf.ARN), asText(rf.RRN),
				rf.CreatedAt.UTC().Format(time.RFC3339Nano), rf.UpdatedAt.UTC().Format(time.RFC3339Nano)})
		}
		if !page.HasMore {
			break
		}
		f.Cursor = page.NextCursor
	}
	cw.Flush()
}

// asText keeps a cell that others chose (a reference, the processor's ARN
// and RRN) text when the file is opened in a spreadsheet, which runs a
// cell starting with =, +, - or @ (or a tab or carriage return before
// one) as a formula: =HYPERLINK can send whoever clicks it, with the
// cells it names, elsewhere. A leading quote makes it text (OWASP's CSV
// injection advice); the rest of the cell is unchanged.
func asText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
