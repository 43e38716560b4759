package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

// FuzzParseReport feeds settlement reports (CSV) and maps to the decoder.
// The properties: it never panics; a refusal is the caller's error (a
// 4xx), never an internal one; each row of a report it reads names a line
// after the header and has a non-negative amount and a currency.
func FuzzParseReport(f *testing.F) {
	for _, s := range []struct{ report, mapping string }{
		{"refund_id,amount,currency,status\nre_1,10.00,SAR,approved\n", ""},
		{"\ufeffrefund_id,amount,currency,status,date\nre_1,1.005,KWD,settled,2026-03-01\n", ""},
		{"merchant_refund_id,refund_id,amount,currency,status\nre_1,psp_9,10.00,SAR,approved\n", "refund_id=merchant_refund_id"},
		{"Ref,Amt,Cur,St\nre_1,10,JPY,approved\n", "refund_id=Ref,amount=Amt,currency=Cur,status=St"},
		{"refund_id,amount,currency,status,Amount\nre_1,10.00,SAR,approved,9.00\n", "amount=Amount"},
		{"refund_id,amount,currency,status\nre_1,-1,SAR,approved\nre_2,1e3,SAR,approved\n\"re_3,1,SAR\n", ""},
		{"", ""}, {"amount\n", "nowhere=x"},
	} {
		f.Add([]byte(s.report), s.mapping)
	}
	statuses := api.ErrorStatuses()
	f.Fuzz(func(t *testing.T, report []byte, mapping string) {
		m := map[string]string{}
		for _, kv := range strings.Split(mapping, ",") {
			if col, header, ok := strings.Cut(kv, "="); ok {
				m[col] = header
			}
		}
		rows, err := api.ParseReport(bytes.NewReader(report), m)
		if err != nil {
			if st, ok := statuses[refund.ErrorCode(err)]; !ok || st >= 500 {
				t.Fatalf("report %q map %v: %v, want the caller's error", report, m, err)
			}
			return
		}
		lines := bytes.Count(report, []byte("\n")) + 1
		for _, r := range rows {
			if r.Line < 2 || r.Line > lines || r.Amount < 0 || r.Currency == "" {
				t.Fatalf("report %q map %v: row %+v", report, m, r)
			}
		}
	})
}
