package sgate_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundd/refundd/processor"
)

// proxy404 answers every request as a reverse proxy or ingress does while
// the service behind it is away: 404 with an HTML page.
func proxy404(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body><h1>404 Not Found</h1><hr><center>nginx</center></body></html>"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStatusOf_ProxyNotFound: ErrNotFound tells the core the refund was
// not executed (and lets it submit again). A 404 that is not SGate's error
// body (no order_not_found / refund_not_found code) proves nothing.
func TestStatusOf_ProxyNotFound(t *testing.T) {
	t.Parallel()
	srv := proxy404(t)
	req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
	_, err := mustConnect(t, srv.URL, "k").StatusOf(t.Context(), req)
	if errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("an HTML 404 from a proxy read as proof the refund was not executed: %v", err)
	}
	req.Reference = "O1_R1"
	_, err = mustConnect(t, srv.URL, "k").StatusOf(t.Context(), req)
	if errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("by reference: an HTML 404 from a proxy read as proof the refund was not executed: %v", err)
	}
}

// TestRefund_ProxyNotFound: the same 404 to a (re)submission must not be
// a decline, which releases the money of a refund an earlier, unanswered
// attempt may have executed.
func TestRefund_ProxyNotFound(t *testing.T) {
	t.Parallel()
	srv := proxy404(t)
	req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
	res, err := mustConnect(t, srv.URL, "k").Refund(t.Context(), req)
	var te *processor.TransientError
	if !errors.As(err, &te) || te.NotExecuted {
		t.Fatalf("an HTML 404 proves nothing: want an unknown outcome, got %+v %v", res, err)
	}
}

// TestRefund_ProxyRefusal: a 400, 405 or 413 page from a proxy is not
// SGate's refusal; after a lookup said "not found" the core resubmits,
// and the first attempt may still execute late: no decline.
func TestRefund_ProxyRefusal(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 405, 413} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<html><body><center>nginx</center></body></html>"))
		}))
		req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
		res, err := mustConnect(t, srv.URL, "k").Refund(t.Context(), req)
		srv.Close()
		var te *processor.TransientError
		if !errors.As(err, &te) || te.NotExecuted {
			t.Errorf("HTML %d proves nothing: want an unknown outcome, got %+v %v", status, res, err)
		}
	}
}

// TestRefund_ReferenceUsedLookupNotMade: a submission answered 409
// merchant_reference_reused is looked up. A lookup refused before it was
// read (429) proves the lookup was not made, not the refund: SGate holds a
// refund under the id, which may be this one's. The answer is an unknown
// outcome; "not executed" would hand the attempt back, and a first
// attempt back to pending, where it can be canceled and its money
// released.
func TestRefund_ReferenceUsedLookupNotMade(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		code       string
	}{
		{"RateLimited", http.StatusTooManyRequests, "3", "reference_conflict"},
		{"Unavailable", http.StatusServiceUnavailable, "", "upstream_503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.Method == http.MethodPost {
					w.WriteHeader(http.StatusConflict)
					_, _ = w.Write([]byte(`{"code":"merchant_reference_reused","message":"merchantRefundId was used for another refund"}`))
					return
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"code":"busy","message":"try later"}`))
			}))
			t.Cleanup(srv.Close)
			req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
			res, err := mustConnect(t, srv.URL, "k").Refund(t.Context(), req)
			var te *processor.TransientError
			if !errors.As(err, &te) || te.NotExecuted || te.Code != tc.code {
				t.Fatalf("the refund id names a refund at SGate: want an unknown outcome (%s), got %+v %v", tc.code, res, err)
			}
		})
	}
}
