package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counter is a RoundTripper that counts the requests a client sends, so
// tests can tell a retried call from a single one.
type counter struct {
	mu   sync.Mutex
	n    int
	keys []string // Idempotency-Key of each request
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.keys = append(c.keys, r.Header.Get("Idempotency-Key"))
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counter) take() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, keys := c.n, c.keys
	c.n, c.keys = 0, nil
	return n, keys
}

type fixture struct {
	srv   *server.Server
	c     *client.Client
	key   string
	clock *clock
	sent  *counter
}

// mustServe starts a real server (temp SQLite, free port, worker off,
// fake clock) and a client for its merchant whose requests are counted.
func mustServe(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv, key, stop := exampleServer(func(c *server.Config) {
		c.Now, c.WebhookAllowPrivate = clk.Now, true
	})
	t.Cleanup(stop)
	sent := &counter{}
	c, err := client.New(srv.URL(), key, client.WithHTTPClient(&http.Client{Transport: sent, Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, c: c, key: key, clock: clk, sent: sent}
}

func (f *fixture) order(t *testing.T, ref, currency string, amount int64, last4 string) *client.Order {
	t.Helper()
	o, err := f.c.CreateOrder(context.Background(), client.CreateOrderParams{Reference: ref, Currency: currency, Amount: amount,
		PaymentMethod: "card", Source: client.Card{Scheme: "mastercard", FirstDigits: "555555", LastDigits: last4, Month: 12, Year: 2030}})
	if err != nil {
		t.Fatalf("create order %s: %v", ref, err)
	}
	return o
}

// wantError checks that err is a *client.Error with status and code, and
// that the call was sent once (4xx are not retried).
func (f *fixture) wantError(t *testing.T, err error, status int, code string) {
	t.Helper()
	e, ok := errors.AsType[*client.Error](err)
	if !ok || e.StatusCode != status || e.Code != code || e.Message == "" {
		t.Fatalf("want *client.Error %d %s, got %#v", status, code, err)
	}
	if n, _ := f.sent.take(); n != 1 {
		t.Fatalf("a %d was sent %d times; want once", status, n)
	}
}

func TestOrders(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		params client.CreateOrderParams
		status int
		code   string
	}{
		{name: "OK", params: client.CreateOrderParams{Reference: "ORD-1", Currency: "SAR", Amount: 262346, PaymentMethod: "card",
			Customer: client.Customer{Name: "Noura", Email: "noura@example.com"}}},
		{name: "OKWithItemsKWD", params: client.CreateOrderParams{Reference: "ORD-2", Currency: "KWD", Amount: 3015, PaymentMethod: "knet",
			Items: []client.OrderItemParams{{ID: "line-1", NameEN: "Dates", Qty: 3, UnitAmount: 1005, TaxRate: "0"}}}},
		{name: "OKWithExemptionCode", params: client.CreateOrderParams{Reference: "ORD-5", Currency: "SAR", Amount: 2000, PaymentMethod: "card",
			Items: []client.OrderItemParams{{ID: "med-1", NameEN: "Medicine", Qty: 1, UnitAmount: 2000, TaxRate: "0", TaxExemptionCode: "VATEX-SA-35"}}}},
		{name: "ErrOrderReferenceExists", params: client.CreateOrderParams{Reference: "ORD-1", Currency: "SAR", Amount: 100, PaymentMethod: "card"},
			status: 409, code: "order_reference_exists"},
		{name: "ErrInvalidCurrency", params: client.CreateOrderParams{Reference: "ORD-3", Currency: "XXX1", Amount: 100, PaymentMethod: "card"},
			status: 400, code: "invalid_request"},
		{name: "ErrInvalidAmount", params: client.CreateOrderParams{Reference: "ORD-4", Currency: "SAR", Amount: -5, PaymentMethod: "card"},
			status: 400, code: "invalid_amount"},
	}
	created := map[string]*client.Order{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sent.take()
			o, err := f.c.CreateOrder(ctx, tt.params)
			if tt.status != 0 {
				f.wantError(t, err, tt.status, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.ID == "" || o.Reference != tt.params.Reference || o.Currency != tt.params.Currency ||
				o.CapturedAmount != tt.params.Amount || o.RefundableAmount != tt.params.Amount || len(o.Items) != len(tt.params.Items) {
				t.Fatalf("created %+v from %+v", o, tt.params)
			}
			got, err := f.c.GetOrder(ctx, o.ID)
			if err != nil || got.ID != o.ID || got.Amount != o.Amount {
				t.Fatalf("get: %+v, %v", got, err)
			}
			for i, it := range got.Items {
				if it.TaxExemptionCode != tt.params.Items[i].TaxExemptionCode {
					t.Fatalf("item %d's exemption code %q, sent %q", i, it.TaxExemptionCode, tt.params.Items[i].TaxExemptionCode)
				}
			}
			created[o.Reference] = o
		})
	}

	page, err := f.c.ListOrders(ctx, client.ListOrdersParams{Reference: "ORD-2"})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != created["ORD-2"].ID || page.HasMore {
		t.Fatalf("list by reference: %+v, %v", page, err)
	}
	f.sent.take()
	_, err = f.c.GetOrder(ctx, "ord_missing")
	f.wantError(t, err, 404, "order_not_found")
	if _, err := f.c.GetOrder(ctx, ""); err == nil {
		t.Fatal("GetOrder with an empty id must fail before sending")
	}
}

func TestAllOrders_Paginates(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	var want []string
	for _, ref := range []string{"P-1", "P-2", "P-3", "P-4", "P-5"} {
		want = append([]string{f.order(t, ref, "SAR", 1000, "4444").ID}, want...) // newest first
	}
	tests := []struct {
		name   string
		limit  int
		stopAt int // stop ranging after this many; 0: all
		passes int // ranging over the same iterator; 0: once
		pages  int // fetched in each pass
	}{
		{name: "PagesOfTwo", limit: 2, pages: 3},
		{name: "OnePage", limit: 100, pages: 1},
		{name: "ExactPages", limit: 5, pages: 1},
		{name: "BreakEarlyFetchesNoMore", limit: 2, stopAt: 3, pages: 2},
		// Each range over one iterator walks the list from its start.
		{name: "RangedTwice", limit: 2, passes: 2, pages: 3},
		{name: "RangedAgainAfterABreak", limit: 2, stopAt: 3, passes: 2, pages: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sent.take()
			seq := f.c.AllOrders(ctx, client.ListOrdersParams{Limit: tt.limit})
			for pass := range max(tt.passes, 1) {
				var got []string
				for o, err := range seq {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, o.ID)
					if len(got) == tt.stopAt {
						break
					}
				}
				wantIDs := want
				if tt.stopAt > 0 {
					wantIDs = want[:tt.stopAt]
				}
				if strings.Join(got, ",") != strings.Join(wantIDs, ",") {
					t.Fatalf("pass %d: got %v, want %v", pass+1, got, wantIDs)
				}
				if n, _ := f.sent.take(); n != tt.pages {
					t.Fatalf("pass %d: fetched %d pages, want %d", pass+1, n, tt.pages)
				}
			}
		})
	}

	// Two ranges over one iterator at once each walk the whole list, and
	// share nothing they write (go test -race).
	seq := f.c.AllOrders(ctx, client.ListOrdersParams{Limit: 2})
	var wg sync.WaitGroup
	walked := make([][]string, 2)
	for i := range walked {
		wg.Go(func() {
			for o, err := range seq {
				if err != nil {
					t.Error(err)
					return
				}
				walked[i] = append(walked[i], o.ID)
			}
		})
	}
	wg.Wait()
	for i, got := range walked {
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("concurrent range %d: got %v, want %v", i, got, want)
		}
	}

	// An error ends the iteration with the error.
	bad, _ := client.New(f.srv.URL(), "rk_wrong")
	var errs int
	for o, err := range bad.AllOrders(ctx, client.ListOrdersParams{}) {
		if o != nil || client.ErrorCode(err) != "unauthorized" {
			t.Fatalf("want one unauthorized error, got %v, %v", o, err)
		}
		errs++
	}
	if errs != 1 {
		t.Fatalf("yielded %d errors, want 1", errs)
	}
}

