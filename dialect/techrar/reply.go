package techrar

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// null is a field the seed always shows as null (custom_fields, PDFs,
// attachments): refundd has nothing to put there.
type null *struct{}

// invoiceJSON is the seed's invoice object, field for field.
type invoiceJSON struct {
	ID                      int64             `json:"id"`
	CustomFields            null              `json:"custom_fields"`
	Items                   []itemJSON        `json:"items"`
	Transactions            []transactionJSON `json:"transactions"`
	OrderID                 int64             `json:"order_id"`
	Customer                customerJSON      `json:"customer"`
	InvoicePDFEN            null              `json:"invoice_pdf_en"`
	InvoicePDFAR            null              `json:"invoice_pdf_ar"`
	Serial                  string            `json:"serial"`
	Refunds                 []summaryJSON     `json:"refunds"`          // tax invoices: their refund invoices; null on a refund invoice or debit note
	RefundedInvoice         *summaryJSON      `json:"refunded_invoice"` // refund invoices: the tax invoice; null on a tax invoice
	AppID                   int64             `json:"app_id"`
	CreatedAt               string            `json:"created_at"`
	InvoiceReferenceID      null              `json:"invoice_reference_id"`
	InvoiceReferenceSerial  null              `json:"invoice_reference_serial"`
	Type                    string            `json:"type"`
	Status                  string            `json:"status"`
	RefundReason            *string           `json:"refund_reason"`
	IssuedAt                string            `json:"issued_at"`
	DueAt                   string            `json:"due_at"`
	SubTotalAmount          json.Number       `json:"sub_total_amount"`
	ShippingAmount          json.Number       `json:"shipping_amount"`
	SetupAmount             json.Number       `json:"setup_amount"`
	NetAmount               json.Number       `json:"net_amount"`
	SubTotalDiscountsAmount json.Number       `json:"sub_total_discounts_amount"`
	ShippingDiscountsAmount json.Number       `json:"shipping_discounts_amount"`
	TotalDiscountsAmount    json.Number       `json:"total_discounts_amount"`
	TotalAmountExcludingTax json.Number       `json:"total_amount_excluding_tax"`
	TaxPercentage           json.Number       `json:"tax_percentage"`
	TaxAmount               json.Number       `json:"tax_amount"`
	TotalAmount             json.Number       `json:"total_amount"`
	WalletRedeemAmount      json.Number       `json:"wallet_redeem_amount"`
	TotalAmountWithRedeem   json.Number       `json:"total_amount_with_redeem"`
	Currency                string            `json:"currency"`
	PaymentMethod           string            `json:"payment_method"`
	PaymentProvider         string            `json:"payment_provider"`
	IsAutoRenewal           bool              `json:"is_auto_renewal"`
	InvoiceProvider         string            `json:"invoice_provider"`
	ZATCAStatus             string            `json:"zatca_status"`
	InvoiceError            *string           `json:"invoice_error"`
}

type itemJSON struct {
	ID                      int64           `json:"id"`
	CustomFields            null            `json:"custom_fields"`
	Item                    catalogItemJSON `json:"item"`
	AppID                   int64           `json:"app_id"`
	CreatedAt               string          `json:"created_at"`
	ItemID                  int64           `json:"item_id"`
	NameEN                  string          `json:"name_en"`
	NameAR                  string          `json:"name_ar"`
	RefundReason            *string         `json:"refund_reason"`
	RefundedQty             int64           `json:"refunded_qty"`
	Amount                  json.Number     `json:"amount"` // unit price, VAT included
	Qty                     int64           `json:"qty"`
	NetAmount               json.Number     `json:"net_amount"`
	VoucherDiscountsAmount  json.Number     `json:"voucher_discounts_amount"`
	TotalAmountExcludingTax json.Number     `json:"total_amount_excluding_tax"`
	TaxPercentage           json.Number     `json:"tax_percentage"`
	TaxAmount               json.Number     `json:"tax_amount"`
	TotalAmount             json.Number     `json:"total_amount"`
	AutoRenew               bool            `json:"auto_renew"`
	Date                    null            `json:"date"`
	Time                    null            `json:"time"`
	OrderItem               int64           `json:"order_item"`
	ParentInvoiceItem       null            `json:"parent_invoice_item"` // Techrar nests modifiers here; refundd has none
}

