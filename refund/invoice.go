package refund

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
)

// InvoiceType says what an invoice documents.
type InvoiceType string

const (
	InvoiceSale   InvoiceType = "invoice" // the tax invoice of an order
	InvoiceRefund InvoiceType = "refund"  // a refund invoice (credit note) against a tax invoice
	InvoiceDebit  InvoiceType = "debit"   // a debit note taking back a credit note whose refund was reversed
)

// InvoiceStatus follows the money: a tax invoice is paid when issued (the
// order was captured); a refund invoice is pending while its refund is in
// flight, paid once it succeeded, and void when it failed, was canceled,
// or was later reversed by the processor; a void's or chargeback's credit
// note is paid when issued (the adjustment is final). A void invoice keeps
// its serial, so the merchant's sequence has no holes.
type InvoiceStatus string

const (
	InvoicePending InvoiceStatus = "pending"
	InvoicePaid    InvoiceStatus = "paid"
	InvoiceVoid    InvoiceStatus = "void"
)

// ZATCAStatus is where a document stands with the Saudi e-invoicing
// authority. Reporting is a queue: a document is pending once it is final
// (paid) and reporting is on, and is reported with retries and backoff
// until the authority answers: reported, or failed with the reason (it
// refused the document, or the attempts ran out). A credit or debit note
// waits for the document it corrects and is aborted without being sent
// when that one will never be reported (ZATCA refuses a credit note to an
// unknown invoice). not_submitted: reporting is off, the document is not
// final, or it is void.
type ZATCAStatus string

const (
	ZATCANotSubmitted ZATCAStatus = "not_submitted"
	ZATCAPending      ZATCAStatus = "pending"
	ZATCAReported     ZATCAStatus = "reported"
	ZATCAFailed       ZATCAStatus = "failed"
	ZATCAAborted      ZATCAStatus = "aborted"
)

// ZATCA reporting's retry schedule: the wait after each failed attempt,
// the last one repeated, and how many attempts before a document is
// failed.
var (
	zatcaBackoff     = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}
	zatcaMaxAttempts = 12
)

// InvoiceZone is Saudi time (UTC+3, no daylight saving): invoice dates and
// the year in a serial follow it, as ZATCA reads them.
var InvoiceZone = time.FixedZone("AST", 3*60*60)

// DefaultSerialPrefix starts every serial unless the merchant's invoice
// configuration says otherwise: INV-<year><5 digits>, INV-202600001.
const DefaultSerialPrefix = "INV-"

// Seller is who issues an invoice, as printed on it.
type Seller struct {
	Name      string
	VATNumber string
	// CRN is the seller's commercial registration number (10 digits),
	// the other seller ID ZATCA asks beside the VAT number (BT-29 with
	// schemeID CRN, BR-KSA-08); "" when none was configured.
	CRN string
	// Address is the seller's postal address (BG-5, BR-KSA-09); zero when
	// none was configured, and then the document has none, as documents
	// issued before it was kept.
	Address Address
}

// Address is a Saudi national address, as ZATCA reads a seller's: all of
// it or nothing (BR-KSA-09). Its country is always SA.
type Address struct {
	Street         string `json:"street"`          // BT-35
	BuildingNumber string `json:"building_number"` // KSA-17, 4 digits (BR-KSA-37)
	District       string `json:"district"`        // KSA-3, CitySubdivisionName
	City           string `json:"city"`            // BT-37
	PostalCode     string `json:"postal_code"`     // BT-38, 5 digits
}

// IsZero says no address is configured.
func (a Address) IsZero() bool { return a == Address{} }

