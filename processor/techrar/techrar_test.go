package techrar_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/techrar"
	"github.com/refundd/refundd/refund"
)

const refundPathSuffix = "/refund/"

// fixture is a real refundd serving the Techrar API as the processor,
// with a proxy in front that counts the refund requests that reach it.
type fixture struct {
	*dialecttest.Server
	proxyURL string
	mu       sync.Mutex
	posts    int
}

func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{Server: dialecttest.Start(t)}
	target, _ := url.Parse(f.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, refundPathSuffix) {
			f.mu.Lock()
			f.posts++
			f.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	f.proxyURL = proxy.URL
	return f
}

func (f *fixture) refundPosts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

// connector returns a connector to the fixture's server.
func (f *fixture) connector(t *testing.T, token string, appID int64) *techrar.Connector {
	t.Helper()
	c, err := techrar.New(processor.Account{ID: "pa_1", Kind: techrar.Kind, URL: f.proxyURL, Credential: token,
		Options: map[string]string{techrar.OptAppID: strconv.FormatInt(appID, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// order records, at the processor, the seed's order (the 10.33 SAR
// "Refundable" line and a 316.99 line) plus four cups of 25.00, paid by
// method with a card ending last4, and returns its tax invoice.
func (f *fixture) order(t *testing.T, ref, method, last4 string) (*refund.Order, *refund.InvoiceView) {
	t.Helper()
	in := refund.OrderInput{Reference: ref, Currency: "SAR", Amount: 1033 + 31699 + 4*2500, PaymentMethod: method,
		Items: []refund.ItemInput{
			{ID: "491", SKU: "17556771634411092", NameEN: "Refundable", Qty: 1, UnitAmount: 1033, TaxRate: "15"},
			{ID: "492", SKU: "SKU-2", NameEN: "Espresso machine", Qty: 1, UnitAmount: 31699, TaxRate: "15"},
			{ID: "493", SKU: "SKU-3", NameEN: "Cup", Qty: 4, UnitAmount: 2500, TaxRate: "15"},
		}}
	if method == "card" {
		in.Source = refund.Card{Scheme: "visa", LastDigits: last4}
	}
	o := f.Order(in)
	page, err := f.Service.ListInvoices(context.Background(), f.Principal, refund.InvoiceFilter{OrderID: o.ID, Type: refund.InvoiceSale})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("tax invoice of %s: %v %v", o.ID, page.Data, err)
	}
	return o, page.Data[0]
}

// line names the invoice's i-th line for a refund of qty units worth amount.
func line(tax *refund.InvoiceView, i int, qty, amount int64) processor.LinePart {
	l := tax.Lines[i]
	return processor.LinePart{ItemID: strconv.FormatInt(l.ID, 10), SKU: l.SKU, Qty: qty, Amount: amount}
}

// request is the forwarding node's refund of lines of tax's order.
func request(o *refund.Order, tax *refund.InvoiceView, key string, lines ...processor.LinePart) processor.Request {
	var amount int64
	for _, l := range lines {
		amount += l.Amount
	}
	return processor.Request{IdempotencyKey: key, MerchantID: "me_forwarding", OrderID: "ord_forwarding",
		Amount: amount, Currency: o.Currency, PaymentMethod: o.PaymentMethod, ProcessorOrderID: strconv.FormatInt(tax.ID, 10),
		OrderAmount: o.Amount, Reason: "first refund", Lines: lines}
}

type serverRefund struct {
	Status, MerchantReference, Amount string
}

// refunds lists the order's refunds through the processor's native API.
func (f *fixture) refunds(t *testing.T, orderID string) []serverRefund {
	t.Helper()
	r := f.Do("GET", "/v1/refunds?order_id="+orderID, f.Key, "")
	if r.Status != 200 {
		t.Fatalf("list refunds: %d %s", r.Status, r.Raw)
	}
	var out []serverRefund
	for _, d := range r.Get("data").([]any) {
		x := dialecttest.Reply{Body: d}
		out = append(out, serverRefund{x.Str("status"), x.Str("merchant_reference"), x.Str("amount")})
	}
	return out
}

func key(n int) string { return fmt.Sprintf("re_0195c2b1-7d7a-7cc4-9c3e-%012d", n) }

// TestRefund: a line refund goes through to the processor once, under the
// forwarding refund's id; the same key again answers the same refund and
// creates nothing; the refund invoice's id finds it again.
func TestRefund(t *testing.T) {
	t.Parallel()
	f := start(t)
	c := f.connector(t, f.Key, f.Merchant.AppID)
	o, tax := f.order(t, "ORD-410", "card", "1111")
	req := request(o, tax, key(1), line(tax, 0, 1, 1033), line(tax, 2, 2, 5000))
	ctx := context.Background()

	first, err := c.Refund(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != processor.Approved || first.ResponseCode != "00" || first.Reference == "" || first.RRN == "" ||
		!first.ExecutedAt.Equal(f.Clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("first answer: %+v", first)
	}
	want := fmt.Sprint([]serverRefund{{"succeeded", req.IdempotencyKey, "6033"}})
	check := func(t *testing.T) {
		t.Helper()
		if got := fmt.Sprint(f.refunds(t, o.ID)); got != want {
			t.Fatalf("refunds at the processor: %s, want %s", got, want)
		}
		if snap := f.Snap(o.ID); snap.Refunded != 6033 || snap.Pending != 0 || snap.Refunds != 1 {
			t.Fatalf("order at the processor: %+v", snap)
		}
	}
	check(t)
	// The refund invoice names the lines refunded.
	v, err := f.Service.GetInvoice(ctx, f.Principal, mustInt(t, first.Reference))
	if err != nil || v.Type != refund.InvoiceRefund || v.ParentID != tax.ID || v.TotalAmount != 6033 || len(v.Lines) != 2 ||
		v.Lines[0].ParentLineID != tax.Lines[0].ID || v.Lines[0].Qty != 1 || v.Lines[1].ParentLineID != tax.Lines[2].ID ||
		v.Lines[1].Qty != 2 || v.Lines[1].NetAmount != 5000 {
		t.Fatalf("refund invoice %s: %+v %v", first.Reference, v, err)
	}

	t.Run("SameKeyAgain", func(t *testing.T) {
		again, err := c.Refund(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("the same key answered %+v, first %+v", again, first)
		}
		check(t)
	})
	t.Run("SameKeyAfterTheKeysTime", func(t *testing.T) {
		f.Clock.Advance(25 * time.Hour)
		again, err := c.Refund(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("the same key answered %+v, first %+v", again, first)
		}
		check(t)
	})
	t.Run("StatusByReference", func(t *testing.T) {
		r := req
		r.Reference = first.Reference
		got, err := c.StatusOf(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got != first {
			t.Fatalf("status %+v, the refund answered %+v", got, first)
		}
		check(t)
	})
	t.Run("StatusByKeyWithoutReference", func(t *testing.T) {
		// The answer was lost: the refund invoice is found among the tax
		// invoice's refunds by the marker its comments carry.
		got, err := c.StatusOf(ctx, req)
		if err != nil || got != first {
			t.Fatalf("StatusOf without a reference: %+v %v, want %+v", got, err, first)
		}
		other := req
		other.IdempotencyKey = "re_never_sent"
		if _, err := c.StatusOf(ctx, other); !errors.Is(err, processor.ErrNotFound) {
			t.Fatalf("StatusOf of a key never sent: %v, want ErrNotFound", err)
		}
		if _, err := c.Status(ctx, req.IdempotencyKey); !errors.Is(err, processor.ErrNoStatus) {
			t.Fatalf("Status: %v, want ErrNoStatus (it needs the tax invoice)", err)
		}
	})
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	c, err := techrar.New(processor.Account{URL: "https://api.techrar.com", Credential: "tok",
		Options: map[string]string{techrar.OptAppID: "86"}})
	if err != nil {
		t.Fatal(err)
	}
	want := processor.Capabilities{StatusByKey: true, StatusByReference: true, Partial: true, Lines: true, LinesRequired: true}
	if got := processor.CapabilitiesOf(c); got != want {
		t.Fatalf("capabilities %+v, want %+v", got, want)
	}
	var _ processor.RequestStatuser = c
}

// TestRefund_Outcomes: each answer of the real processor in the core's
// terms, and what it left at the processor.
func TestRefund_Outcomes(t *testing.T) {
	t.Parallel()
	f := start(t)
	good := f.connector(t, f.Key, f.Merchant.AppID)
	wrongKey := f.connector(t, "rk_000000000000_00000000000000000000000000000000", f.Merchant.AppID)
	wrongApp := f.connector(t, f.Key, f.Merchant.AppID+1)
	readOnly := f.connector(t, f.NewKey(refund.ScopeOrdersRead), f.Merchant.AppID)
	for i, tc := range []struct {
		name    string
		conn    *techrar.Connector
		last4   string
		lines   func(tax *refund.InvoiceView) []processor.LinePart
		edit    func(*processor.Request)
		status  processor.Status
		code    string
		refunds int // at the processor afterwards
		posts   int // refund requests that reached it
	}{
		{"ApprovedWholeLine", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 1, 1, 31699)}
		}, nil, processor.Approved, "00", 1, 1},
		{"ApprovedPartOfALine", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 1, 0, 10000)}
		}, nil, processor.Approved, "00", 1, 1},
		{"DeclinedByTheIssuer", good, "0051", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, nil, processor.Declined, "failed", 1, 1},
		{"ErrWrongKey", wrongKey, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, nil, processor.Declined, processor.CodeAuthFailed, 0, 1},
		{"ErrWrongAppID", wrongApp, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, nil, processor.Declined, processor.CodeAuthFailed, 0, 1},
		{"ErrKeyWithoutRefundScope", readOnly, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, nil, processor.Declined, processor.CodeAuthFailed, 0, 1},
		{"ErrMoreThanTheLine", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1034)}
		}, nil, processor.Declined, refund.EAmountExceedsRefundable, 0, 1},
		{"ErrNoSuchLine", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{{ItemID: "999999", Qty: 1, Amount: 1033}}
		}, nil, processor.Declined, refund.EInvalidRequest, 0, 1},
		{"ErrNoSuchInvoice", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, func(r *processor.Request) { r.ProcessorOrderID = "999999" }, processor.Declined, processor.CodeNoSuchOrder, 0, 1},
		{"ErrNoLinesNeverSent", good, "1111", func(*refund.InvoiceView) []processor.LinePart { return nil },
			func(r *processor.Request) { r.Amount = 1033 }, processor.Declined, "lines_required", 0, 0},
		{"ErrLinesDoNotAddUpNeverSent", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, func(r *processor.Request) { r.Amount = 2000 }, processor.Declined, "invalid_amount", 0, 0},
		{"ErrNotAnInvoiceLineNeverSent", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{{ItemID: "491", Qty: 1, Amount: 1033}, {ItemID: "line-2", Qty: 1, Amount: 1}}
		}, nil, processor.Declined, "invalid_request", 0, 0},
		{"ErrVendorsNeverSent", good, "1111", func(tax *refund.InvoiceView) []processor.LinePart {
			return []processor.LinePart{line(tax, 0, 1, 1033)}
		}, func(r *processor.Request) { r.Vendors = []processor.VendorPart{{VendorID: "v1", Amount: 1033}} },
			processor.Declined, "vendors_not_supported", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, tax := f.order(t, fmt.Sprintf("ORD-%d", i), "card", tc.last4)
			req := request(o, tax, key(100+i), tc.lines(tax)...)
			if tc.edit != nil {
				tc.edit(&req)
			}
			before := f.refundPosts()
			res, err := tc.conn.Refund(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || res.ResponseCode != tc.code {
				t.Fatalf("got %s %s (%s), want %s %s", res.Status, res.ResponseCode, res.Message, tc.status, tc.code)
			}
			got := f.refunds(t, o.ID)
			if len(got) != tc.refunds || (len(got) == 1 && got[0].MerchantReference != req.IdempotencyKey) {
				t.Fatalf("refunds at the processor: %+v, want %d under %s", got, tc.refunds, req.IdempotencyKey)
			}
			if n := f.refundPosts() - before; n != tc.posts {
				t.Fatalf("%d refund requests reached the processor, want %d", n, tc.posts)
			}
		})
	}
}