// catalogItemJSON is the seed's nested catalog item, built from the order
// line: refundd keeps no catalog.
type catalogItemJSON struct {
	ID               int64        `json:"id"`
	CustomFields     null         `json:"custom_fields"`
	Images           []string     `json:"images"`
	Discount         discountJSON `json:"discount"`
	Stock            stockJSON    `json:"stock"`
	Modifiers        []string     `json:"modifiers"`
	Variants         []string     `json:"variants"`
	VariesOn         null         `json:"varies_on"`
	BundleCategories []string     `json:"bundle_categories"`
	PlanConfig       null         `json:"plan_config"`
	OffDays          []string     `json:"off_days"`
	OffDates         []string     `json:"off_dates"`
	Tags             []string     `json:"tags"`
	AppID            int64        `json:"app_id"`
	Ordering         int          `json:"ordering"`
	Type             string       `json:"type"`
	ServiceType      string       `json:"service_type"`
	SKU              string       `json:"sku"`
	Price            json.Number  `json:"price"`
	IsTaxable        bool         `json:"is_taxable"`
	NameEN           string       `json:"name_en"`
	NameAR           string       `json:"name_ar"`
	DescriptionEN    string       `json:"description_en"`
	DescriptionAR    string       `json:"description_ar"`
	IsPlanOnly       bool         `json:"is_plan_only"`
	IsPlanEnabled    bool         `json:"is_plan_enabled"`
	ServedFromDate   null         `json:"served_from_date"`
	ServedToDate     null         `json:"served_to_date"`
	ServedFromTime   null         `json:"served_from_time"`
	ServedToTime     null         `json:"served_to_time"`
	Weight           json.Number  `json:"weight"`
	Categories       []int64      `json:"categories"`
}

type discountJSON struct {
	IsApplied                 bool        `json:"is_applied"`
	IsTrialApplied            bool        `json:"is_trial_applied"`
	IsUsagePrice              bool        `json:"is_usage_price"`
	PriceAfterDiscountNoTrial json.Number `json:"price_after_discount_no_trial"`
	PriceAfterDiscount        json.Number `json:"price_after_discount"`
	PaymentMethodOffers       []string    `json:"payment_method_offers"`
}

type stockJSON struct {
	InStock bool  `json:"in_stock"`
	Qty     int64 `json:"qty"`
}

type transactionJSON struct {
	ID                    int64               `json:"id"`
	CustomFields          null                `json:"custom_fields"`
	InvoiceID             int64               `json:"invoice_id"`
	ProviderDetails       providerDetailsJSON `json:"provider_details"`
	AppID                 int64               `json:"app_id"`
	CreatedAt             string              `json:"created_at"`
	Type                  string              `json:"type"`
	Reason                string              `json:"reason"`
	Currency              string              `json:"currency"`
	ReceivedAmount        json.Number         `json:"received_amount"`
	QuotedAmount          json.Number         `json:"quoted_amount"`
	Status                string              `json:"status"`
	Method                string              `json:"method"`
	Provider              string              `json:"provider"`
	ProviderAuthCode      null                `json:"provider_auth_code"`
	ProviderStatus        string              `json:"provider_status"`
	ProviderMethod        string              `json:"provider_method"`
	ProviderTransactionID string              `json:"provider_transaction_id"`
	ProviderInvoiceID     string              `json:"provider_invoice_id"`
	ProviderOrderID       null                `json:"provider_order_id"`
	FraudDetected         bool                `json:"fraud_detected"`
	FraudReason           null                `json:"fraud_reason"`
	Attachment            null                `json:"attachment"`
}

