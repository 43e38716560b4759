// Package sgate serves the refund API of the 002 seed (SGate):
// POST /orders/{order_id}/refunds with {"amount":"1.35","reason":"...",
// "merchantRefundId":"..."}, and, so a client can poll a pending refund,
// GET /orders/{order_id}/refunds/{refund_id} and GET
// /orders/{order_id}/refunds, all answering the seed's refund object.
//
// It is a translator onto refund.Service: it decodes the seed's request,
// calls the service and encodes the seed's reply and errors. It holds no
// rule about money and never touches storage; it must not import a store.
//
// Where the seed is silent:
//   - Authentication is refundd's API key as "Authorization: Bearer <key>";
//     it needs orders:read to find the order, and refunds:write to
//     refund or refunds:read to look.
//   - {order_id} is refundd's order id or the merchant's own order
//     reference; the reply's orderId echoes it. The refund id is
//     "<refundd order id>_R<n>" (the order's n-th refund) and
//     originTransactionId "<refundd order id>_<n>" (the capture
//     refunded): globally unique, as the seed says, where a reference is
//     unique only per merchant. GET also accepts "<reference>_R<n>".
//   - "amount" is a decimal string with at most two decimal places (the
//     seed's rule) and never more than the order's currency allows; it is
//     parsed exactly by the money package. The reply's amount is a JSON
//     number printed with the currency's decimals (KWD 1.005 is 1.005).
//   - status: pending while the refund is pending or processing, success
//     when it succeeded, fail when it failed, was canceled or was later
//     reversed by the processor.
//   - merchantRefundId is unique per merchant: the same id with the same
//     request replays the first refund; with another request it is 409
//     merchant_reference_reused.
//   - The list answers a JSON array of refund objects, oldest first.
//   - Errors answer {"code":"<refundd error code>","message":"...",
//     "field":"<request field at fault, when there is one>"} with status
//     400 (invalid_request, invalid_amount), 401 (unauthorized), 403
//     (forbidden), 404 (order_not_found, refund_not_found), 409
//     (merchant_reference_reused, conflict), 413 (request_too_large), 415
//     (unsupported_media_type: a body sent as another media type than
//     JSON, or in a charset other than UTF-8), 422
//     (amount_exceeds_refundable, idempotency_key_reused,
//     processor_unsupported, processor_account_not_found), 429
//     (rate_limited, with Retry-After), 503 (processor_unavailable,
//     secret_key_unavailable: this node cannot open the processor
//     account's credential; another node or a later retry can; with
//     Retry-After) or 500
//     (internal).
package sgate

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// SGate is the 002 seed's surface.
type SGate struct {
	svc *refund.Service
	log *slog.Logger
}

// New returns the SGate dialect on svc.
func New(svc *refund.Service, log *slog.Logger) *SGate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SGate{svc: svc, log: log}
}

// Register adds the dialect's routes to mux.
func (s *SGate) Register(mux api.Mux) {
	mux.HandleFunc("POST /orders/{order_id}/refunds", s.create)
	mux.HandleFunc("GET /orders/{order_id}/refunds", s.list)
	mux.HandleFunc("GET /orders/{order_id}/refunds/{refund_id}", s.get)
	// Anything else under /orders/ (no other surface uses it) answers in
	// SGate's error shape, not in the mux's text.
	api.CatchAll(mux, "/orders/", api.ECodeRouteNotFound, s.fail)
}

// maxOrderID is the longest {order_id}: a merchant's order reference may
// have 255 characters (refund.ValidReference), refundd's own ids fewer.
const maxOrderID = 255

// order authenticates the caller and finds the order of the path. It
// writes the error reply itself and returns ok false when it fails.
func (s *SGate) order(w http.ResponseWriter, r *http.Request) (refund.Principal, *refund.Order, bool) {
	key, ok := api.BearerKey(r)
	if !ok {
		s.fail(w, r, refund.Errorf(refund.EUnauthorized, "", "missing API key: send Authorization: Bearer <key>"))
		return refund.Principal{}, nil, false
	}
	p, err := s.svc.Authenticate(r.Context(), key)
	if err != nil {
		s.fail(w, r, err)
		return refund.Principal{}, nil, false
	}
	id := r.PathValue("order_id")
	if id == "" || len(id) > maxOrderID {
		s.fail(w, r, refund.Errorf(refund.EOrderNotFound, "", "no such order"))
		return refund.Principal{}, nil, false
	}
	o, err := s.svc.FindOrder(r.Context(), p, id)
	if err != nil {
		s.fail(w, r, err)
		return refund.Principal{}, nil, false
	}
	return p, o, true
}

func (s *SGate) create(w http.ResponseWriter, r *http.Request) {
	p, o, ok := s.order(w, r)
	if !ok {
		return
	}
	api.Idempotent(s.svc, "sgate", refund.ScopeRefundsWrite, p, w, r, s.fail, func(w http.ResponseWriter, r *http.Request) { s.createFor(w, r, p, o) })
}