// TestRefund_PendingThenApproved: a wallet refund is pending at first;
// once the processor settles it, the lookup by reference says approved.
func TestRefund_PendingThenApproved(t *testing.T) {
	t.Parallel()
	f := start(t)
	c := f.connector(t, f.Key, f.Merchant.AppID)
	o, tax := f.order(t, "ORD-STC", "stcpay", "")
	req := request(o, tax, key(1), line(tax, 2, 1, 2500))
	ctx := context.Background()
	res, err := c.Refund(ctx, req)
	if err != nil || res.Status != processor.Pending || res.Reference == "" {
		t.Fatalf("refund: %+v %v, want pending with a reference", res, err)
	}
	req.Reference = res.Reference
	if got, err := c.StatusOf(ctx, req); err != nil || got.Status != processor.Pending {
		t.Fatalf("status before settling: %+v %v", got, err)
	}
	f.RunWorker(time.Minute)
	got, err := c.StatusOf(ctx, req)
	if err != nil || got.Status != processor.Approved || got.Reference != res.Reference || got.ResponseCode != "00" {
		t.Fatalf("status after settling: %+v %v", got, err)
	}
	if refunds := fmt.Sprint(f.refunds(t, o.ID)); refunds != fmt.Sprint([]serverRefund{{"succeeded", req.IdempotencyKey, "2500"}}) {
		t.Fatalf("refunds at the processor: %s", refunds)
	}
}

