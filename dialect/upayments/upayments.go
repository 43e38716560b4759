// Package upayments serves the UPayments refund API (seed 003) on refundd.
//
//	POST /api/v1/create-refund               (Authorization: Bearer <merchant API key>)
//	  {"orderId","totalPrice",["customerFirstName","customerEmail","customerMobileNumber","reference","notifyUrl"]}
//	POST /api/v1/create-multivendor-refund   (same key)
//	  {"orderId","refundPayload":[{"refundRequestId","amountToRefund"}],["reference","notifyUrl"]}
//
// For an order without vendor splits, create-refund refunds totalPrice and
// answers the refund ids. For an order split between vendors (the seed's
// "extraMerchant" orders) it moves no money: it answers each vendor's
// figures and the multi-vendor endpoint, where the client says how much
// each vendor refunds; that request is one refund with those vendor
// allocations, refused whole when any vendor would go over what it has
// left.
//
// Amounts are decimals in the order's currency (KWD has 3 places), as a
// JSON number or a numeric string, parsed exactly by package money and
// never through float64. "reference" is the refund's merchant reference:
// the same reference with the same request replays the first answer.
// "notifyUrl" receives the refund's final status, signed, through the
// webhook machinery.
//
// The package only translates: every rule about money lives in
// refund.Service. It must not import storage packages, and it never logs
// an IBAN.
package upayments

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// Handler serves the UPayments routes.
type Handler struct {
	svc  *refund.Service
	log  *slog.Logger
	base func() string
}

// New returns the UPayments surface on svc. base gives the node's public
// base URL for the endpoint the multivendor answer names: configured, not
// the request's Host header, which the caller controls.
func New(svc *refund.Service, log *slog.Logger, base func() string) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, log: log, base: base}
}

const multivendorPath = "/api/v1/create-multivendor-refund"

// Register adds the UPayments routes to mux.
func (h *Handler) Register(mux api.Mux) {
	mux.HandleFunc("POST /api/v1/create-refund", h.createRefund)
	mux.HandleFunc("POST "+multivendorPath, h.createMultivendorRefund)
	// Anything else under /api/v1/ (no other surface uses it) answers in
	// UPayments' error shape, not in the mux's text.
	api.CatchAll(mux, "/api/v1/", api.ECodeRouteNotFound, func(w http.ResponseWriter, r *http.Request, err error) { h.fail(w, r, err, nil) })
}

// createRefundRequest is the seed's request model; lengths are the seed's.
// The customer fields are checked and not kept: refundd already holds the
// customer on the order.
type createRefundRequest struct {
	OrderID              string          `json:"orderId"`    // mandatory, 255
	TotalPrice           json.RawMessage `json:"totalPrice"` // mandatory, a decimal
	CustomerFirstName    string          `json:"customerFirstName"`
	CustomerEmail        string          `json:"customerEmail"`
	CustomerMobileNumber string          `json:"customerMobileNumber"`
	Reference            string          `json:"reference"`
	NotifyURL            string          `json:"notifyUrl"`
}

// mobileRE: the seed gives customerMobileNumber a length of 10 yet its own
// example is "+96512345678" (12), so the number is taken as E.164: an
// optional + and 6 to 15 digits.
var mobileRE = regexp.MustCompile(`^\+?[0-9]{6,15}$`)

func (req *createRefundRequest) validate() error {
	switch {
	case strings.TrimSpace(req.OrderID) == "" || len(req.OrderID) > 255:
		return invalid("orderId", "orderId is required (at most 255 characters)")
	case refund.CheckText("customerFirstName", req.CustomerFirstName, 255) != nil:
		// Not kept, but held to the rule of text that is: a NUL is no
		// name on any surface.
		return refund.CheckText("customerFirstName", req.CustomerFirstName, 255)
	case refund.CheckText("customerEmail", req.CustomerEmail, 250) != nil:
		// Text of the seed's length, not an address: refundd sends it
		// nothing, and the seed's own example is "[email protected]".
		return refund.CheckText("customerEmail", req.CustomerEmail, 250)
	case req.CustomerMobileNumber != "" && !mobileRE.MatchString(req.CustomerMobileNumber):
		return invalid("customerMobileNumber", "customerMobileNumber must be digits, optionally after +")
	}
	if err := validateRefs(req.Reference, req.NotifyURL); err != nil {
		return err
	}
	_, err := decimalText("totalPrice", req.TotalPrice)
	return err
}

