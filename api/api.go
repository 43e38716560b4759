// Package api serves refundd's native v1 HTTP API: JSON, integer minor
// units, one error envelope {"error":{"code","message","param"}}.
//
// It translates HTTP to refund.Service calls and back; it holds no rule
// about money and never touches storage.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// API is the native v1 surface.
type API struct {
	svc *refund.Service
	log *slog.Logger
	// verify checks a processor notification's signature; nil: the
	// notification route answers that it is not configured.
	verify func(payload []byte, h http.Header) error
}

// Option configures an API.
type Option func(*API)

// WithNotificationVerifier accepts processor notifications whose
// signature verify accepts (webhook.Verifier).
func WithNotificationVerifier(verify func(payload []byte, h http.Header) error) Option {
	return func(a *API) { a.verify = verify }
}

// New returns the native API on svc.
func New(svc *refund.Service, log *slog.Logger, opts ...Option) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{svc: svc, log: log}
	for _, o := range opts {
		o(a)
	}
	return a
}

// route is one native route. Register serves exactly this table and the
// OpenAPI document (openapi.json) is checked against it, route by route and
// query parameter by query parameter: add new routes here, not on the mux.
type route struct {
	method, pattern string
	// query names the query parameters the handler reads; it is handed no
	// others, so this list cannot drift from what the handler uses.
	query  []string
	public bool // served without an API key
	// creates, on a route whose retry must not act twice (one that
	// creates something, or a decision on a refund: cancel, approve,
	// reject, resolve; a discrepancy's resolution; a reconciliation), is the scope it needs: an Idempotency-Key on it
	// replays the first answer, to a caller holding that scope only.
	creates string
	handler http.HandlerFunc
}

// pageQuery is the query of every cursor-paginated list.
var pageQuery = []string{"limit", "cursor"}

