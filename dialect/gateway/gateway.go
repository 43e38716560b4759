// Package gateway serves the refund API of the 001 seed (a card gateway):
// POST /v1/orders/{id}/refund with {"amount": <integer minor units>,
// "transaction_id": "<capture id>"}, answered with the whole order.
//
// It is a translator onto refund.Service: it decodes the seed's request,
// calls the service and encodes the seed's reply and errors. It holds no
// rule about money and never touches storage; it must not import a store.
//
// Where the seed is silent:
//   - Authentication is refundd's API key as "Authorization: Bearer <key>".
//     No header answers 401 {"message":"Missing authentication
//     information"}; a wrong or revoked key, or one without the scopes,
//     answers 403 {"message":"Unauthorized"}. The key needs refunds:write
//     and, since the reply is the order, orders:read.
//   - {id} is refundd's order id or the merchant's own order reference; the
//     reply's "id" echoes it. A missing or another merchant's order answers
//     404 {"message":"Not Found"}.
//   - Refunds of one order run one at a time, as the seed's 400 "Initial
//     request is still processing." implies: a refund waits (bounded, in
//     the core) for the order's refund in flight; a refund that is itself
//     still processing after the request is answered 200 with the order as
//     it stands (no refund transaction yet), and a retry then gets the 400.
//   - An Idempotency-Key that is a valid reference (1-255 letters, digits
//     or ._:/#-) becomes the refund's merchant reference, unique per
//     merchant on this surface: a retry with the key replays the first
//     answer for 24 hours and, after that, still finds the same refund;
//     the key with another request answers the 422 on Idempotency-Key.
//   - Fields refundd does not keep are fixed: merchant.acquirer_id is
//     "refundd", rule_precedence "mixed", arabic_name and
//     airline.reference are empty, and the seed's nullable fields are null.
//   - A key past its rate (--rate-limit) answers 429 {"message":"Too
//     Many Attempts."} with Retry-After.
//   - A processor that cannot be reached answers 503 {"message":"The
//     payment processor is unavailable; try again later."}, and a node
//     that cannot open the secret a refund needs (its processor
//     account's credential, sealed under a secret key the node was not
//     given) 503 {"message":"The service cannot serve this request now;
//     try again later."}: both are worth retrying, on another node or
//     later, and say when with Retry-After. An order whose processor account was removed answers 422 on
//     "id".
//   - A body whose Content-Type names another media type than JSON, or a
//     charset other than UTF-8, answers 415 {"message":"The request body
//     must be UTF-8 JSON."}.
//   - Another method on the route's path answers 405 {"message":"The GET
//     method is not supported for this route. Supported methods: POST."}
//     with Allow: POST. A path below the route, its trailing slash
//     included, answers 404 {"message":"Not Found"}.
package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

// Gateway is the 001 seed's surface.
type Gateway struct {
	svc *refund.Service
	log *slog.Logger
}

// New returns the gateway dialect on svc.
func New(svc *refund.Service, log *slog.Logger) *Gateway {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gateway{svc: svc, log: log}
}

// Register adds the dialect's route to mux. It sits under the native
// API's /v1/orders/{id} but is more specific, so the two never collide.
// The route's path with any other method is answered here too, in the
// seed's shape, rather than by the native /v1/ catch-all's envelope: a
// client of this surface parses {"message"} only. So is any path below
// the route (its trailing slash included): a 404 {"message":"Not Found"}.
func (g *Gateway) Register(mux api.Mux) {
	mux.HandleFunc("POST "+route, g.refund)
	api.CatchAll(mux, route, api.ECodeRouteNotFound, g.fail)
	api.CatchAll(mux, route+"/", api.ECodeRouteNotFound, g.fail)
}

// route is the dialect's one path.
const route = "/v1/orders/{id}/refund"

// maxOrderID is the longest {id}: a merchant's order reference may have
// 255 characters (refund.ValidReference), refundd's own ids fewer.
const maxOrderID = 255

func (g *Gateway) refund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key, ok := api.BearerKey(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, message{"Missing authentication information"})
		return
	}
	p, err := g.svc.Authenticate(ctx, key)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	api.Idempotent(g.svc, "gateway", refund.ScopeRefundsWrite, p, w, r, g.fail, func(w http.ResponseWriter, r *http.Request) { g.refundAs(w, r, p) })
}

