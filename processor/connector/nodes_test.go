package connector_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/internal/faultproxy"
	"github.com/refundd/refundd/internal/stripemock"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

const testSecretKey = "5f1d3c0a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060504"

// processorNode is node B: a real refundd holding the payment, serving one
// seed API, which node A's connector calls through a fault proxy.
type processorNode struct {
	*dialecttest.Server
	credential string
	options    map[string]string
	// orderID is the payment's id at B in its own API's terms
	// (ProcessorOrderID on A), bOrder its refundd id (for B's native API).
	orderID string
	bOrder  string
	// refundPath matches the seed API's refund submission.
	refundPath func(path string) bool
}

// kindCase prepares node B for one kind and says what A's order and
// refund look like there.
type kindCase struct {
	kind   string
	opts   []func(*server.Config)
	setup  func(t *testing.T, b *dialecttest.Server) processorNode
	order  refund.OrderInput // A's order (Processor and ProcessorOrderID filled in)
	refund string            // A's native refund body, without order_id
	amount int64
}

var lines = []refund.ItemInput{
	{ID: "L1", SKU: "COF-250", NameEN: "Arabic coffee 250g", NameAR: "قهوة عربية", Qty: 2, UnitAmount: 2300, TaxRate: "15"},
	{ID: "L2", SKU: "DAT-500", NameEN: "Sukkari dates 500g", NameAR: "تمر سكري", Qty: 1, UnitAmount: 4400, TaxRate: "15"},
}

