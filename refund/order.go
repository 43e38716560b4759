package refund

import (
	"context"
	"math"
	"regexp"
	"strings"

	"github.com/refundd/refundd/money"
)

// OrderInput describes a captured payment to record.
type OrderInput struct {
	Reference      string
	Currency       string
	Amount         int64
	CapturedAmount *int64 // defaults to Amount
	PaymentMethod  string
	Source         Card
	Customer       Customer
	Items          []ItemInput
	Vendors        []VendorInput
	Description    string
	// Processor names the merchant's processor account its refunds go
	// to; "" is the merchant's default account, or the node's processor.
	Processor string
	// ProcessorOrderID is the payment's id at that processor (default:
	// Reference).
	ProcessorOrderID string
}

// ItemInput is one line of a new order. UnitAmount is VAT-inclusive.
type ItemInput struct {
	ID, SKU, NameEN, NameAR string
	Qty                     int64
	UnitAmount              int64
	TaxRate                 string // percent; default "15"
	Taxable                 *bool  // default true
	// ExemptionCode is why the line is not taxed (optional): a code
	// of category Z for a line at 0 %, of E or O for an untaxed one
	// (ExemptionCategory); none on a line taxed at a positive rate.
	ExemptionCode string
}

// VendorInput is one vendor split of a new order.
type VendorInput struct {
	ID, Name, IBAN string
	Amount         int64
}

