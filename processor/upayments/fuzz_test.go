package upayments

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// FuzzRead feeds arbitrary replies to the decoders of UPayments' answers
// (create-refund and the multi-vendor endpoint): they never panic, and
// answer Approved only for a reply, read independently here, whose status
// is true and whose data names a refund with its ARN.
func FuzzRead(f *testing.F) {
	f.Add(200, []byte(`{"status":true,"message":"ok","data":{"orderId":"O1","refundOrderId":"R1","refundArn":"A1"}}`))
	f.Add(200, []byte(`{"status":true,"message":"success","data":{"isMultivendorRefund":true,"refundPayload":[{"refundRequestId":"x","amountToRefund":0}]}}`))
	f.Add(200, []byte(`{"status":true,"data":{"refundOrderId":"R1","refundArn":"A1","refundPayload":[{"refundRequestId":"r1","amountToRefund":"1.5e0"}]}}`))
	f.Add(200, []byte(`{"status":"true","data":{"refundOrderId":"R1","refundArn":"A1"}}`))
	f.Add(422, []byte(`{"status":false,"message":"the processor declined the refund (51): x","data":{"refundOrderId":"R1"}}`))
	f.Add(409, []byte(`{}`))
	f.Add(200, []byte(`null`))
	cur, _ := money.LookupCurrency("KWD")
	sent := []vendorShare{{RefundRequestID: "r1", AmountToRefund: "1.500"}}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		r := &upstream.Response{Status: status, Header: http.Header{}, Body: body}
		res, payload, err := readCreate(r)
		if (err != nil || payload != nil) && res != (processor.Result{}) {
			t.Fatalf("create: an error or a payload comes with no result: %+v %v %v", res, payload, err)
		}
		approvedOnly(t, "create", status, body, res)
		res, err = readMultivendor(r, cur, sent)
		if err != nil && res != (processor.Result{}) {
			t.Fatalf("multivendor: an error comes with no result: %+v %v", res, err)
		}
		approvedOnly(t, "multivendor", status, body, res)
	})
}

func approvedOnly(t *testing.T, name string, status int, body []byte, res processor.Result) {
	t.Helper()
	if res.Status != processor.Approved {
		return
	}
	var rep struct {
		Status bool
		Data   struct{ RefundOrderID, RefundARN string }
	}
	if status/100 != 2 || json.Unmarshal(body, &rep) != nil || !rep.Status || rep.Data.RefundOrderID == "" ||
		rep.Data.RefundARN == "" || res.Reference != rep.Data.RefundOrderID || res.ARN != rep.Data.RefundARN {
		t.Fatalf("%s: approved %d %q as %+v", name, status, body, res)
	}
}