func (a *API) routes() []route {
	return []route{
		{method: "GET", pattern: "/healthz", public: true, handler: a.healthz},
		{method: "GET", pattern: "/readyz", public: true, handler: a.readyz},
		{method: "GET", pattern: "/openapi.json", public: true, handler: a.openAPI},
		{method: "GET", pattern: "/docs", public: true, handler: a.docs},
		{method: "POST", pattern: "/v1/orders", creates: refund.ScopeOrdersWrite, handler: a.createOrder},
		{method: "GET", pattern: "/v1/orders", query: append([]string{"reference"}, pageQuery...), handler: a.listOrders},
		{method: "GET", pattern: "/v1/orders/{id}", handler: a.getOrder},
		{method: "POST", pattern: "/v1/refunds", creates: refund.ScopeRefundsWrite, handler: a.createRefund},
		{method: "GET", pattern: "/v1/refunds", query: append([]string{"order_id", "status", "created_gte", "created_lt", "order"}, pageQuery...), handler: a.listRefunds},
		{method: "GET", pattern: "/v1/refunds/{id}", handler: a.getRefund},
		{method: "GET", pattern: "/v1/refunds/{id}/transitions", query: pageQuery, handler: a.listTransitions},
		// A decision is no creation, but a retry after a lost reply must
		// answer the decision, not that the refund has moved on.
		{method: "POST", pattern: "/v1/refunds/{id}/cancel", creates: refund.ScopeRefundsWrite, handler: a.cancelRefund},
		{method: "POST", pattern: "/v1/refunds/{id}/sync", handler: a.syncRefund},
		{method: "POST", pattern: "/v1/refunds/{id}/resolve", creates: refund.ScopeRefundsReview, handler: a.resolveRefund},
		{method: "POST", pattern: "/v1/refunds/{id}/approve", creates: refund.ScopeRefundsApprove, handler: a.approveRefund},
		{method: "POST", pattern: "/v1/refunds/{id}/reject", creates: refund.ScopeRefundsApprove, handler: a.rejectRefund},
		{method: "GET", pattern: "/v1/refund_policy", handler: a.getPolicy},
		{method: "PUT", pattern: "/v1/refund_policy", handler: a.putPolicy},
		{method: "GET", pattern: "/v1/processors", query: pageQuery, handler: a.listProcessors},
		{method: "POST", pattern: "/v1/processor/notifications", public: true, handler: a.processorNotification},
		// A report retried must answer what the first run found and
		// corrected, not the matches it left behind.
		{method: "POST", pattern: "/v1/reconciliations", query: []string{"map", "settlement_lag", "processor", "from", "to"},
			creates: refund.ScopeRefundsReview, handler: a.reconcile},
		{method: "GET", pattern: "/v1/discrepancies", query: append([]string{"kind", "status"}, pageQuery...), handler: a.listDiscrepancies},
		{method: "POST", pattern: "/v1/discrepancies/{id}/resolve", creates: refund.ScopeRefundsReview, handler: a.resolveDiscrepancy},
		{method: "POST", pattern: "/v1/webhook_endpoints", creates: refund.ScopeWebhooksWrite, handler: a.createEndpoint},
		{method: "GET", pattern: "/v1/webhook_endpoints", query: pageQuery, handler: a.listEndpoints},
		{method: "GET", pattern: "/v1/webhook_endpoints/{id}", handler: a.getEndpoint},
		{method: "POST", pattern: "/v1/webhook_endpoints/{id}", handler: a.updateEndpoint},
		{method: "PATCH", pattern: "/v1/webhook_endpoints/{id}", handler: a.updateEndpoint},
		{method: "DELETE", pattern: "/v1/webhook_endpoints/{id}", handler: a.deleteEndpoint},
		{method: "GET", pattern: "/v1/webhook_endpoints/{id}/deliveries", query: pageQuery, handler: a.listDeliveries},
		{method: "POST", pattern: "/v1/webhook_endpoints/{id}/test", creates: refund.ScopeWebhooksWrite, handler: a.testEndpoint},
		{method: "POST", pattern: "/v1/webhook_endpoints/{id}/rotate_secret", creates: refund.ScopeWebhooksWrite, handler: a.rotateEndpointSecret},
		{method: "POST", pattern: "/v1/notify_secret", creates: refund.ScopeWebhooksWrite, handler: a.rotateNotifySecret},
		{method: "GET", pattern: "/v1/events", query: append([]string{"type", "refund_id"}, pageQuery...), handler: a.listEvents},
		{method: "GET", pattern: "/v1/events/{id}", handler: a.getEvent},
		{method: "GET", pattern: "/v1/audit", query: append([]string{"object_id", "action"}, pageQuery...), handler: a.listAudit},
		{method: "GET", pattern: "/v1/invoices", query: invoiceQuery, handler: a.listInvoices},
		{method: "GET", pattern: "/v1/invoices/{id}", handler: a.getInvoice},
		{method: "GET", pattern: "/v1/invoices/{id}/xml", handler: a.getInvoiceXML},
		{method: "GET", pattern: "/v1/invoices/{id}/qr", handler: a.getInvoiceQR},
		{method: "GET", pattern: "/v1/invoice_config", handler: a.getInvoiceConfig},
		{method: "PUT", pattern: "/v1/invoice_config", handler: a.putInvoiceConfig},
		{method: "POST", pattern: "/v1/orders/{id}/invoice", creates: refund.ScopeOrdersWrite, handler: a.issueInvoice},
		{method: "POST", pattern: "/v1/orders/{id}/voids", creates: refund.ScopeOrdersWrite, handler: a.voidOrder},
		{method: "POST", pattern: "/v1/orders/{id}/chargebacks", creates: refund.ScopeOrdersWrite, handler: a.chargebackOrder},
	}
}

