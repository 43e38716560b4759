package upayments_test

import (
	"errors"
	"testing"

	"github.com/refundd/refundd/processor"
)

// TestRefund_ProxyNotFound: a resubmission is this connector's only
// lookup; a 404 that is not UPayments' JSON answer (a proxy's HTML page
// while the API is being deployed) says nothing about the refund an
// earlier, unanswered attempt may have made, and must not release it.
func TestRefund_ProxyNotFound(t *testing.T) {
	t.Parallel()
	srv, _ := standIn(t, [3]string{"404", "", "<html><body><h1>404 Not Found</h1><hr><center>nginx</center></body></html>"})
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1235, Currency: "KWD", ProcessorOrderID: "O1"}
	res, err := mustConnect(t, srv.URL, "tok").Refund(t.Context(), req)
	var te *processor.TransientError
	if !errors.As(err, &te) || te.NotExecuted {
		t.Fatalf("an HTML 404 proves nothing: want an unknown outcome, got %+v %v", res, err)
	}
}

// TestRefund_ProxyRefusal: as TestRefund_ProxyNotFound, for a proxy's 400,
// 405 or 413 page.
func TestRefund_ProxyRefusal(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"400", "405", "413"} {
		srv, _ := standIn(t, [3]string{status, "", "<html><head><title>400 Request Header Or Cookie Too Large</title></head><body><center>nginx</center></body></html>"})
		req := processor.Request{IdempotencyKey: "re_1", Amount: 1235, Currency: "KWD", ProcessorOrderID: "O1"}
		res, err := mustConnect(t, srv.URL, "tok").Refund(t.Context(), req)
		var te *processor.TransientError
		if !errors.As(err, &te) || te.NotExecuted {
			t.Errorf("HTML %s proves nothing: want an unknown outcome, got %+v %v", status, res, err)
		}
	}
}
