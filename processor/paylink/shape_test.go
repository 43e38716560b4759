package paylink_test

import (
	"errors"
	"testing"

	"github.com/refundd/refundd/processor"
)

// TestRefund_RefusalThatSaysNothing: a 4xx whose JSON says nothing, no
// code and no message ({} or null, as an API gateway or a proxy in front
// of Paylink may answer), is no refusal of the refund by Paylink. On a
// resubmission, this connector's only lookup, a decline would release the
// money of a refund an earlier, unanswered submission may have paid.
func TestRefund_RefusalThatSaysNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		decline string // "" when the outcome must be unknown
	}{
		{"Words404", 404, `{"title":"Not Found"}`, "order_not_found"},
		// A 404 with its own code (refundd's route_not_found, a merchant
		// not found) is no such order too: the core takes none from a
		// resubmission.
		{"Code404", 404, `{"code":"route_not_found","message":"no route"}`, "order_not_found"},
		{"Words400", 400, `{"status":400,"detail":"orderNumber is required"}`, "invalid_request"},
		{"EmptyObject400", 400, `{}`, ""},
		{"EmptyObject404", 404, `{}`, ""},
		{"Null404", 404, `null`, ""},
		{"Null413", 413, `null`, ""},
		{"StatusOnly405", 405, `{"status":405}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fk := &fake{refund: []reply{{tt.status, tt.body, nil}}}
			res, err := refundAt(t, fk)
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
