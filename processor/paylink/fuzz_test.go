package paylink

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// FuzzReadRefund: any reply, under any status, is read without panicking;
// it is approved only when it is the seed's JSON object naming a refund of
// the very amount and currency asked, and a decline always has a code.
func FuzzReadRefund(f *testing.F) {
	for _, s := range []string{
		`{"id":237,"orderNumber":"1722731077436","amount":125.0,"currency":"SAR","refundReason":"x","createDatetime":1722731201000}`,
		`{"id":"237","amount":125.00,"currency":"SAR"}`,
		`{"id":237,"amount":"125.00","currency":"SAR"}`,
		`{"id":237,"amount":1.25e2,"currency":"SAR"}`,
		`{"id":-1,"amount":125,"currency":"SAR"}`,
		`{"status":422,"code":"refund_declined","id":4,"message":"declined"}`,
		`{"title":"Bad Request","detail":"x"}`,
		`[]`, `null`, ``, `{`, "\x00\xff",
	} {
		for _, st := range []int{200, 400, 401, 404, 409, 422, 429, 503} {
			f.Add(st, []byte(s))
		}
	}
	req := processor.Request{IdempotencyKey: "re_1", Amount: 12500, OrderAmount: 12500, Currency: "SAR",
		ProcessorOrderID: "1722731077436"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		res, err := readRefund(&upstream.Response{Status: status, Header: http.Header{"Retry-After": {"1"}}, Body: body}, req)
		if err != nil {
			var te *processor.TransientError
			if !errors.As(err, &te) || te.Code == "" {
				t.Fatalf("an error that is not a coded TransientError: %#v", err)
			}
			return
		}
		switch res.Status {
		case processor.Approved:
			var r struct {
				ID       json.RawMessage
				Amount   json.Number
				Currency string
			}
			if status != 200 || json.Unmarshal(body, &r) != nil || r.Amount.String() == "" || r.Currency != "SAR" ||
				res.Reference == "" {
				t.Fatalf("approved %+v from %d %q", res, status, body)
			}
		case processor.Declined:
			if res.ResponseCode == "" || status < 400 {
				t.Fatalf("declined %+v from %d %q", res, status, body)
			}
		default:
			t.Fatalf("status %q from %d %q", res.Status, status, body)
		}
	})
}
