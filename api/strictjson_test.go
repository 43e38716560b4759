package api_test

import (
	"testing"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

func TestCheckJSON(t *testing.T) {
	type item struct {
		ItemID string `json:"item_id"`
		Qty    int64  `json:"qty"`
	}
	type req struct {
		OrderID string `json:"order_id"`
		Amount  *int64 `json:"amount"`
		Items   []item `json:"items"`
	}
	for _, tc := range []struct {
		name, body, param string
		ok                bool
	}{
		{"plain", `{"order_id":"o","amount":100,"items":[{"item_id":"a","qty":1}]}`, "", true},
		{"unknown member left to the decoder", `{"nope":1}`, "", true},
		{"syntax error left to the decoder", `{"amount":`, "", true},
		{"empty body left to the decoder", ``, "", true},
		{"duplicate", `{"amount":100,"amount":200}`, "amount", false},
		{"nested duplicate", `{"items":[{"item_id":"a","item_id":"b"}]}`, "items[0].item_id", false},
		{"case variant", `{"AMOUNT":100}`, "AMOUNT", false},
		{"nested case variant", `{"items":[{"Item_ID":"a"}]}`, "items[0].Item_ID", false},
		{"invalid UTF-8", "{\"order_id\":\"o\xff\"}", "order_id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := api.CheckJSON([]byte(tc.body), &req{})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if refund.ErrorCode(err) != refund.EInvalidRequest || refund.ErrorParam(err) != tc.param {
				t.Fatalf("got %v (param %q), want invalid_request naming %q", err, refund.ErrorParam(err), tc.param)
			}
		})
	}
}
