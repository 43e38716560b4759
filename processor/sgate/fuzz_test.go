package sgate

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

func TestAmountText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		currency string
		minor    int64
		want     string
		ok       bool
	}{
		{"SAR", 135, "1.35", true},
		{"SAR", 5, "0.05", true},
		{"SAR", 12_700, "127.00", true},
		{"KWD", 1230, "1.23", true},
		{"KWD", 50_000, "50.00", true},
		{"KWD", 10, "0.01", true},
		{"KWD", 1235, "", false},
		{"KWD", 5, "", false},
		{"BHD", 7_005, "", false},
		{"OMR", 100, "0.10", true},
		{"JPY", 127, "127", true},
	}
	for _, tt := range tests {
		cur, err := money.LookupCurrency(tt.currency)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := amountText(tt.minor, cur); got != tt.want || ok != tt.ok {
			t.Errorf("%d %s: want %q %v, got %q %v", tt.minor, tt.currency, tt.want, tt.ok, got, ok)
		}
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 400 bytes
	if got := reason(long); len(got) > maxReason || !strings.HasPrefix(long, got) || len(got) < maxReason-1 {
		t.Fatalf("cut to %d bytes: %q", len(got), got)
	}
	if got := reason("damaged"); got != "damaged" {
		t.Fatalf("a short reason is sent as it is: %q", got)
	}
}

// FuzzRead feeds arbitrary replies to the decoders of SGate's answers (to
// a refund, a lookup and a list): they never panic, and answer Approved
// only for a refund object, read independently here, that says success for
// this refund id, currency and exact amount.
func FuzzRead(f *testing.F) {
	const ok = `{"amount":10.5,"status":"success","id":"O1_R1","merchantRefundId":"re_1","currency":"KWD","updatedAt":"2026-03-01T09:00:00.000Z"}`
	f.Add(200, []byte(ok))
	f.Add(200, []byte("["+ok+"]"))
	f.Add(200, []byte(`{"amount":"10.5","status":"success","id":"x","merchantRefundId":"re_1","currency":"KWD"}`))
	f.Add(200, []byte(`{"amount":10.5e0,"status":"success","id":"x","merchantRefundId":"re_1","currency":"KWD"}`))
	f.Add(409, []byte(`{"code":"merchant_reference_reused","message":"m"}`))
	f.Add(422, []byte(`{"code":"amount_exceeds_refundable"}`))
	f.Add(404, []byte(``))
	f.Add(429, []byte(`x`))
	cur, _ := money.LookupCurrency("KWD")
	req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		r := &upstream.Response{Status: status, Header: http.Header{}, Body: body}
		for name, read := range map[string]func(*upstream.Response, processor.Request, money.Currency) (processor.Result, error){
			"refund": readRefund, "lookup": readLookup, "list": readList} {
			res, err := read(r, req, cur)
			if err != nil && res != (processor.Result{}) {
				t.Fatalf("%s: an error comes with no result: %+v %v", name, res, err)
			}
			if res.Status != processor.Approved {
				continue
			}
			type object struct {
				Amount                                 json.RawMessage
				Status, ID, MerchantRefundID, Currency string
			}
			var objs []object
			var one object
			if json.Unmarshal(body, &one) == nil {
				objs = append(objs, one)
			} else if json.Unmarshal(body, &objs) != nil {
				t.Fatalf("%s: approved a reply that is no refund object: %d %q", name, status, body)
			}
			found := false
			for _, o := range objs {
				found = found || (o.Status == "success" && o.MerchantRefundID == "re_1" && o.Currency == "KWD" && o.ID != "" &&
					canonical(string(o.Amount)) == "10.5")
			}
			if status/100 != 2 || !found || res.Reference == "" {
				t.Fatalf("%s: approved %d %q as %+v", name, status, body, res)
			}
		}
	})
}

// canonical strips a plain decimal's leading and trailing zeros (a JSON
// string holding one counts: encoding/json reads it as a json.Number);
// anything else (exponents, signs) is returned as it is.
func canonical(s string) string {
	s = strings.TrimSpace(s)
	var quoted string
	if json.Unmarshal([]byte(s), &quoted) == nil {
		s = quoted
	}
	if s == "" || strings.Trim(s, "0123456789.") != "" || strings.Count(s, ".") > 1 {
		return s
	}
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}
