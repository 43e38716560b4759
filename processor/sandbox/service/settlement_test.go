package service_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/processor/acquirer"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
)

// Every refund the acquirer executes appears in its settlement report: one
// it could not write a row for (a currency it does not know, or written
// in lower case) moved money that the report, and so reconciliation,
// never showed. The acquirer takes a currency in any case, as it compares
// replays, and refuses one that is no ISO 4217 code before executing.
func TestSettlement_EveryExecutionIsReported(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		currency string
		status   string // the submission's answer
		row      string // the report's row for it, "" for none
	}{
		{"UpperCase", "KWD", "approved", "1.005,KWD,approved"},
		{"LowerCase", "kwd", "approved", "1.005,KWD,approved"},
		{"ThreeDecimalsOfAnother", "bhd", "approved", "1.005,BHD,approved"},
		{"NoDecimals", "JPY", "approved", "1005,JPY,approved"},
		{"Unknown", "XYZ", "declined", ""},
		{"NotACode", "dinar", "declined", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acq := sandbox.New(sandbox.Config{Now: func() time.Time { return at }})
			svc, err := service.New(acq, service.Faults{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(svc.Handler())
			defer ts.Close()
			body, _ := json.Marshal(acquirer.RefundRequest{IdempotencyKey: "re_1", Amount: 1005, Currency: tc.currency,
				PaymentMethod: "card", CardLast4: "4444"})
			res, err := http.Post(ts.URL+"/v1/sandbox/refunds", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var got acquirer.Result
			json.NewDecoder(res.Body).Decode(&got)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || got.Status != tc.status {
				t.Fatalf("submission in %s: %d %+v, want %s", tc.currency, res.StatusCode, got, tc.status)
			}

			res, err = http.Get(ts.URL + "/v1/sandbox/settlement?date=2026-03-01")
			if err != nil {
				t.Fatal(err)
			}
			report, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var rows []string
			for _, line := range strings.Split(strings.TrimSpace(string(report)), "\n")[1:] {
				f := strings.Split(line, ",")
				rows = append(rows, strings.Join(f[3:6], ","))
			}
			want := []string{tc.row}
			if tc.row == "" {
				want = nil
			}
			if strings.Join(rows, "|") != strings.Join(want, "|") || len(acq.Executions()) != len(want) {
				t.Fatalf("report rows %q, want %q; execution log %+v", rows, want, acq.Executions())
			}
		})
	}
}
