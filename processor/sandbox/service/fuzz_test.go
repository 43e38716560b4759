package service_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/refundd/refundd/processor/acquirer"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
)

// FuzzSubmit feeds arbitrary bodies to the submission decoder: it never
// panics, every answer is a Result or a Problem, and a refused body (400)
// executes nothing.
func FuzzSubmit(f *testing.F) {
	f.Add([]byte(`{"idempotency_key":"re_1","merchant_id":"mer_1","order_id":"ord_1","amount":1005,"currency":"KWD","payment_method":"card","card_last4":"4444"}`))
	f.Add([]byte(`{"idempotency_key":"re_1","amount":1005.5,"currency":"KWD"}`))
	f.Add([]byte(`{"idempotency_key":"re_1","amount":"1005","currency":"KWD"}`))
	f.Add([]byte(`{"idempotency_key":"re_1","amount":1,"currency":"SAR","card_last4":"0091"}`))
	f.Add([]byte(`{"idempotency_key":"re_1","amount":1,"currency":"SAR","card_last4":"0099"}`))
	f.Add([]byte(`{"idempotency_key":"","amount":-1}`))
	f.Add([]byte(`{"idempotency_key":"re_1","amount":1}{"idempotency_key":"re_2","amount":1}`))
	f.Add([]byte(`{"Idempotency_Key":"re_1","AMOUNT":9223372036854775807,"x":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		acq := sandbox.New(sandbox.Config{SettleDelay: time.Hour})
		svc, err := service.New(acq, service.Faults{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A card that is never answered (0099) waits for the caller.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/sandbox/refunds", bytes.NewReader(body))
		w := httptest.NewRecorder()
		svc.Handler().ServeHTTP(w, req)

		var p acquirer.Problem
		var r acquirer.Result
		switch {
		case w.Code == http.StatusOK:
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Status == "" {
				t.Fatalf("200 with no result: %q", w.Body)
			}
		case json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Code == "":
			t.Fatalf("%d with no problem: %q", w.Code, w.Body)
		}
		if w.Code == http.StatusBadRequest && len(acq.Executed()) > 0 {
			t.Fatalf("a refused body executed %+v: %q", acq.Executed(), body)
		}
	})
}

// FuzzPutFaults feeds arbitrary bodies to the faults decoder: only a body
// whose faults are valid changes the faults in force, to exactly those.
func FuzzPutFaults(f *testing.F) {
	f.Add([]byte(`{"latency_ms":5,"error_rate":0.25,"drop_rate":0.5}`))
	f.Add([]byte(`{"error_rate":1.5}`))
	f.Add([]byte(`{"error_rate":1e400}`))
	f.Add([]byte(`{"drop_rate":-0}`))
	f.Add([]byte(`{"latency_ms":60000}{"latency_ms":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		start := service.Faults{LatencyMS: 1}
		svc, err := service.New(sandbox.New(sandbox.Config{}), start, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPut, "/v1/sandbox/faults", bytes.NewReader(body))
		w := httptest.NewRecorder()
		svc.Handler().ServeHTTP(w, req)
		got := svc.Faults()
		if got.Validate() != nil {
			t.Fatalf("faults in force are invalid: %+v after %q", got, body)
		}
		switch w.Code {
		case http.StatusOK:
			var echoed service.Faults
			if err := json.Unmarshal(w.Body.Bytes(), &echoed); err != nil || echoed != got {
				t.Fatalf("answered %q, in force %+v", w.Body, got)
			}
		case http.StatusBadRequest:
			if got != start {
				t.Fatalf("a refused body changed the faults to %+v: %q", got, body)
			}
		default:
			t.Fatalf("answered %d to %q", w.Code, body)
		}
	})
}

// FuzzChargeback feeds arbitrary bodies to the chargeback decoder: a
// chargeback is accepted (and notified) only with a positive amount, and
// answers it as decoded.
func FuzzChargeback(f *testing.F) {
	f.Add([]byte(`{"amount":5000,"reference":"CB-1","reason":"cardholder dispute"}`))
	f.Add([]byte(`{"amount":0}`))
	f.Add([]byte(`{"amount":-1}`))
	f.Add([]byte(`{"amount":50.5}`))
	f.Add([]byte(`{"amount":"5000"}`))
	f.Add([]byte(`{"amount":1,"currency":"SAR"}`))
	f.Add([]byte(`{"amount":1}{"amount":2}`))
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	f.Cleanup(sink.Close)
	n, err := service.NewNotifier(sink.URL, "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32)), nil)
	if err != nil {
		f.Fatal(err)
	}
	svc, err := service.New(sandbox.New(sandbox.Config{}), service.Faults{}, nil, service.WithNotifier(n))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/sandbox/orders/ord_1/chargebacks", bytes.NewReader(body))
		w := httptest.NewRecorder()
		svc.Handler().ServeHTTP(w, req)
		switch w.Code {
		case http.StatusAccepted:
			var in, out struct{ Amount int64 }
			if json.Unmarshal(body, &in) != nil || in.Amount <= 0 || json.Unmarshal(w.Body.Bytes(), &out) != nil || out.Amount != in.Amount {
				t.Fatalf("accepted %q, answered %q", body, w.Body)
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("answered %d to %q", w.Code, body)
		}
	})
}