// refundAs serves the refund for the authenticated caller p.
func (g *Gateway) refundAs(w http.ResponseWriter, r *http.Request, p refund.Principal) {
	ctx := r.Context()
	id := r.PathValue("id")
	if id == "" || len(id) > maxOrderID {
		g.fail(w, r, refund.Errorf(refund.EOrderNotFound, "", "no such order"))
		return
	}
	o, err := g.svc.FindOrder(ctx, p, id)
	if refund.ErrorCode(err) == refund.EInvalidRequest {
		// An id no store can hold (refund.CheckLookup) names no order:
		// the path's id answers as an unknown one does.
		err = refund.Errorf(refund.EOrderNotFound, "", "no such order")
	}
	if err != nil {
		g.fail(w, r, err)
		return
	}
	if err := api.CheckJSONBody(r); err != nil {
		g.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBodyBytes+1))
	var maxErr *http.MaxBytesError
	if len(body) > api.MaxBodyBytes || errors.As(err, &maxErr) {
		writeJSON(w, http.StatusRequestEntityTooLarge, message{"The request body is too large."})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message{"The request body could not be read."})
		return
	}
	req, verr := decodeRefund(body)
	if verr != nil {
		writeJSON(w, http.StatusUnprocessableEntity, verr)
		return
	}
	// The seed has no refund reference field: the Idempotency-Key is the
	// refund's merchant reference, so a client (another refundd's
	// connector, whose key is its refund id) finds its refund under it, and
	// a retry after the key's replay window still finds the refund instead
	// of making a second one.
	_, err = g.svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &req.Amount,
		CaptureID: req.TransactionID, MerchantReference: api.KeyReference(r), Surface: "gateway", AwaitInFlight: true})
	if err != nil {
		if refund.ErrorCode(err) == refund.EAmountExceedsRefundable && refund.ErrorParam(err) == "amount" {
			// Worded as the seed's validator would, with the remainder as
			// the core computes it.
			if cur, gerr := g.svc.GetOrder(ctx, p, o.ID); gerr == nil {
				writeJSON(w, http.StatusUnprocessableEntity, invalid("amount",
					"The value must be less than or equal to "+strconv.FormatInt(max(cur.Refundable(), 0), 10)+"."))
				return
			}
		}
		g.fail(w, r, err)
		return
	}
	// The reply is the order after the refund, as the seed answers.
	if o, err = g.svc.GetOrder(ctx, p, o.ID); err != nil {
		g.fail(w, r, err)
		return
	}
	m, err := g.svc.GetMerchant(ctx, p.MerchantID)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orderOut(id, o, m))
}

type message struct {
	Message string `json:"message"`
}

// validationError is the seed's 422 body.
type validationError struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

func invalid(field, text string) *validationError {
	return &validationError{Message: "Data validation failed", Errors: map[string][]string{field: {text}}}
}

// fail is the dialect's one code-to-reply table. Internal errors are
// logged and answered without detail.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, param := refund.ErrorCode(err), refund.ErrorParam(err)
	switch code {
	case refund.EUnauthorized, refund.EForbidden:
		writeJSON(w, http.StatusForbidden, message{"Unauthorized"})
	case refund.EOrderNotFound, api.ECodeRouteNotFound:
		writeJSON(w, http.StatusNotFound, message{"Not Found"})
	case refund.ERefundInProgressOnOrder, refund.EConflict, refund.EIdempotencyKeyInUse:
		writeJSON(w, http.StatusBadRequest, message{"Initial request is still processing."})
	case refund.EIdempotencyKeyReused, refund.EMerchantReferenceReused:
		// The key (which is also the refund's reference) made another
		// refund.
		writeJSON(w, http.StatusUnprocessableEntity, invalid("Idempotency-Key", "The key was already used for a different request."))
	case refund.EInvalidAmount:
		writeJSON(w, http.StatusUnprocessableEntity, invalid(fieldOr(param), "The value must be greater than or equal to 1."))
	case refund.EAmountExceedsRefundable:
		// A capture (transaction_id) with too little left, or a race
		// that took the remainder.
		writeJSON(w, http.StatusUnprocessableEntity, invalid("amount", "The value exceeds the amount left to refund."))
	case refund.EProcessorUnsupported:
		writeJSON(w, http.StatusUnprocessableEntity, invalid(fieldOr(param), refund.ErrorMessage(err)))
	case refund.EProcessorAccountNotFound:
		// The order's processor account was removed: no refund of it can
		// be sent anywhere, so a retry would not help.
		writeJSON(w, http.StatusUnprocessableEntity, invalid("id", "The order's processor account was removed; the order cannot be refunded here."))
	case refund.EInvalidRequest:
		if param == "transaction_id" {
			writeJSON(w, http.StatusUnprocessableEntity, invalid(param, "The selected value is invalid."))
			return
		}
		writeJSON(w, http.StatusUnprocessableEntity, invalid(fieldOr(param), refund.ErrorMessage(err)))
	case api.ECodeUnsupportedMedia:
		writeJSON(w, http.StatusUnsupportedMediaType, message{"The request body must be UTF-8 JSON."})
	case refund.EProcessorUnavailable:
		api.SetRetryAfter(w, err)
		writeJSON(w, http.StatusServiceUnavailable, message{"The payment processor is unavailable; try again later."})
	case refund.ESecretKeyUnavailable:
		// This node cannot open a secret the request needs (it lacks the
		// secret key that sealed it): another node, or this one later,
		// can serve it.
		api.SetRetryAfter(w, err)
		writeJSON(w, http.StatusServiceUnavailable, message{"The service cannot serve this request now; try again later."})
	case refund.ERateLimited:
		api.SetRetryAfter(w, err)
		writeJSON(w, http.StatusTooManyRequests, message{"Too Many Attempts."})
	case api.ECodeMethodNotAllowed:
		// NoRoute has set the Allow header.
		writeJSON(w, http.StatusMethodNotAllowed, message{"The " + r.Method + " method is not supported for this route. Supported methods: " + w.Header().Get("Allow") + "."})
	default:
		g.log.Error("internal error", "surface", "gateway", "method", r.Method, "path", api.LogPath(r), "err", err)
		writeJSON(w, http.StatusInternalServerError, message{"Server Error"})
	}
}

func fieldOr(param string) string {
	if param == "" {
		return "amount"
	}
	return param
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
