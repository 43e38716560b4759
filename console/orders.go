package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/refundd/refundd/refund"
)

// ordersPerPage is the orders list's default page size; ?limit= (up to
// refund.MaxPageSize) changes it.
const ordersPerPage = 25

type ordersView struct {
	base
	Query      string
	NoMatch    bool // a search found nothing
	Orders     []*refund.Order
	Limit      int // non-zero when not the default, to keep it across pages
	NextCursor string
	Paged      bool // not the first page
}

// orders lists the merchant's orders newest first, or finds one by its
// refundd id or the merchant's reference.
func (c *Console) orders(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := ordersView{base: c.base(r, s, "orders", "orders.title"), Query: strings.TrimSpace(q.Get("q"))}
	if v.Query != "" {
		if len(v.Query) > 128 {
			c.fail(w, r, s, errorf(refund.EInvalidRequest, "q", "orders.error.query"))
			return
		}
		o, err := c.svc.FindOrder(r.Context(), s.principal, v.Query)
		switch {
		case err == nil:
			v.Orders = []*refund.Order{o}
		case refund.ErrorCode(err) == refund.EOrderNotFound:
			v.NoMatch = true
		default:
			c.fail(w, r, s, err)
			return
		}
		c.render(w, r, http.StatusOK, "orders.html", &v)
		return
	}
	limit := ordersPerPage
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > refund.MaxPageSize {
			c.fail(w, r, s, errorf(refund.EInvalidRequest, "limit", "orders.error.limit", refund.MaxPageSize))
			return
		}
		limit, v.Limit = n, n
	}
	cursor := q.Get("cursor")
	if len(cursor) > 128 {
		c.fail(w, r, s, errorf(refund.EInvalidRequest, "cursor", "error.cursor"))
		return
	}
	page, err := c.svc.ListOrders(r.Context(), s.principal, refund.OrderFilter{Cursor: cursor, Limit: limit})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Orders, v.NextCursor, v.Paged = page.Data, page.NextCursor, cursor != ""
	c.render(w, r, http.StatusOK, "orders.html", &v)
}

type orderView struct {
	base
	Order       *refund.Order
	Refunds     []refundRow
	MoreRefunds bool // the order has more refunds than one page shows
	// Adjustments are the order's voids and chargebacks, which took room
	// its refunds no longer have.
	Adjustments     []adjustmentRow
	MoreAdjustments bool
	SaleInvoice     int64 // the order's tax invoice, 0 when none
	Result          *refund.Refund
	Form            refundForm
}

// refundRow is a refund in a list, with its refund invoice if it has one.
type refundRow struct {
	*refund.Refund
	Invoice int64
}

// adjustmentRow is a void or chargeback with its credit notes, oldest
// first: none when the order has no tax invoice, one per part applied of
// a chargeback applied in parts.
type adjustmentRow struct {
	*refund.OrderAdjustment
	Notes []*refund.InvoiceView
}

// refundForm is what the refund forms show: a fresh idempotency key for
// each render (so a double submit replays instead of refunding twice) and,
// after an error, what the user typed.
type refundForm struct {
	// Key is the forms' idempotency key, before "-" and the form's kind:
	// new for each render, except after an answer that is no refusal
	// ("the first send is still out", a double click while the processor
	// answers; an internal error, the outcome unknown). The form then
	// keeps the key it was sent with, so sending it again replays that
	// send instead of refunding a second time.
	Key          string
	Kind         string
	Amount       string
	Reason       string
	Queue        bool
	Qty          map[string]string // by item id
	VendorAmount map[string]string // by vendor id
}

func (c *Console) order(w http.ResponseWriter, r *http.Request, s *session) {
	c.showOrder(w, r, s, http.StatusOK, refundForm{}, nil)
}

