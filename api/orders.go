package api

import (
	"context"
	"net/http"
	"time"

	"github.com/refundd/refundd/refund"
)

type orderRequest struct {
	Reference      string          `json:"reference"`
	Currency       string          `json:"currency"`
	Amount         int64           `json:"amount"`
	CapturedAmount *int64          `json:"captured_amount"`
	PaymentMethod  string          `json:"payment_method"`
	Source         refund.Card     `json:"source"`
	Customer       refund.Customer `json:"customer"`
	Items          []itemRequest   `json:"items"`
	Vendors        []vendorRequest `json:"vendors"`
	Description    string          `json:"description"`
	// Processor names the merchant's processor account its refunds go to
	// (default: the merchant's default account, else the node's).
	Processor        string `json:"processor"`
	ProcessorOrderID string `json:"processor_order_id"`
}

// nonNull: as for a refund (refundRequest), a null member is refused, not
// read as left out: captured_amount left out means all of amount, so a
// null one would record more captured than was.
func (orderRequest) nonNull() []string {
	return []string{"reference", "currency", "amount", "captured_amount", "payment_method", "source", "customer",
		"items", "vendors", "description", "processor", "processor_order_id"}
}

type itemRequest struct {
	ID         string `json:"id"`
	SKU        string `json:"sku"`
	NameEN     string `json:"name_en"`
	NameAR     string `json:"name_ar"`
	Qty        int64  `json:"qty"`
	UnitAmount int64  `json:"unit_amount"`
	TaxRate    string `json:"tax_rate"`
	Taxable    *bool  `json:"taxable"`
	// TaxExemptionCode is why a zero-rated or untaxed line is not taxed
	// (ZATCA's VATEX-SA-...); checked by the core against the line.
	TaxExemptionCode string `json:"tax_exemption_code"`
}

type vendorRequest struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	IBAN   string `json:"iban"`
	Amount int64  `json:"amount"`
}

func (o orderRequest) input() refund.OrderInput {
	in := refund.OrderInput{Reference: o.Reference, Currency: o.Currency, Amount: o.Amount,
		CapturedAmount: o.CapturedAmount, PaymentMethod: o.PaymentMethod, Source: o.Source,
		Customer: o.Customer, Description: o.Description, Processor: o.Processor, ProcessorOrderID: o.ProcessorOrderID}
	for _, it := range o.Items {
		in.Items = append(in.Items, refund.ItemInput{ID: it.ID, SKU: it.SKU, NameEN: it.NameEN, NameAR: it.NameAR,
			Qty: it.Qty, UnitAmount: it.UnitAmount, TaxRate: it.TaxRate, Taxable: it.Taxable, ExemptionCode: it.TaxExemptionCode})
	}
	for _, v := range o.Vendors {
		in.Vendors = append(in.Vendors, refund.VendorInput{ID: v.ID, Name: v.Name, IBAN: v.IBAN, Amount: v.Amount})
	}
	return in
}

