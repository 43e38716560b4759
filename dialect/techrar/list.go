package techrar

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

// Page sizes of the list, as Django REST framework's page-number
// pagination takes them.
const (
	defaultPageSize = 20
	maxPageSize     = refund.MaxPageSize
)

type listJSON struct {
	Count    int           `json:"count"`
	Next     *string       `json:"next"`
	Previous *string       `json:"previous"`
	Results  []invoiceJSON `json:"results"`
}

// pageSize reads page_size as Django REST framework's
// PageNumberPagination does: a positive integer, at most most (a larger
// one, however large, is most); anything else, absent, zero, negative or
// no integer, is the default. DRF refuses no page size.
func pageSize(q url.Values, def, most int) int {
	n, err := strconv.Atoi(q.Get("page_size"))
	switch {
	case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(q.Get("page_size"), "-"):
		return most
	case err != nil || n < 1:
		return def
	}
	return min(n, most)
}

// codeInvalidPage is Django REST framework's answer to a page past the
// last, or one that is no page number: 404 {"detail":"Invalid page."}.
// maxPage bounds the offset a page asks the store to skip.
const codeInvalidPage = "invalid_page"

const maxPage = 10_000

func errInvalidPage() error { return refund.Errorf(codeInvalidPage, "page", "Invalid page.") }

// listQuery is what the invoice list takes.
var listQuery = []string{"page", "page_size", "type", "status", "zatca_status", "serial", "order_id"}

// list serves the caller's invoices, newest first, filtered by type,
// status, zatca_status, serial and order_id (Techrar's integer order id:
// the id of the order's tax invoice).
func (t *Techrar) list(w http.ResponseWriter, r *http.Request) {
	p, m, ok := t.caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if err := api.CheckQuery(q, listQuery, nil); err != nil {
		t.fail(w, r, err)
		return
	}
	// As Django REST framework: a page that is no positive integer is as
	// invalid as one past the last (404), and "last" is the last page.
	page, last := 1, q.Get("page") == "last"
	if s := q.Get("page"); s != "" && !last {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			t.fail(w, r, errInvalidPage())
			return
		}
		page = n
	}
	size := pageSize(q, defaultPageSize, maxPageSize)
	f := refund.InvoiceFilter{Type: refund.InvoiceType(q.Get("type")), Status: refund.InvoiceStatus(q.Get("status")),
		ZATCAStatus: refund.ZATCAStatus(q.Get("zatca_status")), Serial: q.Get("serial"), Offset: (page - 1) * size, Limit: size}
	if s := q.Get("order_id"); s != "" {
		orderID, err := t.orderOf(r, p, s)
		if err != nil {
			t.fail(w, r, err)
			return
		}
		if orderID == "" {
			if page > 1 {
				t.fail(w, r, errInvalidPage())
				return
			}
			writeJSON(w, http.StatusOK, listJSON{Results: []invoiceJSON{}})
			return
		}
		f.OrderID = orderID
	}
	count, err := t.svc.CountInvoices(ctx(r), p, f)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	if last {
		page = max(1, (count+size-1)/size)
		f.Offset = (page - 1) * size
	}
	if page > 1 && f.Offset >= count || page > maxPage {
		// As Django REST framework: only the first page may be empty.
		t.fail(w, r, errInvalidPage())
		return
	}
	res, err := t.svc.ListInvoices(ctx(r), p, f)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	out := listJSON{Count: count, Results: make([]invoiceJSON, 0, len(res.Data))}
	for _, v := range res.Data {
		j, err := invoiceOut(v, m)
		if err != nil {
			t.fail(w, r, err)
			return
		}
		out.Results = append(out.Results, j)
	}
	if page*size < count {
		out.Next = t.pageURL(r, page+1)
	}
	if page > 1 {
		out.Previous = t.pageURL(r, page-1)
	}
	writeJSON(w, http.StatusOK, out)
}

