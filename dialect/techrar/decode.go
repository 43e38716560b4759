package techrar

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

// refundRequest is the seed's body, decoded.
type refundRequest struct {
	Comments string
	Lines    []refund.InvoiceLineRefund
}

// maxLines bounds refunded_items; an order has at most 500 lines.
const maxLines = 500

// decodeRefund reads the seed's body: the seed's example is
// {"comments":"string","refunded_items":[{"id":0,"qty":0,"amount":0}]}.
// id and qty are JSON integers, amount a JSON number kept as written:
// the core parses it exactly in the invoice's minor units (never through
// float64) once it has read the invoice. Unknown fields are ignored, as
// Techrar clients may send fields refundd has no use for.
func decodeRefund(body []byte) (refundRequest, error) {
	in, err := object(body)
	if err != nil {
		return refundRequest{}, err
	}
	var req refundRequest
	if raw, ok := in["comments"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.Comments); err != nil {
			return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "comments", "comments must be a JSON string")
		}
	}
	raw, ok := in["refunded_items"]
	if !ok || string(raw) == "null" {
		return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "refunded_items", "refunded_items is required: the invoice lines to refund")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "refunded_items", "refunded_items must be a JSON array")
	}
	if len(items) == 0 || len(items) > maxLines {
		return refundRequest{}, refund.Errorf(refund.EInvalidRequest, "refunded_items", "refunded_items needs 1 to %d lines", maxLines)
	}
	for i, item := range items {
		l, err := decodeLine(item, "refunded_items["+strconv.Itoa(i)+"]")
		if err != nil {
			return refundRequest{}, err
		}
		req.Lines = append(req.Lines, l)
	}
	return req, nil
}

// object decodes one JSON object into its raw fields.
func object(body []byte) (map[string]json.RawMessage, error) {
	if err := api.CheckJSON(body, nil); err != nil {
		return nil, err
	}
	var in map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil || in == nil {
		return nil, refund.Errorf(refund.EInvalidRequest, "", "request body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, refund.Errorf(refund.EInvalidRequest, "", "request body must be a single JSON object")
	}
	return in, nil
}

func decodeLine(raw json.RawMessage, param string) (refund.InvoiceLineRefund, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return refund.InvoiceLineRefund{}, refund.Errorf(refund.EInvalidRequest, param, "%s must be a JSON object", param)
	}
	var l refund.InvoiceLineRefund
	var err error
	if l.LineID, err = integer(in, "id", param); err != nil {
		return l, err
	}
	if l.LineID <= 0 {
		return l, refund.Errorf(refund.EInvalidRequest, param+".id", "%s.id must be the id of a line of the invoice", param)
	}
	if l.Qty, err = integer(in, "qty", param); err != nil {
		return l, err
	}
	if l.AmountDecimal, err = number(in, "amount", param); err != nil {
		return l, refund.Errorf(refund.EInvalidAmount, param+".amount", "%s.amount must be a JSON number such as 10.33", param)
	}
	return l, nil
}

// number reads a JSON number field as its literal; missing or null is "".
func number(in map[string]json.RawMessage, name, param string) (string, error) {
	raw, ok := in[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	// A json.Number also takes a number in quotes ("1"): the seed's fields
	// are JSON numbers, so a string is refused like any other type.
	raw = bytes.TrimSpace(raw)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var n json.Number
	if err := dec.Decode(&n); err != nil || len(raw) == 0 || raw[0] == '"' {
		return "", refund.Errorf(refund.EInvalidRequest, param+"."+name, "%s.%s must be a JSON number", param, name)
	}
	return n.String(), nil
}

// integer reads a non-negative JSON integer; missing or null is 0.
func integer(in map[string]json.RawMessage, name, param string) (int64, error) {
	s, err := number(in, name, param)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1_000_000_000 {
		return 0, refund.Errorf(refund.EInvalidRequest, param+"."+name, "%s.%s must be a non-negative integer", param, name)
	}
	return n, nil
}