// Mux is where every surface registers its routes: an *http.ServeMux, or
// the server's, which also records each pattern so that tests can walk
// every route of every surface.
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Register adds the native routes to mux.
func (a *API) Register(mux Mux) {
	for _, rt := range a.routes() {
		hf := rt.handler
		if rt.creates != "" {
			hf = a.idempotent(rt.creates, hf)
		}
		var h http.Handler = a.onlyQuery(rt.query, hf)
		if !rt.public {
			h = a.auth(h)
		}
		mux.Handle(rt.method+" "+rt.pattern, h)
	}
	// Anything else under /v1/ answers in the envelope, not the mux's text.
	CatchAll(mux, "/v1/", refund.ENotFound, a.fail)
}

// CatchAll registers prefix, a subtree pattern, so that a path below it
// that no route takes, or a method its route does not, is answered by
// fail in the surface's own error shape (NoRoute's error) instead of the
// mux's plain text. The mux still redirects a path missing only its
// trailing slash to the route that has it: a subtree is no exact match.
// prefix may also be one route's path without a method, which then
// answers that path's other methods.
func CatchAll(mux Mux, prefix, notFound string, fail func(http.ResponseWriter, *http.Request, error)) {
	mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, NoRoute(mux, w, r, prefix, notFound))
	})
}

// NoRoute is what a surface's catch-all (the pattern catchAll) answers,
// each in its own error shape: ECodeMethodNotAllowed, with the Allow
// header set on w, when mux routes r's path for other methods, else an
// error with the code notFound.
func NoRoute(mux Mux, w http.ResponseWriter, r *http.Request, catchAll, notFound string) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != catchAll && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return refund.Errorf(notFound, "", "no such route: %s %s", r.Method, r.URL.EscapedPath())
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return refund.Errorf(ECodeMethodNotAllowed, "", "%s is not allowed here; use %s", r.Method, strings.Join(allow, " or "))
}

// multiValued are the query parameters that may be repeated.
var multiValued = map[string]bool{"map": true}

// onlyQuery hands h the query parameters in names and no others. On a
// route that takes query parameters (the lists) an unknown one is refused,
// not ignored: a typo such as stauts= would otherwise list everything
// unfiltered; so is a single-valued one given twice (which would win?).
// CheckQuery refuses a query parameter that is not one of names, and one
// given more than once unless multi names it: a typo must not widen a
// list to everything, and two values must not leave the pick to chance.
// Every surface's lists use it.
func CheckQuery(q url.Values, names []string, multi map[string]bool) error {
	for _, n := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(names, n):
			if len(names) == 0 {
				return refund.Errorf(refund.EInvalidRequest, n, "unknown query parameter %q (this list takes none)", n)
			}
			return refund.Errorf(refund.EInvalidRequest, n, "unknown query parameter %q (this list takes %s)", n, strings.Join(names, ", "))
		case len(q[n]) > 1 && !multi[n]:
			return refund.Errorf(refund.EInvalidRequest, n, "query parameter %q is given %d times; give it once", n, len(q[n]))
		}
	}
	return nil
}

func (a *API) onlyQuery(names []string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			q, kept := r.URL.Query(), url.Values{}
			if len(names) > 0 {
				if err := CheckQuery(q, names, multiValued); err != nil {
					a.fail(w, r, err)
					return
				}
			}
			for _, n := range names {
				if v, ok := q[n]; ok {
					for _, s := range v {
						// Each value is compared with stored text: the
						// same 400 on both stores (refund.CheckLookup).
						if err := refund.CheckLookup(n, s); err != nil {
							a.fail(w, r, err)
							return
						}
					}
					kept[n] = v
				}
			}
			u := *r.URL
			u.RawQuery = kept.Encode()
			r2 := new(http.Request)
			*r2 = *r
			r2.URL = &u
			r = r2
		}
		h(w, r)
	}
}

