package paylink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/paylink"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

const (
	authPath = "/rest/partner/v2/auth"
	secret   = "test-token-secret-of-at-least-32-bytes"
	// merchantEmail is how the partner names dialecttest's merchant.
	merchantEmail = "ops@souq.example"
)

// counter counts the requests a proxy passed on, by path.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[path]++
}

func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

// fixture is a real refundd serving the Paylink API as the processor, a
// partner linked to its merchant, and a counting proxy in front of it
// through which the connector calls.
type fixture struct {
	*dialecttest.Server
	partner    *refund.Partner
	partnerKey string
	proxyURL   string
	calls      *counter
	refundPath string
}

func start(t *testing.T) *fixture {
	t.Helper()
	s := dialecttest.Start(t, func(c *server.Config) { c.TokenSecret = secret })
	f := &fixture{Server: s, calls: &counter{n: map[string]int{}},
		refundPath: "/rest/partner/v2/merchant/email/" + merchantEmail + "/refund"}
	var err error
	if f.partner, f.partnerKey, err = s.Service.CreatePartner(context.Background(), "Platform", []string{s.Merchant.ID}); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(s.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.add(r.URL.Path)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	f.proxyURL = proxy.URL
	return f
}

// connector returns a connector to the fixture's server with credential.
func (f *fixture) connector(t *testing.T, credential string) *paylink.Connector {
	t.Helper()
	c, err := paylink.New(processor.Account{ID: "pa_1", Kind: paylink.Kind, URL: f.proxyURL, Credential: credential,
		Options: map[string]string{paylink.OptMerchantKey: "email", paylink.OptMerchantValue: merchantEmail}})
	if err != nil {
		t.Fatal(err)
	}
	// The connector's clock is the server's unless a test says otherwise.
	paylink.SetClock(c, f.Clock.Now)
	return c
}

func (f *fixture) credential() string { return f.partner.ID + ":" + f.partnerKey }

// order records a paid order at the processor; ref is its transactionNo.
func (f *fixture) order(ref, last4 string, amount int64) *refund.Order {
	return f.Order(refund.OrderInput{Reference: ref, Currency: "SAR", Amount: amount, PaymentMethod: "card",
		Source: refund.Card{Scheme: "mastercard", LastDigits: last4}})
}

// request is the forwarding node's whole-order refund of o.
func request(o *refund.Order, key string) processor.Request {
	return processor.Request{IdempotencyKey: key, MerchantID: "me_forwarding", OrderID: "ord_forwarding",
		Amount: o.Amount, Currency: o.Currency, PaymentMethod: "card", ProcessorOrderID: o.Reference,
		OrderAmount: o.Amount, Reason: "Client canceled the order."}
}

// serverRefund is a refund as the processor's native API shows it.
type serverRefund struct {
	ID, Status, MerchantReference, Amount, Currency string
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
		out = append(out, serverRefund{x.Str("id"), x.Str("status"), x.Str("merchant_reference"), x.Str("amount"), x.Str("currency")})
	}
	return out
}

// key is a refund id as the forwarding refundd makes them.
func key(n int) string { return fmt.Sprintf("re_0195c2b1-7d7a-7cc4-9c3e-%012d", n) }

