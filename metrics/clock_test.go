package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// unanswered is a processor that never gives an answer: a refund sent to
// it stays processing.
type unanswered struct{}

func (unanswered) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{}, &processor.TransientError{Code: "timeout", Message: "no answer"}
}

func (unanswered) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, &processor.TransientError{Code: "timeout", Message: "no answer"}
}

func (unanswered) Capabilities() processor.Capabilities {
	return processor.Capabilities{IdempotentSubmit: true, StatusByKey: true, Partial: true}
}

// TestOldestProcessingAgeOnTheStoreClock: with the store's clock on (every
// node in production), a refund's times are the store's, and the age of
// the oldest processing refund must be read on that clock too. It was read
// on the node's own: a node 10 minutes behind its database showed 0 for a
// refund processing for 5 minutes, and every node a different age, where
// the gauge is documented as the same whichever node is scraped.
func TestOldestProcessingAgeOnTheStoreClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	node := time.Now().Add(-10 * time.Minute) // the node's clock, behind the store's
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return node }
	svc, err := refund.NewService(refund.Config{Store: st, Processor: unanswered{}, Now: now, StoreClock: true,
		NewID: func(p string) string { return p + "_" + strconv.FormatInt(time.Now().UnixNano(), 36) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SyncClock(ctx); err != nil {
		t.Fatal(err)
	}
	p := merchantOf(t, svc)
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 10_000, PaymentMethod: "card"})
	if err != nil {
		t.Fatal(err)
	}
	amount := int64(1_000)
	r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	if err != nil || r.Status != refund.StatusProcessing {
		t.Fatalf("refund: %+v, %v; want processing", r, err)
	}
	mu.Lock()
	node = node.Add(5 * time.Minute)
	mu.Unlock()

	v := gauges(t, svc)("refundd_oldest_processing_refund_age_seconds")
	age, err := strconv.ParseFloat(v, 64)
	// Five minutes, and the real time the test took since.
	if err != nil || age < 300 || age > 330 {
		t.Fatalf("oldest processing refund age %s, want 300 (5 minutes on the store's clock)", v)
	}
}

// merchantOf creates a merchant on svc and answers it as its key's caller.
func merchantOf(t *testing.T, svc *refund.Service) refund.Principal {
	t.Helper()
	_, key, err := svc.CreateMerchant(t.Context(), refund.MerchantInput{Name: "M"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gauges serves svc's statistics for the test and answers a function that
// scrapes them and reads one gauge without labels by name.
func gauges(t *testing.T, svc *refund.Service) func(name string) string {
	m := metrics.New()
	m.WatchStats(svc)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return func(name string) string {
		t.Helper()
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %s", name)
		return ""
	}
}

// TestWebhookDeliveryOverdue: a delivery nobody sends (no node can sign
// it, the delivery workers stopped) waited unseen: the deliveries gauge
// counts it pending, as it counts one retried on schedule. How long past
// its due time the most overdue one has waited tells them apart.
func TestWebhookDeliveryOverdue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	clock := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var n int
	svc, err := refund.NewService(refund.Config{Store: st, Processor: unanswered{}, Now: now,
		NewID: func(p string) string { mu.Lock(); defer mu.Unlock(); n++; return p + "_" + strconv.Itoa(n) }})
	if err != nil {
		t.Fatal(err)
	}
	p := merchantOf(t, svc)
	read := gauges(t, svc)
	overdue := func() string { t.Helper(); return read("refundd_webhook_delivery_overdue_seconds") }
	if got := overdue(); got != "0" {
		t.Fatalf("overdue %s with no delivery, want 0", got)
	}
	url := "https://hooks.example.com/a"
	if _, err := svc.CreateWebhookEndpoint(ctx, p, refund.WebhookEndpointInput{URL: &url}); err != nil {
		t.Fatal(err)
	}
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 10_000, PaymentMethod: "card"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: new(int64(1_000))}); err != nil {
		t.Fatal(err)
	}
	if got := overdue(); got != "0" {
		t.Fatalf("overdue %s for deliveries due now, want 0", got)
	}
	mu.Lock()
	clock = clock.Add(7 * time.Minute)
	mu.Unlock()
	if got := overdue(); got != "420" {
		t.Fatalf("overdue %s, want 420 (7 minutes unsent)", got)
	}
}