func kindCases() []kindCase {
	return []kindCase{
		{
			// Lines of the tax invoice; the refund found again by the
			// marker in its comments after the reply was lost.
			kind: "techrar",
			setup: func(t *testing.T, b *dialecttest.Server) processorNode {
				o := b.Order(refund.OrderInput{Reference: "TR-9001", Currency: "SAR", Amount: 2*2300 + 4400, PaymentMethod: "card",
					Source: refund.Card{Scheme: "visa", LastDigits: "4444"}, Items: lines})
				page, err := b.Service.ListInvoices(context.Background(), b.Principal, refund.InvoiceFilter{OrderID: o.ID, Type: refund.InvoiceSale})
				if err != nil || len(page.Data) != 1 {
					t.Fatalf("tax invoice: %v %v", page.Data, err)
				}
				return processorNode{Server: b, credential: b.Key, orderID: strconv.FormatInt(page.Data[0].ID, 10), bOrder: o.ID,
					options:    map[string]string{"app_id": strconv.FormatInt(b.Merchant.AppID, 10)},
					refundPath: func(p string) bool { return strings.HasSuffix(p, "/refund/") }}
			},
			order:  refund.OrderInput{Currency: "SAR", Amount: 2*2300 + 4400, PaymentMethod: "card", Items: lines},
			refund: `{"items":[{"item_id":"L1","qty":1}]}`, amount: 2300,
		},
		{
			kind: "gateway",
			setup: func(t *testing.T, b *dialecttest.Server) processorNode {
				o := b.Order(refund.OrderInput{Reference: "GW-9001", Currency: "SAR", Amount: 26000, PaymentMethod: "card",
					Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
				return processorNode{Server: b, credential: b.Key, orderID: o.ID, bOrder: o.ID,
					refundPath: func(p string) bool { return strings.HasSuffix(p, "/refund") }}
			},
			order:  refund.OrderInput{Currency: "SAR", Amount: 26000, PaymentMethod: "card"},
			refund: `{"amount":7550}`, amount: 7550,
		},
		{
			kind: "sgate",
			setup: func(t *testing.T, b *dialecttest.Server) processorNode {
				o := b.Order(refund.OrderInput{Reference: "SG-9001", Currency: "SAR", Amount: 26000, PaymentMethod: "mada",
					Source: refund.Card{Scheme: "mada", LastDigits: "4444"}})
				return processorNode{Server: b, credential: b.Key, orderID: o.ID, bOrder: o.ID,
					refundPath: func(p string) bool { return strings.HasSuffix(p, "/refunds") }}
			},
			order:  refund.OrderInput{Currency: "SAR", Amount: 26000, PaymentMethod: "mada"},
			refund: `{"amount":1050}`, amount: 1050,
		},
		{
			// KWD's three decimals, and a vendor refund through the
			// multi-vendor endpoint.
			kind: "upayments",
			setup: func(t *testing.T, b *dialecttest.Server) processorNode {
				o := b.Order(refund.OrderInput{Reference: "UP-9001", Currency: "KWD", Amount: 75500, PaymentMethod: "knet",
					Vendors: []refund.VendorInput{
						{ID: "vendor-a", Name: "Al Shaya Perfumes", IBAN: "KW81CBKU0000000000001234560101", Amount: 50000},
						{ID: "vendor-b", Name: "Kuwait Dates Co", IBAN: "KW81CBKU0000000000001234560101", Amount: 25500}}})
				return processorNode{Server: b, credential: b.Key, orderID: o.ID, bOrder: o.ID,
					refundPath: func(p string) bool { return strings.HasSuffix(p, "/create-multivendor-refund") }}
			},
			order: refund.OrderInput{Currency: "KWD", Amount: 75500, PaymentMethod: "knet",
				Vendors: []refund.VendorInput{
					{ID: "vendor-a", Name: "Al Shaya Perfumes", Amount: 50000},
					{ID: "vendor-b", Name: "Kuwait Dates Co", Amount: 25500}}},
			refund: `{"vendors":[{"vendor_id":"vendor-a","amount":1235}]}`, amount: 1235,
		},
		{
			kind: "paylink",
			opts: []func(*server.Config){func(c *server.Config) { c.TokenSecret = "nodes-test-token-secret-of-32-bytes!!" }},
			setup: func(t *testing.T, b *dialecttest.Server) processorNode {
				p, key, err := b.Service.CreatePartner(context.Background(), "Platform", []string{b.Merchant.ID})
				if err != nil {
					t.Fatal(err)
				}
				o := b.Order(refund.OrderInput{Reference: "PL-9001", Currency: "SAR", Amount: 45000, PaymentMethod: "mada",
					Source: refund.Card{Scheme: "mada", LastDigits: "4444"}})
				return processorNode{Server: b, credential: p.ID + ":" + key, orderID: "PL-9001", bOrder: o.ID,
					options:    map[string]string{"merchant_key": "email", "merchant_value": b.Merchant.Email},
					refundPath: func(p string) bool { return strings.HasSuffix(p, "/refund") }}
			},
			// Paylink refunds whole orders only.
			order:  refund.OrderInput{Currency: "SAR", Amount: 45000, PaymentMethod: "mada"},
			refund: `{}`, amount: 45000,
		},
	}
}

// For every seed kind: a refund made on node A is forwarded to node B
// through a proxy that drops B's reply after B executed it, then answers
// 503 once; A learns the outcome its connector's capabilities allow and
// the refund ends succeeded, executed once at B under A's refund id.
func TestConnectors_ThroughTheCore(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			b := dialecttest.Start(t, tc.opts...)
			pn := tc.setup(t, b)
			proxy := faultproxy.Start(t, b.URL())
			dropped, failed := false, false
			proxy.SetRule(func(r *http.Request, _ []byte) faultproxy.Fault {
				switch {
				case !dropped && r.Method == http.MethodPost && pn.refundPath(r.URL.Path):
					dropped = true
					return faultproxy.DropReply
				case dropped && !failed:
					failed = true
					return faultproxy.Unavailable
				}
				return faultproxy.Pass
			})

			a := dialecttest.Start(t, func(c *server.Config) { c.SecretKey = testSecretKey })
			ctx := context.Background()
			if _, err := a.Service.AddProcessorAccount(ctx, a.Merchant.ID, refund.ProcessorAccountInput{Name: tc.kind + "-main",
				Kind: tc.kind, URL: proxy.URL, Credential: pn.credential, Options: pn.options}); err != nil {
				t.Fatal(err)
			}
			in := tc.order
			in.Reference, in.Processor, in.ProcessorOrderID = "A-"+tc.kind, tc.kind+"-main", pn.orderID
			if tc.kind == "techrar" {
				// A's items are Techrar's invoice lines.
				page, _ := b.Service.ListInvoices(ctx, b.Principal, refund.InvoiceFilter{OrderID: pn.bOrder, Type: refund.InvoiceSale})
				in.Items = append([]refund.ItemInput(nil), in.Items...)
				for i := range in.Items {
					in.Items[i].ID = strconv.FormatInt(page.Data[0].Lines[i].ID, 10)
				}
				tc.refund = fmt.Sprintf(`{"items":[{"item_id":"%d","qty":1}]}`, page.Data[0].Lines[0].ID)
			}
			ao := a.Order(in)
			body := `{"order_id":"` + ao.ID + `",` + strings.TrimPrefix(tc.refund, "{")
			if tc.refund == `{}` {
				body = `{"order_id":"` + ao.ID + `"}`
			}
			rep := a.Do("POST", "/v1/refunds", a.Key, body)
			if rep.Status != http.StatusCreated && rep.Status != http.StatusOK {
				t.Fatalf("refund on A: %d %s", rep.Status, rep.Raw)
			}
			id := rep.Str("id")
			for i := 0; i < 30 && a.Do("GET", "/v1/refunds/"+id, a.Key, "").Str("status") != "succeeded"; i++ {
				a.RunWorker(2 * time.Minute)
			}
			got := a.Do("GET", "/v1/refunds/"+id, a.Key, "")
			if got.Str("status") != "succeeded" {
				t.Fatalf("A's refund is %s (%s), want succeeded; proxy saw %+v", got.Str("status"), got.Raw, proxy.Log())
			}
			executedThenDropped := false
			for _, e := range proxy.Log() {
				executedThenDropped = executedThenDropped || (e.Fault == faultproxy.DropReply && e.Status >= 200 && e.Status < 300)
			}
			if !executedThenDropped || !failed {
				t.Fatalf("faults: a reply dropped after B executed the refund %v, a 503 %v; want both: %+v", executedThenDropped, failed, proxy.Log())
			}
			// At B, through its API: once, under A's refund id, same amount.
			list := b.Do("GET", "/v1/refunds?order_id="+pn.bOrder, b.Key, "")
			data, _ := list.Get("data").([]any)
			n := 0
			for _, d := range data {
				r := dialecttest.Reply{Body: d}
				if r.Str("merchant_reference") != id {
					continue
				}
				n++
				if r.Str("status") != "succeeded" || r.Str("amount") != strconv.FormatInt(tc.amount, 10) {
					t.Errorf("at B: %s %s, want succeeded %d", r.Str("status"), r.Str("amount"), tc.amount)
				}
			}
			if n != 1 || len(data) != 1 {
				t.Fatalf("B has %d refunds under A's id %s (%d in all), want exactly 1: %s", n, id, len(data), list.Raw)
			}
			ao2 := a.Do("GET", "/v1/orders/"+ao.ID, a.Key, "")
			bo := b.Do("GET", "/v1/orders/"+pn.bOrder, b.Key, "")
			if ao2.Str("refunded_amount") != bo.Str("refunded_amount") || bo.Str("refunded_amount") != strconv.FormatInt(tc.amount, 10) {
				t.Fatalf("refunded: A %s, B %s, want both %d", ao2.Str("refunded_amount"), bo.Str("refunded_amount"), tc.amount)
			}
		})
	}
}

