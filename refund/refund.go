// Package refund is refundd's domain core: merchants, orders, refunds, the
// refund state machine, the invariants that keep money exact, and the Service
// every surface (native API, dialects, CLI, worker) calls.
//
// It must import only the standard library, money and processor: no HTTP,
// no SQL driver, no dialect. Storage is the Store interface below.
package refund

import (
	"time"
)

// Status is the state of a refund.
//
//	requires_approval -> pending | canceled  (maker-checker: approved, or
//	                                rejected or expired; amount reserved meanwhile)
//	pending -> processing -> succeeded | failed
//	pending -> canceled            (before it reaches the processor)
//	processing -> requires_review  (no definite answer after the last attempt;
//	                                the amount stays reserved)
//	requires_review -> succeeded | failed  (a definite answer, or a person)
//	succeeded -> reversed          (the processor reversed it later)
//	failed -> succeeded            (a sync found it executed after all and
//	                                the order still had room for it)
type Status string

const (
	// StatusRequiresApproval: the merchant's refund policy wants a second
	// person's approval. The amount is reserved, the processor not called.
	StatusRequiresApproval Status = "requires_approval"
	StatusPending          Status = "pending"
	StatusProcessing       Status = "processing"
	// StatusRequiresReview: the processor has not definitely settled the
	// refund after the last attempt. Not final: its amount stays reserved
	// and it keeps being polled until a definite answer or a person
	// (scope refunds:review) settles it.
	StatusRequiresReview Status = "requires_review"
	StatusSucceeded      Status = "succeeded"
	StatusFailed         Status = "failed"
	StatusCanceled       Status = "canceled"
	StatusReversed       Status = "reversed"
)

// Final reports whether s is a final state.
func (s Status) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCanceled, StatusReversed:
		return true
	}
	return false
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusRequiresApproval, StatusPending, StatusProcessing, StatusRequiresReview, StatusSucceeded, StatusFailed,
		StatusCanceled, StatusReversed:
		return true
	}
	return false
}

// transitions lists every allowed state change; anything else is a bug.
var transitions = map[Status][]Status{
	StatusRequiresApproval: {StatusPending, StatusCanceled},
	StatusPending:          {StatusProcessing, StatusCanceled, StatusFailed},
	StatusProcessing:       {StatusSucceeded, StatusFailed, StatusRequiresReview, StatusPending},
	StatusRequiresReview:   {StatusSucceeded, StatusFailed},
	StatusSucceeded:        {StatusReversed},
	StatusFailed:           {StatusSucceeded},
}

// CanTransition reports whether from -> to is allowed.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Scopes an API key may carry.
const (
	ScopeOrdersWrite    = "orders:write"
	ScopeOrdersRead     = "orders:read"
	ScopeRefundsWrite   = "refunds:write"
	ScopeRefundsRead    = "refunds:read"
	ScopeWebhooksWrite  = "webhooks:write"
	ScopeRefundsReview  = "refunds:review"  // settle a refund waiting for review; resolve a discrepancy
	ScopeRefundsApprove = "refunds:approve" // approve or reject another's refund waiting for approval
	ScopeSettingsWrite  = "settings:write"  // change the refund policy
	ScopePartner        = "partner"         // a partner key: acts for linked merchants
)

// MerchantScopes is what a new merchant key gets unless told otherwise.
var MerchantScopes = []string{ScopeOrdersWrite, ScopeOrdersRead, ScopeRefundsWrite, ScopeRefundsRead, ScopeWebhooksWrite,
	ScopeRefundsReview, ScopeRefundsApprove, ScopeSettingsWrite}

// Merchant is a tenant. Every order and refund belongs to one.
type Merchant struct {
	ID         string
	AppID      int64 // integer id, Techrar's app-id header
	Name       string
	CR         string // commercial registration number
	Freelancer string // freelance licence number
	Email      string
	Mobile     string
	AccountNo  string
	VATNumber  string
	// TimeZone is the IANA name of the merchant's zone ("Asia/Kuwait"):
	// the console shows its dates there and counts its days there. ""
	// means DefaultTimeZone.
	TimeZone  string
	CreatedAt time.Time
}

// Partner acts for the merchants linked to it (the Paylink seed).
type Partner struct {
	ID          string
	Name        string
	MerchantIDs []string
	CreatedAt   time.Time
}

