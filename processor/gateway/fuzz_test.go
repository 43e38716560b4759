package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// FuzzRead feeds arbitrary replies to the decoder of the gateway's answer:
// it never panics, and it answers Approved only for a reply whose newest
// refund transaction is an approval of exactly this refund's amount, read
// independently here.
func FuzzRead(f *testing.F) {
	f.Add(200, []byte(`{"id":"o1","currency":"SAR","updated_at":"2026-03-01T09:00:00Z","transactions":[{"id":"t1","type":"refund","status":"approved","response_code":"00","amount":1000,"created_at":"2026-03-01T09:00:00Z"}]}`))
	f.Add(200, []byte(`{"currency":"SAR","transactions":[{"type":"refund","status":"approved","amount":1000.0}]}`))
	f.Add(200, []byte(`{"currency":"SAR","transactions":null}`))
	f.Add(200, []byte(`[]`))
	f.Add(422, []byte(`{"message":"Data validation failed","errors":{"amount":["x"]}}`))
	f.Add(422, []byte(`{"errors":{"amount":null}}`))
	f.Add(400, []byte(`{"message":"Initial request is still processing."}`))
	f.Add(429, []byte(``))
	f.Add(401, []byte(`{}`))
	f.Add(204, []byte(``))
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		res, err := read(&upstream.Response{Status: status, Header: http.Header{}, Body: body}, req)
		if err != nil && res != (processor.Result{}) {
			t.Fatalf("an error comes with no result: %+v %v", res, err)
		}
		if res.Status != processor.Approved {
			return
		}
		// Field names match as encoding/json matches them (case-folded).
		type tx struct {
			Type, Status string
			Amount       json.RawMessage
		}
		var o struct {
			Currency     string
			Transactions []tx
		}
		if status/100 != 2 || json.Unmarshal(body, &o) != nil || o.Currency != "SAR" || len(o.Transactions) == 0 {
			t.Fatalf("approved a reply that is not an order in SAR: %d %q", status, body)
		}
		var last *tx
		for i := range o.Transactions {
			if o.Transactions[i].Type == "refund" {
				last = &o.Transactions[i]
			}
		}
		if last == nil || last.Status != "approved" || !bytes.Equal(bytes.TrimSpace(last.Amount), []byte("1000")) {
			t.Fatalf("approved without an approved refund transaction of 1000: %q -> %+v", body, res)
		}
	})
}
