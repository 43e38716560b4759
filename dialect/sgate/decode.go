package sgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// refundRequest is the seed's body.
type refundRequest struct {
	Amount           int64  // minor units of the order's currency
	Reason           string // "Reason for refund", required
	MerchantRefundID string // "Merchant refund order ID", optional
}

// decodeRefund reads the seed's body for an order in currency cur. The
// seed: amount "string, Yes, floating point string, up to two decimal
// places" ("1.35", "99.10", "127"); reason "string, Yes"; merchantRefundId
// "string, No". Unknown fields are ignored, as the seed's clients may send
// fields refundd has no use for.
func decodeRefund(body []byte, cur money.Currency) (refundRequest, error) {
	if err := api.CheckJSON(body, nil); err != nil {
		return refundRequest{}, err
	}
	var in map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil || in == nil {
		return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "", "request body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "", "request body must be a single JSON object")
	}
	var req refundRequest
	amount, err := str(in, "amount")
	if err != nil {
		return refundRequest{}, err
	}
	if req.Amount, err = parseAmount(amount, cur); err != nil {
		return refundRequest{}, err
	}
	if req.Reason, err = str(in, "reason"); err != nil {
		return refundRequest{}, err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "reason", "reason is required")
	}
	if _, ok := in["merchantRefundId"]; ok {
		if req.MerchantRefundID, err = str(in, "merchantRefundId"); err != nil {
			return refundRequest{}, err
		}
	}
	return req, nil
}

// str reads a string field; missing or null is "".
func str(in map[string]json.RawMessage, field string) (string, error) {
	raw, ok := in[field]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", refund.Errorf(refund.EInvalidRequest, field, "%s must be a JSON string", field)
	}
	return s, nil
}

// parseAmount parses the seed's decimal string exactly. The seed allows at
// most two decimal places, and the currency may allow fewer (JPY none).
func parseAmount(s string, cur money.Currency) (int64, error) {
	if s == "" {
		return 0, refund.Errorf(refund.EInvalidAmount, "amount", `amount is required, as a decimal string such as "1.35"`)
	}
	n, err := money.ParseDecimal(s, cur)
	if err != nil {
		return 0, refund.Errorf(refund.EInvalidAmount, "amount", "amount: %v", err)
	}
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > 2 {
		return 0, refund.Errorf(refund.EInvalidAmount, "amount", "amount has at most two decimal places")
	}
	if n == 0 {
		return 0, refund.Errorf(refund.EInvalidAmount, "amount", "amount must be greater than zero")
	}
	return n, nil
}
