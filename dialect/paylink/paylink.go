// Package paylink serves the Paylink partner refund API (seed 004) on
// refundd: a partner refunds an order of a merchant linked to it.
//
//	POST /rest/partner/v2/auth
//	  {"apiId":"<partner id>","secretKey":"<partner API key>"} -> {"id_token":"<JWT>"}
//	POST /rest/partner/v2/merchant/{key}/{value}/refund      (Authorization: Bearer <JWT>)
//	  {"orderNumber","refundReason"} -> {"id","orderNumber","amount","currency","refundReason","createDatetime"}
//
// Tokens. A partner exchanges its refundd API key for a short-lived JWT
// (HS256, 30 minutes by default) carrying role PARTNER, the partner id as
// subject and the key's visible prefix. A merchant may exchange its own id
// and key the same way and gets a token of role MERCHANT, which the
// partner routes answer with 403: only PARTNER tokens refund here. API
// keys themselves are not tokens (401). The signing secret is
// server.Config.TokenSecret (--token-secret, REFUNDD_TOKEN_SECRET) and
// must be the same on every node; without one each process makes a random
// secret, so its tokens verify only on that node and only until it
// restarts. Every refund request checks again, in the core, that the key
// behind the token is not revoked and that the merchant is linked to the
// partner: revoking the key or the link takes effect at once, not at the
// token's expiry.
//
// An Idempotency-Key makes a retry answer the first refund, and becomes the
// refund's merchant_reference (the seed's body has no reference field).
//
// The package only translates: the partner-merchant rule and every rule
// about money live in refund.Service. It must not import storage packages.
package paylink

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// Config of the Paylink surface.
type Config struct {
	// Secret signs and verifies tokens (HS256). Empty: a random secret for
	// this process, with a warning in the log.
	Secret []byte
	// TTL is how long a token lives (default 30 minutes).
	TTL time.Duration
	Now func() time.Time
	Log *slog.Logger
}

// Handler serves the Paylink routes.
type Handler struct {
	svc *refund.Service
	cfg Config
}

// New returns the Paylink surface on svc.
func New(svc *refund.Service, cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Minute
	}
	if len(cfg.Secret) == 0 {
		cfg.Secret = randomSecret()
		cfg.Log.Warn("no token secret configured (--token-secret, REFUNDD_TOKEN_SECRET): Paylink tokens are signed " +
			"with a random secret of this process and only verify on the node that issued them, until it restarts")
	}
	return &Handler{svc: svc, cfg: cfg}
}

// Register adds the Paylink routes to mux.
func (h *Handler) Register(mux api.Mux) {
	mux.HandleFunc("POST /rest/partner/v2/auth", h.auth)
	mux.HandleFunc("POST /rest/partner/v2/merchant/{key}/{value}/refund", h.refund)
	// Anything else under the prefix answers in Paylink's error shape, not
	// in the mux's text: an unknown path, a method its route does not take,
	// and a segment that is only an escaped slash (the mux routes none).
	api.CatchAll(mux, "/rest/partner/v2/", api.ECodeRouteNotFound, h.fail)
}

// keys are the seed's merchant lookups ("cr or freelancer: license
// number", mobile, email, accountNo), each a refund.Tx.FindMerchants field.
var keys = map[string]bool{"cr": true, "freelancer": true, "mobile": true, "email": true, "accountNo": true}

type authRequest struct {
	APIID     string `json:"apiId"`
	SecretKey string `json:"secretKey"`
	// PersistToken is sent by Paylink clients; tokens here always expire.
	PersistToken json.RawMessage `json:"persistToken"`
}

