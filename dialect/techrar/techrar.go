// Package techrar serves the invoice API of the Techrar seed (merchant
// APIs, "Invoices"): refund lines of a tax invoice, which issues a refund
// invoice (credit note), and read invoices and the invoice configuration.
//
//	POST /order/v1/merchant/invoices/{invoice_id}/refund/   {"comments","refunded_items":[{"id","qty","amount"}]}
//	GET  /order/v1/merchant/invoices/                       ?page&page_size&type&status&zatca_status&serial&order_id
//	GET  /order/v1/merchant/invoices/{invoice_id}/
//	GET  /order/v1/merchant/invoices/config/
//	POST /order/v1/merchant/invoices/config/                {"serial_prefix","seller_name","vat_number","is_zatca_enabled"}
//
// Every request sends "Authorization: Bearer <refundd API key>" and the
// seed's "app-id" header, the merchant's integer app id: missing or not an
// integer is 400, another merchant's is 403. The seed's permission
// can_write_order (refund) is refundd's refunds:write scope, with
// orders:read to find the invoice (as the other dialects find orders);
// reading invoices and the configuration takes orders:read, changing the
// configuration orders:write.
//
// It is a translator onto refund.Service: it decodes the seed's request,
// calls the service and encodes the seed's invoice object. VAT, totals,
// serials and ZATCA statuses all come from the core and package invoice;
// this package holds no rule about money and must not import a store.
//
// Where the seed is silent:
//   - refunded_items[].id is the id of a line of the tax invoice in the
//     path; qty is how many units to refund and amount (a JSON number in
//     the invoice's currency, exact) how much of the line, VAT included.
//     An amount of 0 or none refunds qty units at the line's unit price; a
//     qty of 0 with an amount refunds part of the line's value. A line can
//     never be refunded beyond what was sold, in units or in value.
//     "comments" is the refund reason. An Idempotency-Key header makes a
//     retry answer the first refund, and becomes the refund's
//     merchant_reference (the seed's body has no reference field).
//   - The reply is the refund invoice, with status pending while the
//     refund is in flight, paid once it succeeded and void if it failed
//     (status 200 in every case; transactions[].status says captured,
//     pending or failed). Its zatca_status is aborted, with the seed's
//     invoice_error, when the tax invoice was not reported to ZATCA.
//   - refundd's order and order-line ids are text; Techrar's are integers.
//     The reply's order_id is the id of the order's tax invoice, and
//     item_id, item.id and order_item the id of the tax invoice's line,
//     which stand for them one to one. transactions[].id is the refund's
//     integer number, and provider_details carry refundd's refund id,
//     capture and processor references in the seed's MyFatoorah fields.
//     refundd keeps no catalog or customer records: the nested item block
//     is built from the order line (no images, discount or stock: stock
//     reads in_stock true, qty 0) and customer.id is 0. A tax invoice lists
//     its refund invoices in "refunds" and no transactions; a refund
//     invoice, and a debit note (type debit: a reversed refund's), have
//     refunds null.
//   - Times are Saudi time (+03:00) as in the seed; amounts are JSON
//     numbers printed with the currency's decimals (KWD 1.005).
//   - The list is paginated as Django REST framework does:
//     {"count","next","previous","results"}, page from 1, page_size up to
//     100 (default 20; a larger one is 100, and one that is no positive
//     integer the default, as DRF reads it), newest first; a page past
//     the last (only the first may be empty), or one that is no page
//     number, is 404
//     {"detail":"Invalid page.","code":"invalid_page"}; page=last is the
//     last page.
//   - Errors answer {"detail":"<message>","code":"<refundd error code>"}
//     and, when one field is at fault, "field": 400 (invalid_request,
//     invalid_amount), 401 (unauthorized), 403 (forbidden), 404
//     (invoice_not_found, whatever the body of a refund of it;
//     invalid_page), 409 (idempotency_key_in_use, conflict,
//     merchant_reference_reused), 413
//     (request_too_large), 415 (unsupported_media_type: a body sent as
//     another media type than JSON, or in a charset other than UTF-8),
//     422 (amount_exceeds_refundable, idempotency_key_reused,
//     processor_unsupported, processor_account_not_found), 429
//     (rate_limited, with Retry-After), 503 (processor_unavailable,
//     secret_key_unavailable: this node cannot open the processor
//     account's credential; another node or a later retry can; with
//     Retry-After) or 500
//     (internal).
package techrar

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