var (
	// refRE takes '_' because refundd's own ids (re_<uuid>) are the
	// references another refundd's connector sends (api.KeyReference).
	refRE    = regexp.MustCompile(`^[A-Za-z0-9_.:/#-]{1,255}$`)
	methodRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
	idRE     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

// DefaultTaxRate is Saudi VAT.
const DefaultTaxRate = "15"

func (in *OrderInput) validate() (*Order, error) {
	o := &Order{Reference: in.Reference, Currency: in.Currency, Amount: in.Amount,
		PaymentMethod: in.PaymentMethod, Source: in.Source, Customer: in.Customer, Description: in.Description}
	if in.ProcessorOrderID != "" && !refRE.MatchString(in.ProcessorOrderID) {
		return nil, Errorf(EInvalidRequest, "processor_order_id", "processor_order_id must be 1-255 letters, digits or ._:/#-")
	}
	if in.Processor != "" && !accountNameRE.MatchString(in.Processor) {
		return nil, Errorf(EInvalidRequest, "processor", "processor must name one of the merchant's processor accounts")
	}
	o.ProcessorOrderID = in.ProcessorOrderID
	if in.Reference != "" && !refRE.MatchString(in.Reference) {
		return nil, Errorf(EInvalidRequest, "reference", "reference must be 1-255 letters, digits or _.:/#-")
	}
	if _, err := money.LookupCurrency(in.Currency); err != nil {
		return nil, Errorf(EInvalidRequest, "currency", "currency must be an ISO 4217 code such as SAR or KWD")
	}
	if in.Amount <= 0 {
		return nil, Errorf(EInvalidAmount, "amount", "amount must be a positive integer in minor units")
	}
	o.CapturedAmount = in.Amount
	if in.CapturedAmount != nil {
		o.CapturedAmount = *in.CapturedAmount
		if o.CapturedAmount <= 0 || o.CapturedAmount > in.Amount {
			return nil, Errorf(EInvalidAmount, "captured_amount", "captured_amount must be positive and at most amount")
		}
	}
	if o.PaymentMethod == "" {
		o.PaymentMethod = "card"
	}
	if !methodRE.MatchString(o.PaymentMethod) {
		return nil, Errorf(EInvalidRequest, "payment_method", "payment_method must be a short word such as card, mada, applePay or stcpay")
	}
	if err := validateCard(in.Source); err != nil {
		return nil, err
	}
	if err := validateCustomer(in.Customer); err != nil {
		return nil, err
	}
	if err := CheckText("description", in.Description, 1000); err != nil {
		return nil, err
	}
	items, err := validateItems(in.Items, o.Amount)
	if err != nil {
		return nil, err
	}
	o.Items = items
	vendors, err := validateVendors(in.Vendors, o.CapturedAmount)
	if err != nil {
		return nil, err
	}
	o.Vendors = vendors
	return o, nil
}

var (
	last4RE = regexp.MustCompile(`^[0-9]{4}$`)
	binRE   = regexp.MustCompile(`^[0-9]{6,8}$`)
)

func validateCard(c Card) error {
	switch {
	case c.LastDigits != "" && !last4RE.MatchString(c.LastDigits):
		return Errorf(EInvalidRequest, "source.last_digits", "last_digits must be the last 4 digits of the card")
	case c.FirstDigits != "" && !binRE.MatchString(c.FirstDigits):
		return Errorf(EInvalidRequest, "source.first_digits", "first_digits must be the first 6 to 8 digits of the card")
	case c.Month != 0 && (c.Month < 1 || c.Month > 12):
		return Errorf(EInvalidRequest, "source.month", "month must be 1 to 12")
	case c.Year != 0 && (c.Year < 2000 || c.Year > 2100):
		return Errorf(EInvalidRequest, "source.year", "year must be a four-digit year")
	}
	if err := CheckText("source.scheme", c.Scheme, 32); err != nil {
		return err
	}
	return CheckText("source.name", c.Name, 100)
}

func validateCustomer(c Customer) error {
	switch {
	case CheckText("customer.name", c.Name, 200) != nil:
		return CheckText("customer.name", c.Name, 200)
	case c.Email != "" && !validEmail(c.Email):
		return Errorf(EInvalidRequest, "customer.email", "customer.email is not a valid address")
	case c.Mobile != "" && !mobileRE.MatchString(c.Mobile):
		return Errorf(EInvalidRequest, "customer.mobile", "customer.mobile must be 7 to 15 digits, optionally after +")
	}
	return nil
}

func validateItems(in []ItemInput, orderAmount int64) ([]Item, error) {
	if len(in) > 500 {
		return nil, Errorf(EInvalidRequest, "items", "an order has at most 500 items")
	}
	seen := map[string]bool{}
	var total int64
	items := make([]Item, 0, len(in))
	for i, it := range in {
		param := func(f string) string { return "items[" + itoa(i) + "]." + f }
		if !idRE.MatchString(it.ID) || seen[it.ID] {
			return nil, Errorf(EInvalidRequest, param("id"), "each item needs a unique id of 1-64 letters, digits or ._:-")
		}
		seen[it.ID] = true
		if it.Qty < 1 || it.Qty > 1_000_000 {
			return nil, Errorf(EInvalidRequest, param("qty"), "qty must be between 1 and 1000000")
		}
		if it.UnitAmount < 0 {
			return nil, Errorf(EInvalidAmount, param("unit_amount"), "unit_amount must not be negative")
		}
		if it.UnitAmount > 0 && it.Qty > math.MaxInt64/it.UnitAmount {
			return nil, Errorf(EInvalidAmount, param("unit_amount"), "qty * unit_amount is too large")
		}
		rate := it.TaxRate
		if rate == "" {
			rate = DefaultTaxRate
		}
		r, err := money.ParseRate(rate)
		if err != nil {
			return nil, Errorf(EInvalidRequest, param("tax_rate"), "tax_rate must be a percentage such as 15 or 5.5")
		}
		// Each limit names its own field, so a client can point at it.
		for _, f := range []struct {
			name, text string
			max        int
		}{{"sku", it.SKU, 64}, {"name_en", it.NameEN, 200}, {"name_ar", it.NameAR, 200}} {
			if err := CheckText(param(f.name), f.text, f.max); err != nil {
				return nil, err
			}
		}
		taxable := it.Taxable == nil || *it.Taxable
		if err := checkExemption(param("tax_exemption_code"), it.ExemptionCode, taxable, r); err != nil {
			return nil, err
		}
		amount := it.Qty * it.UnitAmount
		total += amount
		if total > orderAmount || total < 0 {
			return nil, Errorf(EInvalidAmount, "items", "items add up to more than the order amount")
		}
		items = append(items, Item{ID: it.ID, SKU: it.SKU, NameEN: it.NameEN, NameAR: it.NameAR, Qty: it.Qty,
			UnitAmount: it.UnitAmount, TaxRate: r.String(), Taxable: taxable, ExemptionCode: it.ExemptionCode, Amount: amount})
	}
	return items, nil
}

// checkExemption refuses an exemption code refundd does not know, one on
// a line taxed at a positive rate, and one of another category than the
// line's: a line at 0 % is zero-rated (Z), an untaxed one exempt (E) or
// outside the scope of VAT (O).
func checkExemption(param, code string, taxable bool, rate money.Rate) error {
	if code == "" {
		return nil
	}
	cat, ok := ExemptionCategory(code)
	switch {
	case !ok:
		return Errorf(EInvalidRequest, param, "tax_exemption_code %q is not one of ZATCA's exemption reason codes refundd knows (VATEX-SA-...)", code)
	case taxable && rate != 0:
		return Errorf(EInvalidRequest, param, "tax_exemption_code is for a line not taxed: this one is taxed at %s%%", rate)
	case taxable && cat != "Z":
		return Errorf(EInvalidRequest, param, "tax_exemption_code %s is for a line that is not taxable (category %s); a line at 0%% takes a zero-rated code", code, cat)
	case !taxable && cat == "Z":
		return Errorf(EInvalidRequest, param, "tax_exemption_code %s is for a zero-rated line; an untaxed line takes an exempt or out-of-scope code", code)
	}
	return nil
}

func validateVendors(in []VendorInput, captured int64) ([]Vendor, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > 100 {
		return nil, Errorf(EInvalidRequest, "vendors", "an order has at most 100 vendors")
	}
	seen := map[string]bool{}
	var total int64
	vs := make([]Vendor, 0, len(in))
	for i, v := range in {
		param := func(f string) string { return "vendors[" + itoa(i) + "]." + f }
		if !idRE.MatchString(v.ID) || seen[v.ID] {
			return nil, Errorf(EInvalidRequest, param("id"), "each vendor needs a unique id of 1-64 letters, digits or ._:-")
		}
		seen[v.ID] = true
		if v.Amount <= 0 || v.Amount > captured {
			return nil, Errorf(EInvalidAmount, param("amount"), "a vendor's amount must be positive and at most the captured amount")
		}
		iban := strings.ToUpper(strings.ReplaceAll(v.IBAN, " ", ""))
		if iban != "" && !ValidIBAN(iban) {
			return nil, Errorf(EInvalidRequest, param("iban"), "iban is not a valid IBAN")
		}
		if err := CheckText(param("name"), v.Name, 200); err != nil {
			return nil, err
		}
		var ok bool
		if total, ok = money.Add(total, v.Amount); !ok || total > captured {
			return nil, Errorf(EInvalidAmount, "vendors", "vendor amounts add up to more than the captured amount %d", captured)
		}
		vs = append(vs, Vendor{ID: v.ID, Name: v.Name, IBAN: iban, Amount: v.Amount})
	}
	if total != captured {
		return nil, Errorf(EInvalidAmount, "vendors", "vendor amounts add up to %d, the captured amount is %d", total, captured)
	}
	return vs, nil
}

// CreateOrder records a captured payment with one capture transaction.
func (s *Service) CreateOrder(ctx context.Context, p Principal, in OrderInput) (_ *Order, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeOrdersWrite); err != nil {
		return nil, err
	}
	o, err := in.validate()
	if err != nil {
		return nil, err
	}
	o.ID = s.cfg.NewID("ord")
	o.MerchantID = p.MerchantID
	var replayed *Order
	err = s.write(ctx, func(tx Tx) error {
		if id := claimedObject(ctx, p.MerchantID); id != "" {
			// An earlier run of this very request recorded it and died
			// before it answered: recording it again would double what the
			// order can refund.
			var err error
			replayed, err = tx.GetOrder(ctx, p.MerchantID, id)
			return err
		}
		now := s.now()
		o.CreatedAt, o.UpdatedAt = now, now
		acct, err := accountFor(ctx, tx, p.MerchantID, in.Processor)
		if err != nil {
			return err
		}
		if acct != nil {
			o.ProcessorAccountID = acct.ID
			if o.ProcessorOrderID == "" {
				o.ProcessorOrderID = o.Reference
			}
			if o.ProcessorOrderID == "" {
				return Errorf(EInvalidRequest, "processor_order_id",
					"processor_order_id (the payment's id at %s) is required: this order's refunds go to processor account %q", acct.Kind, acct.Name)
			}
		}
		o.Transactions = []Transaction{{ID: s.cfg.NewID("txn"), OrderID: o.ID, Seq: 1, Type: TxCapture,
			Status: TxSucceeded, Amount: o.CapturedAmount, ResponseCode: "00", Message: "Approved", CreatedAt: now}}
		if err := tx.CreateOrder(ctx, o); err != nil {
			return err
		}
		if err := s.issueOnCreate(ctx, tx, o, now); err != nil {
			return err
		}
		if err := s.linkClaim(ctx, tx, p.MerchantID, o.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, "order.create", "order", o.ID, "", "captured", "", now)
	})
	if err != nil {
		return nil, err
	}
	if replayed != nil {
		return replayed, nil
	}
	return o, nil
}