// providerDetailsJSON carries refundd's references in the seed's
// MyFatoorah fields.
type providerDetailsJSON struct {
	RefundID         int64                `json:"RefundId"`        // the refund's integer number
	RefundReference  string               `json:"RefundReference"` // refundd's refund id
	CreatedDate      string               `json:"CreatedDate"`     // ddMMyyyyHHmmss, Saudi time
	RefundStatus     string               `json:"RefundStatus"`
	Amount           string               `json:"Amount"`
	Comments         null                 `json:"Comments"`
	InvoiceID        string               `json:"InvoiceId"` // the capture refunded
	GatewayReference gatewayReferenceJSON `json:"GatewayReference"`
}

type gatewayReferenceJSON struct {
	PaymentID       string `json:"PaymentId"` // the capture refunded
	AuthorizationID null   `json:"AuthorizationId"`
	ReferenceID     string `json:"ReferenceId"`   // the processor's RRN
	TransactionID   string `json:"TransactionId"` // the processor's authorisation code
	RefundAmount    string `json:"RefundAmount"`
	Currency        string `json:"Currency"`
	PaymentMethod   string `json:"PaymentMethod"`
}

type customerJSON struct {
	ID                    int64  `json:"id"`
	CountryCode           string `json:"country_code"`
	Username              string `json:"username"`
	MobileNumber          string `json:"mobile_number"`
	Email                 string `json:"email"`
	Name                  string `json:"name"`
	Lang                  string `json:"lang"`
	CurrentCityID         null   `json:"current_city_id"`
	IsEmailVerified       bool   `json:"is_email_verified"`
	IsMobileVerified      bool   `json:"is_mobile_verified"`
	IsBlocked             bool   `json:"is_blocked"`
	IsDeleted             bool   `json:"is_deleted"`
	IsVerified            bool   `json:"is_verified"`
	JoinedAt              string `json:"joined_at"`
	NationalID            null   `json:"national_id"`
	SecondaryMobileNumber null   `json:"secondary_mobile_number"`
	DateOfBirth           null   `json:"date_of_birth"`
	Avatar                null   `json:"avatar"`
	CustomFields          null   `json:"custom_fields"`
}

// summaryJSON is the seed's refunded_invoice: another invoice in brief.
type summaryJSON struct {
	ID           int64       `json:"id"`
	Serial       string      `json:"serial"`
	IssuedAt     string      `json:"issued_at"`
	TotalAmount  json.Number `json:"total_amount"`
	Currency     string      `json:"currency"`
	Status       string      `json:"status"`
	InvoicePDFEN null        `json:"invoice_pdf_en"`
	InvoicePDFAR null        `json:"invoice_pdf_ar"`
	CustomFields null        `json:"custom_fields"`
}

// provider names refundd where the seed names the payment and invoicing
// providers.
const provider = "refundd"

// Time formats of the seed: created_at with microseconds, issued_at to
// the second, both in Saudi time; refunded_invoice.issued_at in UTC.
const (
	createdLayout = "2006-01-02T15:04:05.000000-07:00"
	issuedLayout  = "2006-01-02T15:04:05-07:00"
	summaryLayout = "2006-01-02T15:04:05.000000Z"
	joinedLayout  = "2006-01-02 15:04:05.000000-07:00"
	myFatoorahDay = "02012006150405"
)

func created(t time.Time) string { return t.In(refund.InvoiceZone).Format(createdLayout) }
func issued(t time.Time) string  { return t.In(refund.InvoiceZone).Format(issuedLayout) }

// dec prints minor units of cur as a JSON number: 10.33, 1.005, 0.00.
func dec(minor int64, cur money.Currency) json.Number {
	return json.Number(money.Format(minor, cur))
}

// percent prints a rate as the seed does: 15.0, 5.5.
func percent(rate string) json.Number {
	if rate == "" {
		rate = "0"
	}
	if !strings.Contains(rate, ".") {
		rate += ".0"
	}
	return json.Number(rate)
}

// method is the seed's name of a payment method.
func method(m string) string {
	switch strings.ToLower(m) {
	case "card", "visa", "mastercard", "visa_master":
		return "visa_master"
	case "applepay", "apple_pay":
		return "apple_pay"
	case "stcpay", "stc_pay":
		return "stc_pay"
	}
	return strings.ToLower(m)
}

