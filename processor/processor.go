// Package processor defines how refundd talks to a payment processor
// (acquirer). It holds only the contract; implementations live in
// sub-packages (sandbox) so that the core depends on no transport.
//
// It must import nothing but the standard library.
package processor

import (
	"context"
	"errors"
	"time"
)

// Processor executes refunds at an acquirer. Implementations must be
// idempotent on Request.IdempotencyKey: a second Refund with the same key
// never executes money twice, it answers the first result.
type Processor interface {
	// Refund submits a refund. A nil error means Result holds the
	// processor's answer (approved, declined or pending). Any error means the
	// outcome is unknown (timeout, transport failure, issuer unavailable):
	// the caller must keep the refund processing and ask Status later.
	Refund(ctx context.Context, req Request) (Result, error)

	// Status reports what the processor knows about an idempotency key.
	// It returns ErrNotFound when the key was never executed, which makes it
	// safe to submit again with the same key.
	Status(ctx context.Context, idempotencyKey string) (Result, error)
}

// ErrNotFound is returned by Status for a key the processor never executed.
var ErrNotFound = errors.New("processor: refund not found")

// Request is one refund submission.
type Request struct {
	IdempotencyKey string // refundd's refund id; never changes across retries
	MerchantID     string
	OrderID        string
	Amount         int64  // minor units
	Currency       string // ISO 4217
	PaymentMethod  string // card, mada, applePay, stcpay, knet, ...
	CardLast4      string // empty for wallets
	CaptureRef     string // the capture transaction being refunded
	RequestID      string // the API request that caused the call, for tracing ("" from the worker)
}

// Status of a refund at the processor.
type Status string

const (
	Approved Status = "approved"
	Declined Status = "declined"
	Pending  Status = "pending" // accepted, final answer later (wallets)
	// Reversed: an approved refund the acquirer later reversed (Status only).
	Reversed Status = "reversed"
	// Voided: the key was voided before it executed (Void and Status
	// only); the processor guarantees it will never execute it.
	Voided Status = "voided"
)

// Voider is an optional capability: a processor that can void an
// idempotency key it has not executed, after which it guarantees that key
// will never execute (a late or queued execution of it is dropped). Only
// such a processor lets refundd release the money of a refund whose last
// submission went unanswered; without it that refund waits for review.
type Voider interface {
	// Void voids key. It answers Result.Status Voided when the key had not
	// executed (or was voided before), and the key's final result
	// (approved, declined, reversed) when it had: then nothing was voided.
	// Any error means nothing is known, as for Refund.
	Void(ctx context.Context, idempotencyKey string) (Result, error)
}

// Result is the processor's answer for one idempotency key.
type Result struct {
	Status       Status
	ResponseCode string // ISO 8583 style: 00 approved, 05, 51, 91 ...
	Message      string
	RRN          string // retrieval reference number
	STAN         string // system trace audit number
	AuthCode     string
	ARN          string // acquirer reference number, what the cardholder's bank sees
	ExecutedAt   time.Time
}

// TransientError is an answer that says nothing final about the refund,
// such as issuer unavailable (91). The refund stays processing.
type TransientError struct {
	Code    string
	Message string
}

func (e *TransientError) Error() string {
	return "processor: transient " + e.Code + ": " + e.Message
}