// GetOrder returns one of the caller's orders by id.
func (s *Service) GetOrder(ctx context.Context, p Principal, id string) (*Order, error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return nil, err
	}
	var o *Order
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		o, err = tx.GetOrder(ctx, p.MerchantID, id)
		return err
	})
	return o, err
}

// FindOrder returns one of the caller's orders by refundd id or by the
// merchant's own reference, as the dialects address orders.
func (s *Service) FindOrder(ctx context.Context, p Principal, idOrReference string) (*Order, error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return nil, err
	}
	if err := CheckLookup("order_id", idOrReference); err != nil {
		return nil, err // the dialects' lookup of the order their request names
	}
	var o *Order
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		o, err = findOrder(ctx, tx, p.MerchantID, idOrReference)
		return err
	})
	return o, err
}

func findOrder(ctx context.Context, tx Tx, merchantID, idOrReference string) (*Order, error) {
	o, err := tx.GetOrder(ctx, merchantID, idOrReference)
	if ErrorCode(err) == EOrderNotFound {
		return tx.GetOrderByReference(ctx, merchantID, idOrReference)
	}
	return o, err
}

// keyedByOrder is ctx keyed (WithOrderKey) by the id of the order
// idOrReference names: every other Update of the order is keyed by its
// id, and a store orders and lanes its Updates by the key, so a reference
// must not stand in for it. An order it cannot find names no order (the
// merchant stays): the Update then fails as it would have, in its own
// transaction.
func (s *Service) keyedByOrder(ctx context.Context, merchantID, idOrReference string) context.Context {
	var id string
	s.cfg.Store.View(ctx, func(tx Tx) error {
		o, err := findOrder(ctx, tx, merchantID, idOrReference)
		if err == nil {
			id = o.ID
		}
		return err
	})
	return WithOrderKey(ctx, merchantID, id)
}

