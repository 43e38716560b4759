package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// invoiceQuery is what GET /v1/invoices filters on.
var invoiceQuery = append([]string{"order_id", "refund_id", "adjustment_id", "type", "status", "zatca_status"}, pageQuery...)

type sellerJSON struct {
	Name      string `json:"name"`
	VATNumber string `json:"vat_number"`
}

type invoiceJSON struct {
	ID                      int64                `json:"id"`
	Object                  string               `json:"object"`
	Serial                  string               `json:"serial"`
	Type                    refund.InvoiceType   `json:"type"`
	Status                  refund.InvoiceStatus `json:"status"`
	OrderID                 string               `json:"order_id"`
	RefundID                *string              `json:"refund_id"`
	AdjustmentID            *string              `json:"adjustment_id"` // a void's or chargeback's credit note
	ParentID                *int64               `json:"parent_id"`
	ParentSerial            *string              `json:"parent_serial"`
	RefundInvoices          []int64              `json:"refund_invoices"`
	Currency                string               `json:"currency"`
	Reason                  *string              `json:"reason"`
	Seller                  sellerJSON           `json:"seller"`
	Customer                refund.Customer      `json:"customer"`
	PaymentMethod           string               `json:"payment_method"`
	Lines                   []invoiceLineJSON    `json:"lines"`
	SubTotalAmount          int64                `json:"sub_total_amount"`
	ShippingAmount          int64                `json:"shipping_amount"`
	DiscountAmount          int64                `json:"discount_amount"`
	NetAmount               int64                `json:"net_amount"`
	TotalAmountExcludingTax int64                `json:"total_amount_excluding_tax"`
	TaxAmount               int64                `json:"tax_amount"`
	TotalAmount             int64                `json:"total_amount"`
	TaxRate                 string               `json:"tax_rate"`
	ZATCAStatus             refund.ZATCAStatus   `json:"zatca_status"`
	InvoiceError            *string              `json:"invoice_error"`
	QR                      string               `json:"qr"`
	IssuedAt                time.Time            `json:"issued_at"`
	CreatedAt               time.Time            `json:"created_at"`
	UpdatedAt               time.Time            `json:"updated_at"`
}

type invoiceLineJSON struct {
	ID                      int64  `json:"id"`
	ItemID                  string `json:"item_id"`
	ParentLineID            *int64 `json:"parent_line_id"`
	SKU                     string `json:"sku"`
	NameEN                  string `json:"name_en"`
	NameAR                  string `json:"name_ar"`
	Qty                     int64  `json:"qty"`
	UnitAmount              int64  `json:"unit_amount"`
	Amount                  int64  `json:"amount"`
	DiscountAmount          int64  `json:"discount_amount"`
	NetAmount               int64  `json:"net_amount"`
	TotalAmountExcludingTax int64  `json:"total_amount_excluding_tax"`
	TaxAmount               int64  `json:"tax_amount"`
	TaxRate                 string `json:"tax_rate"`
	Taxable                 bool   `json:"taxable"`
	RefundedQty             int64  `json:"refunded_qty"`
	RefundedAmount          int64  `json:"refunded_amount"`
}

func nullableID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func invoiceOut(v *refund.InvoiceView) (invoiceJSON, error) {
	inv := v.Invoice
	qr, err := invoice.QR(inv)
	if err != nil {
		return invoiceJSON{}, err
	}
	j := invoiceJSON{ID: inv.ID, Object: "invoice", Serial: inv.Serial, Type: inv.Type, Status: inv.Status, OrderID: inv.OrderID,
		RefundID: nullable(inv.RefundID), AdjustmentID: nullable(inv.AdjustmentID), ParentID: nullableID(inv.ParentID),
		ParentSerial: nullable(inv.ParentSerial), RefundInvoices: []int64{}, Currency: inv.Currency, Reason: nullable(inv.Reason),
		Seller: sellerJSON{Name: inv.Seller.Name, VATNumber: inv.Seller.VATNumber}, Customer: inv.Customer,
		PaymentMethod: inv.PaymentMethod, Lines: []invoiceLineJSON{}, SubTotalAmount: inv.SubTotalAmount,
		ShippingAmount: inv.ShippingAmount, DiscountAmount: inv.DiscountAmount, NetAmount: inv.NetAmount,
		TotalAmountExcludingTax: inv.TotalExcludingTax, TaxAmount: inv.TaxAmount, TotalAmount: inv.TotalAmount,
		TaxRate: inv.TaxRate, ZATCAStatus: inv.ZATCAStatus, InvoiceError: nullable(inv.InvoiceError), QR: qr,
		IssuedAt: inv.IssuedAt, CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt}
	for _, c := range v.Refunds {
		j.RefundInvoices = append(j.RefundInvoices, c.ID)
	}
	for _, l := range inv.Lines {
		j.Lines = append(j.Lines, invoiceLineJSON{ID: l.ID, ItemID: l.ItemID, ParentLineID: nullableID(l.ParentLineID), SKU: l.SKU,
			NameEN: l.NameEN, NameAR: l.NameAR, Qty: l.Qty, UnitAmount: l.UnitAmount, Amount: l.Amount, DiscountAmount: l.Discount,
			NetAmount: l.NetAmount, TotalAmountExcludingTax: l.TotalExcludingTax, TaxAmount: l.TaxAmount, TaxRate: l.TaxRate,
			Taxable: l.Taxable, RefundedQty: l.RefundedQty, RefundedAmount: l.RefundedAmount})
	}
	return j, nil
}