// statusOf is the native API's one code-to-status table.
var statusOf = map[string]int{
	refund.EInvalidRequest:            http.StatusBadRequest,
	refund.ERateLimited:               http.StatusTooManyRequests,
	refund.EInvalidAmount:             http.StatusBadRequest,
	refund.EAmountExceedsRefundable:   http.StatusUnprocessableEntity,
	refund.EOrderNotFound:             http.StatusNotFound,
	refund.ERefundNotFound:            http.StatusNotFound,
	refund.EMerchantNotFound:          http.StatusNotFound,
	refund.ENotFound:                  http.StatusNotFound,
	refund.EWebhookEndpointNotFound:   http.StatusNotFound,
	refund.EEventNotFound:             http.StatusNotFound,
	refund.EInvoiceNotFound:           http.StatusNotFound,
	refund.EIdempotencyKeyReused:      http.StatusUnprocessableEntity,
	refund.EIdempotencyKeyInUse:       http.StatusConflict,
	refund.EMerchantReferenceReused:   http.StatusConflict,
	refund.EOrderReferenceExists:      http.StatusConflict,
	refund.ERefundNotCancelable:       http.StatusConflict,
	refund.ERefundNotReviewable:       http.StatusConflict,
	refund.ERefundNotAwaitingApproval: http.StatusConflict,
	refund.EDiscrepancyNotFound:       http.StatusNotFound,
	refund.EDiscrepancyResolved:       http.StatusConflict,
	refund.EProcessorAccountNotFound:  http.StatusBadRequest,
	refund.EProcessorAccountRemoved:   http.StatusConflict,
	refund.EProcessorUnsupported:      http.StatusUnprocessableEntity,
	refund.EConflict:                  http.StatusConflict,
	refund.EUnauthorized:              http.StatusUnauthorized,
	refund.EForbidden:                 http.StatusForbidden,
	refund.EProcessorUnavailable:      http.StatusServiceUnavailable,
	refund.ESecretKeyUnavailable:      http.StatusServiceUnavailable,
	refund.EReconciliationAnswerLost:  http.StatusConflict,
	ECodeMethodNotAllowed:             http.StatusMethodNotAllowed,
	ECodeTooLarge:                     http.StatusRequestEntityTooLarge,
	ECodeUnsupportedMedia:             http.StatusUnsupportedMediaType,
}

// Codes only the HTTP edge produces.
const (
	ECodeMethodNotAllowed = "method_not_allowed"
	ECodeTooLarge         = "request_too_large"
	ECodeUnsupportedMedia = "unsupported_media_type"
	// ECodeRouteNotFound is the dialects' catch-alls' 404: a code of its
	// own, so that a refund.ENotFound escaping a handler stays an internal
	// error, logged, and is not answered as a missing route.
	ECodeRouteNotFound = "route_not_found"
)

type envelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// InFieldNames returns err's field and message in a surface's own names
// for the core's fields. names maps a core param, or the name before its
// first "[" or "." ("items" of "items[0].qty"), to the surface's. The
// core's messages about a field begin with its name, so such a message
// is renamed too: a client reads the field it sent, not the core's.
func InFieldNames(err error, names map[string]string) (param, msg string) {
	param, msg = refund.ErrorParam(err), refund.ErrorMessage(err)
	name, ok := names[param]
	if i := strings.IndexAny(param, "[."); !ok && i > 0 {
		name, ok = names[param[:i]]
		name += param[i:]
	}
	if !ok {
		return param, msg
	}
	if strings.HasPrefix(msg, param) {
		msg = name + msg[len(param):]
	}
	return name, msg
}

// SetRetryAfter sets Retry-After, in whole seconds rounded up, when err
// says when to try again (a rate limit, a processor or secret key not
// available now): every surface answers it so.
func SetRetryAfter(w http.ResponseWriter, err error) {
	if d := refund.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
}

// ErrInternal is what a surface answers, once it has logged it, for an
// error whose code its table has no reply for: "internal error", and
// nothing of the error itself (its message, field or Retry-After), which
// is the core's and may say what only the logs should.
var ErrInternal = errors.New("internal error")