func validateRefs(reference, notifyURL string) error {
	switch {
	case len(reference) > 255:
		return invalid("reference", "reference is at most 255 characters")
	case len(notifyURL) > 255:
		return invalid("notifyUrl", "notifyUrl is at most 255 characters")
	}
	return nil
}

func invalid(param, msg string) error {
	return refund.Errorf(refund.EInvalidRequest, param, "%s", msg)
}

// decimalText returns the text of an amount sent as a JSON number (10,
// 10.250) or a numeric string ("10.250"); the money package then parses
// it exactly in the order's currency.
func decimalText(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", invalid(field, field+" is required")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err == nil && s != "" {
			return s, nil
		}
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return string(raw), nil
	}
	return "", refund.Errorf(refund.EInvalidAmount, field, "%s must be a number or a numeric string", field)
}

// parseAmount parses an amount exactly in the given currency.
func parseAmount(field string, raw json.RawMessage, currency string) (int64, error) {
	s, err := decimalText(field, raw)
	if err != nil {
		return 0, err
	}
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return 0, err
	}
	n, err := money.ParseDecimal(s, cur)
	if err != nil {
		return 0, refund.Errorf(refund.EInvalidAmount, field, "%s: %v", field, err)
	}
	return n, nil
}

type refundData struct {
	OrderID       string `json:"orderId"`
	RefundOrderID string `json:"refundOrderId"`
	RefundARN     string `json:"refundArn"`
}

