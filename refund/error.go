package refund

import (
	"errors"
	"fmt"
	"time"
)

// Error codes are stable: clients and every surface's reply table key on
// them. Add codes freely; never rename one.
const (
	EInvalidRequest            = "invalid_request"
	EInvalidAmount             = "invalid_amount"
	EAmountExceedsRefundable   = "amount_exceeds_refundable"
	EOrderNotFound             = "order_not_found"
	ERefundNotFound            = "refund_not_found"
	EMerchantNotFound          = "merchant_not_found"
	EPartnerNotFound           = "partner_not_found"
	EKeyNotFound               = "key_not_found"
	EIdempotencyKeyReused      = "idempotency_key_reused"
	EIdempotencyKeyInUse       = "idempotency_key_in_use"
	EMerchantReferenceReused   = "merchant_reference_reused"
	EOrderReferenceExists      = "order_reference_exists"
	ERefundNotCancelable       = "refund_not_cancelable"
	EUnauthorized              = "unauthorized"
	EForbidden                 = "forbidden"
	EConflict                  = "conflict" // a concurrent change won; retry
	EProcessorUnavailable      = "processor_unavailable"
	EInternal                  = "internal"
	ENotFound                  = "not_found"
	EUnsupportedCurrency       = "unsupported_currency"
	ERefundInProgressOnOrder   = "refund_in_progress"
	EWebhookEndpointNotFound   = "webhook_endpoint_not_found"
	EEventNotFound             = "event_not_found"
	ERateLimited               = "rate_limited"
	EInvoiceNotFound           = "invoice_not_found"
	ERefundNotReviewable       = "refund_not_reviewable"
	ERefundNotAwaitingApproval = "refund_not_awaiting_approval"
	// EProcessorAccountNotFound: an order names a processor account the
	// merchant does not have, or a refund's order one removed since.
	EProcessorAccountNotFound = "processor_account_not_found"
	// EProcessorAccountRemoved: the processor account of a refund's order
	// was removed, so there is nobody left to ask about the refund (a
	// status sync); the refund stays as recorded.
	EProcessorAccountRemoved = "processor_account_removed"
	// EProcessorUnsupported: the order's processor cannot execute this
	// refund (a partial refund where it refunds whole orders only, vendor
	// splits or lines it cannot name); refused before anything is reserved.
	EProcessorUnsupported = "processor_unsupported"
	// EDiscrepancyNotFound: the merchant has no discrepancy of that id.
	EDiscrepancyNotFound = "discrepancy_not_found"
	// EDiscrepancyResolved: the discrepancy was resolved before; its first
	// resolution (who, when, the note) stands.
	EDiscrepancyResolved = "discrepancy_already_resolved"
	// ESecretKeyUnavailable: a secret the request needs (a webhook signing
	// secret, a TOTP secret, a processor account's credential) is sealed
	// and this node cannot open it: it was started without the secret key,
	// or not with the one that sealed it. The node's problem, not the caller's: another node, or this one
	// once given the key, can serve it.
	ESecretKeyUnavailable = "secret_key_unavailable"
	// EReconciliationAnswerLost: a retry under the Idempotency-Key of a
	// reconciliation that was applied and whose results were too large to
	// keep, or do not read back, and its answer was not stored: run again,
	// what it corrected would read matched, so it is not run again under
	// that key.
	EReconciliationAnswerLost = "reconciliation_answer_lost"
)

// Error is the one error type of the domain. Anything that is not an *Error
// is internal: surfaces log it and answer only "internal error".
type Error struct {
	Code    string // one of the E* constants
	Message string // safe to show to the caller
	Param   string // the request field at fault, if any ("amount", "items[0].qty")
	// RetryAfter, when set, is how long the caller should wait before
	// trying again (ERateLimited, and the 503s: EProcessorUnavailable,
	// ESecretKeyUnavailable); surfaces send it as Retry-After.
	RetryAfter time.Duration
}

// How long a 503 (EProcessorUnavailable, ESecretKeyUnavailable) asks the
// caller to wait. A processor's own Retry-After, or what is left of its
// open circuit, is passed on up to MaxUnavailableRetryAfter: a client
// should not park a request for an hour on a processor's word when a
// lookup costs little. Without either (a timeout, a 5xx without the
// header, a node without the secret key, which another node behind the
// same address may serve), UnavailableRetryAfter.
const (
	UnavailableRetryAfter    = 5 * time.Second
	MaxUnavailableRetryAfter = 5 * time.Minute
)

// retryLater is e asking to be tried again after wait, or after
// UnavailableRetryAfter when wait is not known, never after more than
// MaxUnavailableRetryAfter.
func retryLater(e *Error, wait time.Duration) *Error {
	if wait <= 0 {
		wait = UnavailableRetryAfter
	}
	e.RetryAfter = min(wait, MaxUnavailableRetryAfter)
	return e
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("refund: %s (%s): %s", e.Code, e.Param, e.Message)
	}
	return fmt.Sprintf("refund: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, param, format string, args ...any) *Error {
	return &Error{Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EInternal when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EInternal
}

// ErrorParam returns the param of err when it is an *Error.
func ErrorParam(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Param
	}
	return ""
}

// ErrorMessage returns the message of err when it is an *Error, and
// "internal error" otherwise, so internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// RetryAfter returns how long err asks the caller to wait, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