func TestRefunds_Create(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	sar := f.order(t, "R-SAR", "SAR", 10000, "4444")
	kwd := f.order(t, "R-KWD", "KWD", 50000, "4444")
	declined := f.order(t, "R-51", "SAR", 5000, "0051")
	tests := []struct {
		name     string
		params   client.CreateRefundParams
		status   client.RefundStatus
		amount   int64
		failure  string
		errHTTP  int
		errCode  string
		errParam string
	}{
		{name: "OKPartial", params: client.CreateRefundParams{OrderID: sar.ID, Amount: client.Int64(1050), Reason: "damaged", MerchantReference: "RF-1"},
			status: client.StatusSucceeded, amount: 1050},
		{name: "OKThreeDecimals", params: client.CreateRefundParams{OrderID: kwd.ID, Amount: client.Int64(1005)},
			status: client.StatusSucceeded, amount: 1005},
		{name: "OKWholeRemainder", params: client.CreateRefundParams{OrderID: sar.ID},
			status: client.StatusSucceeded, amount: 8950},
		{name: "Declined", params: client.CreateRefundParams{OrderID: declined.ID, Amount: client.Int64(100)},
			status: client.StatusFailed, amount: 100, failure: "51"},
		{name: "ErrAmountExceedsRefundable", params: client.CreateRefundParams{OrderID: kwd.ID, Amount: client.Int64(48996)},
			errHTTP: 422, errCode: "amount_exceeds_refundable", errParam: "amount"},
		{name: "ErrInvalidAmount", params: client.CreateRefundParams{OrderID: kwd.ID, Amount: client.Int64(0)},
			errHTTP: 400, errCode: "invalid_amount", errParam: "amount"},
		{name: "ErrOrderNotFound", params: client.CreateRefundParams{OrderID: "ord_missing", Amount: client.Int64(1)},
			errHTTP: 404, errCode: "order_not_found"},
		{name: "ErrMerchantReferenceReused", params: client.CreateRefundParams{OrderID: kwd.ID, Amount: client.Int64(1), MerchantReference: "RF-1"},
			errHTTP: 409, errCode: "merchant_reference_reused", errParam: "merchant_reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sent.take()
			r, err := f.c.CreateRefund(ctx, tt.params)
			if tt.errCode != "" {
				f.wantError(t, err, tt.errHTTP, tt.errCode)
				if p := err.(*client.Error).Param; p != tt.errParam {
					t.Fatalf("param %q, want %q", p, tt.errParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || r.Amount != tt.amount || r.OrderID != tt.params.OrderID || r.FailureCode != tt.failure ||
				r.MerchantReference != tt.params.MerchantReference {
				t.Fatalf("got %+v", r)
			}
			if r.Status == client.StatusSucceeded && (r.ARN == "" || r.RRN == "") {
				t.Fatalf("a succeeded sandbox refund carries ARN and RRN: %+v", r)
			}
			if n, keys := f.sent.take(); n != 1 || !hexKey.MatchString(keys[0]) {
				t.Fatalf("want one request with a generated key, got %d %v", n, keys)
			}
		})
	}
	if o, _ := f.c.GetOrder(ctx, sar.ID); o.RefundedAmount != 10000 || o.RefundableAmount != 0 {
		t.Fatalf("SAR order after refunds: %+v", o)
	}
}

func TestRefunds_IdempotencyKey(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	o := f.order(t, "IDEM-1", "SAR", 10000, "4444")
	p := client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(2500), IdempotencyKey: "rma-1"}
	first, err := f.c.CreateRefund(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.c.CreateRefund(ctx, p)
	if err != nil || again.ID != first.ID {
		t.Fatalf("replay: %+v, %v; want refund %s", again, err, first.ID)
	}
	if _, keys := f.sent.take(); len(keys) != 3 || keys[1] != "rma-1" || keys[2] != "rma-1" {
		t.Fatalf("sent keys %v", keys)
	}
	p.Amount = client.Int64(2600)
	_, err = f.c.CreateRefund(ctx, p)
	f.wantError(t, err, 422, "idempotency_key_reused")
	if got, _ := f.c.GetOrder(ctx, o.ID); got.RefundedAmount != 2500 {
		t.Fatalf("refunded %d, want 2500 (once)", got.RefundedAmount)
	}
}

// TestErrors_ReplayedRefusal: a refusal the server stored under an
// Idempotency-Key and replays to the same request sent again says so
// (Error.Replayed, from Idempotent-Replayed), as a replayed answer does
// (Reconciliation.Replayed): it is the first request's refusal, and no
// change since (room freed on the order) gets the request another answer
// under that key. A first refusal is not marked.
func TestErrors_ReplayedRefusal(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	o := f.order(t, "IDEM-OVER", "SAR", 10000, "4444")
	report := []byte("nothing,useful\n")
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"Refund", func() error {
			_, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(10001), IdempotencyKey: "rma-over"})
			return err
		}, 422, "amount_exceeds_refundable"},
		{"Reconcile", func() error {
			_, err := f.c.ReconcileWith(ctx, report, client.ReconcileOptions{IdempotencyKey: "rec-no-columns"})
			return err
		}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.sent.take()
			for i, replayed := range []bool{false, true, true} {
				err := tc.call()
				f.wantError(t, err, tc.status, tc.code)
				if e := err.(*client.Error); e.Replayed != replayed {
					t.Fatalf("call %d: Replayed %v, want %v: %v", i+1, e.Replayed, replayed, err)
				}
			}
		})
	}
}

