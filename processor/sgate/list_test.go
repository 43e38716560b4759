package sgate_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundd/refundd/processor"
)

// TestStatusOf_OnlyAListProvesNotFound: ErrNotFound lets the core submit
// the refund again, so only SGate's list of the order's refunds, read
// whole, may say the refund id is not there. A 200 whose body is no list
// (null, an object, a string) says nothing about the refund.
func TestStatusOf_OnlyAListProvesNotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		notFound bool
	}{
		{"EmptyList", `[]`, true},
		{"OtherRefunds", `[{"amount":1,"status":"success","id":"O1_R1","orderId":"O1","merchantRefundId":"re_other","currency":"KWD"}]`, true},
		{"AnotherOrdersList", `[{"amount":1,"status":"success","id":"O2_R1","orderId":"O2","merchantRefundId":"re_other","currency":"KWD"}]`, false},
		{"Null", `null`, false},
		{"Object", `{}`, false},
		{"String", `"ok"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/orders/O1/refunds" {
					http.Error(w, `{"code":"not_found","message":"no route"}`, http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
			_, err := mustConnect(t, srv.URL, "k").StatusOf(t.Context(), req)
			if got := errors.Is(err, processor.ErrNotFound); got != tt.notFound {
				t.Fatalf("body %s: want ErrNotFound %v, got %v", tt.body, tt.notFound, err)
			}
			if !tt.notFound {
				var te *processor.TransientError
				if !errors.As(err, &te) || te.NotExecuted {
					t.Fatalf("body %s: want an unknown outcome, got %v", tt.body, err)
				}
			}
		})
	}
}
