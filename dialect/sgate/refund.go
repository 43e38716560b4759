package sgate

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// refundJSON is the seed's refund object.
type refundJSON struct {
	// Amount is "a numeric type": the exact decimal, never a float.
	Amount              json.Number `json:"amount"`
	Status              string      `json:"status"`
	ID                  string      `json:"id"`
	OrderID             string      `json:"orderId"`
	PaymentMethod       string      `json:"paymentMethod"`
	MerchantRefundID    string      `json:"merchantRefundId"`
	MerchantID          string      `json:"merchantId"`
	OriginTransactionID string      `json:"originTransactionId"`
	Currency            string      `json:"currency"`
	CreatedAt           string      `json:"createdAt"`
	UpdatedAt           string      `json:"updatedAt"`
}

// refundOut renders r of order o; orderID is the order as the client
// addressed it. The refund and transaction ids are built on refundd's
// order id, never on the merchant's reference: the seed calls the refund
// id globally unique, and two merchants may share a reference.
func refundOut(orderID string, o *refund.Order, r *refund.Refund, cur money.Currency) refundJSON {
	capture := 1
	for _, t := range o.Transactions {
		if t.ID == r.CaptureID {
			capture = t.Seq
		}
	}
	return refundJSON{Amount: json.Number(money.Format(r.Amount, cur)), Status: status(r.Status),
		ID: o.ID + "_R" + strconv.Itoa(r.Seq), OrderID: orderID, PaymentMethod: paymentMethod(o),
		MerchantRefundID: r.MerchantReference, MerchantID: r.MerchantID,
		OriginTransactionID: o.ID + "_" + strconv.Itoa(capture), Currency: r.Currency,
		CreatedAt: stamp(r.CreatedAt), UpdatedAt: stamp(r.UpdatedAt)}
}

// status maps the core's states to the seed's "pending: Refund in progress
// success: Refund completed fail: Refund failed".
func status(s refund.Status) string {
	switch s {
	case refund.StatusSucceeded:
		return "success"
	case refund.StatusFailed, refund.StatusCanceled, refund.StatusReversed:
		return "fail"
	}
	return "pending"
}

// paymentMethod names the method as the seed does ("stcpay mastercard
// applePay tap"): a plain card by its scheme, one of the seed's words in
// any other spelling (apple_pay, STC_PAY, MasterCard) as the seed spells
// it, anything else as recorded.
func paymentMethod(o *refund.Order) string {
	m := o.PaymentMethod
	if m == "card" && o.Source.Scheme != "" {
		m = o.Source.Scheme
	}
	if w, ok := seedMethods[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(m))]; ok {
		return w
	}
	return m
}

// seedMethods are the seed's paymentMethod words, by their lower case
// without separators.
var seedMethods = map[string]string{"stcpay": "stcpay", "mastercard": "mastercard", "applepay": "applePay", "tap": "tap"}

// stamp formats a time as the seed does: "2023-07-26T04:06:33.227Z".
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