// keyedByRefund is ctx keyed (WithOrderKey) by the order of the refund id
// names, for an Update that may take that order's row but is asked by
// the refund (a cancel, a rejection, a review's resolution): see
// keyedByOrder. A refund it cannot find leaves ctx as it is; the Update
// then fails as it would have.
func (s *Service) keyedByRefund(ctx context.Context, merchantID, id string) context.Context {
	var r *Refund
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		r, err = tx.GetRefund(ctx, merchantID, id)
		return err
	})
	if err != nil {
		return ctx
	}
	return WithOrderKey(ctx, r.MerchantID, r.OrderID)
}

// ListOrders lists the caller's orders, newest first.
func (s *Service) ListOrders(ctx context.Context, p Principal, f OrderFilter) (Page[*Order], error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return Page[*Order]{}, err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*Order]{}, err
	}
	f.MerchantID, f.Limit = p.MerchantID, limit+1
	var rows []*Order
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		rows, err = tx.ListOrders(ctx, f)
		return err
	})
	if err != nil {
		return Page[*Order]{}, err
	}
	return paginate(rows, limit, func(o *Order) string { return o.ID }), nil
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// ValidReference reports whether s can be a merchant reference (an order's
// or a refund's): 1-255 letters, digits or _.:/#-.
func ValidReference(s string) bool { return refRE.MatchString(s) }
