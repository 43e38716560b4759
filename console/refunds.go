package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

type refundView struct {
	base
	Refund      *refund.Refund
	Order       *refund.Order
	Transitions []refund.Transition
	Invoice     int64 // the refund invoice, 0 when none
}

// refundNotices are the refund page's notices (message ids), by the code
// in ?m=.
var refundNotices = map[string]string{
	"canceled": "refund.notice.canceled",
}

func (c *Console) refund(w http.ResponseWriter, r *http.Request, s *session) {
	c.showRefund(w, r, s, http.StatusOK, nil)
}

func (c *Console) showRefund(w http.ResponseWriter, r *http.Request, s *session, status int, p *problem) {
	ctx := r.Context()
	rf, err := c.svc.GetRefund(ctx, s.principal, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := refundView{base: c.base(r, s, "orders", "refund.title", rf.ID), Refund: rf}
	v.Problem = p
	if id, ok := refundNotices[r.URL.Query().Get("m")]; ok && p == nil {
		v.Notice = v.loc.S(id)
	}
	if v.Transitions, err = c.svc.Transitions(ctx, s.principal, rf.ID); err != nil {
		c.fail(w, r, s, err)
		return
	}
	// A session that may not read orders (an approver's key, whose queue
	// links here) sees the refund without its order and refund invoice.
	if s.principal.Has(refund.ScopeOrdersRead) {
		if v.Order, err = c.svc.GetOrder(ctx, s.principal, rf.OrderID); err != nil {
			c.fail(w, r, s, err)
			return
		}
		invoices, err := c.svc.ListInvoices(ctx, s.principal, refund.InvoiceFilter{RefundID: rf.ID, Type: refund.InvoiceRefund, Limit: 1})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if len(invoices.Data) > 0 {
			v.Invoice = invoices.Data[0].ID
		}
	}
	c.render(w, r, status, "refund.html", &v)
}

// cancelRefund cancels a queued refund; the core decides whether it still
// can be.
func (c *Console) cancelRefund(w http.ResponseWriter, r *http.Request, s *session) {
	rf, err := c.svc.CancelRefund(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		if code := refund.ErrorCode(err); code == refund.ERefundNotFound || code == refund.EInternal {
			c.fail(w, r, s, err)
			return
		}
		p, status := c.explain(w, c.locale(r, s), r, err)
		c.showRefund(w, r, s, status, p)
		return
	}
	http.Redirect(w, r, "/console/refunds/"+url.PathEscape(rf.ID)+"?m=canceled", http.StatusSeeOther)
}

// invoiceXML downloads an invoice's UBL XML (the native API's
// GET /v1/invoices/{id}/xml, for a browser that has a session, not a key).
func (c *Console) invoiceXML(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.fail(w, r, s, refund.Errorf(refund.EInvoiceNotFound, "", "no such invoice"))
		return
	}
	v, err := c.svc.GetInvoice(r.Context(), s.principal, id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	b, err := invoice.XML(v.Invoice)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+fileName(v.Serial)+`.xml"`)
	_, _ = w.Write(b)
}

// fileName keeps a serial safe to put in a header: the merchant chooses
// its prefix.
func fileName(serial string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, serial)
	if name == "" {
		return "invoice"
	}
	return name
}