// auth exchanges an API key for a token. The apiId must name the key's
// owner; any mismatch is the same 401 as a wrong key.
func (h *Handler) auth(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.APIID == "" || req.SecretKey == "" {
		h.fail(w, r, refund.Errorf(refund.EInvalidRequest, "apiId", "apiId and secretKey are required"))
		return
	}
	p, err := h.svc.Authenticate(r.Context(), req.SecretKey)
	if (err == nil && req.APIID != p.PartnerID && req.APIID != p.MerchantID) || refund.ErrorCode(err) == refund.EUnauthorized {
		err = refund.Errorf(refund.EUnauthorized, "", "invalid apiId or secretKey")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	token, err := h.issue(p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id_token": token})
}

type refundRequest struct {
	// "orderNumber": the merchant's order; refundd's order id or the
	// merchant's own order reference.
	OrderNumber string `json:"orderNumber"`
	// "refundReason": kept on the refund and echoed.
	RefundReason string `json:"refundReason"`
}

type refundReply struct {
	ID             int64       `json:"id"` // "The unique identifier for the refund transaction" (Integer)
	OrderNumber    string      `json:"orderNumber"`
	Amount         json.Number `json:"amount"` // exact, with the currency's decimals
	Currency       string      `json:"currency"`
	RefundReason   string      `json:"refundReason"`
	CreateDatetime int64       `json:"createDatetime"` // milliseconds since the epoch
}

// refund refunds what is left of an order of a merchant linked to the
// calling partner.
func (h *Handler) refund(w http.ResponseWriter, r *http.Request) {
	raw, ok := bearer(r)
	if !ok {
		h.fail(w, r, refund.Errorf(refund.EUnauthorized, "", "missing token: send Authorization: Bearer <id_token from /rest/partner/v2/auth>"))
		return
	}
	c, err := h.verify(raw)
	if err != nil {
		h.fail(w, r, refund.Errorf(refund.EUnauthorized, "", "%v", err))
		return
	}
	if c.Role != RolePartner {
		h.fail(w, r, refund.Errorf(refund.EForbidden, "", "this route needs a token with the PARTNER role"))
		return
	}
	key, value := r.PathValue("key"), r.PathValue("value")
	if !keys[key] {
		h.fail(w, r, refund.Errorf(refund.EInvalidRequest, "key", "key must be one of cr, freelancer, mobile, email, accountNo"))
		return
	}
	if value == "" {
		h.fail(w, r, refund.Errorf(refund.EInvalidRequest, "value", "value is required"))
		return
	}
	if len(value) > 254 {
		// Longer than any email (the longest value a merchant has): the
		// seed's 404 for a value no merchant has, not a malformed request.
		h.fail(w, r, refund.Errorf(refund.EMerchantNotFound, key, "no merchant linked to this partner has that %s", key))
		return
	}
	act, err := h.svc.ActForMerchant(r.Context(), c.principal(), key, value, orderNumberOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.Idempotent(h.svc, "paylink", refund.ScopeRefundsWrite, act, w, r, h.fail, func(w http.ResponseWriter, r *http.Request) { h.refundAs(w, r, act) })
}

// orderNumberOf is the orderNumber r's body names, "" when it names none
// it can read, leaving the body for the refund to read whole: the order
// tells apart merchants linked to the partner that share the path's value
// (refund.Service.ActForMerchant). A body that is not what the seed asks
// for is refused later, once the merchant is known, as before.
func orderNumberOf(r *http.Request) string {
	peek, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), r.Body), r.Body}
	var req struct {
		OrderNumber string `json:"orderNumber"`
	}
	if err != nil || len(peek) > maxBody || json.Unmarshal(peek, &req) != nil {
		return ""
	}
	return req.OrderNumber
}

// refundAs serves a refund for act, the merchant the partner acts for.
func (h *Handler) refundAs(w http.ResponseWriter, r *http.Request, act refund.Principal) {
	var req refundRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case strings.TrimSpace(req.OrderNumber) == "" || len(req.OrderNumber) > 255:
		h.fail(w, r, refund.Errorf(refund.EInvalidRequest, "orderNumber", "orderNumber is required (at most 255 characters)"))
		return
	case strings.TrimSpace(req.RefundReason) == "":
		h.fail(w, r, refund.Errorf(refund.EInvalidRequest, "refundReason", "refundReason is required"))
		return
	}
	ctx := r.Context()
	o, err := h.svc.FindOrder(ctx, act, req.OrderNumber)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The seed's body has no refund reference: the Idempotency-Key stands
	// for one, so a client (another refundd's connector, whose key is its
	// refund id) finds its refund under it, and a retry after the key's 24
	// hours still answers the same refund.
	ref, err := h.svc.CreateRefund(ctx, act, refund.RefundInput{OrderID: o.ID, Reason: req.RefundReason,
		MerchantReference: api.KeyReference(r), Surface: "paylink"})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if why := ref.Unpaid(); why != "" {
		// The seed's reply has no status: a refund the processor declined
		// (or one a replay finds canceled or reversed) must not look like
		// one that was paid.
		writeJSON(w, http.StatusUnprocessableEntity, errorReply{Status: http.StatusUnprocessableEntity,
			Error: http.StatusText(http.StatusUnprocessableEntity), Code: unpaidCode[ref.Status], ID: ref.Number, Message: why})
		return
	}
	cur, err := money.LookupCurrency(ref.Currency)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, refundReply{ID: ref.Number, OrderNumber: req.OrderNumber,
		Amount: json.Number(money.Format(ref.Amount, cur)), Currency: ref.Currency, RefundReason: ref.Reason,
		CreateDatetime: ref.CreatedAt.UnixMilli()})
}

