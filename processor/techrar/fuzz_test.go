package techrar

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// FuzzReadRefund: any reply to a refund or a lookup, under any status, is
// read without panicking; it is approved only when it is a refund invoice
// of the tax invoice refunded, in the amount and currency asked; a lookup
// never declines on an HTTP error; a decline always has a code.
func FuzzReadRefund(f *testing.F) {
	for _, s := range []string{
		`{"id":608,"type":"refund","status":"paid","currency":"SAR","total_amount":10.33,"refunded_invoice":{"id":603},` +
			`"transactions":[{"type":"refund","status":"captured","currency":"SAR","received_amount":10.33,"provider_status":"REFUNDED",` +
			`"created_at":"2025-08-20T12:49:32.147866+03:00","provider_details":{"GatewayReference":{"ReferenceId":"5232","TransactionId":"05O99T"}}}]}`,
		`{"id":608,"type":"refund","status":"paid","currency":"SAR","total_amount":10.33,"refunded_invoice":{"id":603},"transactions":[]}`,
		`{"id":608,"type":"refund","status":"void","currency":"SAR","refunded_invoice":{"id":603},"transactions":[{"type":"refund","status":"failed"}]}`,
		`{"id":"608","type":"refund","status":"paid","currency":"SAR","total_amount":"10.33","refunded_invoice":{"id":603}}`,
		`{"detail":"Not found.","code":"invoice_not_found"}`,
		`{"refunded_items":["Invalid item id."]}`,
		`[]`, `null`, ``, `{`, "\x00\xff",
	} {
		for _, st := range []int{200, 400, 401, 404, 409, 422, 429, 503} {
			f.Add(st, []byte(s))
		}
	}
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1033, Currency: "SAR", ProcessorOrderID: "603", Reference: "608"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		resp := &upstream.Response{Status: status, Header: http.Header{"Retry-After": {"1"}}, Body: body}
		for _, lookup := range []bool{false, true} {
			read := readRefund
			if lookup {
				read = readStatus
			}
			res, err := read(resp, req)
			if err != nil {
				var te *processor.TransientError
				if !errors.As(err, &te) || te.Code == "" {
					t.Fatalf("an error that is not a coded TransientError: %#v", err)
				}
				continue
			}
			switch res.Status {
			case processor.Approved, processor.Pending, processor.Reversed:
				var inv struct {
					Type            string
					Currency        string
					RefundedInvoice struct{ ID json.Number } `json:"refunded_invoice"`
				}
				if status != 200 || json.Unmarshal(body, &inv) != nil || inv.Type != "refund" ||
					inv.RefundedInvoice.ID != "603" || res.Reference == "" {
					t.Fatalf("%s %+v from %d %q", res.Status, res, status, body)
				}
			case processor.Declined:
				if res.ResponseCode == "" || (lookup && status != 200) || status < 200 {
					t.Fatalf("declined %+v from %d %q (lookup %v)", res, status, body, lookup)
				}
			default:
				t.Fatalf("status %q from %d %q", res.Status, status, body)
			}
		}
	})
}
