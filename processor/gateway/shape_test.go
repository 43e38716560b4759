package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundd/refundd/processor"
)

// TestRefund_RefusalWithoutTheSeedsBody: the seed's refusals carry
// {"message"} (and a 422 its errors). A 4xx whose JSON is not that, such
// as {} or null from a proxy or an API gateway in front of it, says
// nothing about a refund an earlier, unanswered attempt may have made,
// and a resubmission is this connector's only lookup: it must not be a
// decline, which releases the refund's money.
func TestRefund_RefusalWithoutTheSeedsBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		decline string // "" when the outcome must be unknown
	}{
		{"SeedsMessage", 410, `{"message":"Gone"}`, "http_410"},
		{"Seeds422", 422, `{"message":"Data validation failed","errors":{"amount":["The value must be greater than or equal to 1."]}}`, "invalid_amount"},
		{"EmptyObject405", 405, `{}`, ""},
		{"Null413", 413, `null`, ""},
		{"OtherShape405", 405, `{"error":"method not allowed"}`, ""},
		{"EmptyObject422", 422, `{}`, ""},
		{"Null422", 422, `null`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
			res, err := mustConnect(t, srv.URL, "sk_test").Refund(t.Context(), req)
			if tt.decline != "" {
				if err != nil || res.Status != processor.Declined || res.ResponseCode != tt.decline {
					t.Fatalf("want declined %s, got %+v %v", tt.decline, res, err)
				}
				return
			}
			var te *processor.TransientError
			if !errors.As(err, &te) || te.NotExecuted {
				t.Fatalf("%d %s proves nothing: want an unknown outcome, got %+v %v", tt.status, tt.body, res, err)
			}
		})
	}
}

// TestRefund_AnotherOrdersReply: the seed's 200 is the whole order the
// refund was asked of. A reply naming another order (a proxy's cached
// answer, a gateway that mixed up replies) says nothing about this
// refund, even when its newest refund transaction has this amount and
// currency: never approved nor declined.
func TestRefund_AnotherOrdersReply(t *testing.T) {
	t.Parallel()
	const order = `{"id":%q,"currency":"SAR","updated_at":"2026-03-01T09:00:00Z","transactions":[
		{"id":"t0","type":"capture","status":"approved","amount":5000,"created_at":"2026-03-01T08:00:00Z"},
		{"id":"t1","type":"refund","status":%q,"response_code":"00","message":"APPROVED","retrieval_reference":"242590000001","stan":"000001","auth_code":null,"amount":1000,"created_at":"2026-03-01T09:00:00Z"}]}`
	tests := []struct {
		name, id, status string
		want             processor.Status // "" when the outcome must be unknown
	}{
		{"ThisOrder", "o1", "approved", processor.Approved},
		{"AnotherOrderApproved", "o2", "approved", ""},
		{"AnotherOrderDeclined", "o2", "declined", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, order, tt.id, tt.status)
			}))
			defer srv.Close()
			req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
			res, err := mustConnect(t, srv.URL, "sk_test").Refund(t.Context(), req)
			if tt.want != "" {
				if err != nil || res.Status != tt.want {
					t.Fatalf("want %s, got %+v %v", tt.want, res, err)
				}
				return
			}
			var te *processor.TransientError
			if !errors.As(err, &te) || te.NotExecuted {
				t.Fatalf("order %s's reply to a refund of o1: want an unknown outcome, got %+v %v", tt.id, res, err)
			}
		})
	}
}