// Techrar is the seed's invoice surface.
type Techrar struct {
	svc  *refund.Service
	log  *slog.Logger
	base func() string // the node's public base URL, for page links
}

// New returns the Techrar dialect on svc.
func New(svc *refund.Service, log *slog.Logger, base func() string) *Techrar {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Techrar{svc: svc, log: log, base: base}
}

const base = "/order/v1/merchant/invoices/"

// Register adds the dialect's routes to mux.
func (t *Techrar) Register(mux api.Mux) {
	// {$}: the seed's paths end in a slash, which alone would match
	// every path below them.
	mux.HandleFunc("POST "+base+"{invoice_id}/refund/{$}", t.refund)
	mux.HandleFunc("GET "+base+"{$}", t.list)
	mux.HandleFunc("GET "+base+"{invoice_id}/{$}", t.get)
	mux.HandleFunc("GET "+base+"config/{$}", t.getConfig)
	mux.HandleFunc("POST "+base+"config/{$}", t.updateConfig)
	// Anything else below base answers in Techrar's error shape, not in
	// the mux's text; a path without its trailing slash is still
	// redirected to the route that has it.
	api.CatchAll(mux, base, api.ECodeRouteNotFound, t.fail)
}

// caller authenticates the request: the bearer key, then the app-id
// header, which must be the key's merchant's. It writes the error reply
// itself and returns ok false when it fails.
func (t *Techrar) caller(w http.ResponseWriter, r *http.Request) (refund.Principal, *refund.Merchant, bool) {
	fail := func(err error) (refund.Principal, *refund.Merchant, bool) {
		t.fail(w, r, err)
		return refund.Principal{}, nil, false
	}
	key, ok := api.BearerKey(r)
	if !ok {
		return fail(refund.Errorf(refund.EUnauthorized, "", "Authentication credentials were not provided: send Authorization: Bearer <key>."))
	}
	p, err := t.svc.Authenticate(r.Context(), key)
	if err != nil {
		return fail(err)
	}
	raw := strings.TrimSpace(r.Header.Get("app-id"))
	if raw == "" {
		return fail(refund.Errorf(refund.EInvalidRequest, "app-id", "the app-id header is required"))
	}
	appID, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || appID <= 0 {
		return fail(refund.Errorf(refund.EInvalidRequest, "app-id", "the app-id header must be the merchant's integer app id"))
	}
	if p.MerchantID == "" {
		return fail(refund.Errorf(refund.EForbidden, "", "this key does not act for a merchant"))
	}
	m, err := t.svc.GetMerchant(r.Context(), p.MerchantID)
	if err != nil {
		return fail(err)
	}
	if m.AppID != appID {
		return fail(refund.Errorf(refund.EForbidden, "app-id", "app-id %d does not belong to this key's merchant", appID))
	}
	return p, m, true
}

// ctx marks the request as this surface's, for the audit trail.
func ctx(r *http.Request) context.Context {
	return refund.WithRequest(r.Context(), refund.RequestInfo{Surface: "techrar"})
}

// invoiceID reads the path's {invoice_id}; anything but digits (a sign
// too, which ParseInt would take) is a missing invoice, as Techrar's
// integer path converter has it.
func invoiceID(r *http.Request) (int64, error) {
	s := r.PathValue("invoice_id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] < '0' || s[0] > '9' {
		return 0, refund.Errorf(refund.EInvoiceNotFound, "", "Not found.")
	}
	return id, nil
}

func (t *Techrar) refund(w http.ResponseWriter, r *http.Request) {
	p, m, ok := t.caller(w, r)
	if !ok {
		return
	}
	api.Idempotent(t.svc, "techrar", refund.ScopeRefundsWrite, p, w, r, t.fail, func(w http.ResponseWriter, r *http.Request) { t.refundAs(w, r, p, m) })
}