// TestRefund: a whole-order refund goes through to the processor once,
// under the forwarding refund's id; the same key again answers the same
// refund and creates nothing.
func TestRefund(t *testing.T) {
	t.Parallel()
	f := start(t)
	c := f.connector(t, f.credential())
	o := f.order("1722731077436", "4444", 12500)
	req := request(o, key(1))
	ctx := context.Background()

	first, err := c.Refund(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != processor.Approved || first.Reference == "" || first.ResponseCode != "00" ||
		!first.ExecutedAt.Equal(f.Clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("first answer: %+v", first)
	}
	want := []serverRefund{{Status: "succeeded", MerchantReference: req.IdempotencyKey, Amount: "12500", Currency: "SAR"}}
	check := func(t *testing.T) {
		t.Helper()
		got := f.refunds(t, o.ID)
		if len(got) == 1 {
			got[0].ID = ""
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("refunds at the processor: %+v, want %+v", got, want)
		}
		if snap := f.Snap(o.ID); snap.Refunded != 12500 || snap.Pending != 0 {
			t.Fatalf("order at the processor: %+v", snap)
		}
	}
	check(t)

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
		// Past the idempotency record's 24 hours the merchant reference
		// still finds the refund.
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
	t.Run("NoStatusLookup", func(t *testing.T) {
		if _, err := c.Status(ctx, req.IdempotencyKey); !errors.Is(err, processor.ErrNoStatus) {
			t.Fatalf("Status: %v, want ErrNoStatus", err)
		}
		if _, ok := any(c).(processor.RequestStatuser); ok {
			t.Fatal("Paylink has no lookup by request either")
		}
	})
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	c, err := paylink.New(processor.Account{URL: "https://restpilot.paylink.sa", Credential: "APP_ID_1:secret",
		Options: map[string]string{paylink.OptMerchantKey: "cr", paylink.OptMerchantValue: "1010101010"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := processor.CapabilitiesOf(c); got != (processor.Capabilities{IdempotentSubmit: true}) {
		t.Fatalf("capabilities %+v: Paylink refunds whole orders only, once, and has no lookup", got)
	}
}

// TestRefund_Outcomes: each answer of the real processor in the core's
// terms, and what it left at the processor.
func TestRefund_Outcomes(t *testing.T) {
	t.Parallel()
	f := start(t)
	good := f.connector(t, f.credential())
	wrongSecret := f.connector(t, f.partner.ID+":rk_000000000000_00000000000000000000000000000000")
	for i, tc := range []struct {
		name       string
		conn       *paylink.Connector
		last4      string
		edit       func(*processor.Request)
		status     processor.Status
		code       string
		refunds    int // at the processor afterwards
		refundPost int // refund requests that reached the processor
	}{
		{"Approved", good, "4444", nil, processor.Approved, "00", 1, 1},
		{"DeclinedByTheIssuer", good, "0051", nil, processor.Declined, "refund_declined", 1, 1},
		{"ErrWrongSecret", wrongSecret, "4444", nil, processor.Declined, processor.CodeAuthFailed, 0, 0},
		{"ErrOrderNotFound", good, "4444", func(r *processor.Request) { r.ProcessorOrderID = "no-such-order" },
			processor.Declined, "order_not_found", 0, 1},
		{"ErrPartialNeverSent", good, "4444", func(r *processor.Request) { r.Amount-- }, processor.Declined, "partial_not_supported", 0, 0},
		{"ErrAfterARefundNeverSent", good, "4444", func(r *processor.Request) { r.Amount, r.Refunded = 100, 100 },
			processor.Declined, "partial_not_supported", 0, 0},
		{"ErrLinesNeverSent", good, "4444", func(r *processor.Request) { r.Lines = []processor.LinePart{{ItemID: "1", Qty: 1, Amount: 5000}} },
			processor.Declined, "lines_not_supported", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := f.order(fmt.Sprintf("PL-%d", i), tc.last4, 5000)
			req := request(o, key(100+i))
			if tc.edit != nil {
				tc.edit(&req)
			}
			before := f.calls.get(f.refundPath)
			res, err := tc.conn.Refund(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || res.ResponseCode != tc.code {
				t.Fatalf("got %s %s (%s), want %s %s", res.Status, res.ResponseCode, res.Message, tc.status, tc.code)
			}
			if tc.code == "refund_declined" && (!strings.Contains(res.Message, "51") || res.Reference == "") {
				t.Errorf("the decline should carry the issuer's 51 and the processor's refund id: %+v", res)
			}
			got := f.refunds(t, o.ID)
			if len(got) != tc.refunds || (len(got) == 1 && got[0].MerchantReference != req.IdempotencyKey) {
				t.Fatalf("refunds at the processor: %+v, want %d under %s", got, tc.refunds, req.IdempotencyKey)
			}
			if n := f.calls.get(f.refundPath) - before; n != tc.refundPost {
				t.Fatalf("%d refund requests reached the processor, want %d", n, tc.refundPost)
			}
		})
	}
}

// TestToken: one token serves many refunds; it is renewed before its
// stated expiry, and once after the processor refuses it (401), the
// refund then going through exactly once; a revoked key ends in a
// decline.
func TestToken(t *testing.T) {
	t.Parallel()
	f := start(t)
	c := f.connector(t, f.credential())
	ctx := context.Background()
	n := 0
	refund := func(t *testing.T, status processor.Status) {
		t.Helper()
		n++
		o := f.order(fmt.Sprintf("TOK-%d", n), "4444", 1000)
		res, err := c.Refund(ctx, request(o, key(200+n)))
		if err != nil || res.Status != status {
			t.Fatalf("refund %d: %+v %v, want %s", n, res, err, status)
		}
		if refunds := f.refunds(t, o.ID); status == processor.Approved && len(refunds) != 1 {
			t.Fatalf("refunds at the processor: %+v", refunds)
		}
	}
	want := func(t *testing.T, tokens, posts int) {
		t.Helper()
		if got := f.calls.get(authPath); got != tokens {
			t.Errorf("%d token requests, want %d", got, tokens)
		}
		if got := f.calls.get(f.refundPath); got != posts {
			t.Errorf("%d refund requests, want %d", got, posts)
		}
	}

	t.Run("FetchedOnce", func(t *testing.T) {
		for range 3 {
			refund(t, processor.Approved)
		}
		want(t, 1, 3)
	})
	t.Run("RenewedBeforeItsExpiry", func(t *testing.T) {
		// Both clocks pass the token's 30 minutes: the connector knows.
		f.Clock.Advance(30 * time.Minute)
		refund(t, processor.Approved)
		want(t, 2, 4)
	})
	t.Run("RenewedOnceAfter401", func(t *testing.T) {
		// The processor's clock runs ahead of the connector's: it refuses
		// the token the connector still trusts.
		frozen := f.Clock.Now()
		paylink.SetClock(c, func() time.Time { return frozen })
		f.Clock.Advance(31 * time.Minute)
		refund(t, processor.Approved)
		want(t, 3, 6) // the refused post, the token, the post again
		refund(t, processor.Approved)
		want(t, 3, 7) // the new token serves the next refund
		paylink.SetClock(c, f.Clock.Now)
	})
	t.Run("RevokedKey", func(t *testing.T) {
		p, err := f.Service.Authenticate(ctx, f.partnerKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Service.RevokeKey(ctx, p.KeyID); err != nil {
			t.Fatal(err)
		}
		refund(t, processor.Declined)
		want(t, 4, 8) // refused at authentication, renewal refused: no second post
	})
}

// TestConcurrentRefunds_OneToken: refunds in parallel on a cold cache
// share one token.
func TestConcurrentRefunds_OneToken(t *testing.T) {
	t.Parallel()
	f := start(t)
	c := f.connector(t, f.credential())
	const n = 6
	orders := make([]*refund.Order, n)
	for i := range orders {
		orders[i] = f.order(fmt.Sprintf("PAR-%d", i), "4444", 700)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, o := range orders {
		wg.Go(func() {
			res, err := c.Refund(context.Background(), request(o, key(300+i)))
			if err == nil && res.Status != processor.Approved {
				err = fmt.Errorf("%s: %+v", o.Reference, res)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.calls.get(authPath); got != 1 {
		t.Fatalf("%d token requests, want 1", got)
	}
}

// fake is a Paylink stand-in for answers refundd's own dialect never
// gives. It answers the auth and refund calls from scripts and records
// what it received.
type fake struct {
	mu      sync.Mutex
	auth    []reply
	refund  []reply
	tokens  int
	posts   int
	lastReq *http.Request
	body    string
}

type reply struct {
	status int
	body   string
	header []string // name, value pairs
}

func (fk *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	var script *[]reply
	switch {
	case r.Method == "POST" && r.URL.Path == authPath:
		fk.tokens++
		script = &fk.auth
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/refund"):
		fk.posts++
		fk.lastReq, fk.body = r, string(b)
		script = &fk.refund
	default:
		http.NotFound(w, r)
		return
	}
	rep := reply{status: 200, body: fmt.Sprintf(`{"id_token":"tok-%d"}`, fk.tokens)}
	if len(*script) > 0 {
		rep = (*script)[0]
		if len(*script) > 1 {
			*script = (*script)[1:]
		}
	}
	for i := 0; i+1 < len(rep.header); i += 2 {
		w.Header().Set(rep.header[i], rep.header[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

const seedReply = `{"id":237,"orderNumber":"1722731077436","amount":125.0,"currency":"SAR","refundReason":"Client canceled the order.","createDatetime":1722731201000}`

// TestRefund_Mapping: statuses and bodies refundd's dialect never
// produces, from a stand-in server.
func TestRefund_Mapping(t *testing.T) {
	t.Parallel()
	type want struct {
		status      processor.Status // "" when an error is wanted
		code        string           // the result's code, or the TransientError's
		notExecuted bool
		retryAfter  time.Duration
		reference   string
		tokens      int
		posts       int
	}
	for _, tc := range []struct {
		name     string
		currency string
		amount   int64
		auth     []reply
		refund   []reply
		want     want
	}{
		{"ApprovedSeedExample", "SAR", 12500, nil, []reply{{200, seedReply, nil}},
			want{status: processor.Approved, code: "00", reference: "237", tokens: 1, posts: 1}},
		{"ApprovedKWD", "KWD", 50000, nil, []reply{{200, `{"id":"R-9","orderNumber":"1722731077436","amount":50.000,"currency":"KWD"}`, nil}},
			want{status: processor.Approved, code: "00", reference: "R-9", tokens: 1, posts: 1}},
		{"UnknownAmountMismatch", "SAR", 12500, nil, []reply{{200, strings.Replace(seedReply, "125.0", "100.0", 1), nil}},
			want{code: "amount_mismatch", tokens: 1, posts: 1}},
		{"UnknownCurrencyMismatch", "SAR", 12500, nil, []reply{{200, strings.Replace(seedReply, `"SAR"`, `"KWD"`, 1), nil}},
			want{code: "currency_mismatch", tokens: 1, posts: 1}},
		{"UnknownFloatExponent", "SAR", 12500, nil, []reply{{200, strings.Replace(seedReply, "125.0", "1.25e2", 1), nil}},
			want{code: "unreadable_reply", tokens: 1, posts: 1}},
		{"UnknownGarbage", "SAR", 12500, nil, []reply{{200, `<html>OK</html>`, nil}},
			want{code: "unreadable_reply", tokens: 1, posts: 1}},
		{"UnknownOtherOrder", "SAR", 12500, nil, []reply{{200, strings.Replace(seedReply, "1722731077436", "999", 1), nil}},
			want{code: "unreadable_reply", tokens: 1, posts: 1}},
		{"UnknownAccepted", "SAR", 12500, nil, []reply{{202, `{}`, nil}},
			want{code: "unexpected_202", tokens: 1, posts: 1}},
		{"RateLimited", "SAR", 12500, nil, []reply{{429, `{"message":"slow down"}`, []string{"Retry-After", "7"}}},
			want{code: "rate_limited", notExecuted: true, retryAfter: 7 * time.Second, tokens: 1, posts: 1}},
		{"Unavailable", "SAR", 12500, nil, []reply{{503, `upstream down`, []string{"Retry-After", "2"}}},
			want{code: "upstream_503", retryAfter: 2 * time.Second, tokens: 1, posts: 1}},
		{"InternalError", "SAR", 12500, nil, []reply{{500, `{}`, nil}},
			want{code: "upstream_500", tokens: 1, posts: 1}},
		{"DeclinedBadRequest", "SAR", 12500, nil, []reply{{400, `{"title":"Bad Request","status":400,"detail":"orderNumber is required"}`, nil}},
			want{status: processor.Declined, code: "invalid_request", tokens: 1, posts: 1}},
		// Nothing left may be this refund's own lost first submission: unknown.
		{"UnknownNothingLeft", "SAR", 12500, nil, []reply{{400, `{"status":400,"code":"amount_exceeds_refundable","message":"nothing left"}`, nil}},
			want{code: "amount_exceeds_refundable", tokens: 1, posts: 1}},
		{"UnknownAlreadyRefunded", "SAR", 12500, nil, []reply{{400, `{"status":400,"message":"Order already refunded"}`, nil}},
			want{code: "nothing_left", tokens: 1, posts: 1}},
		{"DeclinedNotFound", "SAR", 12500, nil, []reply{{404, `{"title":"Not Found"}`, nil}},
			want{status: processor.Declined, code: "order_not_found", tokens: 1, posts: 1}},
		{"DeclinedByTheIssuer", "SAR", 12500, nil, []reply{{422, `{"status":422,"code":"refund_declined","id":41,"message":"declined (51)"}`, nil}},
			want{status: processor.Declined, code: "refund_declined", reference: "41", tokens: 1, posts: 1}},
		{"UnknownKeyInUse", "SAR", 12500, nil, []reply{{409, `{"status":409,"code":"idempotency_key_in_use"}`, nil}},
			want{code: "idempotency_key_in_use", tokens: 1, posts: 1}},
		{"UnknownKeyReused", "SAR", 12500, nil, []reply{{422, `{"status":422,"code":"idempotency_key_reused"}`, nil}},
			want{code: "idempotency_key_reused", tokens: 1, posts: 1}},
		{"DeclinedForbidden", "SAR", 12500, nil, []reply{{403, `{}`, nil}},
			want{status: processor.Declined, code: processor.CodeAuthFailed, tokens: 1, posts: 1}},
		{"RenewedOnceAfter401", "SAR", 12500, nil, []reply{{401, `{}`, nil}, {200, seedReply, nil}},
			want{status: processor.Approved, code: "00", reference: "237", tokens: 2, posts: 2}},
		{"DeclinedAfterTwo401", "SAR", 12500, nil, []reply{{401, `{}`, nil}},
			want{status: processor.Declined, code: processor.CodeAuthFailed, tokens: 2, posts: 2}},
		{"AuthRefused", "SAR", 12500, []reply{{401, `{"title":"Unauthorized"}`, nil}}, nil,
			want{status: processor.Declined, code: processor.CodeAuthFailed, tokens: 1}},
		{"AuthBadRequest", "SAR", 12500, []reply{{400, `{"title":"Bad Request"}`, nil}}, nil,
			want{status: processor.Declined, code: processor.CodeAuthFailed, tokens: 1}},
		{"AuthUnavailable", "SAR", 12500, []reply{{503, ``, nil}}, nil,
			want{code: "upstream_503", notExecuted: true, tokens: 1}},
		{"AuthRateLimited", "SAR", 12500, []reply{{429, ``, []string{"Retry-After", "3"}}}, nil,
			want{code: "rate_limited", notExecuted: true, retryAfter: 3 * time.Second, tokens: 1}},
		{"AuthNoToken", "SAR", 12500, []reply{{200, `{"token":"x"}`, nil}}, nil,
			want{code: "auth_unreadable", notExecuted: true, tokens: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fk := &fake{auth: tc.auth, refund: tc.refund}
			srv := httptest.NewServer(fk)
			t.Cleanup(srv.Close)
			c, err := paylink.New(processor.Account{URL: srv.URL + "/", Credential: "APP_ID_1123453311:sec:ret",
				Options: map[string]string{paylink.OptMerchantKey: "email", paylink.OptMerchantValue: "a b@shop.example"}})
			if err != nil {
				t.Fatal(err)
			}
			req := processor.Request{IdempotencyKey: "re_1", Amount: tc.amount, OrderAmount: tc.amount, Currency: tc.currency,
				ProcessorOrderID: "1722731077436"}
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
			fk.mu.Lock()
			defer fk.mu.Unlock()
			if fk.tokens != w.tokens || fk.posts != w.posts {
				t.Fatalf("%d token and %d refund requests, want %d and %d", fk.tokens, fk.posts, w.tokens, w.posts)
			}
			if fk.posts == 0 {
				return
			}
			r := fk.lastReq
			if r.URL.EscapedPath() != "/rest/partner/v2/merchant/email/a%20b@shop.example/refund" ||
				r.Header.Get("Idempotency-Key") != "re_1" || r.Header.Get("Authorization") != fmt.Sprintf("Bearer tok-%d", w.tokens) ||
				fk.body != `{"orderNumber":"1722731077436","refundReason":"Refund re_1"}` {
				t.Fatalf("the processor received %s %v %s", r.URL.EscapedPath(), r.Header, fk.body)
			}
		})
	}
}

// TestRefund_Unreachable: nothing listens, so nothing was sent.
func TestRefund_Unreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := paylink.New(processor.Account{URL: "http://" + addr, Credential: "a:b",
		Options: map[string]string{paylink.OptMerchantKey: "mobile", paylink.OptMerchantValue: "+966500000001"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Refund(context.Background(), processor.Request{IdempotencyKey: "re_1", Amount: 100, OrderAmount: 100,
		Currency: "SAR", ProcessorOrderID: "1"})
	var te *processor.TransientError
	if !errors.As(err, &te) || !te.NotExecuted {
		t.Fatalf("got %#v, want a TransientError proving nothing was sent", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	opts := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ok := opts(paylink.OptMerchantKey, "accountNo", paylink.OptMerchantValue, "SA-ACC-1001")
	for _, tc := range []struct {
		name, url, credential string
		options               map[string]string
		err                   string // "" for none
	}{
		{"OK", "https://restapi.paylink.sa", "APP_ID_1:secret", ok, ""},
		{"OKTrailingSlashHTTP", "http://127.0.0.1:8080/", "APP_ID_1:sec:ret", ok, ""},
		{"ErrScheme", "ftp://restapi.paylink.sa", "a:b", ok, "http or https"},
		{"ErrNoScheme", "restapi.paylink.sa", "a:b", ok, "http or https"},
		{"ErrNoHost", "https://", "a:b", ok, "no host"},
		{"ErrUserInfo", "https://user:pass@restapi.paylink.sa", "a:b", ok, "user info"},
		{"ErrQuery", "https://restapi.paylink.sa?x=1", "a:b", ok, "query"},
		{"ErrNoCredential", "https://restapi.paylink.sa", "", ok, "apiId:secretKey"},
		{"ErrNoSecret", "https://restapi.paylink.sa", "APP_ID_1:", ok, "apiId:secretKey"},
		{"ErrNoColon", "https://restapi.paylink.sa", "justasecret", ok, "apiId:secretKey"},
		{"ErrUnknownOption", "https://restapi.paylink.sa", "a:b",
			opts(paylink.OptMerchantKey, "cr", paylink.OptMerchantValue, "1", "persist_token", "true"), "unknown option"},
		{"ErrMerchantKey", "https://restapi.paylink.sa", "a:b", opts(paylink.OptMerchantKey, "iban", paylink.OptMerchantValue, "1"), "merchant_key"},
		{"ErrNoMerchantValue", "https://restapi.paylink.sa", "a:b", opts(paylink.OptMerchantKey, "cr"), "merchant_value"},
		{"ErrNoOptions", "https://restapi.paylink.sa", "a:b", nil, "merchant_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := paylink.New(processor.Account{URL: tc.url, Credential: tc.credential, Options: tc.options})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("New: %v, want %q", err, tc.err)
			}
		})
	}
}
