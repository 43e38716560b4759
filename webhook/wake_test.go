package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/idgen"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestRunOnce_AttemptEndingAfterAClaimWakesThePass: an endpoint at its
// cap has another delivery due; the claim passes over it, and the
// attempt in flight ends after that claim and before the pass waits. The
// pass must see that end and send the second delivery. Before, the pass
// took the signal to wait on after the claim, so an end in between was
// lost: with nothing else in flight the pass returned with the delivery
// unsent, and the background loop waited for the next poll (Interval).
func TestRunOnce_AttemptEndingAfterAClaimWakesThePass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	svc, err := refund.NewService(refund.Config{Store: st, Processor: sandbox.New(sandbox.Config{}), NewID: idgen.New, Now: clock})
	if err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	var got atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == 1 {
			<-release // the first attempt stays in flight until the test ends it
		}
	}))
	t.Cleanup(rc.Close)

	m := &refund.Merchant{ID: idgen.New("mer"), Name: "Merchant", CreatedAt: now}
	ep := &refund.WebhookEndpoint{ID: idgen.New("we"), MerchantID: m.ID, URL: rc.URL,
		SigningSecrets: refund.SigningSecrets{Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}, CreatedAt: now, UpdatedAt: now}
	ev := &refund.Event{ID: idgen.New("evt"), MerchantID: m.ID, Type: refund.EventWebhookTest, Data: []byte(`{}`), CreatedAt: now}
	err = st.Update(ctx, func(tx refund.Tx) error {
		if err := tx.CreateMerchant(ctx, m); err != nil {
			return err
		}
		if err := tx.CreateWebhookEndpoint(ctx, ep); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, ev); err != nil {
			return err
		}
		for range 2 {
			if err := tx.InsertDelivery(ctx, &refund.Delivery{ID: idgen.New("wd"), MerchantID: m.ID, EventID: ev.ID,
				EndpointID: ep.ID, URL: ep.URL, Status: refund.DeliveryPending, NextAttemptAt: now, Version: 1,
				CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	d := New(svc, Config{AllowPrivate: true, Parallel: 2, PerTarget: 1, Schedule: []time.Duration{time.Minute}, Now: clock})
	ended := false
	d.afterClaim = func(n int) {
		if n > 0 || ended {
			return
		}
		// The claim passed over the second delivery (its endpoint is at
		// its cap): end the attempt in flight before the pass waits.
		ended = true
		d.flightMu.Lock()
		landed := d.landed // closed when the attempt in flight ends
		d.flightMu.Unlock()
		close(release)
		<-landed
	}
	n, err := d.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ended {
		t.Fatal("no claim passed over the second delivery")
	}
	if n != 2 || got.Load() != 2 {
		t.Fatalf("the pass sent %d deliveries, the receiver got %d; want both", n, got.Load())
	}
}