type orderJSON struct {
	ID                  string            `json:"id"`
	Object              string            `json:"object"`
	Reference           string            `json:"reference"`
	Currency            string            `json:"currency"`
	Amount              int64             `json:"amount"`
	CapturedAmount      int64             `json:"captured_amount"`
	RefundedAmount      int64             `json:"refunded_amount"`
	PendingRefundAmount int64             `json:"pending_refund_amount"`
	VoidedAmount        int64             `json:"voided_amount"`
	ChargedBackAmount   int64             `json:"charged_back_amount"`
	RefundableAmount    int64             `json:"refundable_amount"`
	PaymentMethod       string            `json:"payment_method"`
	Source              refund.Card       `json:"source"`
	Customer            refund.Customer   `json:"customer"`
	Description         string            `json:"description"`
	RefundCount         int               `json:"refund_count"`
	Items               []itemJSON        `json:"items"`
	Vendors             []vendorJSON      `json:"vendors"`
	Transactions        []transactionJSON `json:"transactions,omitempty"`
	// Processor is the id of the processor account the order's refunds go
	// to; null: the node's own processor.
	Processor        *string   `json:"processor"`
	ProcessorOrderID *string   `json:"processor_order_id"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

type itemJSON struct {
	ID         string `json:"id"`
	SKU        string `json:"sku"`
	NameEN     string `json:"name_en"`
	NameAR     string `json:"name_ar"`
	Qty        int64  `json:"qty"`
	UnitAmount int64  `json:"unit_amount"`
	TaxRate    string `json:"tax_rate"`
	Taxable    bool   `json:"taxable"`
	// TaxExemptionCode is null when the order did not give one.
	TaxExemptionCode *string `json:"tax_exemption_code"`
	Amount           int64   `json:"amount"`
	RefundedQty      int64   `json:"refunded_qty"`
	PendingQty       int64   `json:"pending_qty"`
	RefundedAmount   int64   `json:"refunded_amount"`
	PendingAmount    int64   `json:"pending_amount"`
}

type vendorJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	IBAN           string `json:"iban"` // masked: the full IBAN never leaves in a reply
	Amount         int64  `json:"amount"`
	RefundedAmount int64  `json:"refunded_amount"`
	PendingAmount  int64  `json:"pending_amount"`
}

type transactionJSON struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	Status         string    `json:"status"`
	Amount         int64     `json:"amount"`
	RefundedAmount int64     `json:"refunded_amount"`
	RefundID       *string   `json:"refund_id"`
	ResponseCode   string    `json:"response_code"`
	Message        string    `json:"message"`
	RRN            *string   `json:"rrn"`
	STAN           *string   `json:"stan"`
	AuthCode       *string   `json:"auth_code"`
	CreatedAt      time.Time `json:"created_at"`
}

func orderOut(o *refund.Order) orderJSON {
	j := orderJSON{ID: o.ID, Object: "order", Reference: o.Reference, Currency: o.Currency, Amount: o.Amount,
		CapturedAmount: o.CapturedAmount, RefundedAmount: o.RefundedAmount, PendingRefundAmount: o.PendingRefundAmount,
		VoidedAmount: o.VoidedAmount, ChargedBackAmount: o.ChargedBackAmount, RefundableAmount: o.Refundable(), PaymentMethod: o.PaymentMethod,
		Source: o.Source, Customer: o.Customer, Description: o.Description, RefundCount: o.RefundCount,
		Items: []itemJSON{}, Vendors: []vendorJSON{}, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		Processor: nullable(o.ProcessorAccountID), ProcessorOrderID: nullable(o.ProcessorOrderID)}
	for _, it := range o.Items {
		j.Items = append(j.Items, itemJSON{ID: it.ID, SKU: it.SKU, NameEN: it.NameEN, NameAR: it.NameAR, Qty: it.Qty,
			UnitAmount: it.UnitAmount, TaxRate: it.TaxRate, Taxable: it.Taxable, TaxExemptionCode: nullable(it.ExemptionCode), Amount: it.Amount,
			RefundedQty: it.RefundedQty, PendingQty: it.PendingQty, RefundedAmount: it.RefundedAmount, PendingAmount: it.PendingAmount})
	}
	for _, v := range o.Vendors {
		j.Vendors = append(j.Vendors, vendorJSON{ID: v.ID, Name: v.Name, IBAN: refund.MaskIBAN(v.IBAN), Amount: v.Amount,
			RefundedAmount: v.RefundedAmount, PendingAmount: v.PendingAmount})
	}
	for _, t := range o.Transactions {
		j.Transactions = append(j.Transactions, transactionJSON{ID: t.ID, Type: t.Type, Status: t.Status, Amount: t.Amount,
			RefundedAmount: t.RefundedAmount, RefundID: nullable(t.RefundID), ResponseCode: t.ResponseCode, Message: t.Message,
			RRN: nullable(t.RRN), STAN: nullable(t.STAN), AuthCode: nullable(t.AuthCode), CreatedAt: t.CreatedAt})
	}
	return j
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type listJSON[T any] struct {
	Object     string  `json:"object"`
	Data       []T     `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

func listOut[S, T any](p refund.Page[S], conv func(S) T) listJSON[T] {
	l := listJSON[T]{Object: "list", Data: make([]T, 0, len(p.Data)), HasMore: p.HasMore, NextCursor: nullable(p.NextCursor)}
	for _, s := range p.Data {
		l.Data = append(l.Data, conv(s))
	}
	return l
}

// pageByID pages a short list held whole (a merchant's webhook endpoints
// or processor accounts), sorted by id, like every other list: limit of
// them (0: refund.MaxPageSize) after the one whose id is cursor, or after
// where it was (ids are time-ordered).
func pageByID[T any](items []T, id func(T) string, limit int, cursor string) refund.Page[T] {
	if limit <= 0 {
		limit = refund.MaxPageSize
	}
	if cursor != "" {
		i := 0
		for i < len(items) && id(items[i]) <= cursor {
			i++
		}
		items = items[i:]
	}
	if len(items) <= limit {
		return refund.Page[T]{Data: items}
	}
	return refund.Page[T]{Data: items[:limit], HasMore: true, NextCursor: id(items[limit-1])}
}

func (a *API) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.svc.CreateOrder(r.Context(), PrincipalFrom(r.Context()), req.input())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, orderOut(o))
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		var o *refund.Order
		if o, err = a.svc.GetOrder(r.Context(), PrincipalFrom(r.Context()), id); err == nil {
			writeJSON(w, http.StatusOK, orderOut(o))
			return
		}
	}
	a.fail(w, r, err)
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := queryPage(r, "ord")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := a.svc.ListOrders(r.Context(), PrincipalFrom(r.Context()),
		refund.OrderFilter{Reference: q.Get("reference"), Cursor: cursor, Limit: limit})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOut(page, orderOut))
}