// fail writes err in the envelope. Internal errors are logged and reach the
// client only as "internal error".
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := refund.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, refund.EInternal
		a.log.Error("internal error", "method", r.Method, "path", LogPath(r), "err", err)
		err = ErrInternal
	}
	SetRetryAfter(w, err)
	body := errorBody{Code: code, Message: refund.ErrorMessage(err)}
	if p := refund.ErrorParam(err); p != "" {
		body.Param = &p
	}
	writeJSON(w, status, envelope{body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(jsonBody(v))
}

// jsonBody is v as writeJSON writes it.
func jsonBody(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) refund.Principal {
	p, _ := ctx.Value(principalKey{}).(refund.Principal)
	return p
}

// BearerKey extracts the key of an "Authorization: Bearer <key>" header.
func BearerKey(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return "", false
	}
	return strings.TrimSpace(key), true
}

// auth authenticates the bearer key; scopes are checked by the Service.
func (a *API) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := BearerKey(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="refundd"`)
			a.fail(w, r, refund.Errorf(refund.EUnauthorized, "", "missing API key: send Authorization: Bearer <key>"))
			return
		}
		p, err := a.svc.Authenticate(r.Context(), key)
		if err != nil {
			if refund.ErrorCode(err) == refund.EUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="refundd", error="invalid_token"`)
			}
			a.fail(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// CheckCharset refuses a request whose Content-Type declares a charset
// other than UTF-8 (application/json; charset=latin1), with
// ECodeUnsupportedMedia: every surface reads a body as UTF-8, as RFC 8259
// has JSON be, so a client that says otherwise would have its é read as
// another letter, or refused as invalid UTF-8 without saying why. No
// charset, utf-8 in any case, and the common utf8 are UTF-8. A
// Content-Type that does not parse is left to the caller. Every surface
// calls it before reading a body, through CheckJSONBody for a JSON one.
func CheckCharset(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil
	}
	// US-ASCII is UTF-8's first 128 characters: a body in it reads the same.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") && !strings.EqualFold(cs, "us-ascii") {
		return refund.Errorf(ECodeUnsupportedMedia, "Content-Type", "charset %q is not supported: send the body as UTF-8 (charset=utf-8, or no charset)", cs)
	}
	return nil
}

// CheckJSONBody refuses, with ECodeUnsupportedMedia, a request whose
// Content-Type names a media type other than JSON (application/json or a
// +json type), or one that does not parse, and one that declares a
// charset other than UTF-8 (CheckCharset). No Content-Type is JSON. Every
// surface whose body is JSON calls it before reading one: a body sent as
// text/plain or a form is not the JSON the surface documents, however
// well it would parse.
func CheckJSONBody(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return refund.Errorf(ECodeUnsupportedMedia, "", "send the body as application/json")
		}
	}
	return CheckCharset(r)
}

// decode reads one JSON object into v: body size bounded, unknown fields
// and trailing data rejected, numbers never pass through float64 (integer
// fields parse the literal; amounts are int64 minor units).
func decode(r *http.Request, v any) error {
	if err := CheckJSONBody(r); err != nil {
		return err
	}
	// Read the whole body first so an oversized one is reported as such
	// rather than as the syntax error its truncation would cause.
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	var maxErr *http.MaxBytesError
	if len(body) > MaxBodyBytes || errors.As(err, &maxErr) {
		return refund.Errorf(ECodeTooLarge, "", "request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return refund.Errorf(refund.EInvalidRequest, "", "request body could not be read")
	}
	if err := CheckJSON(body, v); err != nil {
		return err
	}
	if nn, ok := v.(nonNullable); ok {
		if err := refuseNulls(body, nn.nonNull()); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return refund.Errorf(refund.EInvalidRequest, "", "request body must be a single JSON object")
	}
	return nil
}

// nonNullable is a request whose optional members may be left out but not
// sent as null: for them null would mean neither "keep" (or "the
// default") nor a value.
type nonNullable interface{ nonNull() []string }

// refuseNulls answers 400 when one of fields is null in body.
func refuseNulls(body []byte, fields []string) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil // not an object: the decoder says so
	}
	for _, f := range fields {
		if v, ok := m[f]; ok && string(bytes.TrimSpace(v)) == "null" {
			return refund.Errorf(refund.EInvalidRequest, f, "%s must not be null: leave it out instead", f)
		}
	}
	return nil
}

