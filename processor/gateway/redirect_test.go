package gateway_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/processor"
)

// TestRefund_RedirectAfterPost: a 303 See Other to a POST is how an API
// says "done, the result is over there": the refund may have executed.
// The connector must not follow it as a GET and read that GET's 404 (or
// anything else) as the refund's answer.
func TestRefund_RedirectAfterPost(t *testing.T) {
	t.Parallel()
	var posts, gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			http.Redirect(w, r, "/v1/refunds/t1", http.StatusSeeOther)
			return
		}
		gets.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html>404 Not Found</html>"))
	}))
	defer srv.Close()
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
	res, err := mustConnect(t, srv.URL, "sk_test").Refund(t.Context(), req)
	var te *processor.TransientError
	if !errors.As(err, &te) || te.NotExecuted {
		t.Fatalf("a refund answered 303 may have executed: want an unknown outcome, got %+v %v (GETs sent: %d)", res, err, gets.Load())
	}
	if gets.Load() != 0 {
		t.Fatalf("the connector followed the redirect with %d GET(s)", gets.Load())
	}
}

// TestRefund_ProxyNotFound: the seed's API documents no 404; a 404 that
// is not even JSON (a proxy's or ingress's default page while the gateway
// is being deployed) says nothing about the order, and a resubmission is
// this connector's only lookup: it must not release the refund's money.
func TestRefund_ProxyNotFound(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body><h1>404 Not Found</h1><hr><center>nginx</center></body></html>"))
	}))
	defer srv.Close()
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
	res, err := mustConnect(t, srv.URL, "sk_test").Refund(t.Context(), req)
	var te *processor.TransientError
	if !errors.As(err, &te) || te.NotExecuted {
		t.Fatalf("an HTML 404 proves nothing: want an unknown outcome, got %+v %v", res, err)
	}
}

// TestRefund_ProxyRefusal: a 4xx that is not the gateway's JSON (a
// proxy's 405 or 413 page) proves nothing about an earlier, unanswered
// attempt, and a resubmission is this connector's only lookup.
func TestRefund_ProxyRefusal(t *testing.T) {
	t.Parallel()
	for _, status := range []int{405, 413} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<html><body><center>nginx</center></body></html>"))
		}))
		req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
		res, err := mustConnect(t, srv.URL, "sk_test").Refund(t.Context(), req)
		srv.Close()
		var te *processor.TransientError
		if !errors.As(err, &te) || te.NotExecuted {
			t.Errorf("HTML %d proves nothing: want an unknown outcome, got %+v %v", status, res, err)
		}
	}
}