type reply struct {
	Status  bool   `json:"status"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

const refundedMessage = "Refund invoice generated successfully"

// multivendorData answers create-refund for a split order: the figures of
// every vendor and where to send the per-vendor refund.
type multivendorData struct {
	OrderID             string       `json:"orderId"`
	IsMultivendorRefund bool         `json:"isMultivendorRefund"`
	RefundPayload       []vendorJSON `json:"refundPayload"`
	Endpoint            string       `json:"multivendor_refund_end_point"`
}

// vendorJSON is one vendor's figures. totalPaid is a string with the
// currency's decimals, the others JSON numbers, as in the seed.
type vendorJSON struct {
	RefundRequestID string      `json:"refundRequestId"`
	IBANNumber      string      `json:"ibanNumber"`
	TotalPaid       string      `json:"totalPaid"`
	RefundedAmount  json.Number `json:"refundedAmount"` // refunded or on its way
	RemainingLimit  json.Number `json:"remainingLimit"`
	AmountToRefund  json.Number `json:"amountToRefund"`
	MerchantType    string      `json:"merchantType"`
}

func (h *Handler) createRefund(w http.ResponseWriter, r *http.Request) {
	p, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	api.Idempotent(h.svc, "upayments", refund.ScopeRefundsWrite, p, w, r, func(w http.ResponseWriter, r *http.Request, err error) { h.fail(w, r, err, nil) }, func(w http.ResponseWriter, r *http.Request) { h.createRefundAs(w, r, p) })
}

func (h *Handler) createRefundAs(w http.ResponseWriter, r *http.Request, p refund.Principal) {
	var req createRefundRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if err := req.validate(); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	ctx := r.Context()
	o, err := h.svc.FindOrder(ctx, p, req.OrderID)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	amount, err := parseAmount("totalPrice", req.TotalPrice, o.Currency)
	if err == nil && amount == 0 {
		err = refund.Errorf(refund.EInvalidAmount, "totalPrice", "totalPrice must be more than 0")
	}
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if len(o.Vendors) > 0 {
		// "If you pass extraMerchant data in charge API": no money moves
		// here; the client allocates per vendor at the other endpoint.
		writeJSON(w, http.StatusOK, reply{Status: true, Message: "success", Data: multivendorData{OrderID: req.OrderID,
			IsMultivendorRefund: true, RefundPayload: vendorFigures(o, nil), Endpoint: h.base() + multivendorPath}})
		return
	}
	ref, err := h.svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount,
		MerchantReference: req.Reference, NotifyURL: req.NotifyURL, Surface: "upayments"})
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answer(w, ref, refundData{OrderID: req.OrderID, RefundOrderID: ref.ID, RefundARN: ref.ARN})
}

// multivendorRequest is this server's per-vendor refund: the payload
// create-refund answered, with amountToRefund filled in. The other fields
// of a payload entry may be sent back as they came; they are not read.
type multivendorRequest struct {
	OrderID       string         `json:"orderId"`
	RefundPayload []vendorRefund `json:"refundPayload"`
	Reference     string         `json:"reference"`
	NotifyURL     string         `json:"notifyUrl"`
}

type vendorRefund struct {
	RefundRequestID string          `json:"refundRequestId"`
	AmountToRefund  json.RawMessage `json:"amountToRefund"`
	// Echoed figures, ignored: the stored ones count.
	IBANNumber     json.RawMessage `json:"ibanNumber"`
	TotalPaid      json.RawMessage `json:"totalPaid"`
	RefundedAmount json.RawMessage `json:"refundedAmount"`
	RemainingLimit json.RawMessage `json:"remainingLimit"`
	MerchantType   json.RawMessage `json:"merchantType"`
}

// maxVendors matches the core's bound on vendors per order.
const maxVendors = 100

func (req *multivendorRequest) validate() error {
	switch {
	case strings.TrimSpace(req.OrderID) == "" || len(req.OrderID) > 255:
		return invalid("orderId", "orderId is required (at most 255 characters)")
	case len(req.RefundPayload) == 0 || len(req.RefundPayload) > maxVendors:
		return invalid("refundPayload", "refundPayload needs 1 to 100 entries")
	}
	seen := map[string]bool{}
	for _, v := range req.RefundPayload {
		if v.RefundRequestID == "" || len(v.RefundRequestID) > 400 {
			return invalid("refundPayload", "every refundPayload entry needs its refundRequestId")
		}
		if seen[v.RefundRequestID] {
			return invalid("refundPayload", "refundRequestId "+v.RefundRequestID+" appears twice")
		}
		seen[v.RefundRequestID] = true
		if _, err := decimalText("amountToRefund", v.AmountToRefund); err != nil {
			return err
		}
	}
	return validateRefs(req.Reference, req.NotifyURL)
}

type multivendorRefundData struct {
	OrderID             string       `json:"orderId"`
	RefundOrderID       string       `json:"refundOrderId"`
	RefundARN           string       `json:"refundArn"`
	IsMultivendorRefund bool         `json:"isMultivendorRefund"`
	RefundPayload       []vendorJSON `json:"refundPayload"`
}

func (h *Handler) createMultivendorRefund(w http.ResponseWriter, r *http.Request) {
	p, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	api.Idempotent(h.svc, "upayments", refund.ScopeRefundsWrite, p, w, r, func(w http.ResponseWriter, r *http.Request, err error) { h.fail(w, r, err, nil) }, func(w http.ResponseWriter, r *http.Request) { h.createMultivendorRefundAs(w, r, p) })
}

func (h *Handler) createMultivendorRefundAs(w http.ResponseWriter, r *http.Request, p refund.Principal) {
	var req multivendorRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if err := req.validate(); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	ctx := r.Context()
	o, err := h.svc.FindOrder(ctx, p, req.OrderID)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if len(o.Vendors) == 0 {
		h.fail(w, r, invalid("orderId", "this order is not split between vendors: use /api/v1/create-refund"), nil)
		return
	}
	// names maps what the core calls a vendor share back to the client's
	// refundRequestId, so an error names the entry the client sent.
	names := map[string]string{}
	var vendors []refund.RefundVendor
	for _, e := range req.RefundPayload {
		vendorID, ok := vendorOf(o.ID, e.RefundRequestID)
		if !ok {
			h.fail(w, r, invalid("refundPayload", "refundRequestId "+e.RefundRequestID+" is not one of this order's vendors"), nil)
			return
		}
		amount, err := parseAmount("amountToRefund", e.AmountToRefund, o.Currency)
		if err != nil {
			h.fail(w, r, err, nil)
			return
		}
		if amount == 0 {
			continue // an entry sent back untouched refunds nothing
		}
		names["vendors["+vendorID+"]"] = e.RefundRequestID
		names["vendors["+strconv.Itoa(len(vendors))+"]."] = e.RefundRequestID
		vendors = append(vendors, refund.RefundVendor{VendorID: vendorID, Amount: amount})
	}
	if len(vendors) == 0 {
		h.fail(w, r, refund.Errorf(refund.EInvalidAmount, "amountToRefund", "every amountToRefund is 0: nothing to refund"), nil)
		return
	}
	ref, err := h.svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Vendors: vendors,
		MerchantReference: req.Reference, NotifyURL: req.NotifyURL, Surface: "upayments"})
	if err != nil {
		h.fail(w, r, err, names)
		return
	}
	// The figures after this refund: read again, so they include it.
	if o, err = h.svc.GetOrder(ctx, p, o.ID); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answer(w, ref, multivendorRefundData{OrderID: req.OrderID, RefundOrderID: ref.ID, RefundARN: ref.ARN,
		IsMultivendorRefund: true, RefundPayload: vendorFigures(o, ref.Vendors)})
}

// answer writes a refund's outcome: accepted (succeeded, or still on its
// way, when notifyUrl hears the end), or ended unpaid (declined by the
// processor; canceled or reversed, as a replay finds it), which must not
// read as a success.
func (h *Handler) answer(w http.ResponseWriter, ref *refund.Refund, data any) {
	if why := ref.Unpaid(); why != "" {
		writeJSON(w, http.StatusUnprocessableEntity, reply{Status: false, Data: data, Message: why})
		return
	}
	msg := refundedMessage
	if ref.Status == refund.StatusRequiresApproval {
		msg = "Refund request received; it waits for approval"
	}
	writeJSON(w, http.StatusOK, reply{Status: true, Message: msg, Data: data})
}

// vendorFigures lists every vendor's figures; amountToRefund is what the
// given refund shares took from each (0 when none).
func vendorFigures(o *refund.Order, took []refund.RefundVendor) []vendorJSON {
	cur, _ := money.LookupCurrency(o.Currency) // a stored order's currency is valid
	num := func(minor int64) json.Number { return json.Number(money.Format(minor, cur)) }
	out := make([]vendorJSON, 0, len(o.Vendors))
	for _, v := range o.Vendors {
		var amount int64
		for _, t := range took {
			if t.VendorID == v.ID {
				amount += t.Amount
			}
		}
		left := max(v.Refundable(), 0)
		out = append(out, vendorJSON{RefundRequestID: RequestID(o.ID, v.ID), IBANNumber: v.IBAN,
			TotalPaid: money.Format(v.Amount, cur), RefundedAmount: num(v.Amount - left), RemainingLimit: num(left),
			AmountToRefund: num(amount), MerchantType: "vendor"})
	}
	return out
}

// RequestID is the refundRequestId of one vendor share of one order
// (refundd's order id): opaque base64, like the seed's. Binding the order
// in means an id from another order cannot refund a vendor that happens to
// share its vendor id.
func RequestID(orderID, vendorID string) string {
	return base64.StdEncoding.EncodeToString([]byte(orderID + "/" + vendorID))
}

func vendorOf(orderID, requestID string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(requestID)
	if err != nil {
		return "", false
	}
	return strings.CutPrefix(string(b), orderID+"/")
}

func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (refund.Principal, bool) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		h.fail(w, r, refund.Errorf(refund.EUnauthorized, "", "missing API key: send Authorization: Bearer <key>"), nil)
		return refund.Principal{}, false
	}
	p, err := h.svc.Authenticate(r.Context(), key)
	if err != nil {
		h.fail(w, r, err, nil)
		return refund.Principal{}, false
	}
	return p, true
}

// statusOf is the UPayments surface's one code-to-status table.
var statusOf = map[string]int{
	api.ECodeRouteNotFound:          http.StatusNotFound,
	api.ECodeMethodNotAllowed:       http.StatusMethodNotAllowed,
	refund.EInvalidRequest:          http.StatusBadRequest,
	refund.EInvalidAmount:           http.StatusBadRequest,
	refund.EUnsupportedCurrency:     http.StatusBadRequest,
	refund.EUnauthorized:            http.StatusUnauthorized,
	refund.EForbidden:               http.StatusForbidden,
	refund.EOrderNotFound:           http.StatusNotFound,
	refund.EAmountExceedsRefundable: http.StatusUnprocessableEntity,
	refund.EProcessorUnsupported:    http.StatusUnprocessableEntity,
	refund.EMerchantReferenceReused: http.StatusConflict,
	refund.EIdempotencyKeyInUse:     http.StatusConflict,
	refund.EIdempotencyKeyReused:    http.StatusConflict,
	refund.EConflict:                http.StatusConflict,
	refund.ERefundInProgressOnOrder: http.StatusConflict,
	refund.EProcessorUnavailable:    http.StatusServiceUnavailable,
	refund.ERateLimited:             http.StatusTooManyRequests,
	codeTooLarge:                    http.StatusRequestEntityTooLarge,
	api.ECodeUnsupportedMedia:       http.StatusUnsupportedMediaType,
	// The order's processor account was removed: it cannot be refunded.
	refund.EProcessorAccountNotFound: http.StatusUnprocessableEntity,
	// This node cannot open the secret the refund needs (the processor
	// account's credential): retry elsewhere or later, as for an
	// unavailable processor.
	refund.ESecretKeyUnavailable: http.StatusServiceUnavailable,
}

// fieldNames are the seed's names of the core's fields, for messages.
var fieldNames = map[string]string{
	"order_id": "orderId", "amount": "totalPrice", "merchant_reference": "reference", "notify_url": "notifyUrl",
}

// fail writes err as {"status":false,"message"}. Messages speak the
// seed's field names; names maps the core's params for a vendor share
// ("vendors[<vendor id>]", "vendors[<index>].") to the refundRequestId the
// client sent. Anything that is not a refund.Error is
// logged (never with the request body, which may hold IBANs) and answered
// "internal error".
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error, names map[string]string) {
	code := refund.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
		h.log.Error("internal error", "surface", "upayments", "method", r.Method, "path", api.LogPath(r), "err", err)
		err = api.ErrInternal
	}
	param := refund.ErrorParam(err)
	_, msg := api.InFieldNames(err, fieldNames)
	id, ok := names[param] // "vendors[<vendor id>]"
	if i := strings.Index(param, "]."); !ok && i > 0 {
		id, ok = names[param[:i+2]] // "vendors[<index>].<field>"
	}
	if ok {
		msg = "refundRequestId " + id + ": " + msg
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="refundd"`)
	}
	api.SetRetryAfter(w, err)
	writeJSON(w, status, reply{Status: false, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxBody bounds a request body: 100 payload entries fit easily.
const maxBody = 256 << 10

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
		return invalid("", "request body could not be read")
	}
	return decodeBytes(body, v)
}

func decodeBytes(body []byte, v any) error {
	if err := api.CheckJSON(body, v); err != nil {
		return invalid(refund.ErrorParam(err), refund.ErrorMessage(err))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return invalid("", "request body is empty; send a JSON object")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field := api.TypeErrorPath(body, err)
		return invalid(field, field+" must be a JSON "+typeErr.Type.Kind().String())
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(field, "unknown field "+field)
	case err != nil:
		return invalid("", "request body must be one JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("", "request body must be one JSON object")
	}
	return nil
}