// refundAs serves a refund for the authenticated caller p of merchant m.
func (t *Techrar) refundAs(w http.ResponseWriter, r *http.Request, p refund.Principal, m *refund.Merchant) {
	// A caller refused is told so before its body is read, as before
	// anything else.
	if err := refund.MayRefundInvoices(p); err != nil {
		t.fail(w, r, err)
		return
	}
	id, err := invoiceID(r)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	body, err := readBody(r)
	var req refundRequest
	if err == nil {
		req, err = decodeRefund(body)
	}
	if err != nil {
		// A missing invoice is missing whatever the body says: a Django
		// REST framework view (Techrar's, by its errors and pages) finds
		// its object before it validates the body, and a client told to
		// fix its body would only then learn that the invoice does not
		// exist. Looked up on this path only: a refund costs no extra read.
		if _, gerr := t.svc.GetInvoice(ctx(r), p, id); refund.ErrorCode(gerr) == refund.EInvoiceNotFound {
			err = gerr
		}
		t.fail(w, r, err)
		return
	}
	// The seed's body has no refund reference: the Idempotency-Key stands
	// for one (see KeyReference).
	ref, v, err := t.svc.RefundInvoice(ctx(r), p, id, req.Lines, refund.RefundInput{Reason: req.Comments,
		MerchantReference: api.KeyReference(r), Surface: "techrar"})
	if err != nil {
		t.fail(w, r, err)
		return
	}
	if v.Refund == nil {
		v.Refund = ref
	}
	out, err := invoiceOut(v, m)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (t *Techrar) get(w http.ResponseWriter, r *http.Request) {
	p, m, ok := t.caller(w, r)
	if !ok {
		return
	}
	id, err := invoiceID(r)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	v, err := t.svc.GetInvoice(ctx(r), p, id)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	out, err := invoiceOut(v, m)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// readBody reads a bounded request body.
func readBody(r *http.Request) ([]byte, error) {
	if err := api.CheckJSONBody(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBodyBytes+1))
	var maxErr *http.MaxBytesError
	if len(body) > api.MaxBodyBytes || errors.As(err, &maxErr) {
		return nil, refund.Errorf(codeTooLarge, "", "request body is larger than %d bytes", api.MaxBodyBytes)
	}
	if err != nil {
		return nil, refund.Errorf(refund.EInvalidRequest, "", "request body could not be read")
	}
	return body, nil
}

// codeTooLarge is produced only at this edge.
const codeTooLarge = "request_too_large"

// statusOf is the dialect's one code-to-status table.
var statusOf = map[string]int{
	api.ECodeRouteNotFound:          http.StatusNotFound,
	api.ECodeMethodNotAllowed:       http.StatusMethodNotAllowed,
	refund.EInvalidRequest:          http.StatusBadRequest,
	refund.EInvalidAmount:           http.StatusBadRequest,
	refund.EUnauthorized:            http.StatusUnauthorized,
	refund.EForbidden:               http.StatusForbidden,
	refund.EInvoiceNotFound:         http.StatusNotFound,
	codeInvalidPage:                 http.StatusNotFound,
	refund.EConflict:                http.StatusConflict,
	refund.EIdempotencyKeyInUse:     http.StatusConflict,
	codeTooLarge:                    http.StatusRequestEntityTooLarge,
	api.ECodeUnsupportedMedia:       http.StatusUnsupportedMediaType,
	refund.EAmountExceedsRefundable: http.StatusUnprocessableEntity,
	refund.EProcessorUnsupported:    http.StatusUnprocessableEntity,
	refund.EIdempotencyKeyReused:    http.StatusUnprocessableEntity,
	refund.EMerchantReferenceReused: http.StatusConflict,
	refund.ERateLimited:             http.StatusTooManyRequests,
	// The order's processor account was removed: it cannot be refunded.
	refund.EProcessorAccountNotFound: http.StatusUnprocessableEntity,
	// The refund could not be sent now, by the processor or by this node
	// (it cannot open the secret the refund needs): retry elsewhere or
	// later.
	refund.EProcessorUnavailable: http.StatusServiceUnavailable,
	refund.ESecretKeyUnavailable: http.StatusServiceUnavailable,
}

type errorJSON struct {
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
}

// fieldNames are the seed's names of the core's fields: the core's
// items[i] are refunded_items[i], its reason the comments, and its amount
// (what the order as a whole has room for) the refunded_items together.
var fieldNames = map[string]string{"items": "refunded_items", "reason": "comments", "amount": "refunded_items"}

// fail writes err in the dialect's error shape. Internal errors are logged
// and reach the client only as "internal error".
func (t *Techrar) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := refund.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, refund.EInternal
		t.log.Error("internal error", "surface", "techrar", "method", r.Method, "path", api.LogPath(r), "err", err)
		err = api.ErrInternal
	}
	api.SetRetryAfter(w, err)
	field, msg := api.InFieldNames(err, fieldNames)
	writeJSON(w, status, errorJSON{Detail: msg, Code: code, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
