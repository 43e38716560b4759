package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// refundRequest is the seed's body: "amount integer required, Possible
// values: >= 1" and "transaction_id string".
type refundRequest struct {
	Amount        int64  // minor units
	TransactionID string // the capture to refund; "" lets the core choose
}

// decodeRefund validates the body the way the seed reports it: every field
// at fault is named in one 422, with the seed's wording. Numbers are read
// from their JSON text, never through float64. Unknown fields are ignored,
// as the seed's clients may send fields refundd has no use for.
func decodeRefund(body []byte) (refundRequest, *validationError) {
	if err := api.CheckJSON(body, nil); err != nil {
		return refundRequest{}, invalid(fieldOr(refund.ErrorParam(err)), refund.ErrorMessage(err))
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return refundRequest{}, invalid("body", "The request body must be a JSON object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return refundRequest{}, invalid("body", "The request body must be a single JSON object.")
	}
	var req refundRequest
	errs := map[string][]string{}
	if raw, ok := fields["amount"]; !ok || isNull(raw) {
		errs["amount"] = []string{"The value is required."}
	} else if n, msg := parseAmount(raw); msg != "" {
		errs["amount"] = []string{msg}
	} else {
		req.Amount = n
	}
	if raw, ok := fields["transaction_id"]; ok && !isNull(raw) {
		switch err := json.Unmarshal(raw, &req.TransactionID); {
		case err != nil:
			errs["transaction_id"] = []string{"The value must be a string."}
		case len(req.TransactionID) > 128:
			errs["transaction_id"] = []string{"The value may not be greater than 128 characters."}
		}
	}
	if len(errs) > 0 {
		return refundRequest{}, &validationError{Message: "Data validation failed", Errors: errs}
	}
	return req, nil
}

// parseAmount reads an integer count of minor units from its JSON text and
// returns the seed's message when it is not one >= 1.
func parseAmount(raw json.RawMessage) (int64, string) {
	const notInteger = "The value must be an integer."
	s := string(bytes.TrimSpace(raw))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, notInteger // a string, boolean, array or object
	}
	n, err := money.ParseMinor(s)
	switch {
	case errors.Is(err, money.ErrNegative):
		return 0, "The value must be greater than or equal to 1."
	case errors.Is(err, money.ErrOverflow):
		return 0, "The value must be less than or equal to 9223372036854775807."
	case err != nil:
		return 0, notInteger // a fraction or an exponent
	case n < 1:
		return 0, "The value must be greater than or equal to 1."
	}
	return n, ""
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