// providerMethod is the MyFatoorah name of a payment method.
func providerMethod(m string) string {
	switch method(m) {
	case "visa_master":
		return "VISA/MASTER"
	case "apple_pay":
		return "APPLE PAY"
	case "stc_pay":
		return "STC PAY"
	}
	return strings.ToUpper(m)
}

// refundStatus is a refund's status in the seed's transaction and in
// MyFatoorah's words.
func refundStatus(s refund.Status) (techrar, myFatoorah string) {
	switch s {
	case refund.StatusSucceeded:
		return "captured", "REFUNDED"
	case refund.StatusFailed:
		return "failed", "FAILED"
	case refund.StatusCanceled:
		return "canceled", "CANCELED"
	case refund.StatusReversed:
		return "reversed", "REVERSED"
	}
	return "pending", "PENDING"
}

// callingCodes are the Gulf countries' calling codes, to split a mobile
// number into the seed's country_code and username.
var callingCodes = []string{"966", "965", "971", "973", "974", "968"}

func customerOut(c refund.Customer, since time.Time) customerJSON {
	digits := strings.TrimPrefix(c.Mobile, "+")
	j := customerJSON{MobileNumber: digits, Username: digits, Email: c.Email, Name: c.Name, Lang: "ar",
		IsMobileVerified: c.Mobile != "", JoinedAt: since.In(time.UTC).Format(joinedLayout)}
	for _, cc := range callingCodes {
		if rest, ok := strings.CutPrefix(digits, cc); ok && strings.HasPrefix(c.Mobile, "+") {
			j.CountryCode, j.Username = cc, "0"+rest
			break
		}
	}
	return j
}