// orderOf resolves Techrar's integer order id (the id of the order's tax
// invoice) to refundd's order id; "" when there is no such order.
func (t *Techrar) orderOf(r *http.Request, p refund.Principal, s string) (string, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return "", refund.Errorf(refund.EInvalidRequest, "order_id", "order_id must be an integer")
	}
	v, err := t.svc.GetInvoice(ctx(r), p, id)
	switch {
	case refund.ErrorCode(err) == refund.EInvoiceNotFound:
		return "", nil
	case err != nil:
		return "", err
	case v.Type != refund.InvoiceSale:
		return "", nil
	}
	return v.OrderID, nil
}

// pageURL is the absolute URL of another page of the same list, on the
// node's public base URL (never the request's Host header).
func (t *Techrar) pageURL(r *http.Request, page int) *string {
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(page))
	s := t.base() + (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String()
	return &s
}

// configJSON is the merchant's invoice configuration.
type configJSON struct {
	AppID           int64   `json:"app_id"`
	SerialPrefix    string  `json:"serial_prefix"`
	SellerName      string  `json:"seller_name"`
	VATNumber       string  `json:"vat_number"`
	IsZATCAEnabled  bool    `json:"is_zatca_enabled"`
	InvoiceProvider string  `json:"invoice_provider"`
	UpdatedAt       *string `json:"updated_at"`
}

func configOut(c *refund.InvoiceConfig, m *refund.Merchant) configJSON {
	j := configJSON{AppID: m.AppID, SerialPrefix: c.SerialPrefix, SellerName: c.SellerName, VATNumber: c.VATNumber,
		IsZATCAEnabled: c.ZATCAEnabled, InvoiceProvider: provider}
	// Unset, the invoices print the merchant's own name and VAT number.
	if j.SellerName == "" {
		j.SellerName = m.Name
	}
	if j.VATNumber == "" {
		j.VATNumber = m.VATNumber
	}
	if !c.UpdatedAt.IsZero() {
		s := c.UpdatedAt.In(refund.InvoiceZone).Format(time.RFC3339)
		j.UpdatedAt = &s
	}
	return j
}

func (t *Techrar) getConfig(w http.ResponseWriter, r *http.Request) {
	p, m, ok := t.caller(w, r)
	if !ok {
		return
	}
	c, err := t.svc.GetInvoiceConfig(ctx(r), p)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, configOut(c, m))
}

// updateConfig changes the fields sent; others keep their value. Unknown
// fields are refused, so a setting refundd does not have is never
// silently dropped.
func (t *Techrar) updateConfig(w http.ResponseWriter, r *http.Request) {
	p, m, ok := t.caller(w, r)
	if !ok {
		return
	}
	body, err := readBody(r)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	var req struct {
		SerialPrefix   *string `json:"serial_prefix"`
		SellerName     *string `json:"seller_name"`
		VATNumber      *string `json:"vat_number"`
		IsZATCAEnabled *bool   `json:"is_zatca_enabled"`
	}
	if _, err := object(body); err != nil {
		t.fail(w, r, err)
		return
	}
	if err := api.CheckJSON(body, &req); err != nil { // field names are case-sensitive
		t.fail(w, r, err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.fail(w, r, refund.Errorf(refund.EInvalidRequest, "", "body must hold only serial_prefix, seller_name, vat_number (strings) and is_zatca_enabled (boolean): %s", jsonProblem(err)))
		return
	}
	c, err := t.svc.UpdateInvoiceConfig(ctx(r), p, refund.InvoiceConfigInput{SerialPrefix: req.SerialPrefix,
		SellerName: req.SellerName, VATNumber: req.VATNumber, ZATCAEnabled: req.IsZATCAEnabled})
	if err != nil {
		t.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, configOut(c, m))
}

// jsonProblem says what encoding/json found wrong, without echoing values.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return typeErr.Field + " has the wrong type"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