func TestRefunds_ReadCancelSyncList(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	o := f.order(t, "LIFE-1", "SAR", 10000, "4444")
	done, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(1000)})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	queued, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(2000), Queue: true})
	if err != nil || queued.Status != client.StatusPending {
		t.Fatalf("queued refund: %+v, %v", queued, err)
	}

	tests := []struct {
		name   string
		call   func() (*client.Refund, error)
		status client.RefundStatus
		id     string
		code   string
		http   int
	}{
		{name: "Get", call: func() (*client.Refund, error) { return f.c.GetRefund(ctx, done.ID) }, status: client.StatusSucceeded, id: done.ID},
		{name: "SyncFinal", call: func() (*client.Refund, error) { return f.c.SyncRefund(ctx, done.ID) }, status: client.StatusSucceeded, id: done.ID},
		{name: "CancelPending", call: func() (*client.Refund, error) { return f.c.CancelRefund(ctx, queued.ID) }, status: client.StatusCanceled, id: queued.ID},
		{name: "ErrCancelTwice", call: func() (*client.Refund, error) { return f.c.CancelRefund(ctx, queued.ID) }, http: 409, code: "refund_not_cancelable"},
		{name: "ErrCancelSucceeded", call: func() (*client.Refund, error) { return f.c.CancelRefund(ctx, done.ID) }, http: 409, code: "refund_not_cancelable"},
		{name: "ErrGetUnknown", call: func() (*client.Refund, error) { return f.c.GetRefund(ctx, "re_missing") }, http: 404, code: "refund_not_found"},
		{name: "ErrSyncUnknown", call: func() (*client.Refund, error) { return f.c.SyncRefund(ctx, "re_missing") }, http: 404, code: "refund_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sent.take()
			r, err := tt.call()
			if tt.code != "" {
				f.wantError(t, err, tt.http, tt.code)
				return
			}
			if err != nil || r.ID != tt.id || r.Status != tt.status {
				t.Fatalf("got %+v, %v; want %s %s", r, err, tt.id, tt.status)
			}
		})
	}

	ts, err := f.c.RefundTransitions(ctx, queued.ID)
	if err != nil || len(ts) != 2 || ts[0].From != "" || ts[0].To != client.StatusPending ||
		ts[1].From != client.StatusPending || ts[1].To != client.StatusCanceled {
		t.Fatalf("transitions: %+v, %v", ts, err)
	}

	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	lists := []struct {
		name   string
		params client.ListRefundsParams
		want   []string
	}{
		{name: "All", params: client.ListRefundsParams{}, want: []string{queued.ID, done.ID}},
		{name: "ByStatus", params: client.ListRefundsParams{Status: client.StatusCanceled}, want: []string{queued.ID}},
		{name: "ByOrder", params: client.ListRefundsParams{OrderID: o.ID, Limit: 1}, want: []string{queued.ID, done.ID}},
		{name: "OldestFirst", params: client.ListRefundsParams{OldestFirst: true, Limit: 1}, want: []string{done.ID, queued.ID}},
		{name: "CreatedBefore", params: client.ListRefundsParams{CreatedBefore: start.Add(time.Minute)}, want: []string{done.ID}},
		{name: "CreatedAfter", params: client.ListRefundsParams{CreatedAfter: start.Add(time.Hour)}, want: []string{queued.ID}},
		{name: "Empty", params: client.ListRefundsParams{CreatedAfter: start.Add(48 * time.Hour)}, want: nil},
	}
	for _, tt := range lists {
		t.Run("List"+tt.name, func(t *testing.T) {
			var got []string
			for r, err := range f.c.AllRefunds(ctx, tt.params) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	_, err = f.c.ListRefunds(ctx, client.ListRefundsParams{Status: "lost"})
	f.sent.take()
	if client.ErrorCode(err) != "invalid_request" {
		t.Fatalf("unknown status: %v", err)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	o := f.order(t, "EV-1", "SAR", 10000, "4444")
	r, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(700)})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for e, err := range f.c.AllEvents(ctx, client.ListEventsParams{RefundID: r.ID, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.RefundID != r.ID || e.OrderID != o.ID {
			t.Fatalf("event %+v is not about refund %s", e, r.ID)
		}
		types = append(types, e.Type)
	}
	if !strings.Contains(strings.Join(types, ","), "refund.created") || !strings.Contains(strings.Join(types, ","), "refund.succeeded") {
		t.Fatalf("events of the refund: %v", types)
	}

	page, err := f.c.ListEvents(ctx, client.ListEventsParams{Type: "refund.succeeded"})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("succeeded events: %+v, %v", page, err)
	}
	ev, err := f.c.GetEvent(ctx, page.Data[0].ID)
	if err != nil || ev.Type != "refund.succeeded" {
		t.Fatalf("get event: %+v, %v", ev, err)
	}
	var data struct {
		Amount int64  `json:"amount"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.Amount != 700 || data.Status != "succeeded" {
		t.Fatalf("event data %s: %v", ev.Data, err)
	}
	f.sent.take()
	_, err = f.c.GetEvent(ctx, "evt_missing")
	f.wantError(t, err, 404, "event_not_found")
}

func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	var hits sync.Map
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.Header.Get("Webhook-Id"), true)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	ep, err := f.c.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointParams{URL: receiver.URL + "/hooks", Description: "ops",
		Events: []string{"refund.succeeded"}})
	if err != nil || !strings.HasPrefix(ep.Secret, "whsec_") || ep.URL != receiver.URL+"/hooks" {
		t.Fatalf("create: %+v, %v", ep, err)
	}
	got, err := f.c.GetWebhookEndpoint(ctx, ep.ID)
	if err != nil || got.Secret != "" || got.Description != "ops" {
		t.Fatalf("get (secret shown once only): %+v, %v", got, err)
	}
	up, err := f.c.UpdateWebhookEndpoint(ctx, ep.ID, client.UpdateWebhookEndpointParams{
		Events: &[]string{"refund.failed", "refund.succeeded"}, Description: client.String("finance")})
	if err != nil || len(up.Events) != 2 || up.Description != "finance" || up.Disabled {
		t.Fatalf("update: %+v, %v", up, err)
	}
	list, err := f.c.ListWebhookEndpoints(ctx)
	if err != nil || len(list) != 1 || list[0].ID != ep.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}

	ev, err := f.c.TestWebhookEndpoint(ctx, ep.ID)
	if err != nil || ev.ID == "" {
		t.Fatalf("test: %+v, %v", ev, err)
	}
	if _, err := f.srv.Webhooks.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var attempts []*client.DeliveryAttempt
	for a, err := range f.c.AllWebhookDeliveries(ctx, ep.ID, client.ListDeliveriesParams{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		attempts = append(attempts, a)
	}
	if len(attempts) != 1 || attempts[0].EventID != ev.ID || attempts[0].StatusCode != http.StatusNoContent {
		t.Fatalf("deliveries: %+v", attempts)
	}
	if _, ok := hits.Load(ev.ID); !ok {
		t.Fatalf("the receiver never got event %s", ev.ID)
	}

	if err := f.c.DeleteWebhookEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := f.c.GetWebhookEndpoint(ctx, ep.ID); return err }},
		{"Update", func() error {
			_, err := f.c.UpdateWebhookEndpoint(ctx, ep.ID, client.UpdateWebhookEndpointParams{Disabled: client.Bool(true)})
			return err
		}},
		{"Delete", func() error { return f.c.DeleteWebhookEndpoint(ctx, ep.ID) }},
		{"Test", func() error { _, err := f.c.TestWebhookEndpoint(ctx, ep.ID); return err }},
		{"Deliveries", func() error {
			_, err := f.c.ListWebhookDeliveries(ctx, ep.ID, client.ListDeliveriesParams{})
			return err
		}},
	} {
		t.Run("ErrDeleted"+tt.name, func(t *testing.T) {
			f.sent.take()
			f.wantError(t, tt.call(), 404, "webhook_endpoint_not_found")
		})
	}
}

func TestErrors_AuthNotRetried(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	sent := &counter{}
	bad, err := client.New(f.srv.URL(), "rk_not_a_key", client.WithHTTPClient(&http.Client{Transport: sent}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ListRefunds(context.Background(), client.ListRefundsParams{})
	e, ok := errors.AsType[*client.Error](err)
	if !ok || e.StatusCode != 401 || e.Code != "unauthorized" || e.RequestID == "" {
		t.Fatalf("want 401 unauthorized with a request id, got %#v", err)
	}
	if !strings.Contains(e.Error(), "401 unauthorized") {
		t.Fatalf("error text %q", e.Error())
	}
	if n, _ := sent.take(); n != 1 {
		t.Fatalf("a 401 was sent %d times", n)
	}
}

// Reconcile sends a CSV report as it is and decodes the reconciliation;
// a mapped header is found.
func TestReconcile(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	o := f.order(t, "REC-1", "SAR", 10000, "4444")
	r, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(700)})
	if err != nil {
		t.Fatal(err)
	}
	report := "Our Ref,amount,currency,status\n" + r.ID + ",7.00,SAR,settled\nre_not_ours,1.00,SAR,settled\n"
	rec, err := f.c.Reconcile(ctx, []byte(report), map[string]string{"refund_id": "Our Ref"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Flagged != 1 || len(rec.Results) != 2 || rec.Results[0].Kind != "matched" || rec.Results[1].Kind != "unknown_to_refundd" {
		t.Fatalf("reconciliation %+v", rec)
	}
	if _, err := f.c.Reconcile(ctx, []byte("nothing,useful\n"), nil); client.ErrorCode(err) != "invalid_request" {
		t.Fatalf("a report without the columns: %v", err)
	}
	// The settlement lag is sent: a day and three hours is taken, more
	// than a week refused.
	lagged := client.ReconcileOptions{Map: map[string]string{"refund_id": "Our Ref"}, SettlementLag: 27 * time.Hour}
	if rec, err := f.c.ReconcileWith(ctx, []byte(report), lagged); err != nil || rec.Flagged != 1 {
		t.Fatalf("lagged reconciliation %+v: %v", rec, err)
	}
	lagged.SettlementLag = 8 * 24 * time.Hour
	if _, err := f.c.ReconcileWith(ctx, []byte(report), lagged); client.ErrorCode(err) != "invalid_request" {
		t.Fatalf("a lag of 8 days: %v", err)
	}
	// And the processor account: one the merchant lacks is refused.
	if _, err := f.c.ReconcileWith(ctx, []byte(report), client.ReconcileOptions{Map: lagged.Map, Processor: "acq-z"}); client.ErrorCode(err) != "processor_account_not_found" {
		t.Fatalf("an unknown processor account: %v", err)
	}
	// Days between two dated reports that no report covers come back.
	for i, day := range []string{"2026-01-01", "2026-01-04"} {
		dated := "Our Ref,amount,currency,status,date\n" + r.ID + ",7.00,SAR,settled," + day + "\n"
		rec, err := f.c.Reconcile(ctx, []byte(dated), map[string]string{"refund_id": "Our Ref"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range rec.Unchecked {
			n := "nil"
			if u.Refunds != nil {
				n = fmt.Sprint(*u.Refunds)
			}
			got = append(got, fmt.Sprintf("%s %s %s %v", u.From, u.To, n, u.Totals))
		}
		want := "[]"
		if i == 1 {
			want = "[2026-01-02 2026-01-03 0 map[]]"
		}
		if fmt.Sprint(got) != want || rec.Unchecked == nil {
			t.Fatalf("report of %s: unchecked %v (%#v), want %s", day, got, rec.Unchecked, want)
		}
	}
	// An empty report is sent with the days it covers: the refund made
	// since is missing from it.
	r2, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(300)})
	if err != nil {
		t.Fatal(err)
	}
	rec, err = f.c.ReconcileWith(ctx, nil, client.ReconcileOptions{From: r2.CreatedAt, To: r2.CreatedAt})
	if err != nil || rec.Flagged != 1 || len(rec.Results) != 1 || rec.Results[0].Kind != "missing_at_processor" || *rec.Results[0].RefundID != r2.ID {
		t.Fatalf("an empty report of the day %s: %+v, %v", r2.CreatedAt, rec, err)
	}
	if _, err := f.c.ReconcileWith(ctx, nil, client.ReconcileOptions{From: r2.CreatedAt}); client.ErrorCode(err) != "invalid_request" {
		t.Fatalf("from without to: %v", err)
	}
	// A midnight is the date written, in its own location; any other time
	// its UTC day.
	riyadh := time.Date(2026, 3, 2, 0, 0, 0, 0, time.FixedZone("AST", 3*60*60))
	newYork := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).In(time.FixedZone("EST", -5*60*60)) // 19:00 on the 1st there
	for _, d := range []time.Time{riyadh, newYork} {
		rec, err = f.c.ReconcileWith(ctx, nil, client.ReconcileOptions{From: d, To: d})
		if err != nil || rec.From == nil || *rec.From != "2026-03-02" || *rec.To != "2026-03-02" {
			t.Fatalf("2 March as %v: %+v, %v", d, rec, err)
		}
	}
}

// TestRefunds_HeldForApproval: a refund the merchant's policy holds for
// approval decodes with its status and until when it can be approved;
// other refunds have no deadline.
func TestRefunds_HeldForApproval(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	f.putPolicy(t, `{"approval_threshold":{"SAR":5000},"approval_expiry_seconds":7200}`)
	o := f.order(t, "HELD-1", "SAR", 10000, "4444")
	held, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(6000)})
	if err != nil || held.Status != client.StatusRequiresApproval || held.Status.Final() ||
		!held.ApprovalExpiresAt.Equal(f.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("held refund: %+v, %v", held, err)
	}
	small, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: f.order(t, "HELD-2", "SAR", 10000, "4444").ID, Amount: client.Int64(100)})
	if err != nil || small.Status != client.StatusSucceeded || !small.ApprovalExpiresAt.IsZero() {
		t.Fatalf("refund below the threshold: %+v, %v", small, err)
	}
}

// loseFirstReply sends every request to the server and loses the first
// reply, as a connection cut after the server answered.
type loseFirstReply struct {
	mu   sync.Mutex
	lost bool
}

func (l *loseFirstReply) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.lost {
		l.lost = true
		resp.Body.Close()
		return nil, errors.New("connection reset after the server answered")
	}
	return resp, err
}

// TestWebhookEndpoints_TestRetriedQueuesOneEvent loses the reply of a
// test event request: the client retries with the same Idempotency-Key,
// which must answer the first test event, not queue a second one.
func TestWebhookEndpoints_TestRetriedQueuesOneEvent(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	ep, err := f.c.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointParams{URL: "https://hooks.example.com/retry"})
	if err != nil {
		t.Fatal(err)
	}
	lossy := f.losingFirstReply(t, f.key)
	ev, err := lossy.TestWebhookEndpoint(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, err := f.c.ListEvents(ctx, client.ListEventsParams{Type: "webhook.test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != ev.ID {
		var ids []string
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		t.Fatalf("one test call queued test events %v; want only %s", ids, ev.ID)
	}
}

// TestRefunds_CancelRetriedAnswersTheCancel: a cancel whose first reply
// is lost is retried with the same Idempotency-Key, and answers the
// canceled refund, not refund_not_cancelable.
func TestRefunds_CancelRetriedAnswersTheCancel(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	o := f.order(t, "CANCEL-LOST-1", "SAR", 10000, "4444")
	queued, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(2000), Queue: true})
	if err != nil {
		t.Fatal(err)
	}
	lossy := f.losingFirstReply(t, f.key)
	r, err := lossy.CancelRefund(ctx, queued.ID)
	if err != nil || r.Status != client.StatusCanceled {
		t.Fatalf("cancel after a lost reply: %+v, %v", r, err)
	}
}

// TestRefunds_DecisionsRetriedAnswerTheDecision: an approval, a rejection
// and a resolution whose first reply is lost are retried with the same
// Idempotency-Key and answer the decision, not that the refund moved on.
func TestRefunds_DecisionsRetriedAnswerTheDecision(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	f.putPolicy(t, `{"approval_threshold":{"SAR":5000}}`)
	p, err := f.srv.Service.Authenticate(ctx, f.key)
	if err != nil {
		t.Fatal(err)
	}
	_, approver, err := f.srv.Service.CreateKey(ctx, p.MerchantID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	held := func(ref string) string {
		r, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: f.order(t, ref, "SAR", 10000, "4444").ID, Amount: client.Int64(6000)})
		if err != nil || r.Status != client.StatusRequiresApproval {
			t.Fatalf("held refund: %+v, %v", r, err)
		}
		return r.ID
	}
	if r, err := f.losingFirstReply(t, approver).ApproveRefund(ctx, held("DECIDE-1")); err != nil || r.Status != client.StatusSucceeded {
		t.Fatalf("approve after a lost reply: %+v, %v", r, err)
	}
	r, err := f.losingFirstReply(t, approver).RejectRefund(ctx, held("DECIDE-2"), client.RejectRefundParams{Reason: "not authorised"})
	if err != nil || r.Status != client.StatusCanceled || r.FailureMessage != "not authorised" {
		t.Fatalf("reject after a lost reply: %+v, %v", r, err)
	}
	queued, err := f.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: f.order(t, "DECIDE-3", "SAR", 10000, "4444").ID,
		Amount: client.Int64(100), Queue: true})
	if err != nil {
		t.Fatal(err)
	}
	err = f.srv.Store.Update(ctx, func(tx refund.Tx) error { // as if the processor never settled it
		rf, err := tx.GetRefund(ctx, "", queued.ID)
		if err != nil {
			return err
		}
		rf.Status = refund.StatusRequiresReview
		return tx.UpdateRefund(ctx, rf)
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err = f.losingFirstReply(t, f.key).ResolveRefund(ctx, queued.ID, client.ResolveRefundParams{Outcome: client.StatusFailed, Note: "acquirer: never sent"})
	if err != nil || r.Status != client.StatusFailed {
		t.Fatalf("resolve after a lost reply: %+v, %v", r, err)
	}
}

// putPolicy sets f's merchant's refund policy from its JSON.
func (f *fixture) putPolicy(t *testing.T, policy string) {
	t.Helper()
	req, err := http.NewRequest("PUT", f.srv.URL()+"/v1/refund_policy", strings.NewReader(policy))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("policy: %d", resp.StatusCode)
	}
}

// TestOrders_AtAProcessorAccount: an order names the merchant's processor
// account its refunds go to, with its id there, and reads them back; its
// refund goes through that account.
func TestOrders_AtAProcessorAccount(t *testing.T) {
	t.Parallel()
	srv, key, stop := exampleServer(func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	t.Cleanup(stop)
	ctx := context.Background()
	acq, err := service.New(sandbox.New(sandbox.Config{}), service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(acq.Handler())
	t.Cleanup(ts.Close)
	p, err := srv.Service.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := srv.Service.AddProcessorAccount(ctx, p.MerchantID, refund.ProcessorAccountInput{Name: "acq-a", Kind: "acquirer", URL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL(), key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.CreateOrder(ctx, client.CreateOrderParams{Reference: "AT-ACQ-1", Currency: "SAR", Amount: 5000, PaymentMethod: "card",
		Source: client.Card{Scheme: "visa", LastDigits: "4242"}, Processor: "acq-a", ProcessorOrderID: "PAY-77"})
	if err != nil || o.Processor != acct.ID || o.ProcessorOrderID != "PAY-77" {
		t.Fatalf("order at acq-a (%s): %+v, %v", acct.ID, o, err)
	}
	r, err := c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(1000)})
	if err != nil || r.Status != client.StatusSucceeded {
		t.Fatalf("refund at acq-a: %+v, %v", r, err)
	}
	if _, err := c.CreateOrder(ctx, client.CreateOrderParams{Reference: "AT-ACQ-2", Currency: "SAR", Amount: 5000, PaymentMethod: "card",
		Source: client.Card{Scheme: "visa", LastDigits: "4242"}, Processor: "nowhere"}); err == nil {
		t.Fatal("an order at an unknown account was made")
	}
}

// losingFirstReply is a client with key whose first reply is lost after
// the server answered, and which retries at once.
func (f *fixture) losingFirstReply(t *testing.T, key string) *client.Client {
	t.Helper()
	c, err := client.New(f.srv.URL(), key, client.WithHTTPClient(&http.Client{Transport: &loseFirstReply{}}),
		client.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWebhookEndpoints_DeleteRetriedAnswersTheDelete: a delete whose
// first reply is lost is retried, and the retry finds the endpoint gone:
// that is the delete done, not an error.
func TestWebhookEndpoints_DeleteRetriedAnswersTheDelete(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		lossy   bool
		deleted bool // the endpoint is gone before the call
		code    string
	}{
		{name: "OK"},
		{name: "FirstReplyLost", lossy: true},
		{name: "AlreadyGone", deleted: true, code: "webhook_endpoint_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := f.c.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointParams{URL: "https://hooks.example.com/" + tt.name})
			if err != nil {
				t.Fatal(err)
			}
			if tt.deleted {
				if err := f.c.DeleteWebhookEndpoint(ctx, ep.ID); err != nil {
					t.Fatal(err)
				}
			}
			c := f.c
			if tt.lossy {
				c = f.losingFirstReply(t, f.key)
			}
			if err := c.DeleteWebhookEndpoint(ctx, ep.ID); client.ErrorCode(err) != tt.code || (tt.code == "" && err != nil) {
				t.Fatalf("delete: %v, want code %q", err, tt.code)
			}
			if _, err := f.c.GetWebhookEndpoint(ctx, ep.ID); client.ErrorCode(err) != "webhook_endpoint_not_found" {
				t.Fatalf("the endpoint after its delete: %v, want webhook_endpoint_not_found", err)
			}
		})
	}
}

// cutFirstEarly is a transport whose first request goes on to the server
// and runs to its end there, while the client hears a broken connection
// after cut: a slow attempt whose connection dropped mid-request.
type cutFirstEarly struct {
	cut  time.Duration
	mu   sync.Mutex
	sent bool
	done chan struct{} // closed when the first request has its answer
}

func (c *cutFirstEarly) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	first := !c.sent
	c.sent = true
	c.mu.Unlock()
	if !first {
		return http.DefaultTransport.RoundTrip(r)
	}
	detached := r.Clone(context.Background())
	go func() {
		defer close(c.done)
		if resp, err := http.DefaultTransport.RoundTrip(detached); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	time.Sleep(c.cut)
	return nil, errors.New("connection reset while the server was still at it")
}

// TestRefunds_RetryWaitsForTheFirstAttempt: a refund whose first attempt
// lost its connection while the processor was slow is retried under the
// same key, and the server answers idempotency_key_in_use until the first
// attempt ends (up to its processor deadline). The client waits for that
// answer: giving up in a second or two returned an error for a refund
// that then went out, under a key the caller never saw, so the caller's
// own retry would refund again.
func TestRefunds_RetryWaitsForTheFirstAttempt(t *testing.T) {
	t.Parallel()
	srv, key, stop := exampleServer(func(c *server.Config) { c.ProcessorTimeout = 2 * time.Second })
	t.Cleanup(stop)
	ctx := context.Background()
	plain, err := client.New(srv.URL(), key)
	if err != nil {
		t.Fatal(err)
	}
	// 0099: the sandbox does not answer until asked for the status, so
	// the first attempt runs to the processor deadline.
	o, err := plain.CreateOrder(ctx, client.CreateOrderParams{Reference: "SLOW-1", Currency: "SAR", Amount: 10000,
		PaymentMethod: "card", Source: client.Card{LastDigits: "0099"}})
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutFirstEarly{cut: 100 * time.Millisecond, done: make(chan struct{})}
	c, err := client.New(srv.URL(), key, client.WithHTTPClient(&http.Client{Transport: cut}),
		client.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(1000)})
	<-cut.done
	if err != nil {
		t.Fatalf("the retried refund: %v; want the first attempt's answer", err)
	}
	page, err := plain.ListRefunds(ctx, client.ListRefundsParams{OrderID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != r.ID {
		t.Fatalf("the order has %d refunds, want only %s", len(page.Data), r.ID)
	}
}

// TestDiscrepancies: what a reconciliation could not absorb is listed,
// filtered by state, iterated, and resolved once with a note; a second
// resolution is refused and the first note stands.
func TestDiscrepancies(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	ctx := context.Background()
	report := "refund_id,amount,currency,status\nre_not_ours,1.00,SAR,settled\n"
	if rec, err := f.c.Reconcile(ctx, []byte(report), nil); err != nil || rec.Flagged != 1 {
		t.Fatalf("reconciliation: %+v, %v", rec, err)
	}
	open, err := f.c.ListDiscrepancies(ctx, client.ListDiscrepanciesParams{Status: "open"})
	if err != nil || len(open.Data) != 1 || open.Data[0].Kind != "unknown_to_refundd" || open.Data[0].Status != "open" ||
		open.Data[0].Amount != 100 || open.Data[0].ResolvedAt != nil {
		t.Fatalf("open discrepancies: %+v, %v", open, err)
	}
	var seen []string
	for d, err := range f.c.AllDiscrepancies(ctx, client.ListDiscrepanciesParams{Kind: "unknown_to_refundd", Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, d.ID)
	}
	if len(seen) != 1 || seen[0] != open.Data[0].ID {
		t.Fatalf("iterated %v, want %s", seen, open.Data[0].ID)
	}
	id := open.Data[0].ID
	d, err := f.c.ResolveDiscrepancy(ctx, id, client.ResolveDiscrepancyParams{Note: "not ours: the processor's test row"})
	if err != nil || d.ID != id || d.Status != "resolved" || d.ResolvedAt == nil || d.ResolvedBy == nil || *d.ResolvedBy == "" ||
		d.Resolution == nil || *d.Resolution != "not ours: the processor's test row" {
		t.Fatalf("resolved: %+v, %v", d, err)
	}
	if n, keys := f.sent.take(); n != 4 || !hexKey.MatchString(keys[3]) {
		t.Fatalf("sent %d requests (keys %q); want the resolution's under a generated key", n, keys)
	}
	_, err = f.c.ResolveDiscrepancy(ctx, id, client.ResolveDiscrepancyParams{Note: "again"})
	f.wantError(t, err, 409, "discrepancy_already_resolved")
	_, err = f.c.ResolveDiscrepancy(ctx, "dsc_nope", client.ResolveDiscrepancyParams{Note: "x"})
	f.wantError(t, err, 404, "discrepancy_not_found")
	if _, err := f.c.ResolveDiscrepancy(ctx, "", client.ResolveDiscrepancyParams{Note: "x"}); err == nil {
		t.Fatal("an empty id was sent")
	}
	f.sent.take()
	for status, want := range map[string]int{"open": 0, "resolved": 1, "": 1} {
		page, err := f.c.ListDiscrepancies(ctx, client.ListDiscrepanciesParams{Status: status})
		if err != nil || len(page.Data) != want {
			t.Fatalf("status %q: %d discrepancies, %v; want %d", status, len(page.Data), err, want)
		}
	}
	f.sent.take()
	_, err = f.c.ListDiscrepancies(ctx, client.ListDiscrepanciesParams{Status: "closed"})
	f.wantError(t, err, 400, "invalid_request")
}