type adjustmentRequest struct {
	Amount             int64  `json:"amount"`
	Reason             string `json:"reason"`
	ProcessorReference string `json:"processor_reference"`
}

// nonNull: processor_reference is what keeps a repeated void or
// chargeback from applying twice; a null one must not pass for none.
func (adjustmentRequest) nonNull() []string {
	return []string{"amount", "reason", "processor_reference"}
}

type adjustmentJSON struct {
	ID                 string    `json:"id"`
	Object             string    `json:"object"`
	OrderID            string    `json:"order_id"`
	Amount             int64     `json:"amount"`
	AppliedAmount      int64     `json:"applied_amount"`
	Currency           string    `json:"currency"`
	Reason             *string   `json:"reason"`
	ProcessorReference *string   `json:"processor_reference"`
	CreatedAt          time.Time `json:"created_at"`
	Order              orderJSON `json:"order"`
}

func (a *API) voidOrder(w http.ResponseWriter, r *http.Request) { a.adjustOrder(w, r, a.svc.VoidOrder) }

func (a *API) chargebackOrder(w http.ResponseWriter, r *http.Request) {
	a.adjustOrder(w, r, a.svc.ChargebackOrder)
}

// adjustOrder serves a void or a chargeback of the order in the path.
func (a *API) adjustOrder(w http.ResponseWriter, r *http.Request,
	do func(context.Context, refund.Principal, string, refund.AdjustmentInput) (*refund.OrderAdjustment, *refund.Order, error)) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req adjustmentRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	adj, o, err := do(r.Context(), PrincipalFrom(r.Context()), id,
		refund.AdjustmentInput{Amount: req.Amount, Reason: req.Reason, ProcessorReference: req.ProcessorReference})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, adjustmentJSON{ID: adj.ID, Object: adj.Kind, OrderID: adj.OrderID, Amount: adj.Amount,
		AppliedAmount: adj.Applied, Currency: adj.Currency, Reason: nullable(adj.Reason),
		ProcessorReference: nullable(adj.ProcessorReference), CreatedAt: adj.CreatedAt, Order: orderOut(o)})
}