// showOrder renders the order page; after a failed refund it shows the
// problem with the form as the user filled it in.
func (c *Console) showOrder(w http.ResponseWriter, r *http.Request, s *session, status int, form refundForm, p *problem) {
	ctx := r.Context()
	o, err := c.svc.GetOrder(ctx, s.principal, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := orderView{base: c.base(r, s, "orders", "order.title", orderName(o)), Order: o, Form: form}
	v.Problem = p
	if v.Form.Key == "" {
		v.Form.Key = newToken()
	}
	refunds, err := c.svc.ListRefunds(ctx, s.principal, refund.RefundFilter{OrderID: o.ID, Limit: refund.MaxPageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	adjustments, err := c.svc.ListOrderAdjustments(ctx, s.principal, o.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	invoices, err := c.svc.ListInvoices(ctx, s.principal, refund.InvoiceFilter{OrderID: o.ID, Limit: refund.MaxPageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	byRefund := map[string]int64{}
	byAdjustment := map[string][]*refund.InvoiceView{}
	for _, inv := range invoices.Data { // newest first
		switch {
		case inv.Type == refund.InvoiceSale:
			v.SaleInvoice = inv.ID
		case inv.Type == refund.InvoiceRefund && inv.AdjustmentID != "":
			byAdjustment[inv.AdjustmentID] = append([]*refund.InvoiceView{inv}, byAdjustment[inv.AdjustmentID]...)
		case inv.Type == refund.InvoiceRefund:
			byRefund[inv.RefundID] = inv.ID
		}
	}
	for _, a := range adjustments.Data {
		v.Adjustments = append(v.Adjustments, adjustmentRow{OrderAdjustment: a, Notes: byAdjustment[a.ID]})
	}
	v.MoreAdjustments = adjustments.HasMore
	for _, rf := range refunds.Data {
		v.Refunds = append(v.Refunds, refundRow{Refund: rf, Invoice: byRefund[rf.ID]})
		if rf.ID == r.URL.Query().Get("refund") && p == nil {
			v.Result = rf
		}
	}
	v.MoreRefunds = refunds.HasMore
	c.render(w, r, status, "order.html", &v)
}

func orderName(o *refund.Order) string {
	if o.Reference != "" {
		return o.Reference
	}
	return o.ID
}

// createRefund issues a full, partial, line-item or vendor refund from the
// order page's forms. Amounts are decimals in the order's currency, parsed
// exactly; every rule about what may be refunded is the core's.
func (c *Console) createRefund(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.svc.GetOrder(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	f := r.PostForm
	form := refundForm{Kind: f.Get("kind"), Amount: f.Get("amount"), Reason: f.Get("reason"), Queue: f.Get("queue") != "",
		Qty: map[string]string{}, VendorAmount: map[string]string{}}
	in, err := refundInput(o, f, &form)
	if err == nil {
		var rf *refund.Refund
		if rf, err = c.svc.CreateRefund(r.Context(), s.principal, in); err == nil {
			http.Redirect(w, r, "/console/orders/"+url.PathEscape(o.ID)+"?"+url.Values{"refund": {rf.ID}}.Encode(), http.StatusSeeOther)
			return
		}
		if code := refund.ErrorCode(err); code == refund.EIdempotencyKeyInUse || code == refund.EInternal {
			// Not a refusal: the refund may be made, or being made.
			if key, ok := strings.CutSuffix(in.IdempotencyKey, "-"+form.Kind); ok && key != "" {
				form.Key = key
			}
		}
	}
	p, status := c.explain(w, c.locale(r, s), r, err)
	c.showOrder(w, r, s, status, form, p)
}

// refundInput reads one of the refund forms into a core request, keeping
// what was typed in form so an error can show it again.
func refundInput(o *refund.Order, f url.Values, form *refundForm) (refund.RefundInput, error) {
	in := refund.RefundInput{OrderID: o.ID, Reason: strings.TrimSpace(form.Reason), Queue: form.Queue,
		IdempotencyKey: f.Get("idempotency_key"), Surface: Surface}
	if in.IdempotencyKey == "" {
		return in, errorf(refund.EInvalidRequest, "idempotency_key", "refund.error.incomplete")
	}
	switch form.Kind {
	case "full":
	case "partial":
		amount, err := parseAmount("amount", form.Amount, o.Currency)
		if err != nil {
			return in, err
		}
		in.Amount = &amount
	case "items":
		ids, qtys := f["item_id"], f["qty"]
		for i, id := range ids {
			text := at(qtys, i)
			form.Qty[id] = text
			qty, err := parseQty("qty", text)
			if err != nil {
				return in, err
			}
			if qty > 0 {
				in.Items = append(in.Items, refund.RefundItemInput{ItemID: id, Qty: qty})
			}
		}
		if len(in.Items) == 0 {
			return in, errorf(refund.EInvalidRequest, "qty", "refund.error.no_items")
		}
	case "vendors":
		ids, amounts := f["vendor_id"], f["vendor_amount"]
		for i, id := range ids {
			text := at(amounts, i)
			form.VendorAmount[id] = text
			if strings.TrimSpace(text) == "" {
				continue
			}
			amount, err := parseAmount("vendor_amount", text, o.Currency)
			if err != nil {
				return in, err
			}
			in.Vendors = append(in.Vendors, refund.RefundVendor{VendorID: id, Amount: amount})
		}
		if len(in.Vendors) == 0 {
			return in, errorf(refund.EInvalidRequest, "vendor_amount", "refund.error.no_vendors")
		}
	default:
		return in, errorf(refund.EInvalidRequest, "kind", "refund.error.kind")
	}
	return in, nil
}

func at(xs []string, i int) string {
	if i < len(xs) {
		return xs[i]
	}
	return ""
}