// unpaidCode is the code of a refund that ended unpaid, by its status;
// only this edge produces them (the Service answers such a refund, not an
// error).
var unpaidCode = map[refund.Status]string{refund.StatusFailed: "refund_declined",
	refund.StatusCanceled: "refund_canceled", refund.StatusReversed: "refund_reversed"}

// statusOf is the Paylink surface's one code-to-status table. The seed
// documents 400, 401, 403 and 404; a refund the order cannot take
// (nothing left) is a 400 like any request that cannot be served.
var statusOf = map[string]int{
	refund.EInvalidRequest:          http.StatusBadRequest,
	refund.EInvalidAmount:           http.StatusBadRequest,
	refund.EAmountExceedsRefundable: http.StatusBadRequest,
	refund.EProcessorUnsupported:    http.StatusBadRequest,
	refund.EUnsupportedCurrency:     http.StatusBadRequest,
	refund.EUnauthorized:            http.StatusUnauthorized,
	refund.EForbidden:               http.StatusForbidden,
	refund.EMerchantNotFound:        http.StatusNotFound,
	refund.EOrderNotFound:           http.StatusNotFound,
	refund.EConflict:                http.StatusConflict,
	refund.EIdempotencyKeyInUse:     http.StatusConflict,
	refund.EIdempotencyKeyReused:    http.StatusUnprocessableEntity,
	refund.EMerchantReferenceReused: http.StatusConflict,
	refund.ERefundInProgressOnOrder: http.StatusConflict,
	refund.EProcessorUnavailable:    http.StatusServiceUnavailable,
	refund.ERateLimited:             http.StatusTooManyRequests,
	codeTooLarge:                    http.StatusRequestEntityTooLarge,
	api.ECodeUnsupportedMedia:       http.StatusUnsupportedMediaType,
	api.ECodeMethodNotAllowed:       http.StatusMethodNotAllowed,
	api.ECodeRouteNotFound:          http.StatusNotFound,
	// The order's processor account was removed: it cannot be refunded.
	refund.EProcessorAccountNotFound: http.StatusBadRequest,
	// This node cannot open the secret the refund needs (the processor
	// account's credential): retry elsewhere or later, as for an
	// unavailable processor.
	refund.ESecretKeyUnavailable: http.StatusServiceUnavailable,
}

// errorReply is the error body: the HTTP status and its text, a message,
// and refundd's stable code.
type errorReply struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    string `json:"code"`
	ID      int64  `json:"id,omitempty"` // a declined refund's id
}

// fail writes err. Anything that is not a refund.Error is logged and
// answered only as "internal error".
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := refund.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, refund.EInternal
		h.cfg.Log.Error("internal error", "surface", "paylink", "method", r.Method, "path", api.LogPath(r), "err", err)
		err = api.ErrInternal
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="refundd"`)
	}
	api.SetRetryAfter(w, err)
	_, msg := api.InFieldNames(err, fieldNames)
	writeJSON(w, status, errorReply{Status: status, Error: http.StatusText(status), Message: msg, Code: code})
}

// fieldNames are the seed's names of the core's fields, for messages.
var fieldNames = map[string]string{"order_id": "orderNumber", "reason": "refundReason"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// maxBody bounds a request body; both requests are a few short strings.
const maxBody = 64 << 10

const codeTooLarge = "request_too_large"

// decode reads one JSON object into v: bounded, unknown fields and
// trailing data refused, errors naming the field.
func decode(r *http.Request, v any) error {
	if err := api.CheckJSONBody(r); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if len(body) > maxBody {
		return refund.Errorf(codeTooLarge, "", "request body is larger than %d bytes", maxBody)
	}
	if err != nil {
		return refund.Errorf(refund.EInvalidRequest, "", "request body could not be read")
	}
	return decodeBytes(body, v)
}

func decodeBytes(body []byte, v any) error {
	if err := api.CheckJSON(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return refund.Errorf(refund.EInvalidRequest, "", "request body is empty; send a JSON object")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field := api.TypeErrorPath(body, err)
		return refund.Errorf(refund.EInvalidRequest, field, "%s must be a JSON %s", field, typeErr.Type.Kind())
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return refund.Errorf(refund.EInvalidRequest, field, "unknown field %q", field)
	case err != nil:
		return refund.Errorf(refund.EInvalidRequest, "", "request body must be one JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return refund.Errorf(refund.EInvalidRequest, "", "request body must be one JSON object")
	}
	return nil
}
