package paylink_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/paylink"
)

// TestRefund_AlreadyRefundedWordings: Paylink's IdempotentSubmit rests on
// a resubmission of an order already refunded (by this refund's own lost
// first submission) being read as unknown, never as a decline: a decline
// releases the money of a refund that was paid. Ordinary ways of saying
// "already refunded" must all be read so.
func TestRefund_AlreadyRefundedWordings(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"status":400,"message":"This order has already been refunded"}`,
		`{"status":400,"detail":"Order is fully refunded"}`,
		`{"title":"Bad Request","status":400,"detail":"Order has been refunded before"}`,
	} {
		fk := &fake{refund: []reply{{400, body, nil}}}
		res, err := refundAt(t, fk)
		var te *processor.TransientError
		if !errors.As(err, &te) || te.NotExecuted {
			t.Errorf("%s: the order was already refunded, perhaps by this refund: want an unknown outcome, got %+v %v", body, res, err)
		}
	}
}

// TestRefund_ProxyNotFound: the seed's 404 is Paylink's "no merchant or
// order"; an HTML 404 from a proxy in front of it is not, and on a
// resubmission (this connector's only lookup) it must not release the
// money of a refund an earlier, unanswered attempt may have paid.
func TestRefund_ProxyNotFound(t *testing.T) {
	t.Parallel()
	fk := &fake{refund: []reply{{404, "<html><body><h1>404 Not Found</h1><hr><center>nginx</center></body></html>", nil}}}
	res, err := refundAt(t, fk)
	var te *processor.TransientError
	if !errors.As(err, &te) || te.NotExecuted {
		t.Fatalf("an HTML 404 proves nothing: want an unknown outcome, got %+v %v", res, err)
	}
}

// TestRefund_ProxyRefusal: a 4xx whose body is not Paylink's JSON is a
// proxy's refusal (nginx's 400 "Request Header Or Cookie Too Large", 413,
// 405): it proves nothing about an earlier, unanswered submission, and a
// resubmission is this connector's only lookup.
func TestRefund_ProxyRefusal(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 405, 413} {
		fk := &fake{refund: []reply{{status, "<html><head><title>400 Request Header Or Cookie Too Large</title></head><body><center>nginx</center></body></html>", nil}}}
		res, err := refundAt(t, fk)
		var te *processor.TransientError
		if !errors.As(err, &te) || te.NotExecuted {
			t.Errorf("HTML %d proves nothing: want an unknown outcome, got %+v %v", status, res, err)
		}
	}
}

// refundAt refunds 125.00 SAR of order 1722731077436 (refund re_1) through
// a connector whose Paylink is fk, and returns the connector's answer.
func refundAt(t *testing.T, fk *fake) (processor.Result, error) {
	t.Helper()
	srv := httptest.NewServer(fk)
	t.Cleanup(srv.Close)
	c, err := paylink.New(processor.Account{URL: srv.URL, Credential: "APP_ID_1:secret",
		Options: map[string]string{paylink.OptMerchantKey: "cr", paylink.OptMerchantValue: "1010101010"}})
	if err != nil {
		t.Fatal(err)
	}
	return c.Refund(context.Background(), processor.Request{IdempotencyKey: "re_1", Amount: 12500, OrderAmount: 12500,
		Currency: "SAR", ProcessorOrderID: "1722731077436"})
}