// Invoice is a tax invoice, a refund invoice (credit note) or a debit
// note. Amounts are minor units of Currency and VAT-inclusive unless named
// "excluding tax"; TotalAmount == NetAmount is what was paid or returned,
// and TotalAmount - TotalExcludingTax - TaxAmount is the document's
// rounding (Rounding), a unit or so that ZATCA's VAT rule cannot place.
type Invoice struct {
	ID           int64 // assigned by Tx.CreateInvoice
	MerchantID   string
	OrderID      string
	RefundID     string // credit and debit notes: the refund
	AdjustmentID string // credit notes of a void or chargeback (no RefundID): the OrderAdjustment
	ParentID     int64  // credit notes: the tax invoice; debit notes: the credit note
	ParentSerial string
	// BillingSerial is the serial a note's billing reference (BT-25) names:
	// the tax invoice's, for a credit note and for a debit note alike (ZATCA
	// reads BT-25 as the original invoice a note corrects). "" on notes
	// issued before it was kept (migration 0031), whose XML names
	// ParentSerial: a debit note's then named its credit note, and its XML
	// stays as it was sealed.
	BillingSerial string
	Serial        string // <prefix><year><5 digits>, gapless per merchant and year
	Number        int64  // the counter inside Serial
	Type          InvoiceType
	Status        InvoiceStatus
	Currency      string
	Reason        string // refund invoices: the refund reason, or a void's or chargeback's (the credit note's note)
	Seller        Seller
	Customer      Customer
	PaymentMethod string
	Lines         []InvoiceLine

	SubTotalAmount int64 // the lines' net amounts
	ShippingAmount int64
	// ShippingExcludingTax and ShippingTaxAmount split ShippingAmount; both
	// are part of TotalExcludingTax and TaxAmount.
	ShippingExcludingTax int64
	ShippingTaxAmount    int64
	DiscountAmount       int64
	NetAmount            int64 // SubTotal + Shipping - Discount
	TotalExcludingTax    int64
	TaxAmount            int64
	TotalAmount          int64
	TaxRate              string // percent: the lines' rate, the highest when they differ
	// CreditedShipping is, on a tax invoice, the shipping its credit notes
	// credit, and the two after it the net and VAT they state of it (see
	// InvoiceLine.Credited).
	CreditedShipping             int64
	CreditedShippingExcludingTax int64
	CreditedShippingTax          int64

	ZATCAStatus  ZATCAStatus
	InvoiceError string // why reporting failed or was aborted, or the last attempt's error
	// ZATCAAttempts counts reporting attempts; ZATCANextAt is when the
	// queue tries next (pending documents only).
	ZATCAAttempts int
	ZATCANextAt   time.Time

	// The ZATCA phase-2 chain, set when the document is issued: ICV is the
	// merchant's invoice counter value (every document, one after the
	// other), PreviousHash the hash of the merchant's previous document
	// (PIH), Hash this document's, Signature its signature by the
	// Invoicer's key and PublicKey that key's public half (DER; base64
	// each).
	ICV          int64
	PreviousHash string
	Hash         string
	Signature    string
	PublicKey    string

	// IssuedAt is when the document was issued: a credit note's is when
	// its refund succeeded and it was chained (until then, a draft, when
	// its refund was made), as the date ZATCA judges its reporting by.
	IssuedAt  time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// InvoiceLine is one line of an invoice: on a tax invoice an order line, on
// a refund invoice what the refund takes back of one.
type InvoiceLine struct {
	ID           int64  // assigned by Tx.CreateInvoice
	ItemID       string // the order line
	ParentLineID int64  // refund lines: the tax invoice's line
	SKU          string
	NameEN       string
	NameAR       string
	Qty          int64
	UnitAmount   int64
	Amount       int64 // before discount
	Discount     int64
	NetAmount    int64 // Amount - Discount, VAT included
	// TotalExcludingTax and TaxAmount state NetAmount as ZATCA computes VAT
	// (money.SplitTaxed; a credit's by its position, see package invoice);
	// NetAmount - TotalExcludingTax - TaxAmount is the line's rounding.
	TotalExcludingTax int64
	TaxAmount         int64
	TaxRate           string // percent; "0" for an untaxed line
	Taxable           bool
	// ExemptionCode is a zero-rated or untaxed line's VAT exemption
	// reason code (ZATCA's VATEX-SA-..., BT-121), its text rendered from
	// it; "" on a standard-rated line, and on the lines of documents
	// issued before it was kept (migration 0034), which render as they
	// were sealed.
	ExemptionCode string
	// Credited is, on a tax invoice's line, the net amount (VAT included)
	// that its credit notes which are not void credit, less what debit
	// notes took back: where the next credit note of the line starts. The
	// Service keeps it (Tx.AddCredited) as notes are issued, voided and
	// revived, so a refund reads the tax invoice, not every earlier note.
	Credited int64
	// CreditedExcludingTax and CreditedTax are what those notes state of
	// the line's net and VAT, kept with Credited. A note voided after
	// later notes of the line were built leaves them apart from the split
	// at Credited, so the next note starts from them, not from it.
	CreditedExcludingTax int64
	CreditedTax          int64

	// RefundedQty and RefundedAmount are not stored: reads of a tax
	// invoice fill them from its paid refund invoices.
	RefundedQty    int64
	RefundedAmount int64
}

// InvoiceConfig is a merchant's invoicing settings.
type InvoiceConfig struct {
	MerchantID   string
	SerialPrefix string
	SellerName   string // "" prints the merchant's name
	VATNumber    string // "" prints the merchant's VAT number
	// CRN and Address are the seller's commercial registration number and
	// postal address its documents carry (Seller): "" and zero for none,
	// as before they were kept. Neither falls back to the merchant's
	// records (a merchant's CR is a lookup key of up to 20 digits, not
	// always the 10-digit CRN ZATCA wants).
	CRN          string
	Address      Address
	ZATCAEnabled bool // report invoices to ZATCA
	UpdatedAt    time.Time
}

// InvoiceFilter selects invoices of one merchant.
type InvoiceFilter struct {
	MerchantID string
	OrderID    string
	RefundID   string
	// AdjustmentID selects the credit notes of a void or chargeback the
	// store holds (OrderAdjustment.ID): a store may find them through the
	// adjustment's order.
	AdjustmentID string
	ParentID     int64
	Type         InvoiceType
	Status       InvoiceStatus
	ZATCAStatus  ZATCAStatus
	Serial       string
	Cursor       int64 // ids strictly below this one; 0: from the newest
	Offset       int   // rows to skip after the cursor (page-number surfaces)
	Limit        int
}

// InvoiceTx is the invoicing part of a transaction.
type InvoiceTx interface {
	// CreateInvoice inserts inv and its lines and assigns inv.ID and each
	// line's ID. A second tax invoice for an order, a second refund
	// invoice for a refund or a reused serial returns EConflict.
	CreateInvoice(ctx context.Context, inv *Invoice) error
	// GetInvoice returns an invoice with its lines, or EInvoiceNotFound
	// (also for another merchant's); merchantID "" matches any.
	GetInvoice(ctx context.Context, merchantID string, id int64) (*Invoice, error)
	// ListInvoices returns invoices with their lines, newest first (by id).
	ListInvoices(ctx context.Context, f InvoiceFilter) ([]*Invoice, error)
	// CountInvoices counts what f selects, ignoring Cursor, Offset, Limit.
	CountInvoices(ctx context.Context, f InvoiceFilter) (int, error)
	// UpdateInvoice writes Status, ZATCAStatus, InvoiceError,
	// ZATCAAttempts, ZATCANextAt, the chain fields (ICV, PreviousHash,
	// Hash, Signature, PublicKey), IssuedAt and UpdatedAt. Returns
	// EInvoiceNotFound.
	UpdateInvoice(ctx context.Context, inv *Invoice) error
	// AddCredited adds lines[id] to the Credited, CreditedExcludingTax
	// and CreditedTax of each line id of tax invoice invoiceID, and
	// shipping to its CreditedShipping and their split (CreateInvoice
	// stores them as 0). A line that is not the invoice's, or an invoice
	// that is not a tax invoice, is EInvoiceNotFound.
	AddCredited(ctx context.Context, invoiceID int64, lines map[int64]Credit, shipping Credit) error
	// ResplitInvoice writes the VAT split of a void credit note never
	// chained (ICV 0): TotalExcludingTax, TaxAmount, ShippingExcludingTax,
	// ShippingTaxAmount and each line's (by ID) TotalExcludingTax and
	// TaxAmount. Any other invoice is EConflict; a line that is not the
	// note's, EInvoiceNotFound.
	ResplitInvoice(ctx context.Context, inv *Invoice) error
	// ClaimInvoiceReports returns up to limit pending documents due at now
	// (ZATCANextAt <= now), oldest first, with their lines, and moves
	// their ZATCANextAt to until, so no other node takes them meanwhile.
	ClaimInvoiceReports(ctx context.Context, now, until time.Time, limit int) ([]*Invoice, error)
	// NextInvoiceNumber increments and returns the merchant's invoice
	// counter for year (the first is 1). The counter is part of the
	// transaction: a rollback gives the number back, so committed numbers
	// have no gaps, and concurrent transactions take numbers one after the
	// other.
	NextInvoiceNumber(ctx context.Context, merchantID string, year int) (int64, error)
	// NextInvoiceChain advances the merchant's document chain in the
	// transaction: it returns the next counter value (the first is 1) and
	// the previous document's hash (InitialInvoiceHash for the first).
	NextInvoiceChain(ctx context.Context, merchantID string) (icv int64, previousHash string, err error)
	// SetInvoiceChainHead records hash as the merchant's latest document's.
	SetInvoiceChainHead(ctx context.Context, merchantID, hash string) error
	// GetInvoiceConfig returns ENotFound when the merchant never set one.
	GetInvoiceConfig(ctx context.Context, merchantID string) (*InvoiceConfig, error)
	// PutInvoiceConfig inserts or replaces the merchant's configuration.
	PutInvoiceConfig(ctx context.Context, c *InvoiceConfig) error
}

// Invoicer builds invoice documents and reports them to ZATCA; package
// invoice implements it and holds the VAT arithmetic. The Service calls it
// inside the transactions that create orders and move refunds, which a
// store may run more than once, so its methods must not have effects
// outside what they return (a real reporting connector queues the document
// rather than calling out).
type Invoicer interface {
	// Sale builds the tax invoice of o: lines, totals, VAT.
	Sale(o *Order, seller Seller) (*Invoice, error)
	// Refund builds the credit note of r against parent, from what its
	// lines and shipping have already credited (InvoiceLine.Credited,
	// Invoice.CreditedShipping).
	Refund(parent *Invoice, r *Refund, seller Seller) (*Invoice, error)
	// Credit builds the credit note of amount against parent for what is
	// no refund (a void or chargeback), spread over the lines and shipping
	// as a refund that names no lines is, with reason as its note.
	Credit(parent *Invoice, amount int64, reason string, seller Seller) (*Invoice, error)
	// Debit builds the debit note that takes back credit (its refund was
	// reversed).
	Debit(credit *Invoice, seller Seller) (*Invoice, error)
	// Report reports a final document (parent: the one a credit or debit
	// note corrects, already reported) and says how it went: reported,
	// failed with the authority's reason, or pending with the error that
	// kept it from being handed over (the queue tries again). Reporting the
	// same document (the same UUID) again must answer as the first time.
	Report(ctx context.Context, inv, parent *Invoice) (ZATCAStatus, string)
	// Seal computes inv's Hash and Signature, its ICV and PreviousHash set.
	Seal(inv *Invoice) error
	// Reportable says whether the authority can ever accept inv (ZATCA
	// takes documents in SAR only). One it never can is sealed but takes
	// no place in the merchant's chain: the authority reads the chain (the
	// counter, each document's previous hash) from what it receives.
	Reportable(inv *Invoice) bool
	// Inline says Report is quick and local (the sandbox): the first
	// attempt is then made in the transaction that makes a document final.
	// Otherwise only the queue calls it, outside any transaction.
	Inline() bool
}

// InvoiceView is an invoice with what surfaces show beside it.
type InvoiceView struct {
	*Invoice
	Order   *Order     // without its items, vendors and transactions
	Parent  *Invoice   // refund invoices: the tax invoice
	Refund  *Refund    // refund invoices: the refund (nil for a void's or chargeback's)
	Refunds []*Invoice // tax invoices: the refund invoices against it, oldest first
}

// maxChildren bounds how many refund invoices of one tax invoice a view
// reads; an order has at most 500 lines, and no real one this many refunds.
const maxChildren = 1000

// GetInvoice returns one of the caller's invoices.
func (s *Service) GetInvoice(ctx context.Context, p Principal, id int64) (*InvoiceView, error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return nil, err
	}
	var v *InvoiceView
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		inv, err := tx.GetInvoice(ctx, p.MerchantID, id)
		if err != nil {
			return err
		}
		v, err = s.invoiceView(ctx, tx, inv)
		return err
	})
	return v, err
}