// TestStatusOf_Errors: a lookup that fails says nothing about the refund.
func TestStatusOf_Errors(t *testing.T) {
	t.Parallel()
	f := start(t)
	good := f.connector(t, f.Key, f.Merchant.AppID)
	o, tax := f.order(t, "ORD-1", "card", "1111")
	req := request(o, tax, key(1), line(tax, 0, 1, 1033))
	res, err := good.Refund(context.Background(), req)
	if err != nil || res.Status != processor.Approved {
		t.Fatalf("refund: %+v %v", res, err)
	}
	for _, tc := range []struct {
		name string
		conn *techrar.Connector
		edit func(*processor.Request)
		code string
	}{
		{"WrongKey", f.connector(t, "rk_000000000000_00000000000000000000000000000000", f.Merchant.AppID), nil, processor.CodeAuthFailed},
		{"UnknownReference", good, func(r *processor.Request) { r.Reference = "999999" }, "reference_not_found"},
		{"TheTaxInvoiceItself", good, func(r *processor.Request) { r.Reference = r.ProcessorOrderID }, "unreadable_reply"},
		{"AnotherOrdersRefund", good, func(r *processor.Request) { r.ProcessorOrderID = "999999" }, "unreadable_reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			r.Reference = res.Reference
			if tc.edit != nil {
				tc.edit(&r)
			}
			got, err := tc.conn.StatusOf(context.Background(), r)
			var te *processor.TransientError
			if !errors.As(err, &te) || te.Code != tc.code || te.NotExecuted {
				t.Fatalf("got %+v %#v, want TransientError %s", got, err, tc.code)
			}
		})
	}
}