// invoiceID reads the {id} of an invoice route; anything but an invoice's
// integer id is a missing invoice.
func invoiceID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, refund.Errorf(refund.EInvoiceNotFound, "", "no such invoice")
	}
	return id, nil
}

// invoice loads the invoice of the path, or writes the error.
func (a *API) invoice(w http.ResponseWriter, r *http.Request) (*refund.InvoiceView, bool) {
	id, err := invoiceID(r)
	if err == nil {
		var v *refund.InvoiceView
		if v, err = a.svc.GetInvoice(r.Context(), PrincipalFrom(r.Context()), id); err == nil {
			return v, true
		}
	}
	a.fail(w, r, err)
	return nil, false
}

func (a *API) writeInvoice(w http.ResponseWriter, r *http.Request, status int, v *refund.InvoiceView) {
	j, err := invoiceOut(v)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, j)
}

func (a *API) getInvoice(w http.ResponseWriter, r *http.Request) {
	if v, ok := a.invoice(w, r); ok {
		a.writeInvoice(w, r, http.StatusOK, v)
	}
}

// getInvoiceXML answers the invoice's UBL 2.1 document.
func (a *API) getInvoiceXML(w http.ResponseWriter, r *http.Request) {
	v, ok := a.invoice(w, r)
	if !ok {
		return
	}
	b, err := invoice.XML(v.Invoice)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `inline; filename="`+v.Serial+`.xml"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// getInvoiceQR answers the payload of the invoice's QR code (base64 TLV);
// a client draws the code itself.
func (a *API) getInvoiceQR(w http.ResponseWriter, r *http.Request) {
	v, ok := a.invoice(w, r)
	if !ok {
		return
	}
	qr, err := invoice.QR(v.Invoice)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "invoice_qr", "invoice_id": v.ID, "serial": v.Serial, "qr": qr})
}

func (a *API) listInvoices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := refund.InvoiceFilter{OrderID: q.Get("order_id"), RefundID: q.Get("refund_id"), AdjustmentID: q.Get("adjustment_id"),
		Type:   refund.InvoiceType(q.Get("type")),
		Status: refund.InvoiceStatus(q.Get("status")), ZATCAStatus: refund.ZATCAStatus(q.Get("zatca_status"))}
	var err error
	if f.Limit, err = queryLimit(r); err != nil {
		a.fail(w, r, err)
		return
	}
	if c := q.Get("cursor"); c != "" {
		if f.Cursor, err = strconv.ParseInt(c, 10, 64); err != nil || f.Cursor <= 0 {
			a.fail(w, r, refund.Errorf(refund.EInvalidRequest, "cursor", "cursor must be the next_cursor of a previous page"))
			return
		}
	}
	page, err := a.svc.ListInvoices(r.Context(), PrincipalFrom(r.Context()), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := listJSON[invoiceJSON]{Object: "list", Data: make([]invoiceJSON, 0, len(page.Data)), HasMore: page.HasMore,
		NextCursor: nullable(page.NextCursor)}
	for _, v := range page.Data {
		j, err := invoiceOut(v)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out.Data = append(out.Data, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// issueInvoice issues the tax invoice of an order recorded before
// invoicing: 201 when issued now, 200 with the one it already has.
func (a *API) issueInvoice(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, created, err := a.svc.IssueInvoice(r.Context(), PrincipalFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a.writeInvoice(w, r, status, v)
}
