package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
	"github.com/refundd/refundd/server"
)

// The sandbox acquirer's settlement report, reconciled by refundd as it
// comes (GET /v1/sandbox/settlement, then POST /v1/reconciliations): a
// report is the money that moved on its day. A wallet refund still
// pending has not moved, and one settled after midnight moved on the
// next day; listed as "pending", the first made refundd refuse the whole
// report, and listed on its acceptance day, the second was missing from
// the report of the day refundd saw it succeed.
func TestReconcile_SandboxSettlementReport(t *testing.T) {
	dbs := []struct {
		name string
		opts func(t *testing.T) []serverOpt
	}{
		{"SQLite", func(*testing.T) []serverOpt { return nil }},
	}
	if os.Getenv("REFUNDD_TEST_POSTGRES") != "" {
		dbs = append(dbs, struct {
			name string
			opts func(t *testing.T) []serverOpt
		}{"PostgreSQL", func(t *testing.T) []serverOpt { return []serverOpt{onDB(pgSchema(t, 0))} }})
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				// at is when the wallet refund is made, from the clock's
				// start (1 March, 09:00 UTC); settle is the wallet delay.
				at, settle time.Duration
				// worker is how long after the refund the worker runs
				// (0: not at all, the refund stays processing).
				worker time.Duration
				day    string // the report reconciled
			}{
				{"WalletStillPending", 0, 30 * time.Second, 0, "2026-03-01"},
				{"WalletSettledAfterMidnight", 15*time.Hour - 10*time.Second, 30 * time.Second, time.Minute, "2026-03-02"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var s *testServer
					acq := sandbox.New(sandbox.Config{Now: func() time.Time { return s.clock.Now() }, SettleDelay: tc.settle})
					svc, err := service.New(acq, service.Faults{}, nil)
					if err != nil {
						t.Fatal(err)
					}
					ts := httptest.NewServer(svc.Handler())
					t.Cleanup(ts.Close)
					s = mustStart(t, append(db.opts(t), func(c *server.Config) { c.Processor = ts.URL })...)

					s.clock.Advance(tc.at)
					wallet := s.mustOrder(map[string]any{"amount": 10_000, "payment_method": "stcpay"})
					if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": wallet, "amount": 2500}); r.status != http.StatusCreated {
						t.Fatalf("wallet refund: %d %s", r.status, r.raw)
					}
					if tc.worker > 0 {
						s.runWorker(tc.worker)
					}
					// A card refund on the report's day, so that the report
					// has a row whatever happens to the wallet's.
					card := s.mustOrder(cardOrder("4444", 10_000))
					if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": card, "amount": 1000}); r.status != http.StatusCreated || r.str("status") != "succeeded" {
						t.Fatalf("card refund: %d %s", r.status, r.raw)
					}

					res, err := http.Get(ts.URL + "/v1/sandbox/settlement?date=" + tc.day)
					if err != nil {
						t.Fatal(err)
					}
					report, _ := io.ReadAll(res.Body)
					res.Body.Close()
					got := s.do("POST", "/v1/reconciliations?from="+tc.day+"&to="+tc.day, s.key, string(report), "Content-Type", "text/csv")
					if got.status != http.StatusOK || got.num("flagged") != 0 {
						t.Fatalf("the acquirer's own report of %s:\n%s\nreconciled: %d %s", tc.day, report, got.status, got.raw)
					}
				})
			}
		})
	}
}