// ListInvoices lists the caller's invoices, newest first.
func (s *Service) ListInvoices(ctx context.Context, p Principal, f InvoiceFilter) (Page[*InvoiceView], error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return Page[*InvoiceView]{}, err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*InvoiceView]{}, err
	}
	if err := f.validate(); err != nil {
		return Page[*InvoiceView]{}, err
	}
	f.MerchantID, f.Limit = p.MerchantID, limit+1
	var rows []*InvoiceView
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		invs, err := tx.ListInvoices(ctx, f)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			v, err := s.invoiceView(ctx, tx, inv)
			if err != nil {
				return err
			}
			rows = append(rows, v)
		}
		return nil
	})
	if err != nil {
		return Page[*InvoiceView]{}, err
	}
	return paginate(rows, limit, func(v *InvoiceView) string { return strconv.FormatInt(v.ID, 10) }), nil
}

// CountInvoices counts the caller's invoices that f selects.
func (s *Service) CountInvoices(ctx context.Context, p Principal, f InvoiceFilter) (int, error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return 0, err
	}
	if err := f.validate(); err != nil {
		return 0, err
	}
	f.MerchantID = p.MerchantID
	var n int
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		n, err = tx.CountInvoices(ctx, f)
		return err
	})
	return n, err
}

func (f *InvoiceFilter) validate() error {
	switch {
	case f.Type != "" && f.Type != InvoiceSale && f.Type != InvoiceRefund && f.Type != InvoiceDebit:
		return Errorf(EInvalidRequest, "type", "type must be invoice, refund or debit")
	case f.Status != "" && f.Status != InvoicePending && f.Status != InvoicePaid && f.Status != InvoiceVoid:
		return Errorf(EInvalidRequest, "status", "status must be pending, paid or void")
	case f.ZATCAStatus != "" && f.ZATCAStatus != ZATCANotSubmitted && f.ZATCAStatus != ZATCAPending && f.ZATCAStatus != ZATCAReported &&
		f.ZATCAStatus != ZATCAFailed && f.ZATCAStatus != ZATCAAborted:
		return Errorf(EInvalidRequest, "zatca_status", "zatca_status must be not_submitted, pending, reported, failed or aborted")
	case f.Offset < 0 || f.Offset > 1_000_000:
		return Errorf(EInvalidRequest, "offset", "offset must be between 0 and 1000000")
	case f.Cursor < 0:
		return Errorf(EInvalidRequest, "cursor", "cursor must be an invoice id")
	}
	return nil
}