func summaryOut(inv *refund.Invoice, cur money.Currency) summaryJSON {
	return summaryJSON{ID: inv.ID, Serial: inv.Serial, IssuedAt: inv.IssuedAt.UTC().Format(summaryLayout),
		TotalAmount: dec(inv.TotalAmount, cur), Currency: inv.Currency, Status: string(inv.Status)}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// invoiceOut encodes v in the seed's shape for merchant m.
func invoiceOut(v *refund.InvoiceView, m *refund.Merchant) (invoiceJSON, error) {
	inv := v.Invoice
	cur, err := money.LookupCurrency(inv.Currency)
	if err != nil {
		return invoiceJSON{}, err
	}
	zero := dec(0, cur)
	j := invoiceJSON{ID: inv.ID, Items: []itemJSON{}, Transactions: []transactionJSON{}, OrderID: inv.ID,
		Customer: customerOut(inv.Customer, v.Order.CreatedAt), Serial: inv.Serial, AppID: m.AppID,
		CreatedAt: created(inv.CreatedAt), Type: string(inv.Type), Status: string(inv.Status),
		IssuedAt: issued(inv.IssuedAt), DueAt: issued(inv.IssuedAt),
		SubTotalAmount: dec(inv.SubTotalAmount, cur), ShippingAmount: dec(inv.ShippingAmount, cur), SetupAmount: zero,
		NetAmount: dec(inv.NetAmount, cur), SubTotalDiscountsAmount: dec(inv.DiscountAmount, cur),
		ShippingDiscountsAmount: zero, TotalDiscountsAmount: dec(inv.DiscountAmount, cur),
		TotalAmountExcludingTax: dec(inv.TotalExcludingTax, cur), TaxPercentage: percent(inv.TaxRate),
		TaxAmount: dec(inv.TaxAmount, cur), TotalAmount: dec(inv.TotalAmount, cur), WalletRedeemAmount: zero,
		TotalAmountWithRedeem: zero, Currency: inv.Currency, PaymentMethod: method(inv.PaymentMethod),
		PaymentProvider: provider, InvoiceProvider: provider, ZATCAStatus: string(inv.ZATCAStatus),
		InvoiceError: optional(inv.InvoiceError)}
	switch inv.Type {
	case refund.InvoiceRefund:
		j.OrderID = inv.ParentID
		j.RefundReason = &inv.Reason
		if v.Parent != nil {
			s := summaryOut(v.Parent, cur)
			j.RefundedInvoice = &s
		}
	case refund.InvoiceDebit:
		// A debit note's parent is the refund invoice it takes back, whose
		// parent is the tax invoice: the order's Techrar id, as on every
		// other document of the order. It lists no refunds (null).
		if v.Parent != nil {
			j.OrderID = v.Parent.ParentID
		}
	default:
		j.Refunds = []summaryJSON{}
		for _, c := range v.Refunds {
			j.Refunds = append(j.Refunds, summaryOut(c, cur))
		}
	}
	for _, l := range inv.Lines {
		orderLine := l.ID
		if l.ParentLineID != 0 {
			orderLine = l.ParentLineID
		}
		it := itemJSON{ID: l.ID, AppID: m.AppID, CreatedAt: created(inv.CreatedAt), ItemID: orderLine, NameEN: l.NameEN,
			NameAR: l.NameAR, RefundedQty: l.RefundedQty, Amount: dec(l.UnitAmount, cur), Qty: l.Qty,
			NetAmount: dec(l.NetAmount, cur), VoucherDiscountsAmount: dec(l.Discount, cur),
			TotalAmountExcludingTax: dec(l.TotalExcludingTax, cur), TaxPercentage: percent(l.TaxRate),
			TaxAmount: dec(l.TaxAmount, cur), TotalAmount: dec(l.NetAmount, cur), OrderItem: orderLine,
			Item: catalogItemJSON{ID: orderLine, Images: []string{}, Modifiers: []string{}, Variants: []string{},
				BundleCategories: []string{}, OffDays: []string{}, OffDates: []string{}, Tags: []string{}, AppID: m.AppID,
				Type: "product", ServiceType: "delivery", SKU: l.SKU, Price: dec(l.UnitAmount, cur), IsTaxable: l.Taxable,
				NameEN: l.NameEN, NameAR: l.NameAR, Weight: json.Number("0.0"), Categories: []int64{},
				Stock: stockJSON{InStock: true},
				Discount: discountJSON{PriceAfterDiscountNoTrial: dec(l.UnitAmount, cur), PriceAfterDiscount: dec(l.UnitAmount, cur),
					PaymentMethodOffers: []string{}}}}
		if inv.Type == refund.InvoiceRefund {
			it.RefundReason = &inv.Reason
		}
		j.Items = append(j.Items, it)
	}
	if r := v.Refund; r != nil {
		status, pstatus := refundStatus(r.Status)
		amount := money.Format(r.Amount, cur)
		j.Transactions = append(j.Transactions, transactionJSON{ID: r.Number, InvoiceID: inv.ID, AppID: m.AppID,
			CreatedAt: created(r.CreatedAt), Type: "refund", Reason: r.Reason, Currency: r.Currency,
			ReceivedAmount: dec(r.Amount, cur), QuotedAmount: dec(r.Amount, cur), Status: status,
			Method: method(inv.PaymentMethod), Provider: provider, ProviderStatus: pstatus,
			ProviderMethod: providerMethod(inv.PaymentMethod), ProviderTransactionID: strconv.FormatInt(r.Number, 10),
			ProviderInvoiceID: r.CaptureID,
			ProviderDetails: providerDetailsJSON{RefundID: r.Number, RefundReference: r.ID,
				CreatedDate: r.CreatedAt.In(refund.InvoiceZone).Format(myFatoorahDay), RefundStatus: pstatus, Amount: amount,
				InvoiceID: r.CaptureID, GatewayReference: gatewayReferenceJSON{PaymentID: r.CaptureID, ReferenceID: r.RRN,
					TransactionID: r.AuthCode, RefundAmount: amount, Currency: r.Currency,
					PaymentMethod: providerMethod(inv.PaymentMethod)}}})
	}
	return j, nil
}
