package refund

import (
	"context"
	"time"
)

// Store persists the domain. Implementations: store/sqlite, store/postgres.
// Both must pass store/storetest unchanged.
type Store interface {
	// Update runs fn in one read-write transaction and commits when fn
	// returns nil. fn may run more than once when the backend asks for a
	// retry (serialization failure, SQLITE_BUSY), so it must have no side
	// effects outside tx.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
	// LookupIdempotency is Tx.GetIdempotency outside any transaction: one
	// statement reads one snapshot by itself, and the lookup that every
	// request with an Idempotency-Key makes then needs no BEGIN or COMMIT
	// (on PostgreSQL two statements and a round trip).
	LookupIdempotency(ctx context.Context, merchantID, key string) (*IdempotencyRecord, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Now reads the database's clock. Every node takes leases, retry times
	// and expiries from it, so a node whose own clock is off cannot take
	// over another's refund early.
	Now(ctx context.Context) (time.Time, error)
	Close() error
}

// StoreCounts is what a store has sent its database since it opened, for
// measuring a refund's cost (refundd bench, /metrics): statements include
// BEGIN, COMMIT and savepoints; a round trip is one wait for the database
// (a pipelined batch of statements is one; an embedded database has none).
type StoreCounts struct {
	Statements   uint64 `json:"statements"`
	RoundTrips   uint64 `json:"round_trips"`
	Transactions uint64 `json:"transactions"` // committed or rolled back, read-only ones included
	// Retries counts batches of Updates run again whole: on PostgreSQL
	// after a deadlock or serialization failure (or a caller that broke
	// the connection), on SQLite after a busy database or an Update that
	// failed having written. Each is a wait its callers see.
	Retries uint64 `json:"retries"`
}

// CountingStore is a Store that counts its work.
type CountingStore interface {
	Counts() StoreCounts
}

// Tx is one transaction. Not-found lookups return an *Error with the
// matching code (EOrderNotFound, ERefundNotFound, ...), never nil, nil.
type Tx interface {
	// CreateMerchant inserts m and assigns m.AppID.
	CreateMerchant(ctx context.Context, m *Merchant) error
	// GetMerchant returns EMerchantNotFound.
	GetMerchant(ctx context.Context, id string) (*Merchant, error)
	// FindMerchants looks merchants up by one of cr, freelancer, mobile,
	// email (without case), accountNo, app_id, among the merchants linked
	// to partnerID when it is not empty: up to limit of them, by app_id,
	// none when nothing matches. An unknown field is EInvalidRequest.
	FindMerchants(ctx context.Context, field, value, partnerID string, limit int) ([]*Merchant, error)
	// SetMerchantTimeZone writes the merchant's TimeZone. Returns
	// EMerchantNotFound.
	SetMerchantTimeZone(ctx context.Context, merchantID, zone string) error
	// LockMerchant holds the merchant's row until commit against another
	// transaction that locks it, so that a rule counting the merchant's
	// settings (at most MaxWebhookEndpoints) cannot be passed by two at
	// once, nor a change of its refund policy undo another's. Returns
	// EMerchantNotFound. A store whose writers run one at a
	// time may do nothing.
	LockMerchant(ctx context.Context, merchantID string) error

	// CreatePartner inserts p and its merchant links.
	CreatePartner(ctx context.Context, p *Partner) error
	// GetPartner returns EPartnerNotFound.
	GetPartner(ctx context.Context, id string) (*Partner, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKeyByPrefix returns EKeyNotFound.
	GetAPIKeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeAPIKey returns EKeyNotFound.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error

	// CreateOrder inserts o with its items, vendors and transactions.
	// A duplicate (merchant, reference) returns EOrderReferenceExists.
	CreateOrder(ctx context.Context, o *Order) error
	// GetOrder loads an order with items, vendors and transactions.
	// merchantID "" matches any merchant. Returns EOrderNotFound, also for
	// another merchant's order.
	GetOrder(ctx context.Context, merchantID, id string) (*Order, error)
	// GetOrderForRefund is GetOrder with only the capture transactions:
	// what a refund needs to allocate and submit, at a cost that does not
	// grow with the refunds the order already had (a hot order has
	// thousands). A store with row locks locks the order's row until
	// commit: a void or chargeback reads it so too, and applies up to what
	// it read.
	GetOrderForRefund(ctx context.Context, merchantID, id string) (*Order, error)
	// GetOrderByReference returns EOrderNotFound.
	GetOrderByReference(ctx context.Context, merchantID, reference string) (*Order, error)
	// ListOrders returns orders newest first (by id), without items,
	// vendors and transactions, at most f.Limit of them.
	ListOrders(ctx context.Context, f OrderFilter) ([]*Order, error)

	// AdjustBalances applies op to every counter named in b: the order,
	// the capture, each vendor split and each item. A Reserve is a guarded
	// update per counter (... WHERE captured - refunded - pending >= amount)
	// and returns EAmountExceedsRefundable with the Param of the first
	// counter that would go over. It is all or nothing: when it returns an
	// error no counter is left changed, so a Reserve's caller may carry on
	// in the same transaction (the late approval of a refund recorded
	// failed lists a discrepancy and commits).
	//
	// Commit, Release and Reverse move what a refund itself reserved or
	// refunded, which a consistent store always holds: their failure fails
	// the whole Update, which returns it even when fn carried on, and
	// nothing of fn commits. A store that pipelines may send them without
	// waiting for an answer, and report their failure from a later
	// statement of the transaction or from Update.
	AdjustBalances(ctx context.Context, b Balances, op BalanceOp) error
	// AdjustOrder adds amount to the order's voided (kind void) or charged
	// back (kind chargeback) amount under the refunds' guard: refunded +
	// pending + voided + charged back never exceeds captured. Returns
	// EAmountExceedsRefundable when amount does not fit.
	AdjustOrder(ctx context.Context, orderID, kind string, amount int64, at time.Time) error
	// InsertOrderAdjustment records a void or chargeback. A duplicate
	// (order, kind, processor reference) returns EConflict.
	InsertOrderAdjustment(ctx context.Context, a *OrderAdjustment) error
	// GetOrderAdjustment finds one by its processor reference; ENotFound.
	GetOrderAdjustment(ctx context.Context, orderID, kind, processorReference string) (*OrderAdjustment, error)
	// GetOrderAdjustmentByID finds a merchant's one by its id; ENotFound.
	GetOrderAdjustmentByID(ctx context.Context, merchantID, id string) (*OrderAdjustment, error)
	// ListOrderAdjustments returns a merchant's order's voids and
	// chargebacks, newest first (by CreatedAt, then id), at most limit.
	ListOrderAdjustments(ctx context.Context, merchantID, orderID string, limit int) ([]*OrderAdjustment, error)
	// ListOwedAdjustments returns the order's voids and chargebacks
	// applied in part (Applied < Amount), oldest first: by when they were
	// recorded, then id (the two kinds' ids have different prefixes, so
	// ids alone do not order them).
	ListOwedAdjustments(ctx context.Context, orderID string) ([]*OrderAdjustment, error)
	// ApplyOwedAdjustment adds amount to void or chargeback id's Applied,
	// never past its Amount. Returns ENotFound when that does not fit.
	ApplyOwedAdjustment(ctx context.Context, id string, amount int64) error
	// ReserveRefund reserves b for a new refund, as AdjustBalances(b,
	// Reserve) does, and takes the order's next refund sequence number
	// (its refund counter, incremented), in one step so that a store that
	// pipelines sends both at once. All or nothing: when it returns an
	// error neither the counters nor the sequence moved.
	//
	// After GetOrderForRefund of the same order in the same Update, a store
	// that locks the order's row there (it knows the sequence number) may
	// send the reservation without waiting for its answer: a refusal then
	// comes from a later statement of the transaction or from Update, and
	// nothing of fn commits.
	ReserveRefund(ctx context.Context, b Balances) (seq int, err error)
	InsertTransaction(ctx context.Context, t *Transaction) error

	// CreateRefund inserts r and assigns r.Number (the next integer, unique
	// across the store; a store that pipelines may assign it when the
	// insert's round trip returns, by the end of Update). A duplicate
	// (merchant, surface, merchant_reference) returns
	// EMerchantReferenceReused.
	CreateRefund(ctx context.Context, r *Refund) error
	// GetRefund returns ERefundNotFound; merchantID "" matches any.
	GetRefund(ctx context.Context, merchantID, id string) (*Refund, error)
	// FindRefunds finds up to limit of a merchant's refunds by their
	// "arn" or "rrn", oldest first; processorAccount, when not "", keeps
	// those of that processor account's orders. Processors number their
	// refunds each on their own, so one's ARN or RRN can be another's.
	FindRefunds(ctx context.Context, merchantID, processorAccount, field, value string, limit int) ([]*Refund, error)
	// GetRefundByMerchantReference finds a refund by the reference it was
	// given on one surface (references are unique per merchant and
	// surface). Returns ERefundNotFound.
	GetRefundByMerchantReference(ctx context.Context, merchantID, surface, ref string) (*Refund, error)
	// ListRefunds returns refunds newest first (by id).
	ListRefunds(ctx context.Context, f RefundFilter) ([]*Refund, error)
	// LockOrderRefunds returns the merchant's order's refunds in any of
	// statuses, oldest first (by id). Inside Update, where the store
	// locks rows, each stays locked until commit, taken in that order,
	// and the order's row is left to GetOrderForRefund, which still locks
	// it after them: a chargeback that may cancel refunds takes their
	// rows before the order's, as a cancel does.
	LockOrderRefunds(ctx context.Context, merchantID, orderID string, statuses ...Status) ([]*Refund, error)
	// UpdateRefund writes r if its stored version is still r.Version, then
	// bumps r.Version. Returns EConflict when another writer got there
	// first (possibly from a later statement: see InsertIdempotency), and
	// leaves r.Version as it was.
	UpdateRefund(ctx context.Context, r *Refund) error
	// ClaimDueRefunds returns up to limit pending, processing or
	// requires_review refunds whose NextAttemptAt <= now, and moves their NextAttemptAt to
	// now+lease (bumping Version) so no other worker takes them meanwhile.
	// Backends with row locks skip rows locked by other claimers.
	ClaimDueRefunds(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Refund, error)
	// InsertTransition records state changes of refunds, in the order
	// given (ListTransitions returns them so): a refund created and
	// submitted at once records both in one statement.
	InsertTransition(ctx context.Context, ts ...Transition) error
	ListTransitions(ctx context.Context, refundID string) ([]Transition, error)

	InsertEvent(ctx context.Context, e *Event) error

	// InsertDiscrepancy records d unless one of the same kind exists for
	// its refund; it reports whether it inserted.
	InsertDiscrepancy(ctx context.Context, d *Discrepancy) (bool, error)
	// ReduceDiscrepancy takes by off the merchant's discrepancy of kind
	// about reference (a chargeback's id), writes detail, never below
	// zero, and returns it as it is now. Returns ENotFound when there is
	// no such discrepancy with that much left.
	ReduceDiscrepancy(ctx context.Context, merchantID, kind, reference string, by int64, detail string) (*Discrepancy, error)
	// ListDiscrepancies returns discrepancies newest first (by id).
	ListDiscrepancies(ctx context.Context, f DiscrepancyFilter) ([]*Discrepancy, error)
	// GetDiscrepancy returns the merchant's discrepancy id, locked for the
	// rest of an Update. Returns EDiscrepancyNotFound.
	GetDiscrepancy(ctx context.Context, merchantID, id string) (*Discrepancy, error)
	// ResolveDiscrepancy records d's resolution (ResolvedAt, ResolvedBy,
	// Resolution) if d is still open. Returns EDiscrepancyNotFound, and
	// EConflict when it was resolved meanwhile.
	ResolveDiscrepancy(ctx context.Context, d *Discrepancy) error
	// CountDiscrepancies counts the open discrepancies (metrics).
	CountDiscrepancies(ctx context.Context) (int64, error)
	// RecordReport records a reconciled settlement report and the refunds
	// it listed, replacing what a report of the same merchant, processor
	// account and days recorded before.
	RecordReport(ctx context.Context, r *SettlementReport) error
	// ReportCoverage returns what the recorded reports of the merchant's
	// processor account cover around the days [from, to].
	ReportCoverage(ctx context.Context, merchantID, processorAccount string, from, to time.Time) (ReportCoverage, error)
	// ListSucceededRefunds returns a page of the refunds f asks for.
	ListSucceededRefunds(ctx context.Context, f SucceededFilter) ([]*Refund, error)
	// RecoverSucceededAt gives the merchant's succeeded (or since
	// reversed) refunds that have no SucceededAt their last move to
	// succeeded from their transitions, bumping their versions, and
	// returns how many: a node older than migration 0022, still running
	// beside one that applied it, finishes refunds without the time.
	RecoverSucceededAt(ctx context.Context, merchantID string) (int64, error)
	// ListedByOtherReports returns those of refundIDs, of the merchant,
	// that a recorded report other than r (its account and days) listed.
	ListedByOtherReports(ctx context.Context, r *SettlementReport, refundIDs []string) (map[string]bool, error)

	// GetIdempotency returns ENotFound.
	GetIdempotency(ctx context.Context, merchantID, key string) (*IdempotencyRecord, error)
	// InsertIdempotency returns EIdempotencyKeyInUse when the key exists.
	// A store that pipelines may report it (and UpdateIdempotency's and
	// UpdateRefund's refusals) from a later statement of the transaction
	// or from Update itself; the transaction then commits nothing. Do not
	// carry on after one of these refusals expecting to commit.
	InsertIdempotency(ctx context.Context, r *IdempotencyRecord) error
	// UpdateIdempotency stores ObjectID, Reply, LockedUntil and CompletedAt
	// if the stored version is still r.Version, then bumps r.Version: the
	// bump stands even if a later statement fails the transaction, so a
	// caller whose transaction does not commit restores r.Version.
	// Returns EIdempotencyKeyInUse when another write got there first
	// (another request took the key over, or the caller's own write
	// committed though its answer was lost), ENotFound when the record is
	// gone.
	UpdateIdempotency(ctx context.Context, r *IdempotencyRecord) error
	// DeleteExpiredIdempotency deletes up to limit records that expired
	// before t (the earliest first), but for those whose lease runs past
	// t (a retry holds the key), and returns how many.
	DeleteExpiredIdempotency(ctx context.Context, before time.Time, limit int) (int, error)

	WebhookTx
	AuditTx
	StatsTx
	InvoiceTx
	PolicyTx
	ProcessorAccountTx
	UserTx
	SummaryTx
}

// BalanceOp is a change to refund balances.
type BalanceOp int

const (
	// Reserve adds to pending, guarded by the refundable remainder.
	Reserve BalanceOp = iota + 1
	// Commit moves pending to refunded (the processor approved).
	Commit
	// Release removes from pending (failed or canceled).
	Release
	// Reverse removes from refunded (a succeeded refund was reversed).
	Reverse
)

func (op BalanceOp) String() string {
	switch op {
	case Reserve:
		return "reserve"
	case Commit:
		return "commit"
	case Release:
		return "release"
	case Reverse:
		return "reverse"
	}
	return "unknown"
}

// Balances names the counters a refund touches.
type Balances struct {
	OrderID   string
	CaptureID string // capture transaction id
	Amount    int64
	Vendors   []RefundVendor
	Items     []RefundItem
	// At is when the change happens: the order's updated_at moves forward
	// to it (zero: left as it is).
	At time.Time
}

// BalancesOf returns the counters r touches.
func BalancesOf(r *Refund) Balances {
	return Balances{OrderID: r.OrderID, CaptureID: r.CaptureID, Amount: r.Amount, Vendors: r.Vendors, Items: r.Items}
}

// OrderFilter selects orders of one merchant.
type OrderFilter struct {
	MerchantID string
	ID         string // just this order; "" any
	Reference  string
	Cursor     string // return ids strictly below this one
	Limit      int
}

// RefundFilter selects refunds of one merchant.
type RefundFilter struct {
	MerchantID    string
	OrderID       string
	Status        Status
	Surface       string    // where it was asked for; "" any
	Currency      string    // "" any
	MinAmount     int64     // minor units, inclusive; 0 unbounded
	MaxAmount     int64     // minor units, inclusive; 0 unbounded
	CreatedAfter  time.Time // inclusive, zero = unbounded
	CreatedBefore time.Time // exclusive, zero = unbounded
	// OldestFirst lists in the order the refunds were asked for (ids are
	// UUIDv7), the Cursor's page continuing after it; otherwise newest
	// first, continuing below it. An approvals queue is worked oldest
	// first: those are the first to expire.
	OldestFirst bool
	Cursor      string
	Limit       int
}

// SucceededFilter asks which of a merchant's refunds succeeded in [From,
// To) and are succeeded still (reconciliation), a page at a time in the
// order they succeeded (then by id): a keyset on the index of when they
// succeeded, which a listing newest first by id could not be.
type SucceededFilter struct {
	MerchantID       string
	ProcessorAccount string // only refunds of orders of this account (its id); "" any
	From, To         time.Time
	// After is the last refund of the previous page (its SucceededAt and
	// ID); nil for the first page.
	After *Refund
	Limit int // <= 0: 100
}

type orderKey struct{ merchantID, orderID string }

// WithOrderKey marks ctx as working on one order of one merchant. It is
// only a hint to the store: a store that commits in groups may run the
// Updates of one order on one committer, so that a hot order's refunds
// share a transaction and its commit instead of queueing one commit at a
// time on the order's row lock; and it may take what the merchant's
// Updates all serialise on (its invoice chain) before any order's row, so
// that batches holding several orders never wait on each other in a cycle,
// and run a batch's Updates in the order of their orders, so that batches
// take orders' rows in one order. orderID is refundd's id of the order,
// never a merchant's reference: an Update that may take an order's row
// names it, by its id, or the store cannot order it.
func WithOrderKey(ctx context.Context, merchantID, orderID string) context.Context {
	return context.WithValue(ctx, orderKey{}, orderKey{merchantID, orderID})
}

// OrderKey returns the order ctx works on, or "".
func OrderKey(ctx context.Context) string {
	k, _ := ctx.Value(orderKey{}).(orderKey)
	return k.orderID
}

// MerchantKey returns the merchant whose order ctx works on, or "".
func MerchantKey(ctx context.Context) string {
	k, _ := ctx.Value(orderKey{}).(orderKey)
	return k.merchantID
}

// ProcessorAccountTx stores merchants' processor accounts.
type ProcessorAccountTx interface {
	// CreateProcessorAccount inserts a; a name the merchant already uses
	// returns EConflict. When a.Default, the merchant's previous default
	// stops being one.
	CreateProcessorAccount(ctx context.Context, a *ProcessorAccount) error
	// GetProcessorAccount finds one of the merchant's accounts by id or,
	// failing that, by name. Returns EProcessorAccountNotFound.
	GetProcessorAccount(ctx context.Context, merchantID, idOrName string) (*ProcessorAccount, error)
	// DefaultProcessorAccount returns the merchant's default account, or
	// EProcessorAccountNotFound when it has none.
	DefaultProcessorAccount(ctx context.Context, merchantID string) (*ProcessorAccount, error)
	// ListProcessorAccounts lists a merchant's accounts by name; merchantID
	// "" lists every merchant's (key rotation).
	ListProcessorAccounts(ctx context.Context, merchantID string) ([]*ProcessorAccount, error)
	// UpdateProcessorAccountCredential replaces the sealed credential (key
	// rotation) and UpdatedAt.
	UpdateProcessorAccountCredential(ctx context.Context, a *ProcessorAccount) error
	// DeleteProcessorAccount deletes the account. It returns EConflict
	// while a refund of an order routed to it is not final: its outcome
	// is still to be learnt from that processor.
	DeleteProcessorAccount(ctx context.Context, merchantID, id string) error
}