// invoiceView loads what is shown beside inv, in tx.
func (s *Service) invoiceView(ctx context.Context, tx Tx, inv *Invoice) (*InvoiceView, error) {
	v := &InvoiceView{Invoice: inv}
	// The order's row alone: its transactions grow with its refunds, and
	// a view (one per invoice of a list, one per Techrar refund's reply)
	// needs none of them.
	os, err := tx.ListOrders(ctx, OrderFilter{MerchantID: inv.MerchantID, ID: inv.OrderID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(os) == 0 {
		return nil, Errorf(EOrderNotFound, "", "order %q not found", inv.OrderID)
	}
	v.Order = os[0]
	switch inv.Type {
	case InvoiceRefund, InvoiceDebit:
		if v.Parent, err = tx.GetInvoice(ctx, inv.MerchantID, inv.ParentID); err != nil {
			return nil, err
		}
		if inv.RefundID == "" {
			break // a void's or chargeback's note (AdjustmentID)
		}
		if v.Refund, err = tx.GetRefund(ctx, inv.MerchantID, inv.RefundID); err != nil {
			return nil, err
		}
	case InvoiceSale:
		if v.Refunds, err = tx.ListInvoices(ctx, InvoiceFilter{MerchantID: inv.MerchantID, ParentID: inv.ID, Limit: maxChildren}); err != nil {
			return nil, err
		}
		slices.Reverse(v.Refunds)
		// What each line gave back so far: the lines of the credit notes
		// whose refunds succeeded, less the debit notes of reversed ones.
		debits, err := tx.ListInvoices(ctx, InvoiceFilter{MerchantID: inv.MerchantID, OrderID: inv.OrderID, Type: InvoiceDebit, Limit: maxChildren})
		if err != nil {
			return nil, err
		}
		for _, child := range append(slices.Clone(v.Refunds), debits...) {
			sign := int64(1)
			if child.Type == InvoiceDebit {
				sign = -1
			}
			if child.Status != InvoicePaid {
				continue
			}
			for _, cl := range child.Lines {
				for i := range inv.Lines {
					if inv.Lines[i].ID == cl.ParentLineID {
						inv.Lines[i].RefundedQty += sign * cl.Qty
						inv.Lines[i].RefundedAmount += sign * cl.NetAmount
					}
				}
			}
		}
	}
	return v, nil
}

// IssueInvoice issues the tax invoice of an order recorded before
// invoicing, or returns the one it has (created false). Refunds made
// before it was issued get no refund invoice.
func (s *Service) IssueInvoice(ctx context.Context, p Principal, orderID string) (_ *InvoiceView, _ bool, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeOrdersWrite); err != nil {
		return nil, false, err
	}
	if s.cfg.Invoicer == nil {
		return nil, false, Errorf(EInvalidRequest, "", "invoicing is not configured on this server")
	}
	// Keyed, so that a store takes the merchant's invoice chain before the
	// order's row, as for its refunds (WithOrderKey).
	ctx = WithOrderKey(ctx, p.MerchantID, orderID)
	var v *InvoiceView
	var created bool
	err = s.write(ctx, func(tx Tx) error {
		created = false
		o, err := tx.GetOrder(ctx, p.MerchantID, orderID)
		if err != nil {
			return err
		}
		inv, err := saleInvoice(ctx, tx, o)
		switch {
		case err == nil:
		case ErrorCode(err) != EInvoiceNotFound:
			return err
		case len(o.Items) == 0:
			return Errorf(EInvalidRequest, "", "order %s has no line items to invoice", o.ID)
		default:
			now := s.now()
			if inv, err = s.issueSale(ctx, tx, o, now); err != nil {
				return err
			}
			created = true
			if err := s.audit(ctx, tx, p, "invoice.issue", "invoice", strconv.FormatInt(inv.ID, 10), "", string(inv.Status), "", now); err != nil {
				return err
			}
		}
		v, err = s.invoiceView(ctx, tx, inv)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return v, created, nil
}

// InvoiceLineRefund refunds part of one line of a tax invoice, named by
// the line's id; Amount nil refunds Qty units at the line's unit amount.
type InvoiceLineRefund struct {
	LineID int64
	Qty    int64
	Amount *int64
	// AmountDecimal, when set, is the amount as the request wrote it, a
	// decimal in the invoice's currency ("10.33"; zero is no amount): a
	// surface that does not know the currency before the invoice is read
	// leaves the parsing to RefundInvoice, which reads the invoice anyway.
	AmountDecimal string
}

// RefundInvoice refunds lines of one of the caller's tax invoices (in
// carries the reason, idempotency key and surface; its OrderID and Items
// are set from the invoice) and returns the refund with its refund
// invoice. Errors about a line carry Param "items[<i>]...", i indexing
// lines.
func (s *Service) RefundInvoice(ctx context.Context, p Principal, invoiceID int64, lines []InvoiceLineRefund, in RefundInput) (*Refund, *InvoiceView, error) {
	if err := MayRefundInvoices(p); err != nil {
		return nil, nil, err
	}
	if len(lines) == 0 {
		return nil, nil, Errorf(EInvalidRequest, "items", "name at least one invoice line to refund")
	}
	var inv *Invoice
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		inv, err = tx.GetInvoice(ctx, p.MerchantID, invoiceID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if inv.Type != InvoiceSale {
		return nil, nil, Errorf(EInvalidRequest, "", "invoice %d is a refund invoice; refund its tax invoice %d instead", inv.ID, inv.ParentID)
	}
	cur, err := money.LookupCurrency(inv.Currency)
	if err != nil {
		return nil, nil, err // the invoice's currency was checked when its order was made
	}
	in.OrderID, in.Items, in.Amount = inv.OrderID, nil, nil
	for i, l := range lines {
		param := "items[" + itoa(i) + "]"
		if l.AmountDecimal != "" {
			n, err := money.ParseDecimal(l.AmountDecimal, cur)
			if err != nil {
				return nil, nil, Errorf(EInvalidAmount, param+".amount", "%s.amount: %v", param, err)
			}
			l.Amount = nil
			if n > 0 {
				l.Amount = &n
			}
		}
		j := slices.IndexFunc(inv.Lines, func(x InvoiceLine) bool { return x.ID == l.LineID })
		if j < 0 {
			return nil, nil, Errorf(EInvalidRequest, param+".id", "invoice %d has no line %d", inv.ID, l.LineID)
		}
		in.Items = append(in.Items, RefundItemInput{ItemID: inv.Lines[j].ItemID, Qty: l.Qty, Amount: l.Amount})
	}
	r, err := s.CreateRefund(ctx, p, in)
	if err != nil {
		return nil, nil, err
	}
	var v *InvoiceView
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		invs, err := tx.ListInvoices(ctx, InvoiceFilter{MerchantID: p.MerchantID, RefundID: r.ID, Limit: 1})
		if err != nil {
			return err
		}
		if len(invs) == 0 {
			return fmt.Errorf("refund: refund %s of invoice %d has no refund invoice", r.ID, inv.ID)
		}
		v, err = s.invoiceView(ctx, tx, invs[0])
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return r, v, nil
}

// MayRefundInvoices refuses a caller RefundInvoice would refuse for its
// scopes, for a surface that checks them before it reads the request.
func MayRefundInvoices(p Principal) error {
	if err := require(p, ScopeRefundsWrite); err != nil {
		return err
	}
	// The answer is the refund invoice, its customer and lines: what a key
	// reads with orders:read.
	return require(p, ScopeOrdersRead)
}

// saleInvoice returns the tax invoice of o, or EInvoiceNotFound.
func saleInvoice(ctx context.Context, tx Tx, o *Order) (*Invoice, error) {
	invs, err := tx.ListInvoices(ctx, InvoiceFilter{MerchantID: o.MerchantID, OrderID: o.ID, Type: InvoiceSale, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(invs) == 0 {
		return nil, Errorf(EInvoiceNotFound, "", "order %s has no tax invoice", o.ID)
	}
	return invs[0], nil
}

// Credit is what a note credits of one tax invoice line, or of its
// shipping (Tx.AddCredited): the amount, VAT included, and the net and
// VAT it states of it.
type Credit struct {
	Amount, ExcludingTax, Tax int64
}

// invoicing is what issuing an invoice needs to know about the merchant.
type invoicing struct {
	cfg    *InvoiceConfig
	seller Seller
}

func (s *Service) invoicing(ctx context.Context, tx Tx, merchantID string) (*invoicing, error) {
	m, err := tx.GetMerchant(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	cfg, err := invoiceConfig(ctx, tx, merchantID)
	if err != nil {
		return nil, err
	}
	seller := Seller{Name: orDefault(cfg.SellerName, m.Name), VATNumber: orDefault(cfg.VATNumber, m.VATNumber),
		CRN: cfg.CRN, Address: cfg.Address}
	return &invoicing{cfg: cfg, seller: seller}, nil
}

// orDefault returns a, or b when a is empty.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// invoiceConfig returns the merchant's configuration, or the defaults.
func invoiceConfig(ctx context.Context, tx Tx, merchantID string) (*InvoiceConfig, error) {
	c, err := tx.GetInvoiceConfig(ctx, merchantID)
	if ErrorCode(err) == ENotFound {
		return &InvoiceConfig{MerchantID: merchantID, SerialPrefix: DefaultSerialPrefix, ZATCAEnabled: true}, nil
	}
	return c, err
}

// InitialInvoiceHash is the previous-invoice hash of a merchant's first
// document, as ZATCA defines it: base64 of the hex SHA-256 of "0".
const InitialInvoiceHash = "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="

// chain links inv into the merchant's document chain and seals it, in tx.
//
// A document the authority will never accept (Invoicer.Reportable: not in
// SAR) is sealed outside the chain, with no counter value and no previous
// hash: ZATCA counts and chains what it receives (KSA-16, KSA-13), so had
// it taken a place, the next document it does receive would show a gap
// in the counter and name as previous a hash it never saw. Its XML states
// its serial number as its counter, as documents issued before the chain
// do. It still goes to the reporter, which refuses it (the sandbox names
// the rule), so its status says why ZATCA never has it.
func (s *Service) chain(ctx context.Context, tx Tx, inv *Invoice) error {
	if !s.cfg.Invoicer.Reportable(inv) {
		inv.ICV, inv.PreviousHash = 0, ""
		return s.cfg.Invoicer.Seal(inv)
	}
	icv, prev, err := tx.NextInvoiceChain(ctx, inv.MerchantID)
	if err != nil {
		return err
	}
	inv.ICV, inv.PreviousHash = icv, prev
	if err := s.cfg.Invoicer.Seal(inv); err != nil {
		return err
	}
	return tx.SetInvoiceChainHead(ctx, inv.MerchantID, inv.Hash)
}

// number gives inv the merchant's next serial, in tx.
func (s *Service) number(ctx context.Context, tx Tx, inv *Invoice, prefix string, now time.Time) error {
	year := now.In(InvoiceZone).Year()
	n, err := tx.NextInvoiceNumber(ctx, inv.MerchantID, year)
	if err != nil {
		return err
	}
	inv.Number, inv.Serial = n, fmt.Sprintf("%s%d%05d", prefix, year, n)
	return nil
}

// report queues a final document for ZATCA unless the merchant turned
// reporting off, and makes the first attempt at once when the reporter is
// in-process.
func (s *Service) report(ctx context.Context, inv, parent *Invoice, cfg *InvoiceConfig, now time.Time) {
	if !cfg.ZATCAEnabled {
		inv.ZATCAStatus, inv.InvoiceError, inv.ZATCANextAt = ZATCANotSubmitted, "", time.Time{}
		return
	}
	inv.ZATCAStatus, inv.ZATCANextAt = ZATCAPending, now
	if s.cfg.Invoicer.Inline() {
		s.attemptReport(ctx, inv, parent, now)
	}
}

// attemptReport makes one reporting attempt of a pending document and
// moves it on: reported; failed; aborted when the document it corrects
// will never be reported; or still pending, due again after the backoff
// (without an attempt counted while it waits for its parent).
func (s *Service) attemptReport(ctx context.Context, inv, parent *Invoice, now time.Time) {
	if inv.Type != InvoiceSale {
		switch {
		case parent == nil || parent.ZATCAStatus == ZATCAFailed || parent.ZATCAStatus == ZATCAAborted ||
			parent.ZATCAStatus == ZATCANotSubmitted:
			inv.ZATCAStatus, inv.InvoiceError, inv.ZATCANextAt = ZATCAAborted, ErrParentNotReported, time.Time{}
			return
		case parent.ZATCAStatus == ZATCAPending:
			inv.ZATCANextAt = now.Add(zatcaBackoff[0]) // its parent goes first
			return
		}
	}
	status, msg := s.cfg.Invoicer.Report(ctx, inv, parent)
	inv.ZATCAAttempts++
	switch {
	case status == ZATCAPending && inv.ZATCAAttempts >= zatcaMaxAttempts:
		inv.ZATCAStatus, inv.InvoiceError, inv.ZATCANextAt = ZATCAFailed, fmt.Sprintf("gave up after %d attempts: %s", inv.ZATCAAttempts, msg), time.Time{}
	case status == ZATCAPending:
		inv.InvoiceError, inv.ZATCANextAt = msg, now.Add(zatcaBackoff[min(inv.ZATCAAttempts, len(zatcaBackoff))-1])
	default:
		inv.ZATCAStatus, inv.InvoiceError, inv.ZATCANextAt = status, msg, time.Time{}
	}
}

// ErrParentNotReported is the invoice_error of a credit or debit note
// whose parent document will never be reported, word for word as the
// Techrar seed shows it.
const ErrParentNotReported = "Parent invoice must be successfully published before creating a return invoice."

// ReportInvoices is the reporting queue's pass: it claims up to limit due
// pending documents and makes one attempt at each, outside any
// transaction, recording each outcome. Returns how many it claimed.
func (s *Service) ReportInvoices(ctx context.Context, limit int) (int, error) {
	if s.cfg.Invoicer == nil {
		return 0, nil
	}
	var due []*Invoice
	err := s.write(ctx, func(tx Tx) (err error) {
		now := s.now()
		due, err = tx.ClaimInvoiceReports(ctx, now, now.Add(s.cfg.Lease), limit)
		return err
	})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	for _, inv := range due {
		var parent *Invoice
		if inv.ParentID != 0 {
			if err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
				parent, err = tx.GetInvoice(ctx, inv.MerchantID, inv.ParentID)
				return err
			}); err != nil {
				return 0, err
			}
		}
		s.attemptReport(ctx, inv, parent, s.now())
		err := s.write(ctx, func(tx Tx) error {
			cur, err := tx.GetInvoice(ctx, inv.MerchantID, inv.ID)
			if err != nil || cur.ZATCAStatus != ZATCAPending {
				return err // settled meanwhile: keep what is there
			}
			cur.ZATCAStatus, cur.InvoiceError, cur.ZATCAAttempts, cur.ZATCANextAt = inv.ZATCAStatus, inv.InvoiceError, inv.ZATCAAttempts, inv.ZATCANextAt
			cur.UpdatedAt = s.now()
			return tx.UpdateInvoice(ctx, cur)
		})
		if err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// issueSale issues the tax invoice of a captured order with items, in the
// transaction that records it (or, on request, later).
func (s *Service) issueSale(ctx context.Context, tx Tx, o *Order, now time.Time) (*Invoice, error) {
	ic, err := s.invoicing(ctx, tx, o.MerchantID)
	if err != nil {
		return nil, err
	}
	inv, err := s.cfg.Invoicer.Sale(o, ic.seller)
	if err != nil {
		return nil, err
	}
	inv.MerchantID, inv.OrderID, inv.Type, inv.Status = o.MerchantID, o.ID, InvoiceSale, InvoicePaid
	inv.IssuedAt, inv.CreatedAt, inv.UpdatedAt = now, now, now
	if err := s.issue(ctx, tx, inv, nil, ic.cfg, now); err != nil {
		return nil, err
	}
	return inv, nil
}

// issue numbers, chains, seals, reports (parent: the document inv
// corrects; nil for a tax invoice) and stores inv, in tx: what a document
// final when it is issued goes through.
func (s *Service) issue(ctx context.Context, tx Tx, inv, parent *Invoice, cfg *InvoiceConfig, now time.Time) error {
	if err := s.number(ctx, tx, inv, cfg.SerialPrefix, now); err != nil {
		return err
	}
	if err := s.chain(ctx, tx, inv); err != nil {
		return err
	}
	s.report(ctx, inv, parent, cfg, now)
	return tx.CreateInvoice(ctx, inv)
}

// issueOnCreate issues the tax invoice of a new order that has items.
func (s *Service) issueOnCreate(ctx context.Context, tx Tx, o *Order, now time.Time) error {
	if s.cfg.Invoicer == nil || len(o.Items) == 0 {
		return nil
	}
	_, err := s.issueSale(ctx, tx, o, now)
	return err
}

// issueRefundInvoice issues, pending, the credit note of a new refund of
// an invoiced order, whatever the surface and whether or not it names
// lines, in the refund's transaction.
func (s *Service) issueRefundInvoice(ctx context.Context, tx Tx, o *Order, r *Refund, now time.Time) error {
	parent, ic, err := s.creditable(ctx, tx, o)
	if parent == nil || err != nil {
		return err
	}
	// parent's lines say what earlier refunds credited (pending ones
	// included, as their money is reserved) and debit notes gave back.
	inv, err := s.cfg.Invoicer.Refund(parent, r, ic.seller)
	if err != nil {
		return err
	}
	if len(inv.Lines) == 0 && inv.ShippingAmount == 0 {
		return nil // the invoice has nothing left to credit (refunds made before it was issued)
	}
	inv.MerchantID, inv.OrderID, inv.RefundID, inv.Type = o.MerchantID, o.ID, r.ID, InvoiceRefund
	inv.ParentID, inv.ParentSerial = parent.ID, parent.Serial
	inv.Status, inv.ZATCAStatus = InvoicePending, ZATCANotSubmitted
	inv.IssuedAt, inv.CreatedAt, inv.UpdatedAt = now, now, now
	if err := s.number(ctx, tx, inv, ic.cfg.SerialPrefix, now); err != nil {
		return err
	}
	// Not chained yet: a credit note joins the merchant's chain when its
	// refund succeeds (settleInvoice), so one that ends void never takes a
	// counter value ZATCA would miss.
	if err := tx.CreateInvoice(ctx, inv); err != nil {
		return err
	}
	return tally(ctx, tx, parent.ID, inv, 1)
}

// creditable returns the tax invoice of o that a credit note of it
// credits, with its merchant's invoicing, or a nil invoice when o has
// none: invoicing is off, or o was never invoiced.
func (s *Service) creditable(ctx context.Context, tx Tx, o *Order) (*Invoice, *invoicing, error) {
	if s.cfg.Invoicer == nil || len(o.Items) == 0 {
		// Only an order with items has a tax invoice (issueSale), and
		// items are fixed when the order is made: nothing to look up.
		return nil, nil, nil
	}
	parent, err := saleInvoice(ctx, tx, o)
	if ErrorCode(err) == EInvoiceNotFound {
		return nil, nil, nil // the order was never invoiced
	}
	if err != nil {
		return nil, nil, err
	}
	ic, err := s.invoicing(ctx, tx, o.MerchantID)
	if err != nil {
		return nil, nil, err
	}
	return parent, ic, nil
}

// issueAdjustmentNote issues the credit note of amount, what void or
// chargeback a applies to o now (all it applied, or the part applyOwed
// applies later), in the transaction that applies it: the supply's
// consideration went down as by a refund, and Saudi VAT wants a credit
// note for that too. The adjustment is final, so its note is paid at once
// and chained, sealed and reported as a succeeded refund's. Only an order
// with a tax invoice gets one.
//
// The order's guard keeps what its refunds, voids and chargebacks hold
// within its capture, and the capture is at most the order's amount, which
// the tax invoice states; its live notes credit no more than what they
// hold. So what the invoice has left covers amount, and the note states
// all of it: a chargeback's part that did not fit the order was not
// applied, and gets no note until it is (applyOwed). An invoice issued
// after money left the order (IssueInvoice) only has more room.
func (s *Service) issueAdjustmentNote(ctx context.Context, tx Tx, o *Order, a *OrderAdjustment, amount int64, now time.Time) error {
	if amount <= 0 {
		return nil
	}
	parent, ic, err := s.creditable(ctx, tx, o)
	if parent == nil || err != nil {
		return err
	}
	inv, err := s.cfg.Invoicer.Credit(parent, amount, adjustmentReason(a), ic.seller)
	if err != nil {
		return err
	}
	if inv.TotalAmount != amount {
		// The guard rules this out (above); should it happen, the VAT
		// credited falls short of the money, and someone must look.
		s.log.Warn("credit note of a void or chargeback states less than it applied", "order", o.ID,
			"adjustment", a.ID, "applied", amount, "credited", inv.TotalAmount)
	}
	if len(inv.Lines) == 0 && inv.ShippingAmount == 0 {
		return nil // nothing left to credit, which the guard rules out (above): no empty note
	}
	inv.MerchantID, inv.OrderID, inv.AdjustmentID, inv.Type = o.MerchantID, o.ID, a.ID, InvoiceRefund
	inv.ParentID, inv.ParentSerial, inv.Status = parent.ID, parent.Serial, InvoicePaid
	inv.IssuedAt, inv.CreatedAt, inv.UpdatedAt = now, now, now
	if err := s.issue(ctx, tx, inv, parent, ic.cfg, now); err != nil {
		return err
	}
	return tally(ctx, tx, parent.ID, inv, 1)
}

// adjustmentReason is the note (KSA-10, the reason for issuing) of a's
// credit note: what it is, then the reason it was given, if any.
func adjustmentReason(a *OrderAdjustment) string {
	what := map[string]string{AdjustmentVoid: "void", AdjustmentChargeback: "chargeback"}[a.Kind]
	if a.Reason == "" {
		return what
	}
	return what + ": " + a.Reason
}

// tally adds what note states to what its tax invoice (invoiceID) has
// credited (sign 1), or takes it off (sign -1). A credit note counts while
// it is not void; a debit note takes its credit note's amounts back.
func tally(ctx context.Context, tx Tx, invoiceID int64, note *Invoice, sign int64) error {
	lines := map[int64]Credit{}
	for _, l := range note.Lines {
		c := lines[l.ParentLineID]
		c.Amount += sign * l.NetAmount
		c.ExcludingTax += sign * l.TotalExcludingTax
		c.Tax += sign * l.TaxAmount
		lines[l.ParentLineID] = c
	}
	return tx.AddCredited(ctx, invoiceID, lines, Credit{sign * note.ShippingAmount,
		sign * note.ShippingExcludingTax, sign * note.ShippingTaxAmount})
}

// settleInvoice moves the credit note of r, if it has one, with r's new
// final state, and reports it once paid; a reversal of a paid one issues
// its debit note.
func (s *Service) settleInvoice(ctx context.Context, tx Tx, r *Refund, now time.Time) error {
	if s.cfg.Invoicer == nil {
		return nil
	}
	invs, err := tx.ListInvoices(ctx, InvoiceFilter{MerchantID: r.MerchantID, RefundID: r.ID, Type: InvoiceRefund, Limit: 1})
	if err != nil || len(invs) == 0 {
		return err
	}
	inv := invs[0]
	if r.Status == StatusReversed && inv.Status == InvoicePaid {
		return s.issueDebitNote(ctx, tx, inv, now)
	}
	switch r.Status {
	case StatusSucceeded:
		parent, err := tx.GetInvoice(ctx, r.MerchantID, inv.ParentID)
		if err != nil {
			return err
		}
		if inv.Status == InvoiceVoid {
			// A failed refund found executed after all: its credit note was
			// voided, and other refunds may have credited those lines since.
			// Only a note that still fits comes back; otherwise it stays
			// void rather than credit a line beyond its invoice.
			if fits, err := s.refit(ctx, tx, parent, inv, r); err != nil || !fits {
				if err == nil {
					s.log.Warn("credit note of a revived refund no longer fits its invoice; left void", "refund", r.ID, "invoice", inv.ID)
				}
				return err
			}
			if err := tally(ctx, tx, parent.ID, inv, 1); err != nil {
				return err
			}
		}
		inv.Status = InvoicePaid
		if inv.Hash == "" { // never sealed: a document outside the chain has ICV 0 too
			// Final now: it is issued, takes its place in the chain and is
			// sealed. Its date is today's, not its refund's (an approval or
			// retries can take weeks): dates then follow the chain's order,
			// and ZATCA does not read the note as reported late.
			inv.IssuedAt = now
			if err := s.chain(ctx, tx, inv); err != nil {
				return err
			}
		}
		cfg, err := invoiceConfig(ctx, tx, r.MerchantID)
		if err != nil {
			return err
		}
		s.report(ctx, inv, parent, cfg, now)
	case StatusFailed, StatusCanceled, StatusReversed:
		if inv.Status == InvoiceVoid {
			return nil
		}
		inv.Status = InvoiceVoid // never paid: nothing to take back
		if err := tally(ctx, tx, inv.ParentID, inv, -1); err != nil {
			return err
		}
	default:
		return nil
	}
	inv.UpdatedAt = now
	return tx.UpdateInvoice(ctx, inv)
}

// refit says whether a void credit note credits what a note built today
// would, against what parent's lines have credited since (void, it counts
// for nothing there): the same lines with the same amounts. Only the VAT
// split may differ, as a credit's is worked out from where on its line it
// starts, and other refunds may have moved that since; the note, never
// chained nor reported, takes today's split, as a note issued now would
// (when it is the line's last, the line's notes then state its VAT as the
// invoice did).
func (s *Service) refit(ctx context.Context, tx Tx, parent, void *Invoice, r *Refund) (bool, error) {
	fresh, err := s.cfg.Invoicer.Refund(parent, r, void.Seller)
	if err != nil {
		return false, err
	}
	if fresh.TotalAmount != void.TotalAmount || fresh.ShippingAmount != void.ShippingAmount || len(fresh.Lines) != len(void.Lines) {
		return false, nil
	}
	split := fresh.TotalExcludingTax != void.TotalExcludingTax || fresh.TaxAmount != void.TaxAmount ||
		fresh.ShippingExcludingTax != void.ShippingExcludingTax || fresh.ShippingTaxAmount != void.ShippingTaxAmount
	for i, l := range fresh.Lines {
		v := &void.Lines[i]
		if l.ParentLineID != v.ParentLineID || l.NetAmount != v.NetAmount {
			return false, nil
		}
		split = split || l.TotalExcludingTax != v.TotalExcludingTax || l.TaxAmount != v.TaxAmount
	}
	if !split {
		return true, nil
	}
	for i, l := range fresh.Lines {
		void.Lines[i].TotalExcludingTax, void.Lines[i].TaxAmount = l.TotalExcludingTax, l.TaxAmount
	}
	void.TotalExcludingTax, void.TaxAmount = fresh.TotalExcludingTax, fresh.TaxAmount
	void.ShippingExcludingTax, void.ShippingTaxAmount = fresh.ShippingExcludingTax, fresh.ShippingTaxAmount
	return true, tx.ResplitInvoice(ctx, void)
}

// issueDebitNote issues and reports the debit note of a paid credit note
// whose refund the processor reversed: the credit note stays as it was
// reported, and the debit note (type 383) owes its amounts again.
func (s *Service) issueDebitNote(ctx context.Context, tx Tx, credit *Invoice, now time.Time) error {
	ic, err := s.invoicing(ctx, tx, credit.MerchantID)
	if err != nil {
		return err
	}
	inv, err := s.cfg.Invoicer.Debit(credit, ic.seller)
	if err != nil {
		return err
	}
	inv.MerchantID, inv.OrderID, inv.RefundID, inv.Type = credit.MerchantID, credit.OrderID, credit.RefundID, InvoiceDebit
	inv.ParentID, inv.ParentSerial, inv.Status = credit.ID, credit.Serial, InvoicePaid
	inv.IssuedAt, inv.CreatedAt, inv.UpdatedAt = now, now, now
	if err := s.issue(ctx, tx, inv, credit, ic.cfg, now); err != nil {
		return err
	}
	return tally(ctx, tx, credit.ParentID, inv, -1)
}

// InvoiceConfigInput changes a merchant's invoice configuration; nil
// fields keep their value.
type InvoiceConfigInput struct {
	SerialPrefix *string
	SellerName   *string
	VATNumber    *string
	ZATCAEnabled *bool
	// CRN and the address fields set the seller's (InvoiceConfig); ""
	// clears one. The address must end whole or empty.
	CRN            *string
	Street         *string
	BuildingNumber *string
	District       *string
	City           *string
	PostalCode     *string
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9/_-]{1,16}$`)

// sellerField is one of the seller's CRN and address fields: its name on
// the surfaces, what was sent and where it goes.
type sellerField struct {
	param string
	in    *string
	to    *string
}

// sellerFields lists in's CRN and address fields, each going to c's, in
// the order a missing one is named.
func (in InvoiceConfigInput) sellerFields(c *InvoiceConfig) []sellerField {
	if c == nil {
		c = &InvoiceConfig{}
	}
	return []sellerField{{"seller_crn", in.CRN, &c.CRN}, {"seller_street", in.Street, &c.Address.Street},
		{"seller_building_number", in.BuildingNumber, &c.Address.BuildingNumber},
		{"seller_district", in.District, &c.Address.District}, {"seller_city", in.City, &c.Address.City},
		{"seller_postal_code", in.PostalCode, &c.Address.PostalCode}}
}

// checkSeller refuses a CRN or address field ZATCA would not take, before
// anything is read or written. What ZATCA asks: a CRN of 10 digits
// (BR-KSA-08's CRN scheme), a building number of 4 digits (BR-KSA-37) and
// a Saudi postal code of 5 (BR-KSA-66); names as the text fields are.
func (in InvoiceConfigInput) checkSeller() error {
	digits := map[string]int{"seller_crn": 10, "seller_building_number": 4, "seller_postal_code": 5}
	for _, f := range in.sellerFields(nil) {
		if f.in == nil {
			continue
		}
		v := *f.in
		if n, ok := digits[f.param]; ok {
			// Taken as sent, as vat_number is: the API's schema states the
			// digits alone, and a value it refuses must be refused here.
			if v != "" && (len(v) != n || !digitsRE.MatchString(v)) {
				return Errorf(EInvalidRequest, f.param, "%s must be %d digits", f.param, n)
			}
			continue
		}
		if err := CheckText(f.param, strings.TrimSpace(v), 200); err != nil {
			return err
		}
	}
	return nil
}

// wholeAddress refuses an address with some of its fields only: ZATCA
// wants each of them once there is one (BR-KSA-09), and a document with
// part of an address would be refused.
func wholeAddress(a Address) error {
	if a.IsZero() {
		return nil
	}
	for _, f := range (InvoiceConfigInput{}).sellerFields(&InvoiceConfig{Address: a})[1:] {
		if *f.to == "" {
			return Errorf(EInvalidRequest, f.param, "the seller's address needs seller_street, seller_building_number, "+
				"seller_district, seller_city and seller_postal_code (ZATCA's BR-KSA-09); %s is missing", f.param)
		}
	}
	return nil
}

// GetInvoiceConfig returns the caller's invoice configuration (defaults
// when never set).
func (s *Service) GetInvoiceConfig(ctx context.Context, p Principal) (*InvoiceConfig, error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return nil, err
	}
	var c *InvoiceConfig
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		c, err = invoiceConfig(ctx, tx, p.MerchantID)
		return err
	})
	return c, err
}

// UpdateInvoiceConfig changes the caller's invoice configuration. A new
// prefix applies to invoices issued from then on; numbering continues.
func (s *Service) UpdateInvoiceConfig(ctx context.Context, p Principal, in InvoiceConfigInput) (*InvoiceConfig, error) {
	if err := require(p, ScopeOrdersWrite); err != nil {
		return nil, err
	}
	switch {
	case in.SerialPrefix != nil && !prefixRE.MatchString(*in.SerialPrefix):
		return nil, Errorf(EInvalidRequest, "serial_prefix", "serial_prefix must be 1-16 letters, digits or /_-")
	case in.SellerName != nil && CheckText("seller_name", *in.SellerName, 200) != nil:
		return nil, CheckText("seller_name", *in.SellerName, 200)
	case in.VATNumber != nil && *in.VATNumber != "" && (!digitsRE.MatchString(*in.VATNumber) || len(*in.VATNumber) != 15):
		return nil, Errorf(EInvalidRequest, "vat_number", "vat_number must be 15 digits")
	}
	if err := in.checkSeller(); err != nil {
		return nil, err
	}
	var c *InvoiceConfig
	err := s.write(ctx, func(tx Tx) (err error) {
		// Read, changed and written back whole: under the merchant's lock,
		// or two changes at once each write back what they read.
		if err := tx.LockMerchant(ctx, p.MerchantID); err != nil {
			return err
		}
		if c, err = invoiceConfig(ctx, tx, p.MerchantID); err != nil {
			return err
		}
		before := c.auditText()
		if in.SerialPrefix != nil {
			c.SerialPrefix = *in.SerialPrefix
		}
		if in.SellerName != nil {
			c.SellerName = strings.TrimSpace(*in.SellerName)
		}
		if in.VATNumber != nil {
			c.VATNumber = *in.VATNumber
		}
		if in.ZATCAEnabled != nil {
			c.ZATCAEnabled = *in.ZATCAEnabled
		}
		for _, f := range in.sellerFields(c) {
			if f.in != nil {
				*f.to = strings.TrimSpace(*f.in)
			}
		}
		if err := wholeAddress(c.Address); err != nil {
			return err // nothing written: the transaction rolls back
		}
		now := s.now()
		c.UpdatedAt = now
		if err := tx.PutInvoiceConfig(ctx, c); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, "invoice_config.update", "invoice_config", p.MerchantID, before, c.auditText(), "", now)
	})
	return c, err
}

// auditText is the configuration as its audit entries show it, in the
// API's names: who changed the seller's VAT number, CRN or address on the
// documents, or turned reporting off, and from what, must be traceable.
func (c *InvoiceConfig) auditText() string {
	m := map[string]any{"serial_prefix": c.SerialPrefix, "seller_name": c.SellerName, "vat_number": c.VATNumber,
		"zatca_enabled": c.ZATCAEnabled}
	for _, f := range (InvoiceConfigInput{}).sellerFields(c) {
		m[f.param] = *f.to
	}
	b, _ := json.Marshal(m) // keys sorted
	return string(b)
}
