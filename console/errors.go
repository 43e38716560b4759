package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// codeCSRF is the one code only the console produces: a form without this
// session's token, or posted from another site.
const codeCSRF = "csrf_failed"

// problem is an error in plain words: the headline of its code and, where
// it helps, the core's own message (which names amounts in the order's
// currency and the field at fault).
type problem struct {
	Headline string
	Detail   string
	Field    string
}

// reply is how the console answers one error code.
type reply struct {
	status   int
	headline string
	detail   bool // show the core's message under the headline
}

// replies is the console's one code-to-reply table.
var replies = map[string]reply{
	refund.EInvalidRequest:          {http.StatusBadRequest, "Some of what you entered is not valid.", true},
	refund.EInvalidAmount:           {http.StatusUnprocessableEntity, "The amount is not valid.", true},
	refund.EAmountExceedsRefundable: {http.StatusUnprocessableEntity, "That is more than is left to refund.", true},
	refund.EOrderNotFound:           {http.StatusNotFound, "There is no such order.", false},
	refund.ERefundNotFound:          {http.StatusNotFound, "There is no such refund.", false},
	refund.EInvoiceNotFound:         {http.StatusNotFound, "There is no such invoice.", false},
	refund.EWebhookEndpointNotFound: {http.StatusNotFound, "There is no such webhook endpoint.", false},
	refund.EMerchantNotFound:        {http.StatusNotFound, "The merchant of this key no longer exists.", false},
	refund.ENotFound:                {http.StatusNotFound, "This page does not exist.", false},
	refund.EIdempotencyKeyReused: {http.StatusConflict,
		"This refund form was already sent with other values. Open the order again to issue another refund.", false},
	refund.EIdempotencyKeyInUse: {http.StatusConflict,
		"This refund is still being sent. Open the order again in a moment to see how it went.", false},
	refund.EMerchantReferenceReused: {http.StatusConflict, "That reference was already used for another refund.", true},
	refund.ERefundNotReviewable:     {http.StatusConflict, "Only a refund that needs review can be resolved.", true},
	refund.ERefundNotCancelable: {http.StatusConflict,
		"This refund can no longer be canceled: it has already gone to the payment processor.", true},
	refund.EConflict:                {http.StatusConflict, "Someone changed this at the same moment. Reload the page and try again.", false},
	refund.ERefundInProgressOnOrder: {http.StatusConflict, "Another refund of this order is still in progress. Try again when it has finished.", false},
	refund.EUnauthorized: {http.StatusUnauthorized,
		"That API key was not accepted. Check that you pasted the whole key and that it has not been revoked.", false},
	refund.EForbidden:            {http.StatusForbidden, "Your API key is not allowed to do this.", true},
	refund.ERateLimited:          {http.StatusTooManyRequests, "Too many requests with this key. Wait a moment and try again.", false},
	refund.EProcessorUnavailable: {http.StatusServiceUnavailable, "The payment processor is not answering. Try again in a moment.", false},
	refund.EUnsupportedCurrency:  {http.StatusUnprocessableEntity, "This currency is not supported.", true},
	codeCSRF: {http.StatusForbidden,
		"This form has expired or did not come from the console. Reload the page and try again; nothing was changed.", false},
	refund.EInternal: {http.StatusInternalServerError,
		"Something went wrong on our side. Try again; if it keeps happening, tell whoever runs refundd.", false},
}

// explain turns err into words and a status. An error that is not a
// refund.Error (or has a code missing from the table) is internal: it is
// logged and the user sees only that something went wrong.
func (c *Console) explain(r *http.Request, err error) (*problem, int) {
	rep, ok := replies[refund.ErrorCode(err)]
	if !ok || refund.ErrorCode(err) == refund.EInternal {
		c.log.Error("console: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		rep = replies[refund.EInternal]
		return &problem{Headline: rep.headline}, rep.status
	}
	p := &problem{Headline: rep.headline, Field: refund.ErrorParam(err)}
	if rep.detail {
		p.Detail = refund.ErrorMessage(err)
	}
	return p, rep.status
}

// statusWords says what each refund status means for the merchant.
var statusWords = map[refund.Status]string{
	refund.StatusPending:    "Queued: not yet sent to the payment processor; it can still be canceled.",
	refund.StatusProcessing: "Sent to the payment processor; waiting for its answer.",
	refund.StatusRequiresReview: "Needs review: the payment processor has not said whether it refunded this after the last attempt. " +
		"The amount stays reserved, refundd keeps asking, and a person with the refunds:review scope can settle it.",
	refund.StatusSucceeded: "Refunded: the payment processor approved it.",
	refund.StatusFailed:    "Failed: the payment processor did not refund it, and the amount is refundable again.",
	refund.StatusCanceled:  "Canceled before it reached the payment processor.",
	refund.StatusReversed:  "Reversed: the payment processor undid it after approving it.",
}

func statusText(s refund.Status) string {
	if w, ok := statusWords[s]; ok {
		return w
	}
	return string(s)
}

// parseAmount reads an amount typed in the order's currency, exactly, with
// money.ParseDecimal: "1.005" KWD is 1005 fils. Zero or an empty field is
// refused here because a form field left empty never means "everything".
func parseAmount(field, text, currency string) (int64, error) {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return 0, refund.Errorf(refund.EUnsupportedCurrency, field, "the order's currency %s is unknown", currency)
	}
	text = strings.TrimSpace(text)
	example := money.Format(pow10(cur.Digits)+5, cur)
	v, err := money.ParseDecimal(text, cur)
	var msg string
	switch {
	case errors.Is(err, money.ErrEmpty):
		msg = "Enter an amount in " + cur.Code + ", such as " + example + "."
	case errors.Is(err, money.ErrTooManyDecimals):
		msg = cur.Code + " has " + strconv.Itoa(cur.Digits) + " decimals; " + strconv.Quote(text) + " has more."
	case errors.Is(err, money.ErrOverflow):
		msg = strconv.Quote(text) + " is too large to be an amount."
	case err != nil:
		msg = "Type the amount as digits with at most one decimal point, such as " + example +
			" (no sign, comma, space or exponent)."
	case v == 0:
		msg = "Enter an amount greater than zero."
	default:
		return v, nil
	}
	return 0, refund.Errorf(refund.EInvalidAmount, field, "%s", msg)
}

// parseQty reads a whole number of units; empty means none of that line.
func parseQty(field, text string) (int64, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(text, "+") {
		return 0, refund.Errorf(refund.EInvalidRequest, field, "Quantities are whole numbers of units, such as 1; %s is not one.", strconv.Quote(text))
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