// seedInvoice is the seed's refund invoice, cut to what the connector
// reads, with its amounts as the seed prints them.
const seedInvoice = `{"id":608,"type":"refund","status":"paid","serial":"INV-202500375","currency":"SAR","total_amount":10.33,
"refunded_invoice":{"id":603,"serial":"INV-202500374","total_amount":327.32,"currency":"SAR","status":"paid"},
"transactions":[{"id":168,"invoice_id":608,"type":"refund","reason":"first refund","currency":"SAR","received_amount":10.33,
"quoted_amount":10.33,"status":"captured","provider":"myfatoorah","provider_status":"REFUNDED","created_at":"2025-08-20T12:49:32.147866+03:00",
"provider_details":{"RefundId":213652,"RefundReference":"2025000042","GatewayReference":{"PaymentId":"6057151-23074","AuthorizationId":null,
"ReferenceId":"523209298603","TransactionId":"05O99T","RefundAmount":"0.045","Currency":"KWD"}}}],"zatca_status":"aborted"}`

// TestRefund_Mapping: answers refundd's dialect never gives, from a
// stand-in server.
func TestRefund_Mapping(t *testing.T) {
	t.Parallel()
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1033, Currency: "SAR", ProcessorOrderID: "603",
		Lines: []processor.LinePart{{ItemID: "651", Qty: 1, Amount: 1033}}}
	type want struct {
		status      processor.Status // "" when an error is wanted
		code        string
		notExecuted bool
		retryAfter  time.Duration
		reference   string
	}
	for _, tc := range []struct {
		name   string
		status int
		header []string
		body   string
		want   want
	}{
		{"ApprovedSeedExample", 200, nil, seedInvoice, want{status: processor.Approved, code: "00", reference: "608"}},
		{"PendingTransaction", 200, nil, strings.Replace(seedInvoice, `"status":"captured"`, `"status":"pending"`, 1),
			want{status: processor.Pending, reference: "608"}},
		{"DeclinedFailed", 200, nil, strings.Replace(strings.Replace(seedInvoice, `"status":"captured"`, `"status":"failed"`, 1),
			`"provider_status":"REFUNDED"`, `"provider_status":"FAILED"`, 1), want{status: processor.Declined, code: "failed", reference: "608"}},
		{"UnknownTransactionStatus", 200, nil, strings.Replace(seedInvoice, `"status":"captured"`, `"status":"authorized"`, 1),
			want{code: "unreadable_reply"}},
		{"UnknownAmountMismatch", 200, nil, strings.ReplaceAll(seedInvoice, `10.33`, `10.30`), want{code: "amount_mismatch"}},
		{"UnknownFloatAmount", 200, nil, strings.Replace(seedInvoice, `"received_amount":10.33`, `"received_amount":10.433300000000001`, 1),
			want{code: "unreadable_reply"}},
		{"UnknownCurrency", 200, nil, strings.Replace(seedInvoice, `"currency":"SAR","received_amount"`, `"currency":"KWD","received_amount"`, 1),
			want{code: "currency_mismatch"}},
		{"UnknownTaxInvoice", 200, nil, strings.Replace(seedInvoice, `"type":"refund","status":"paid"`, `"type":"invoice","status":"paid"`, 1),
			want{code: "unreadable_reply"}},
		{"UnknownOtherInvoice", 200, nil, strings.Replace(seedInvoice, `"id":603`, `"id":604`, 1), want{code: "unreadable_reply"}},
		{"UnknownGarbage", 200, nil, `<html>ok</html>`, want{code: "unreadable_reply"}},
		{"UnknownAccepted", 201, nil, `{}`, want{code: "unexpected_201"}},
		{"RateLimited", 429, []string{"Retry-After", "7"}, `{"detail":"Request was throttled."}`,
			want{code: "rate_limited", notExecuted: true, retryAfter: 7 * time.Second}},
		{"Unavailable", 503, []string{"Retry-After", "2"}, `upstream down`, want{code: "upstream_503", retryAfter: 2 * time.Second}},
		{"BadGateway", 502, nil, ``, want{code: "upstream_502"}},
		{"DeclinedFieldErrors", 400, nil, `{"refunded_items":["Invalid item id."]}`, want{status: processor.Declined, code: "invalid_request"}},
		{"DeclinedNotFound", 404, nil, `{"detail":"Not found."}`, want{status: processor.Declined, code: processor.CodeNoSuchOrder}},
		{"DeclinedNotFoundItsCode", 404, nil, `{"detail":"Not found.","code":"route_not_found"}`, want{status: processor.Declined, code: processor.CodeNoSuchOrder}},
		{"DeclinedUnprocessable", 422, nil, `{"detail":"x","code":"amount_exceeds_refundable"}`,
			want{status: processor.Declined, code: "amount_exceeds_refundable"}},
		{"UnknownKeyInUse", 409, nil, `{"detail":"x","code":"idempotency_key_in_use"}`, want{code: "idempotency_key_in_use"}},
		{"UnknownKeyReused", 422, nil, `{"detail":"x","code":"idempotency_key_reused"}`, want{code: "idempotency_key_reused"}},
		{"DeclinedUnauthorized", 401, nil, `{"detail":"Invalid token."}`, want{status: processor.Declined, code: processor.CodeAuthFailed}},
		{"DeclinedForbidden", 403, nil, `{"detail":"You do not have permission to perform this action."}`,
			want{status: processor.Declined, code: processor.CodeAuthFailed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got *http.Request
			var body string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got, body = r, string(b)
				for i := 0; i+1 < len(tc.header); i += 2 {
					w.Header().Set(tc.header[i], tc.header[i+1])
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c, err := techrar.New(processor.Account{URL: srv.URL, Credential: "tok-1", Options: map[string]string{techrar.OptAppID: "86"}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Refund(context.Background(), req)
			w := tc.want
			if w.status != "" {
				if err != nil || res.Status != w.status || res.ResponseCode != w.code || res.Reference != w.reference {
					t.Fatalf("got %+v %v, want %s %s reference %q", res, err, w.status, w.code, w.reference)
				}
			} else {
				var te *processor.TransientError
				if !errors.As(err, &te) || te.Code != w.code || te.NotExecuted != w.notExecuted || te.RetryAfter != w.retryAfter {
					t.Fatalf("got %+v %#v, want TransientError %s notExecuted %v retryAfter %s", res, err, w.code, w.notExecuted, w.retryAfter)
				}
			}
			if got.Method != "POST" || got.URL.Path != "/order/v1/merchant/invoices/603/refund/" ||
				got.Header.Get("Authorization") != "Bearer tok-1" || got.Header.Get("app-id") != "86" ||
				got.Header.Get("Idempotency-Key") != "re_1" ||
				body != `{"comments":"Refund [refundd re_1]","refunded_items":[{"id":651,"qty":1,"amount":10.33}]}` {
				t.Fatalf("the processor received %s %s %v %s", got.Method, got.URL.Path, got.Header, body)
			}
			if tc.name == "ApprovedSeedExample" && (res.RRN != "523209298603" || res.AuthCode != "05O99T" ||
				!res.ExecutedAt.Equal(time.Date(2025, 8, 20, 9, 49, 32, 147866000, time.UTC))) {
				t.Fatalf("references and time: %+v", res)
			}
		})
	}
}

// TestStatusOf_Mapping: lookups refundd's dialect never answers so.
func TestStatusOf_Mapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		header []string
		code   string
		na     bool
		retry  time.Duration
	}{
		{"RateLimited", 429, []string{"Retry-After", "5"}, "rate_limited", true, 5 * time.Second},
		{"Unavailable", 503, nil, "upstream_503", false, 0},
		{"Forbidden", 403, nil, processor.CodeAuthFailed, false, 0},
		{"Teapot", 418, nil, "lookup_418", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != "GET" || r.URL.Path != "/order/v1/merchant/invoices/608/" || r.Header.Get("Idempotency-Key") != "" {
					t.Errorf("lookup sent as %s %s %v", r.Method, r.URL.Path, r.Header)
				}
				for i := 0; i+1 < len(tc.header); i += 2 {
					w.Header().Set(tc.header[i], tc.header[i+1])
				}
				w.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			c, err := techrar.New(processor.Account{URL: srv.URL, Credential: "tok-1", Options: map[string]string{techrar.OptAppID: "86"}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.StatusOf(context.Background(), processor.Request{IdempotencyKey: "re_1", Reference: "608",
				ProcessorOrderID: "603", Amount: 1033, Currency: "SAR"})
			var te *processor.TransientError
			if !errors.As(err, &te) || te.Code != tc.code || te.NotExecuted != tc.na || te.RetryAfter != tc.retry {
				t.Fatalf("got %+v %#v, want TransientError %s", res, err, tc.code)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	app := map[string]string{techrar.OptAppID: "86"}
	for _, tc := range []struct {
		name, url, credential string
		options               map[string]string
		err                   string
	}{
		{"OK", "https://api.techrar.com", "tok", app, ""},
		{"OKTrailingSlashHTTP", "http://127.0.0.1:8080/", "tok", app, ""},
		{"ErrScheme", "ftp://api.techrar.com", "tok", app, "http or https"},
		{"ErrNoHost", "https://", "tok", app, "no host"},
		{"ErrUserInfo", "https://u:p@api.techrar.com", "tok", app, "user info"},
		{"ErrFragment", "https://api.techrar.com#x", "tok", app, "fragment"},
		{"ErrNoCredential", "https://api.techrar.com", "", app, "credential"},
		{"ErrCredentialWithSpace", "https://api.techrar.com", "Bearer tok", app, "credential"},
		{"ErrNoAppID", "https://api.techrar.com", "tok", nil, "app_id"},
		{"ErrAppIDNotInteger", "https://api.techrar.com", "tok", map[string]string{techrar.OptAppID: "x86"}, "app_id"},
		{"ErrAppIDZero", "https://api.techrar.com", "tok", map[string]string{techrar.OptAppID: "0"}, "app_id"},
		{"ErrUnknownOption", "https://api.techrar.com", "tok", map[string]string{techrar.OptAppID: "86", "appid": "86"}, "unknown option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := techrar.New(processor.Account{URL: tc.url, Credential: tc.credential, Options: tc.options})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("New: %v, want %q", err, tc.err)
			}
		})
	}
}
