package acquirer

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/processor"
)

// FuzzRead feeds arbitrary answers to the decoder of the acquirer's
// replies: it never panics, an error comes with no result, a result comes
// only from a 200 whose status field (read independently here) is one the
// acquirer gives, and "never executed" (which lets refundd submit again)
// only from the acquirer's own 404 to a status lookup; and a result is
// never read from an answer about another amount or currency.
func FuzzRead(f *testing.F) {
	f.Add("POST", 200, []byte(`{"status":"approved","response_code":"00","message":"Approved","rrn":"606000000001","executed_at":"2026-03-01T09:00:00Z"}`))
	f.Add("POST", 200, []byte(`{"status":"declined","response_code":"51"}`))
	f.Add("GET", 200, []byte(`{"status":"approved","amount":1005,"currency":"kwd"}`))
	f.Add("GET", 200, []byte(`{"status":"approved","amount":2000,"currency":"KWD"}`))
	f.Add("GET", 200, []byte(`{"status":"approved","amount":1005,"currency":"BHD"}`))
	f.Add("GET", 200, []byte(`{"status":"pending","executed_at":"not a time"}`))
	f.Add("POST", 200, []byte(`{"status":"Approved"}`))
	f.Add("POST", 200, []byte(`[]`))
	f.Add("GET", 404, []byte(`{"code":"25","message":"Unable to locate record"}`))
	f.Add("POST", 404, []byte(`{"code":"25"}`))
	f.Add("GET", 404, []byte(`<html>404</html>`))
	f.Add("POST", 503, []byte(`{"code":"91","message":"Issuer or switch inoperative"}`))
	f.Add("POST", 503, []byte(``))
	f.Add("POST", 409, []byte(`{"code":"94","message":"key reused"}`))
	f.Add("POST", 504, []byte(`{"code":"68"}`))
	want := &processor.Request{IdempotencyKey: "re_1", Amount: 1005, Currency: "KWD"}
	f.Fuzz(func(t *testing.T, method string, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		res, err := read(method, status, body, want)
		if err != nil {
			if res != (processor.Result{}) {
				t.Fatalf("an error comes with no result: %+v %v", res, err)
			}
			var te *processor.TransientError
			if errors.As(err, &te) && te.NotExecuted {
				t.Fatalf("no answer of the acquirer proves a refund was not executed: %d %q", status, body)
			}
			if errors.Is(err, processor.ErrNotFound) {
				var p struct{ Code string }
				if method != http.MethodGet || status != http.StatusNotFound || json.Unmarshal(body, &p) != nil || p.Code != notFoundCode {
					t.Fatalf("'never executed' from %s %d %q", method, status, body)
				}
			}
			return
		}
		var r struct {
			Status, Currency string
			Amount           int64
		}
		if status != http.StatusOK || json.Unmarshal(body, &r) != nil || string(res.Status) != r.Status {
			t.Fatalf("%s %d %q read as %+v", method, status, body, res)
		}
		if (r.Amount != 0 && r.Amount != want.Amount) || (r.Currency != "" && !strings.EqualFold(r.Currency, want.Currency)) {
			t.Fatalf("an answer about %d %s read as %+v for %d %s", r.Amount, r.Currency, res, want.Amount, want.Currency)
		}
		switch res.Status {
		case processor.Approved, processor.Declined, processor.Pending, processor.Reversed, processor.Voided:
		default:
			t.Fatalf("status %q is none the acquirer gives", res.Status)
		}
	})
}
