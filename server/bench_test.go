package server_test

import (
	"context"
	"os"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// BenchmarkCreateRefund measures the whole service call of a refund, with
// the in-process sandbox acquirer approving it, on each backend: request
// hash, idempotency, reservation, refund insert, processor call and the
// final update, each step in its own committed transaction. Parallel
// callers refund distinct orders (spread load).
func BenchmarkCreateRefund(b *testing.B) {
	backends := []struct{ name, db string }{{"SQLite", ""}}
	if pg := os.Getenv("REFUNDD_TEST_POSTGRES"); pg != "" {
		backends = append(backends, struct{ name, db string }{"PostgreSQL", pg})
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			db := be.db
			if db == "" {
				db = sqlitetest.URL(b)
			}
			ctx := context.Background()
			srv, err := server.Open(ctx, server.Config{DB: db, WorkerInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Stop(context.Background()) })
			_, key, err := srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Bench"})
			if err != nil {
				b.Fatal(err)
			}
			p, err := srv.Service.Authenticate(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				o, err := srv.Service.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 1 << 40, PaymentMethod: "card",
					Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
				if err != nil {
					b.Error(err)
					return
				}
				amount := int64(100)
				for pb.Next() {
					r, err := srv.Service.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
					if err != nil || r.Status != refund.StatusSucceeded {
						b.Errorf("refund: %v %v", r, err)
						return
					}
				}
			})
		})
	}
}
