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

	// What a connector to another processor needs to name the payment and
	// the refund in that processor's own terms. The sandbox ignores them.
	ProcessorOrderID string // the payment's id at the processor (invoice, charge, payment intent)
	OrderAmount      int64  // what the order captured, minor units
	Refunded         int64  // the order's refunds before this one (succeeded or reserved), minor units
	Reason           string
	CustomerName     string
	CustomerEmail    string
	CustomerPhone    string
	Vendors          []VendorPart // set when the refund names vendor splits
	Lines            []LinePart   // set when the refund names order lines
	// Reference is the processor's own id for this refund, from an
	// earlier answer (Result.Reference); "" until one came back.
	Reference string
}

// VendorPart is a refund's share of one vendor's split.
type VendorPart struct {
	VendorID string
	Amount   int64
}

// LinePart is a refund's share of one order line.
type LinePart struct {
	ItemID string
	SKU    string
	Qty    int64
	Amount int64
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
	// Reference is the processor's own id for the refund (its refund id,
	// transaction number), kept so a later status lookup can name it.
	Reference string
}

// TransientError is an answer that says nothing final about the refund,
// such as issuer unavailable (91). The refund stays processing.
type TransientError struct {
	Code    string
	Message string
	// NotExecuted: the processor (or the connector before sending) proves
	// the request was not executed (refused before it was read, a 429, the
	// circuit open): the attempt may be made again without asking first.
	NotExecuted bool
	// RetryAfter is how long the processor asked us to wait (Retry-After).
	RetryAfter time.Duration
}

// CodeAuthFailed is the decline code a connector answers when the
// processor refused its credentials: final, never retried for ever.
const CodeAuthFailed = "auth_failed"

// CodeNothingLeft is the decline code a connector answers when the
// processor says the order has no room left for the amount. Answered to a
// resubmission it proves nothing: the earlier, unanswered submission of
// the same refund may be what took the room.
const CodeNothingLeft = "amount_exceeds_refundable"

// CodeNoSuchOrder is the decline code a connector answers when the
// processor says it has no such order. Answered to a resubmission it proves
// nothing either: an order an earlier submission may have refunded exists,
// so it is not the processor speaking (a proxy's or gateway's 404 in the
// processor's shape, a route moved meanwhile).
const CodeNoSuchOrder = "order_not_found"

// ErrNoStatus is returned by Status (or StatusOf) of a connector whose
// processor offers no way to look up what happened to a refund (or not
// with what refundd knows of it). The outcome stays unknown: the core
// never resubmits on it, the refund waits for review.
var ErrNoStatus = errors.New("processor: no status lookup")

// Capabilities says what a processor's API can prove, which decides what
// the core may safely do after an unknown outcome and which refunds it
// can execute at all.
type Capabilities struct {
	// IdempotentSubmit: a second submission with the same key never
	// executes twice (an Idempotency-Key, a unique merchant reference).
	IdempotentSubmit bool
	// StatusByKey: Status(key) finds a refund by refundd's refund id, so
	// ErrNotFound from it proves the refund was not executed (yet).
	StatusByKey bool
	// StatusByReference: StatusOf finds a refund by the processor's own
	// reference once an answer gave one; without one it answers ErrNoStatus.
	StatusByReference bool
	// Partial: less than the rest of the order can be refunded; without it
	// only a refund of the whole order (nothing refunded before) is sent.
	Partial bool
	// Vendors: a refund can name marketplace vendor splits.
	Vendors bool
	// Lines: a refund can name order lines; LinesRequired: it must.
	Lines         bool
	LinesRequired bool
}

// Capable is implemented by processors that declare their capabilities.
// One that does not (the sandbox, the acquirer service) can do everything.
type Capable interface {
	Capabilities() Capabilities
}

// All is the capabilities of a processor that can do everything.
var All = Capabilities{IdempotentSubmit: true, StatusByKey: true, StatusByReference: true,
	Partial: true, Vendors: true, Lines: true}

// CapabilitiesOf answers p's declared capabilities, All when it declares none.
func CapabilitiesOf(p Processor) Capabilities {
	if c, ok := p.(Capable); ok {
		return c.Capabilities()
	}
	return All
}

// RequestStatuser is implemented by connectors that need more than the key
// to look a refund up (the processor's reference, the order's id at the
// processor). The core calls StatusOf instead of Status when it exists.
type RequestStatuser interface {
	StatusOf(ctx context.Context, req Request) (Result, error)
}

// Account is one merchant's account at a processor, as a connector is
// built from it: where the API is, the decrypted credential, and the
// kind's options.
type Account struct {
	ID         string
	MerchantID string
	Name       string
	Kind       string
	URL        string
	Credential string
	Options    map[string]string
}

func (e *TransientError) Error() string {
	return "processor: transient " + e.Code + ": " + e.Message
}