// decodeError turns encoding/json's errors decoding body into ones that
// name the field.
func decodeError(err error, body []byte) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return refund.Errorf(refund.EInvalidRequest, "", "request body is empty; send a JSON object")
	case errors.As(err, &typeErr):
		field := TypeErrorPath(body, err)
		if isAmountField(field) {
			return refund.Errorf(refund.EInvalidAmount, field, "%s must be an integer number of minor units", field)
		}
		if field == "" {
			return refund.Errorf(refund.EInvalidRequest, "", "request body must be a JSON object")
		}
		return refund.Errorf(refund.EInvalidRequest, field, "%s must be a JSON %s", field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return refund.Errorf(refund.EInvalidRequest, "", "request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return refund.Errorf(refund.EInvalidRequest, field, "unknown field %q", field)
	}
	return refund.Errorf(refund.EInvalidRequest, "", "request body could not be read")
}

func isAmountField(f string) bool {
	last := f[strings.LastIndex(f, ".")+1:]
	return last == "amount" || strings.HasSuffix(last, "_amount")
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "integer"
	case k == "slice":
		return "array"
	case k == "struct", k == "map", k == "ptr":
		return "object"
	case k == "bool":
		return "boolean"
	}
	return k
}

// query helpers

func queryLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > refund.MaxPageSize {
		return 0, refund.Errorf(refund.EInvalidRequest, "limit", "limit must be an integer from 1 to %d", refund.MaxPageSize)
	}
	return n, nil
}

// queryPage reads a list's limit and its cursor (see queryCursor).
func queryPage(r *http.Request, prefix string) (limit int, cursor string, err error) {
	if limit, err = queryLimit(r); err != nil {
		return 0, "", err
	}
	cursor, err = queryCursor(r, prefix)
	return limit, cursor, err
}

// queryCursor is the cursor of a list whose objects' ids start with
// prefix_: a next_cursor is the id of a page's last object. Anything not
// shaped like such an id (prefix_, then lower-case hex and dashes, as
// ids are made) is refused, as the document says, rather than taken as a
// place in the list: "zzz", or re_zzz, would page from the top again,
// another list's id from wherever it sorts, and upper-case hex sorts
// before every id. An id of that shape that no object has is a place all
// the same (ids are time-ordered: the objects made before it): it is not
// looked up, which would cost every page a read and refuse the cursor of
// an object gone since.
func queryCursor(r *http.Request, prefix string) (string, error) {
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(c, prefix+"_")
	if !ok || rest == "" || len(rest) > 64 || strings.Trim(rest, "0123456789abcdef-") != "" {
		return "", refund.Errorf(refund.EInvalidRequest, "cursor", "cursor must be the next_cursor of a previous page")
	}
	return c, nil
}

// queryTime accepts RFC 3339 or unix seconds.
func queryTime(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	// Unix seconds: digits only (no sign), at most 12, as the document says.
	if len(s) <= 12 && strings.Trim(s, "0123456789") == "" {
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.Unix(n, 0).UTC(), nil
	}
	// RFC 3339 (and so the document's date-time) lets T and Z be lower
	// case; Go's layout does not.
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, refund.Errorf(refund.EInvalidRequest, name, "%s must be an RFC 3339 date-time or unix seconds (at most 12 digits)", name)
	}
	return t.UTC(), nil
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.svc.Ping(ctx); err != nil {
		a.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		return "", refund.Errorf(refund.EInvalidRequest, "id", "invalid id")
	}
	// No store holds such an id; PostgreSQL refused it, SQLite found
	// nothing: the same 400 on both.
	if err := refund.CheckLookup("id", id); err != nil {
		return "", err
	}
	return id, nil
}
