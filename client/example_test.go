package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// exampleServer starts a real refundd on a temp SQLite file and a free port,
// with one merchant, and returns its URL and the merchant's API key. Examples
// have no *testing.T, so failures panic; stop removes everything.
func exampleServer(opts ...func(*server.Config)) (srv *server.Server, key string, stop func()) {
	dir, err := os.MkdirTemp("", "refundd-client-")
	if err != nil {
		panic(err)
	}
	cfg := server.Config{Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(dir, "refundd.db"), WorkerInterval: -1}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	srv, err = server.Open(ctx, cfg)
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	_, key, err = srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Example Souq"})
	if err != nil {
		panic(err)
	}
	return srv, key, func() {
		_ = srv.Stop(context.Background())
		_ = os.RemoveAll(dir)
	}
}

// A partial refund of a KWD order: amounts are integer fils, so 1.005 KWD
// is 1005 and nothing is rounded.
func Example() {
	srv, key, stop := exampleServer()
	defer stop()

	c, err := client.New(srv.URL(), key)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	order, err := c.CreateOrder(ctx, client.CreateOrderParams{
		Reference: "ORD-1001", Currency: "KWD", Amount: 50000, PaymentMethod: "card",
		Source: client.Card{Scheme: "visa", FirstDigits: "411111", LastDigits: "1111", Month: 12, Year: 2030},
	})
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.CreateRefund(ctx, client.CreateRefundParams{OrderID: order.ID, Amount: client.Int64(1005), Reason: "damaged item"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Status, r.Amount, r.Currency)

	order, err = c.GetOrder(ctx, order.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refunded", order.RefundedAmount, "refundable", order.RefundableAmount)
	// Output:
	// succeeded 1005 KWD
	// refunded 1005 refundable 48995
}

// Retrying with the same idempotency key answers the first refund instead
// of refunding again. The client reuses its key across its own retries; a
// caller that retries on its own passes the key explicitly.
func ExampleClient_CreateRefund_idempotency() {
	srv, key, stop := exampleServer()
	defer stop()
	c, _ := client.New(srv.URL(), key)
	ctx := context.Background()
	order, err := c.CreateOrder(ctx, client.CreateOrderParams{Reference: "ORD-2001", Currency: "SAR", Amount: 262346, PaymentMethod: "mada"})
	if err != nil {
		log.Fatal(err)
	}
	p := client.CreateRefundParams{OrderID: order.ID, Amount: client.Int64(1000), IdempotencyKey: "rma-7f1c0d52"}
	first, err := c.CreateRefund(ctx, p)
	if err != nil {
		log.Fatal(err)
	}
	again, err := c.CreateRefund(ctx, p)
	if err != nil {
		log.Fatal(err)
	}
	order, _ = c.GetOrder(ctx, order.ID)
	fmt.Println("same refund:", first.ID == again.ID)
	fmt.Println("refunded:", order.RefundedAmount)
	// Output:
	// same refund: true
	// refunded: 1000
}

// AllRefunds pages through a list with the API's cursor; the page size
// only changes how many requests it takes.
func ExampleClient_AllRefunds() {
	srv, key, stop := exampleServer()
	defer stop()
	c, _ := client.New(srv.URL(), key)
	ctx := context.Background()
	order, err := c.CreateOrder(ctx, client.CreateOrderParams{Reference: "ORD-3001", Currency: "SAR", Amount: 10000, PaymentMethod: "card"})
	if err != nil {
		log.Fatal(err)
	}
	for _, amount := range []int64{100, 200, 300} {
		if _, err := c.CreateRefund(ctx, client.CreateRefundParams{OrderID: order.ID, Amount: client.Int64(amount)}); err != nil {
			log.Fatal(err)
		}
	}
	for r, err := range c.AllRefunds(ctx, client.ListRefundsParams{OrderID: order.ID, Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Sequence, r.Amount, r.Status)
	}
	// Output:
	// 3 300 succeeded
	// 2 200 succeeded
	// 1 100 succeeded
}

// Error replies come back as *client.Error with the HTTP status and the
// envelope's stable code and field.
func ExampleError() {
	srv, key, stop := exampleServer()
	defer stop()
	c, _ := client.New(srv.URL(), key)
	ctx := context.Background()
	order, err := c.CreateOrder(ctx, client.CreateOrderParams{Reference: "ORD-4001", Currency: "SAR", Amount: 5000, PaymentMethod: "card"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.CreateRefund(ctx, client.CreateRefundParams{OrderID: order.ID, Amount: client.Int64(5001)})
	if e, ok := errors.AsType[*client.Error](err); ok {
		fmt.Println(e.StatusCode, e.Code, e.Param)
	}
	// Output:
	// 422 amount_exceeds_refundable amount
}

// A webhook receiver verifies each delivery before acting on it.
func ExampleWebhookVerifier() {
	v, err := client.NewWebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		log.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Println("verified", e.Type) // act once per e.ID: retries repeat it
		w.WriteHeader(http.StatusNoContent)
	})

	// A forged delivery is refused.
	r := httptest.NewRequest("POST", "/hooks", strings.NewReader(`{"id":"evt_1","type":"refund.succeeded"}`))
	r.Header.Set("webhook-id", "evt_1")
	r.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	r.Header.Set("webhook-signature", "v1,Zm9yZ2Vk")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// 401
}
