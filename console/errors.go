package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// codeCSRF is the one code only the console produces: a form without this
// session's token, or posted from another site.
const codeCSRF = "csrf_failed"

// problem is an error in plain words: the headline of its code and, where
// it helps, the detail: the console's own words, or the core's message
// (which names amounts in the order's currency and the field at fault).
type problem struct {
	Headline string
	Detail   string
	// DetailLang is the detail's language when it is not the page's: the
	// core speaks English only.
	DetailLang string
	Field      string
}

// reply is how the console answers one error code: a status and the
// message id of its headline.
type reply struct {
	status   int
	headline string
	detail   bool // show the detail under the headline
}

// replies is the console's one code-to-reply table; headlines are message
// ids ("error." + code).
var replies = map[string]reply{
	refund.EInvalidRequest:            {http.StatusBadRequest, "error.invalid_request", true},
	refund.EInvalidAmount:             {http.StatusUnprocessableEntity, "error.invalid_amount", true},
	refund.EAmountExceedsRefundable:   {http.StatusUnprocessableEntity, "error.amount_exceeds_refundable", true},
	refund.EOrderNotFound:             {http.StatusNotFound, "error.order_not_found", false},
	refund.ERefundNotFound:            {http.StatusNotFound, "error.refund_not_found", false},
	refund.EInvoiceNotFound:           {http.StatusNotFound, "error.invoice_not_found", false},
	refund.EWebhookEndpointNotFound:   {http.StatusNotFound, "error.webhook_endpoint_not_found", false},
	refund.EMerchantNotFound:          {http.StatusNotFound, "error.merchant_not_found", false},
	refund.ENotFound:                  {http.StatusNotFound, "error.not_found", false},
	refund.EIdempotencyKeyReused:      {http.StatusConflict, "error.idempotency_key_reused", false},
	refund.EIdempotencyKeyInUse:       {http.StatusConflict, "error.idempotency_key_in_use", false},
	refund.EMerchantReferenceReused:   {http.StatusConflict, "error.merchant_reference_reused", true},
	refund.ERefundNotReviewable:       {http.StatusConflict, "error.refund_not_reviewable", true},
	refund.ERefundNotCancelable:       {http.StatusConflict, "error.refund_not_cancelable", true},
	refund.ERefundNotAwaitingApproval: {http.StatusConflict, "error.refund_not_awaiting_approval", true},
	refund.EDiscrepancyNotFound:       {http.StatusNotFound, "error.discrepancy_not_found", false},
	refund.EDiscrepancyResolved:       {http.StatusConflict, "error.discrepancy_already_resolved", true},
	refund.EConflict:                  {http.StatusConflict, "error.conflict", false},
	refund.ERefundInProgressOnOrder:   {http.StatusConflict, "error.refund_in_progress", false},
	refund.EUnauthorized:              {http.StatusUnauthorized, "error.unauthorized", false},
	refund.EForbidden:                 {http.StatusForbidden, "error.forbidden", true},
	refund.ERateLimited:               {http.StatusTooManyRequests, "error.rate_limited", false},
	refund.EProcessorUnavailable:      {http.StatusServiceUnavailable, "error.processor_unavailable", false},
	refund.ESecretKeyUnavailable:      {http.StatusServiceUnavailable, "error.secret_key_unavailable", false},
	refund.EUnsupportedCurrency:       {http.StatusUnprocessableEntity, "error.unsupported_currency", true},
	refund.EProcessorUnsupported:      {http.StatusUnprocessableEntity, "error.processor_unsupported", true},
	refund.EProcessorAccountNotFound:  {http.StatusUnprocessableEntity, "error.processor_account_not_found", false}, // removed: no refund of the order can be sent
	codeCSRF:                          {http.StatusForbidden, "error.csrf_failed", false},
	refund.EInternal:                  {http.StatusInternalServerError, "error.internal", false},
}

// localized is an error the console itself finds (a typed amount that is
// not one): its words are a message of the catalogues, so it reads in the
// page's language; it wraps the refund.Error of its code, whose message is
// the English words, for logs.
type localized struct {
	err  *refund.Error
	id   string
	args []any
}

func (e *localized) Error() string { return e.err.Error() }
func (e *localized) Unwrap() error { return e.err }

// errorf returns an error of code about field, in the words of message id.
func errorf(code, field, id string, args ...any) error {
	en := locale{catalogue: catalogues["en"]}
	return &localized{err: refund.Errorf(code, field, "%s", en.S(id, args...)), id: id, args: args}
}

// explain turns err into words of the page's language and a status, and
// sets w's Retry-After when err says when to try again: every page that
// shows an error answers it so, the sign-in form and the refund form as
// much as an error page. An error that is not a refund.Error (or has a
// code missing from the table) is internal: it is logged and the user
// sees only that something went wrong.
func (c *Console) explain(w http.ResponseWriter, loc locale, r *http.Request, err error) (*problem, int) {
	w.Header().Del("Retry-After") // an earlier explain's, for a refusal this page follows
	rep, ok := replies[refund.ErrorCode(err)]
	if !ok || refund.ErrorCode(err) == refund.EInternal {
		c.log.Error("console: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		rep = replies[refund.EInternal]
		return &problem{Headline: loc.S(rep.headline)}, rep.status
	}
	api.SetRetryAfter(w, err)
	p := &problem{Headline: loc.S(rep.headline), Field: refund.ErrorParam(err)}
	var own *localized
	switch {
	case errors.As(err, &own):
		p.Detail = loc.S(own.id, own.args...)
	case rep.detail:
		p.Detail = refund.ErrorMessage(err)
		if loc.lang != "en" {
			p.DetailLang = "en"
		}
	}
	return p, rep.status
}

// parseAmount reads an amount typed in the order's currency, exactly, with
// money.ParseDecimal: "1.005" KWD is 1005 fils. Zero or an empty field is
// refused here because a form field left empty never means "everything".
func parseAmount(field, text, currency string) (int64, error) {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return 0, errorf(refund.EUnsupportedCurrency, field, "amount.error.currency", currency)
	}
	text = strings.TrimSpace(text)
	example := money.Format(pow10(cur.Digits)+5, cur)
	v, err := money.ParseDecimal(text, cur)
	switch {
	case errors.Is(err, money.ErrEmpty):
		return 0, errorf(refund.EInvalidAmount, field, "amount.error.empty", cur.Code, example)
	case errors.Is(err, money.ErrTooManyDecimals):
		return 0, errorf(refund.EInvalidAmount, field, "amount.error.decimals", cur.Code, cur.Digits, strconv.Quote(text))
	case errors.Is(err, money.ErrOverflow):
		return 0, errorf(refund.EInvalidAmount, field, "amount.error.overflow", strconv.Quote(text))
	case err != nil:
		return 0, errorf(refund.EInvalidAmount, field, "amount.error.digits", example)
	case v == 0:
		return 0, errorf(refund.EInvalidAmount, field, "amount.error.zero")
	}
	return v, nil
}

// parseQty reads a whole number of units; empty means none of that line.
func parseQty(field, text string) (int64, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(text, "+") {
		return 0, errorf(refund.EInvalidRequest, field, "qty.error.whole", strconv.Quote(text))
	}
	return n, nil
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}