// Stripe, through the core, against stripe-mock: the first reply is
// dropped after stripe-mock answered, the next call fails with 503; the
// core asks (the payment's refunds, read to the end: not ours), submits
// again with the same Idempotency-Key, and the refund ends succeeded with
// Stripe's refund id kept.
func TestConnectors_StripeThroughTheCore(t *testing.T) {
	mock := stripemock.Start(t)
	proxy := faultproxy.Start(t, mock)
	posts := 0
	var keys []string
	dropped, failed := false, false
	proxy.SetRule(func(r *http.Request, _ []byte) faultproxy.Fault {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/refunds" {
			posts++
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
		switch {
		case !dropped && r.Method == http.MethodPost:
			dropped = true
			return faultproxy.DropReply
		case dropped && !failed:
			failed = true
			return faultproxy.Unavailable
		}
		return faultproxy.Pass
	})
	a := dialecttest.Start(t, func(c *server.Config) { c.SecretKey = testSecretKey })
	if _, err := a.Service.AddProcessorAccount(context.Background(), a.Merchant.ID, refund.ProcessorAccountInput{Name: "stripe-main",
		Kind: "stripe", URL: proxy.URL, Credential: "sk_test_123", Default: true}); err != nil {
		t.Fatal(err)
	}
	// The default account: the order names none.
	o := a.Order(refund.OrderInput{Reference: "ST-1", Currency: "USD", Amount: 5000, PaymentMethod: "card",
		ProcessorOrderID: "pi_3PqR2sAbCdEf"})
	if o.ProcessorAccountID == "" {
		t.Fatal("the order did not take the merchant's default account")
	}
	rep := a.Do("POST", "/v1/refunds", a.Key, `{"order_id":"`+o.ID+`","amount":100,"reason":"requested_by_customer"}`)
	id := rep.Str("id")
	for i := 0; i < 30 && a.Do("GET", "/v1/refunds/"+id, a.Key, "").Str("status") != "succeeded"; i++ {
		a.RunWorker(2 * time.Minute)
	}
	got := a.Do("GET", "/v1/refunds/"+id, a.Key, "")
	if got.Str("status") != "succeeded" {
		t.Fatalf("refund %s, want succeeded: %s; proxy saw %+v", got.Str("status"), got.Raw, proxy.Log())
	}
	if !dropped || !failed || posts != 2 {
		t.Fatalf("dropped %v, failed %v, %d submissions; want a drop, a 503 and exactly one resubmission", dropped, failed, posts)
	}
	for _, k := range keys {
		if k != id {
			t.Fatalf("Idempotency-Key %q, want the refund id %s on every submission", k, id)
		}
	}
}