// createFor serves a refund of o for the authenticated caller p.
func (s *SGate) createFor(w http.ResponseWriter, r *http.Request, p refund.Principal, o *refund.Order) {
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		s.fail(w, r, err) // the core accepted the currency; this is a bug
		return
	}
	if err := api.CheckJSONBody(r); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBodyBytes+1))
	var maxErr *http.MaxBytesError
	if len(body) > api.MaxBodyBytes || errors.As(err, &maxErr) {
		s.fail(w, r, refund.Errorf(codeTooLarge, "", "request body is larger than %d bytes", api.MaxBodyBytes))
		return
	}
	if err != nil {
		s.fail(w, r, refund.Errorf(refund.EInvalidRequest, "", "request body could not be read"))
		return
	}
	req, err := decodeRefund(body, cur)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ref, err := s.svc.CreateRefund(r.Context(), p, refund.RefundInput{OrderID: o.ID, Amount: &req.Amount,
		Reason: req.Reason, MerchantReference: req.MerchantRefundID, Surface: "sgate"})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, refundOut(r.PathValue("order_id"), o, ref, cur))
}

func (s *SGate) get(w http.ResponseWriter, r *http.Request) {
	p, o, ok := s.order(w, r)
	if !ok {
		return
	}
	notFound := refund.Errorf(refund.ERefundNotFound, "", "no such refund")
	seq, ok := refundSeq(r.PathValue("refund_id"), o)
	if !ok {
		s.fail(w, r, notFound)
		return
	}
	refunds, err := s.refundsOf(r, p, o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(refunds, func(x *refund.Refund) bool { return x.Seq == seq })
	if i < 0 {
		s.fail(w, r, notFound)
		return
	}
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, refundOut(r.PathValue("order_id"), o, refunds[i], cur))
}

func (s *SGate) list(w http.ResponseWriter, r *http.Request) {
	p, o, ok := s.order(w, r)
	if !ok {
		return
	}
	// The list takes no parameters: a filter refundd does not know must
	// not quietly answer everything. Checked once the caller is known, so
	// a caller without credentials hears 401 whatever the query.
	if err := api.CheckQuery(r.URL.Query(), nil, nil); err != nil {
		s.fail(w, r, err)
		return
	}
	refunds, err := s.refundsOf(r, p, o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]refundJSON, 0, len(refunds))
	for _, ref := range refunds {
		out = append(out, refundOut(r.PathValue("order_id"), o, ref, cur))
	}
	writeJSON(w, http.StatusOK, out)
}

// maxListed bounds how many refunds of one order are read; no real order
// has this many.
const maxListed = 1000

// refundsOf returns the order's refunds, oldest first.
func (s *SGate) refundsOf(r *http.Request, p refund.Principal, o *refund.Order) ([]*refund.Refund, error) {
	var all []*refund.Refund
	f := refund.RefundFilter{OrderID: o.ID, Limit: refund.MaxPageSize}
	for len(all) < maxListed {
		page, err := s.svc.ListRefunds(r.Context(), p, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if !page.HasMore {
			break
		}
		f.Cursor = page.NextCursor
	}
	slices.SortFunc(all, func(a, b *refund.Refund) int { return a.Seq - b.Seq })
	return all, nil
}

// refundSeq reads n from a refund id "<orderId>_R<n>", where orderId is
// either form of the order's id.
func refundSeq(id string, o *refund.Order) (int, bool) {
	i := strings.LastIndex(id, "_R")
	if i < 0 {
		return 0, false
	}
	prefix, digits := id[:i], id[i+2:]
	if prefix != o.ID && (o.Reference == "" || prefix != o.Reference) {
		return 0, false
	}
	if digits == "" || len(digits) > 9 || digits[0] == '0' || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
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
	refund.EOrderNotFound:           http.StatusNotFound,
	refund.ERefundNotFound:          http.StatusNotFound,
	refund.EMerchantReferenceReused: http.StatusConflict,
	refund.EConflict:                http.StatusConflict,
	refund.EIdempotencyKeyInUse:     http.StatusConflict,
	refund.EIdempotencyKeyReused:    http.StatusUnprocessableEntity,
	codeTooLarge:                    http.StatusRequestEntityTooLarge,
	api.ECodeUnsupportedMedia:       http.StatusUnsupportedMediaType,
	refund.EAmountExceedsRefundable: http.StatusUnprocessableEntity,
	refund.EProcessorUnsupported:    http.StatusUnprocessableEntity,
	// The order's processor account was removed: it cannot be refunded.
	refund.EProcessorAccountNotFound: http.StatusUnprocessableEntity,
	refund.EProcessorUnavailable:     http.StatusServiceUnavailable,
	// This node cannot open the secret the refund needs: retry elsewhere
	// or later, as for an unavailable processor.
	refund.ESecretKeyUnavailable: http.StatusServiceUnavailable,
	refund.ERateLimited:          http.StatusTooManyRequests,
}

// fields names the core's params as this dialect's request does.
var fields = map[string]string{"merchant_reference": "merchantRefundId"}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// fail writes err in the dialect's error shape. Internal errors are logged
// and reach the client only as "internal error".
func (s *SGate) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := refund.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, refund.EInternal
		s.log.Error("internal error", "surface", "sgate", "method", r.Method, "path", api.LogPath(r), "err", err)
		err = api.ErrInternal
	}
	api.SetRetryAfter(w, err)
	field, msg := api.InFieldNames(err, fields)
	writeJSON(w, status, errorJSON{Code: code, Message: msg, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
