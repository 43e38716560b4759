package gateway

import (
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// orderJSON is the seed's 200 reply: the whole order. Every field the seed
// shows is present; the ones it marks nullable are null because refundd
// keeps nothing for them.
type orderJSON struct {
	ID                  string            `json:"id"`
	Merchant            merchantJSON      `json:"merchant"`
	Currency            string            `json:"currency"`
	Amount              int64             `json:"amount"`
	CapturedAmount      int64             `json:"captured_amount"`
	RefundedAmount      int64             `json:"refunded_amount"`
	VoidedAmount        int64             `json:"voided_amount"`
	Description         string            `json:"description"`
	CreatedAt           string            `json:"created_at"`
	UpdatedAt           string            `json:"updated_at"`
	Source              sourceJSON        `json:"source"`
	ReauthorizedOrderID *string           `json:"reauthorized_order_id"`
	Airline             airlineJSON       `json:"airline"`
	SubMerchant         subMerchantJSON   `json:"sub_merchant"`
	Agreement           *string           `json:"agreement"`
	Transactions        []transactionJSON `json:"transactions"`
}

type merchantJSON struct {
	ID             string `json:"id"`
	AcquirerID     string `json:"acquirer_id"`
	Name           string `json:"name"`
	ArabicName     string `json:"arabic_name"`
	MerchantID     string `json:"merchant_id"`
	RulePrecedence string `json:"rule_precedence"`
}

type sourceJSON struct {
	Type          string  `json:"type"`
	Issuer        *string `json:"issuer"`
	CardType      *string `json:"card_type"`
	Category      *string `json:"category"`
	CountryAlpha2 *string `json:"country_alpha2"`
	Scheme        string  `json:"scheme"`
	FirstDigits   string  `json:"first_digits"`
	LastDigits    string  `json:"last_digits"`
	Month         int     `json:"month"`
	Year          int     `json:"year"`
}

type airlineJSON struct {
	Reference string `json:"reference"`
}

type subMerchantJSON struct {
	ID             string `json:"id"`
	RegisteredName string `json:"registered_name"`
	TradingName    string `json:"trading_name"`
	Email          string `json:"email"`
}

type transactionJSON struct {
	ID                    string  `json:"id"`
	Status                string  `json:"status"`
	Type                  string  `json:"type"`
	SourceType            string  `json:"source_type"`
	ReverseReason         *string `json:"reverse_reason"`
	Justification         *string `json:"justification"`
	ReversedTransactionID *string `json:"reversed_transaction_id"`
	Message               string  `json:"message"`
	ResponseCode          string  `json:"response_code"`
	RetrievalReference    string  `json:"retrieval_reference"`
	STAN                  string  `json:"stan"`
	AuthCode              *string `json:"auth_code"` // null when the acquirer gave none, as in the seed's refund
	Amount                int64   `json:"amount"`
	RefundedAmount        int64   `json:"refunded_amount"`
	CreatedAt             string  `json:"created_at"`
}

// orderOut renders o in the seed's shape; id is the order id as the client
// addressed it (refundd's id or the merchant's reference).
func orderOut(id string, o *refund.Order, m *refund.Merchant) orderJSON {
	j := orderJSON{ID: id, Currency: o.Currency, Amount: o.Amount, CapturedAmount: o.CapturedAmount,
		RefundedAmount: o.RefundedAmount, VoidedAmount: o.VoidedAmount, Description: o.Description,
		CreatedAt: stamp(o.CreatedAt), UpdatedAt: stamp(o.UpdatedAt),
		Merchant: merchantJSON{ID: m.ID, AcquirerID: "refundd", Name: m.Name,
			MerchantID: strconv.FormatInt(m.AppID, 10), RulePrecedence: "mixed"},
		Source: sourceJSON{Type: o.PaymentMethod, Scheme: o.Source.Scheme, FirstDigits: o.Source.FirstDigits,
			LastDigits: o.Source.LastDigits, Month: o.Source.Month, Year: o.Source.Year},
		SubMerchant:  subMerchantJSON{ID: m.ID, RegisteredName: m.Name, TradingName: m.Name, Email: m.Email},
		Transactions: make([]transactionJSON, 0, len(o.Transactions))}
	for _, t := range o.Transactions {
		tj := transactionJSON{ID: t.ID, Status: txStatus(t.Status), Type: t.Type, SourceType: "merchant",
			Message: strings.ToUpper(t.Message), ResponseCode: t.ResponseCode, RetrievalReference: t.RRN,
			STAN: t.STAN, Amount: t.Amount, RefundedAmount: t.RefundedAmount, CreatedAt: stamp(t.CreatedAt)}
		if t.AuthCode != "" {
			tj.AuthCode = &t.AuthCode
		}
		j.Transactions = append(j.Transactions, tj)
	}
	return j
}

// txStatus maps the core's transaction status to the seed's words.
func txStatus(s string) string {
	switch s {
	case refund.TxSucceeded:
		return "approved"
	case refund.TxFailed:
		return "declined"
	}
	return s
}

// stamp formats a time as the seed does: "2024-09-15T12:27:45Z".
func stamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