// An unknown outcome at an account that can neither be asked nor trusted
// to deduplicate (UPayments has no lookup; this account's option says not
// to trust its reference) goes to review with its amount reserved, and is
// never submitted again however long the worker runs. B executed it once;
// a person settles A's side.
func TestConnectors_NoStatusGoesToReview(t *testing.T) {
	b := dialecttest.Start(t)
	bo := b.Order(refund.OrderInput{Reference: "UP-9100", Currency: "KWD", Amount: 12750, PaymentMethod: "knet"})
	proxy := faultproxy.Start(t, b.URL())
	posts := 0
	proxy.SetRule(func(r *http.Request, _ []byte) faultproxy.Fault {
		if r.Method != http.MethodPost {
			return faultproxy.Pass
		}
		posts++
		return faultproxy.DropReply
	})
	a := dialecttest.Start(t, func(c *server.Config) { c.SecretKey = testSecretKey })
	if _, err := a.Service.AddProcessorAccount(context.Background(), a.Merchant.ID, refund.ProcessorAccountInput{Name: "upay",
		Kind: "upayments", URL: proxy.URL, Credential: b.Key, Options: map[string]string{"idempotent": "false"}}); err != nil {
		t.Fatal(err)
	}
	ao := a.Order(refund.OrderInput{Reference: "A-UP", Currency: "KWD", Amount: 12750, PaymentMethod: "knet",
		Processor: "upay", ProcessorOrderID: bo.ID})
	rep := a.Do("POST", "/v1/refunds", a.Key, `{"order_id":"`+ao.ID+`","amount":1235}`)
	id := rep.Str("id")
	if rep.Str("status") != "requires_review" {
		t.Fatalf("after the lost reply: %s, want requires_review at once: %s", rep.Str("status"), rep.Raw)
	}
	for range 20 {
		a.RunWorker(30 * time.Minute)
	}
	got := a.Do("GET", "/v1/refunds/"+id, a.Key, "")
	if got.Str("status") != "requires_review" || posts != 1 {
		t.Fatalf("after the worker ran: %s with %d submissions; want requires_review and 1", got.Str("status"), posts)
	}
	if o := a.Do("GET", "/v1/orders/"+ao.ID, a.Key, ""); o.Str("pending_refund_amount") != "1235" {
		t.Fatalf("A's order pending %s, want 1235 still reserved", o.Str("pending_refund_amount"))
	}
	if o := b.Do("GET", "/v1/orders/"+bo.ID, b.Key, ""); o.Str("refunded_amount") != "1235" {
		t.Fatalf("B refunded %s, want 1235 once", o.Str("refunded_amount"))
	}
	// A person, with B's word, settles it.
	res := a.Do("POST", "/v1/refunds/"+id+"/resolve", a.Key, `{"outcome":"succeeded","note":"UPayments shows ARN for it"}`)
	if res.Str("status") != "succeeded" {
		t.Fatalf("resolve: %s", res.Raw)
	}
}