// APIKey is a stored key. The secret itself is never stored: only its
// SHA-256 hash and a visible prefix to find it by.
type APIKey struct {
	ID         string
	Prefix     string
	Hash       []byte
	MerchantID string // exactly one of MerchantID and PartnerID is set
	PartnerID  string
	Scopes     []string
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// Principal is the authenticated caller of a request.
type Principal struct {
	MerchantID string // set for merchant keys, and for partners acting for a merchant
	PartnerID  string
	KeyID      string
	KeyPrefix  string
	Scopes     []string
	// Processor marks the processor acting through a signed notification
	// (recorded as such in the audit trail).
	Processor bool
	// Worker marks refundd's own background work (an approval expiring).
	Worker bool
	// UserID and UserEmail name a console user signed in with their own
	// account (no key).
	UserID    string
	UserEmail string
}

// Actor names who p is, for a refund's CreatedBy and the maker-checker
// rule: the console user, or the API key (a partner's token counts as its
// key).
func (p Principal) Actor() string {
	switch {
	case p.UserID != "":
		return "user:" + p.UserID
	case p.KeyID != "":
		return "key:" + p.KeyID
	}
	return ""
}

// Display names p for people: a console user's email, or the key's prefix.
func (p Principal) Display() string {
	if p.UserEmail != "" {
		return "user " + p.UserEmail
	}
	return "key " + p.KeyPrefix
}

// Has reports whether p carries scope.
func (p Principal) Has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Card is the payment source of an order.
type Card struct {
	Scheme      string `json:"scheme,omitempty"`
	FirstDigits string `json:"first_digits,omitempty"`
	LastDigits  string `json:"last_digits,omitempty"`
	Month       int    `json:"month,omitempty"`
	Year        int    `json:"year,omitempty"`
	Name        string `json:"name,omitempty"`
}

// Customer who paid.
type Customer struct {
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Mobile string `json:"mobile,omitempty"`
}

// Order is a captured payment refundd was told about.
//
// Invariant (per order): Refunded + PendingRefund + Voided + ChargedBack <=
// Captured; per capture, vendor and item: Refunded + Pending <= its amount.
type Order struct {
	ID                  string
	MerchantID          string
	Reference           string // the merchant's own order reference, unique per merchant
	Currency            string
	Amount              int64
	CapturedAmount      int64
	RefundedAmount      int64
	PendingRefundAmount int64
	VoidedAmount        int64
	ChargedBackAmount   int64 // what chargebacks took back, as far as the capture had room
	// ProcessorAccountID is the merchant's processor account its refunds go
	// to, fixed when the order is created; "" is the node's own processor.
	ProcessorAccountID string
	// ProcessorOrderID is the payment's id at that processor (an invoice,
	// charge or payment intent), which its connector names in a refund.
	ProcessorOrderID string
	PaymentMethod    string
	Source           Card
	Customer         Customer
	Description      string
	RefundCount      int // refund sequence: the n-th refund of the order has Seq n
	Items            []Item
	Vendors          []Vendor
	Transactions     []Transaction
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Refundable is what can still be refunded on the order.
func (o *Order) Refundable() int64 {
	return o.CapturedAmount - o.VoidedAmount - o.ChargedBackAmount - o.RefundedAmount - o.PendingRefundAmount
}

// Item is a line of an order. UnitAmount is VAT-inclusive.
type Item struct {
	ID         string
	SKU        string
	NameEN     string
	NameAR     string
	Qty        int64
	UnitAmount int64
	TaxRate    string // percent, "15"
	Taxable    bool
	// ExemptionCode is why a zero-rated or untaxed line is not taxed:
	// ZATCA's exemption reason code (VATEX-SA-..., ExemptionCategory),
	// which its documents' lines state. "" when the order did not say,
	// and its documents state the code they always have.
	ExemptionCode  string
	Amount         int64 // Qty * UnitAmount
	RefundedQty    int64
	PendingQty     int64
	RefundedAmount int64
	PendingAmount  int64
}

// Vendor is a marketplace vendor's split of an order.
type Vendor struct {
	ID             string
	Name           string
	IBAN           string
	Amount         int64
	RefundedAmount int64
	PendingAmount  int64
}

// Refundable is what can still be refunded from the vendor's share.
func (v *Vendor) Refundable() int64 {
	return v.Amount - v.RefundedAmount - v.PendingAmount
}

// Transaction types and statuses.
const (
	TxCapture = "capture"
	TxRefund  = "refund"
	TxVoid    = "void"

	TxSucceeded = "succeeded"
	TxFailed    = "failed"
)

// Transaction is one money movement on an order: the capture, each refund
// answer from the processor, a void.
type Transaction struct {
	ID             string
	OrderID        string
	Seq            int // 1 for the capture; used by dialects' ORDER_1 style ids
	Type           string
	Status         string
	Amount         int64
	RefundedAmount int64 // capture only
	PendingAmount  int64 // capture only
	RefundID       string
	ResponseCode   string
	Message        string
	RRN            string
	STAN           string
	AuthCode       string
	CreatedAt      time.Time
}

// RefundItem is a refund's share of one order line.
type RefundItem struct {
	ItemID string `json:"item_id"`
	Qty    int64  `json:"qty"`
	Amount int64  `json:"amount"`
}

// RefundVendor is a refund's share of one vendor split.
type RefundVendor struct {
	VendorID string `json:"vendor_id"`
	Amount   int64  `json:"amount"`
}

// Refund is one refund of an order.
type Refund struct {
	ID                string
	MerchantID        string
	OrderID           string
	Seq               int   // n-th refund of the order
	Number            int64 // unique across refundd, set by Tx.CreateRefund; for surfaces with integer refund ids (Paylink)
	Amount            int64
	Currency          string
	Status            Status
	Reason            string
	MerchantReference string
	CaptureID         string // the capture transaction refunded
	Items             []RefundItem
	Vendors           []RefundVendor
	NotifyURL         string
	Surface           string // native, gateway, sgate, ... where it was asked for
	FailureCode       string
	FailureMessage    string
	ResponseCode      string
	RRN               string
	STAN              string
	AuthCode          string
	ARN               string
	// ProcessorReference is the processor's own id for the refund, from
	// its answer, for a later status lookup by it.
	ProcessorReference string
	Attempts           int       // processor attempts so far; the worker's fencing token
	SweepsLeft         int       // a succeeded refund's status looks still to come (Config.SweepAges), due at NextAttemptAt
	NextAttemptAt      time.Time // when the worker may next touch it (lease / backoff)
	// ApprovalExpiresAt is when a refund waiting for approval stops being
	// approvable (zero for one that never waited). Its own field: a claim
	// moves NextAttemptAt a lease ahead, and an approval must not live
	// that much longer with it.
	ApprovalExpiresAt time.Time
	RequestHash       string
	// CreatedBy is the key (or console user) that asked for it: maker-
	// checker refunds may not be approved by it.
	CreatedBy string
	Version   int64 // optimistic lock: every update bumps it
	CreatedAt time.Time
	UpdatedAt time.Time
	// SucceededAt is when it last became succeeded in refundd; zero until
	// then. A processor lists a refund by the day it ran, which is later
	// than the day it was made for one approved or retried days after.
	SucceededAt time.Time
}

// Failure is why r ended without paying, as the API and events show it:
// a failed refund's decline, or the code of a cancel someone other than
// the merchant decided (rejected, approval_expired, charged_back). A
// refund in flight shows none, even if an attempt left a note, and so
// does a merchant's own cancel.
func (r *Refund) Failure() (code, message string) {
	if r.Status == StatusFailed || r.Status == StatusCanceled && r.FailureCode != "" {
		return r.FailureCode, r.FailureMessage
	}
	return "", ""
}

// Unpaid says, in words, why r ended without the customer being paid
// (declined, canceled or reversed), and "" for a refund paid or still on
// its way: a surface whose reply has no status of its own must not answer
// such a refund (a replay finds it) as it answers a paid one.
func (r *Refund) Unpaid() string {
	code, msg := r.Failure()
	why := ""
	switch {
	case code != "" && msg != "":
		why = " (" + code + "): " + msg
	case code != "" || msg != "":
		why = ": " + code + msg
	}
	switch r.Status {
	case StatusFailed:
		return "the processor declined the refund" + why
	case StatusCanceled:
		return "the refund was canceled" + why
	case StatusReversed:
		return "the processor reversed the refund after paying it"
	}
	return ""
}

// Transition is one recorded state change of a refund.
type Transition struct {
	RefundID string
	From     Status // "" for creation
	To       Status
	Cause    string
	At       time.Time
}

// Event is an outbox row written in the same transaction as the change it
// reports; webhook delivery reads from here.
type Event struct {
	ID         string
	MerchantID string
	Type       string // refund.created, refund.succeeded, ...
	RefundID   string
	OrderID    string
	Data       []byte // JSON snapshot of the refund
	RequestID  string // the API request that caused it ("" for background work)
	CreatedAt  time.Time
}

// IdempotencyRecord remembers a request by (merchant, key).
type IdempotencyRecord struct {
	MerchantID  string
	Key         string
	RequestHash string
	// ObjectID is what the request created or changed (a refund, order or
	// webhook endpoint id; the merchant's for a notify-secret rotation),
	// linked in the transaction that did it, so a retry after a crash
	// finds it even when no reply was stored.
	ObjectID    string
	Reply       Reply     // the first answer; Status 0 until stored
	LockedUntil time.Time // the first request owns the key until then
	CompletedAt *time.Time
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// Version counts the row's writes (Tx.UpdateIdempotency): a request
	// writes the row only as it last wrote or read it, so one whose lease
	// ran out while a retry took the key over, or whose write committed
	// with its answer lost, changes nothing.
	Version int64
}

// Reply is a surface's first answer to a request, stored with its
// idempotency key and replayed byte for byte. The core treats it as
// opaque but for its Status, an HTTP status on every surface, which
// decides whether it is kept (see keepable).
type Reply struct {
	Status      int
	ContentType string
	Body        []byte
}

// Discrepancy kinds.
const (
	// DiscrepancyExecutedNotRecorded: the processor executed a refund that
	// refundd had recorded as failed, and the order no longer had room to
	// count it as succeeded, or one refundd had canceled: money went out
	// that the books do not show. Also one executed while it waited for
	// approval (recorded succeeded: the control was passed by), and a
	// report's second row paid of one refund.
	DiscrepancyExecutedNotRecorded = "executed_not_recorded"
	// DiscrepancyChargebackAfterRefund: a chargeback took back money that
	// refunds had already returned: the customer was paid twice.
	DiscrepancyChargebackAfterRefund = "chargeback_after_refund"
	// DiscrepancyVoidNotApplied: the processor notified a void larger
	// than what the order had left (refunds had returned or held the
	// rest); what was free is applied, the rest is this, for a person to
	// settle.
	DiscrepancyVoidNotApplied = "void_not_applied"
	// DiscrepancyAdjustmentAmountChanged: the processor notified a void
	// or chargeback again under its reference with another amount; the
	// first stays as it was, for a person to settle.
	DiscrepancyAdjustmentAmountChanged = "adjustment_amount_changed"
)

// DiscrepancyKinds lists every kind a discrepancy can have: these four
// and the reconciliation's findings.
var DiscrepancyKinds = []string{DiscrepancyExecutedNotRecorded, DiscrepancyChargebackAfterRefund, DiscrepancyVoidNotApplied, DiscrepancyAdjustmentAmountChanged,
	ReconAmountMismatch, ReconStatusMismatch, ReconMissingAtProcessor, ReconUnknownToRefundd}

// Discrepancy is a difference between what the processor did and what
// refundd recorded that no rule could settle on its own. It is listed,
// never silently absorbed.
type Discrepancy struct {
	ID         string
	MerchantID string
	Kind       string
	RefundID   string
	OrderID    string
	Amount     int64
	Currency   string
	Detail     string
	// Reference names what the discrepancy is about when it is no refund
	// of refundd's (a report row's id, ARN or RRN; a chargeback's id), or
	// which payment of a refund a report lists again (refund id/report's
	// days/n): a refund's discrepancy is kept once per kind, and per
	// reference when it has one.
	Reference string
	CreatedAt time.Time
	// ResolvedAt is when a person settled it (refunded the customer by
	// hand, confirmed with the processor); nil while it is open.
	// ResolvedBy is who (Principal.Actor), Resolution their note.
	ResolvedAt *time.Time
	ResolvedBy string
	Resolution string
}

// Status is DiscrepancyOpen, or DiscrepancyResolved once a person settled it.
func (d *Discrepancy) Status() string {
	if d.ResolvedAt != nil {
		return DiscrepancyResolved
	}
	return DiscrepancyOpen
}

// A discrepancy's states: open until a person resolves it.
const (
	DiscrepancyOpen     = "open"
	DiscrepancyResolved = "resolved"
)

// ResolvedByRefundd is the resolver of a discrepancy refundd closed itself:
// a void's or chargeback's brought to zero as the money came back.
const ResolvedByRefundd = "refundd"

// DiscrepancyFilter selects discrepancies of one merchant, newest first.
type DiscrepancyFilter struct {
	MerchantID string
	Kind       string
	RefundID   string // one refund's; "" for all
	// Status, DiscrepancyOpen or DiscrepancyResolved, selects one state;
	// "" lists both (what clients written before resolution rely on).
	Status string
	Cursor string
	Limit  int
}
