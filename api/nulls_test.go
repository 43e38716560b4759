package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCreateRefund_NullRefused: a member sent as null is refused, not read
// as left out. The document declares none of them nullable, and left out
// each means the widest refund: amount null refunded the whole order, items
// or vendors null the whole order rather than the lines or vendors meant.
func TestCreateRefund_NullRefused(t *testing.T) {
	f := mustStatesFixture(t)
	tests := []struct{ name, body, param string }{
		{"AmountNull", `{"order_id":"ORDER","amount":null}`, "amount"},
		{"ItemsNull", `{"order_id":"ORDER","items":null}`, "items"},
		{"VendorsNull", `{"order_id":"ORDER","vendors":null}`, "vendors"},
		{"MerchantReferenceNull", `{"order_id":"ORDER","amount":100,"merchant_reference":null}`, "merchant_reference"},
		{"QueueNull", `{"order_id":"ORDER","amount":100,"queue":null}`, "queue"},
		{"ReasonNull", `{"order_id":"ORDER","amount":100,"reason":null}`, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(strings.ReplaceAll(tt.body, "ORDER", f.orderID))
			r := f.l.do("POST", "/v1/refunds", f.maker, body, nil)
			if r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" || str(obj(obj(r.body)["error"])["param"]) != tt.param {
				t.Errorf("got %d %s, want 400 invalid_request on %s", r.status, r.short(), tt.param)
			}
		})
	}
	o := f.l.do("GET", "/v1/orders/"+f.orderID, f.maker, nil, nil)
	if got := obj(o.body)["refunded_amount"]; fmt.Sprint(got) != "0" {
		t.Errorf("the order's refunded_amount is %v after refused requests, want 0", got)
	}
}

// TestCreateOrder_NullRefused: as for refunds, a null member is refused;
// captured_amount null recorded the whole amount as captured, so more
// than was captured could be refunded.
func TestCreateOrder_NullRefused(t *testing.T) {
	f := mustStatesFixture(t)
	tests := []struct{ name, body, param string }{
		{"CapturedAmountNull", `{"reference":"NULL-1","currency":"SAR","amount":10000,"captured_amount":null}`, "captured_amount"},
		{"ItemsNull", `{"reference":"NULL-2","currency":"SAR","amount":10000,"items":null}`, "items"},
		{"VendorsNull", `{"reference":"NULL-3","currency":"SAR","amount":10000,"vendors":null}`, "vendors"},
		{"ReferenceNull", `{"reference":null,"currency":"SAR","amount":10000}`, "reference"},
		{"ProcessorNull", `{"reference":"NULL-4","currency":"SAR","amount":10000,"processor":null}`, "processor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.l.do("POST", "/v1/orders", f.maker, []byte(tt.body), nil)
			if r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" || str(obj(obj(r.body)["error"])["param"]) != tt.param {
				t.Errorf("got %d %s, want 400 invalid_request on %s", r.status, r.short(), tt.param)
			}
		})
	}
}

// TestAdjustOrder_NullRefused: a void's or chargeback's processor_reference
// is what keeps a repeat from applying twice; sent as null it was read as
// none, so the same chargeback sent again was applied again.
func TestAdjustOrder_NullRefused(t *testing.T) {
	f := mustStatesFixture(t)
	tests := []struct{ name, path, body, param string }{
		{"ChargebackReferenceNull", "/chargebacks", `{"amount":100,"processor_reference":null}`, "processor_reference"},
		{"VoidReferenceNull", "/voids", `{"amount":100,"processor_reference":null}`, "processor_reference"},
		{"VoidReasonNull", "/voids", `{"amount":100,"reason":null}`, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.l.do("POST", "/v1/orders/"+f.orderID+tt.path, f.maker, []byte(tt.body), nil)
			if r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" || str(obj(obj(r.body)["error"])["param"]) != tt.param {
				t.Errorf("got %d %s, want 400 invalid_request on %s", r.status, r.short(), tt.param)
			}
		})
	}
	o := f.l.do("GET", "/v1/orders/"+f.orderID, f.maker, nil, nil)
	if v, cb := fmt.Sprint(obj(o.body)["voided_amount"]), fmt.Sprint(obj(o.body)["charged_back_amount"]); v != "0" || cb != "0" {
		t.Errorf("after refused requests the order has voided %s, charged back %s; want 0 and 0", v, cb)
	}
}
