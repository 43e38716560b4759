package stripe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/stripemock"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/stripe"
	"github.com/refundd/refundd/processor/upstream"
)

func connector(t *testing.T, base, key string) *stripe.Connector {
	t.Helper()
	c, err := stripe.New(processor.Account{Kind: stripe.Kind, URL: base, Credential: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func request(key string, amount int64, currency string) processor.Request {
	return processor.Request{IdempotencyKey: key, Amount: amount, Currency: currency, ProcessorOrderID: "pi_3PqR2sAbCdEf",
		Reason: "requested_by_customer"}
}

// Against stripe-mock: a refund is created (approved, its re_ id kept),
// retrieved by that id, retried with the same key, and a request Stripe
// refuses is a decline with Stripe's code.
func TestStripeMock(t *testing.T) {
	base := stripemock.Start(t)
	c := connector(t, base, "sk_test_123")
	ctx := context.Background()

	res, err := c.Refund(ctx, request("re_0195c2b1-aaaa", 100, "usd"))
	if err != nil || res.Status != processor.Approved || !strings.HasPrefix(res.Reference, "re_") {
		t.Fatalf("refund: %+v %v, want approved with Stripe's re_ id", res, err)
	}
	// Retried with the same Idempotency-Key (stripe-mock keeps no state,
	// so only the answer's kind can be compared; Stripe replays the first).
	again, err := c.Refund(ctx, request("re_0195c2b1-aaaa", 100, "usd"))
	if err != nil || again.Status != processor.Approved || !strings.HasPrefix(again.Reference, "re_") {
		t.Fatalf("retry: %+v %v, want approved", again, err)
	}
	// By its reference.
	st := request("re_0195c2b1-aaaa", 100, "usd")
	st.Reference = res.Reference
	got, err := c.StatusOf(ctx, st)
	if err != nil || got.Status != processor.Approved || got.Reference != res.Reference {
		t.Fatalf("status by reference: %+v %v", got, err)
	}
	// By listing the payment's refunds: stripe-mock's fixture refund is
	// not ours (no metadata), so not found after the whole list.
	if _, err := c.StatusOf(ctx, request("re_never-sent", 100, "usd")); !errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("status of a key never sent: %v, want ErrNotFound", err)
	}
	// A charge works as the payment too.
	ch := request("re_0195c2b1-bbbb", 100, "usd")
	ch.ProcessorOrderID = "ch_3PqR2sAbCdEf"
	if res, err := c.Refund(ctx, ch); err != nil || res.Status != processor.Approved {
		t.Fatalf("refund of a charge: %+v %v", res, err)
	}
	// Stripe refuses the account's key: a final decline (auth_failed), so
	// the refund fails and its amount returns to the order instead of
	// being retried for ever.
	res, err = connector(t, base, "sk_live_not_a_test_key").Refund(ctx, request("re_0195c2b1-cccc", 100, "usd"))
	if err != nil || res.Status != processor.Declined || res.ResponseCode != processor.CodeAuthFailed {
		t.Fatalf("refused key: %+v %v, want declined %s", res, err, processor.CodeAuthFailed)
	}
}

// The answers stripe-mock cannot be made to give, from a stand-in that
// answers in Stripe's error shape.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		header      map[string]string
		want        processor.Status // "" for a TransientError
		code        string
		notExecuted bool
		retryAfter  time.Duration
	}{
		{"card declined", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`, nil, processor.Declined, "insufficient_funds", false, 0},
		{"already refunded", 400, `{"error":{"type":"invalid_request_error","code":"charge_already_refunded","message":"Charge has already been refunded."}}`, nil, processor.Declined, processor.CodeNothingLeft, false, 0},
		{"more than is left", 400, `{"error":{"type":"invalid_request_error","code":"amount_too_large","message":"Refund amount ($25.00) is greater than unrefunded amount on charge ($21.45)"}}`, nil, processor.Declined, processor.CodeNothingLeft, false, 0},
		{"bad key", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`, nil, processor.Declined, processor.CodeAuthFailed, false, 0},
		{"no permission", 403, `{"error":{"type":"invalid_request_error","message":"restricted key"}}`, nil, processor.Declined, processor.CodeAuthFailed, false, 0},
		{"rate limited", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`, map[string]string{"Retry-After": "7"}, "", "rate_limited", true, 7 * time.Second},
		{"idempotency", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`, nil, "", "idempotency", false, 0},
		{"conflict", 409, `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"lock"}}`, nil, "", "idempotency", false, 0},
		{"server error", 500, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`, nil, "", "upstream_500", false, 0},
		{"unavailable", 503, `not json`, nil, "", "", false, 0},
		{"refund failed", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"failed","failure_reason":"expired_or_canceled_card","metadata":{"refundd_refund_id":"re_key"}}`, nil, processor.Declined, "expired_or_canceled_card", false, 0},
		{"failed after leaving the balance", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"failed","failure_reason":"lost_or_stolen_card","failure_balance_transaction":"txn_back","metadata":{"refundd_refund_id":"re_key"}}`, nil, processor.Reversed, "lost_or_stolen_card", false, 0},
		{"canceled", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"canceled","metadata":{"refundd_refund_id":"re_key"}}`, nil, processor.Declined, "canceled", false, 0},
		{"refund pending", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"pending","metadata":{"refundd_refund_id":"re_key"}}`, nil, processor.Pending, "pending", false, 0},
		{"another refund", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"succeeded","metadata":{"refundd_refund_id":"re_other"}}`, nil, "", "not_ours", false, 0},
		{"other currency", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"sar","status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}`, nil, "", "currency_mismatch", false, 0},
		{"other currency, pending", 200, `{"id":"re_1","object":"refund","amount":100,"currency":"eur","status":"pending","metadata":{"refundd_refund_id":"re_key"}}`, nil, "", "currency_mismatch", false, 0},
		{"no currency", 200, `{"id":"re_1","object":"refund","amount":100,"status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}`, nil, "", "currency_mismatch", false, 0},
		{"other amount", 200, `{"id":"re_1","object":"refund","amount":90,"currency":"usd","status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}`, nil, "", "amount_mismatch", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			posts := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				posts++
				mu.Unlock()
				if r.Header.Get("Idempotency-Key") != "re_key" {
					t.Errorf("Idempotency-Key %q, want re_key", r.Header.Get("Idempotency-Key"))
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			res, err := connector(t, srv.URL, "sk_test_1").Refund(context.Background(), request("re_key", 100, "usd"))
			var te *processor.TransientError
			switch {
			case tc.want != "":
				if err != nil || res.Status != tc.want || res.ResponseCode != tc.code {
					t.Fatalf("got %+v %v, want %s %s", res, err, tc.want, tc.code)
				}
			case !errors.As(err, &te):
				t.Fatalf("got %+v %v, want an unknown outcome", res, err)
			case (tc.code != "" && te.Code != tc.code) || te.NotExecuted != tc.notExecuted || te.RetryAfter != tc.retryAfter:
				t.Fatalf("got %+v, want code %s not executed %v retry after %v", te, tc.code, tc.notExecuted, tc.retryAfter)
			}
			if posts != 1 {
				t.Fatalf("%d requests, want 1: the library must not retry on its own", posts)
			}
		})
	}
}

// Refused before anything is sent.
func TestRefusedBeforeSending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("sent %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	c := connector(t, srv.URL, "sk_test_1")
	tests := []struct {
		name string
		req  processor.Request
		code string
	}{
		{"KWD not in steps of 10 fils", request("re_1", 1235, "KWD"), "amount_not_representable"},
		{"no payment", func() processor.Request { r := request("re_1", 100, "usd"); r.ProcessorOrderID = "ORD-1"; return r }(), "invalid_processor_order"},
		{"vendors", func() processor.Request {
			r := request("re_1", 100, "usd")
			r.Vendors = []processor.VendorPart{{VendorID: "v", Amount: 100}}
			return r
		}(), "vendors_unsupported"},
		{"zero", request("re_1", 0, "usd"), "invalid_amount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Refund(context.Background(), tc.req)
			if err != nil || res.Status != processor.Declined || res.ResponseCode != tc.code {
				t.Fatalf("got %+v %v, want declined %s", res, err, tc.code)
			}
		})
	}
	// 1.230 KWD is exact in Stripe's terms.
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("amount") != "1230" {
			t.Errorf("amount %q, want 1230", r.Form.Get("amount"))
		}
		fmt.Fprintf(w, `{"id":"re_9","object":"refund","amount":1230,"currency":"kwd","status":"succeeded","metadata":{"refundd_refund_id":"re_kwd"}}`)
	}))
	defer ok.Close()
	res, err := connector(t, ok.URL, "sk_test_1").Refund(context.Background(), request("re_kwd", 1230, "KWD"))
	if err != nil || res.Status != processor.Approved {
		t.Fatalf("1.230 KWD: %+v %v", res, err)
	}
}

// StatusOf finds our refund among the payment's refunds on a later page,
// by its metadata.
func TestStatusOf_ListsEveryPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("payment_intent") != "pi_3PqR2sAbCdEf" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		if r.URL.Query().Get("starting_after") == "" {
			fmt.Fprint(w, `{"object":"list","url":"/v1/refunds","has_more":true,"data":[{"id":"re_a","object":"refund","amount":5,"currency":"usd","status":"succeeded","metadata":{"refundd_refund_id":"re_other"}}]}`)
			return
		}
		fmt.Fprint(w, `{"object":"list","url":"/v1/refunds","has_more":false,"data":[{"id":"re_b","object":"refund","amount":100,"currency":"usd","status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}]}`)
	}))
	defer srv.Close()
	res, err := connector(t, srv.URL, "sk_test_1").StatusOf(context.Background(), request("re_key", 100, "usd"))
	if err != nil || res.Status != processor.Approved || res.Reference != "re_b" {
		t.Fatalf("got %+v %v, want approved re_b", res, err)
	}
}

func TestNew(t *testing.T) {
	for _, a := range []processor.Account{
		{URL: "ftp://x", Credential: "sk"},
		{URL: "https://u:p@api.stripe.com", Credential: "sk"},
		{URL: "https://api.stripe.com", Credential: " "},
		{URL: "https://api.stripe.com", Credential: "sk", Options: map[string]string{"x": "y"}},
	} {
		if _, err := stripe.New(a); err == nil {
			t.Errorf("New(%+v) accepted", a)
		}
	}
	if _, err := stripe.New(processor.Account{Credential: "sk_live_x"}); err != nil {
		t.Errorf("default URL refused: %v", err)
	}
}

// Amounts go to Stripe in Stripe's unit for the currency, which for ISK
// and MGA is not ISO 4217's minor unit that refundd counts in, and an
// answer's amount is read back in that unit: 10.00 MGA sent as 1000 would
// refund a hundred times the money, 500 ISK sent as 500 a hundredth.
func TestAmounts_InStripesUnit(t *testing.T) {
	tests := []struct {
		name     string
		amount   int64 // refundd's minor units
		currency string
		sent     string // Stripe's amount; "" when nothing may be sent
	}{
		{"SAR two decimals", 1050, "SAR", "1050"},
		{"JPY zero decimals", 500, "JPY", "500"},
		{"KWD three decimals", 1230, "KWD", "1230"},
		{"KWD not in steps of 10 fils", 1235, "KWD", ""},
		{"ISK in hundredths at Stripe", 500, "ISK", "50000"},
		{"MGA in whole ariary at Stripe", 1000, "MGA", "10"},
		{"MGA with iraimbilanja", 1050, "MGA", ""},
		{"no ISO currency", 100, "XYZ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent := ""
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				sent = r.Form.Get("amount")
				fmt.Fprintf(w, `{"id":"re_9","object":"refund","amount":%s,"currency":%q,"status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}`,
					sent, strings.ToLower(tc.currency))
			}))
			defer srv.Close()
			res, err := connector(t, srv.URL, "sk_test_1").Refund(context.Background(), request("re_key", tc.amount, tc.currency))
			if sent != tc.sent {
				t.Fatalf("sent amount %q, want %q", sent, tc.sent)
			}
			want := processor.Approved
			if tc.sent == "" {
				want = processor.Declined
			}
			if err != nil || res.Status != want {
				t.Fatalf("got %+v %v, want %s", res, err, want)
			}
		})
	}
	// An answer in ISO's unit for a currency Stripe counts otherwise is
	// another amount than the one refunded: unknown, never approved.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":"re_9","object":"refund","amount":500,"currency":"isk","status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}`)
	}))
	defer srv.Close()
	st := request("re_key", 500, "ISK")
	st.Reference = "re_9"
	var te *processor.TransientError
	if res, err := connector(t, srv.URL, "sk_test_1").StatusOf(context.Background(), st); !errors.As(err, &te) || te.Code != "amount_mismatch" {
		t.Fatalf("500 ISK answered as 5.00 ISK: %+v %v, want amount_mismatch", res, err)
	}
}

// A redirect is not Stripe's answer to the refund: followed, a 301, 302
// or 303 turned the POST into a GET whose 404 read as a decline (the
// money released though the POST may have executed), and a 307 or 308
// posted the refund again on the connector's own. It is an unknown
// outcome, answered after one request.
func TestRedirect_NotFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var mu sync.Mutex
			var calls []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls = append(calls, r.Method+" "+r.URL.Path)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == "/v1/refunds":
					w.Header().Set("Location", "/v1/elsewhere")
					w.WriteHeader(status)
				case r.Method == http.MethodGet:
					w.WriteHeader(http.StatusNotFound)
					fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such page"}}`)
				default:
					fmt.Fprint(w, `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"succeeded","metadata":{"refundd_refund_id":"re_key"}}`)
				}
			}))
			defer srv.Close()
			res, err := connector(t, srv.URL, "sk_test_1").Refund(context.Background(), request("re_key", 100, "usd"))
			var te *processor.TransientError
			if !errors.As(err, &te) || te.NotExecuted {
				t.Fatalf("got %+v %v, want an unknown outcome", res, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 1 {
				t.Fatalf("requests %v, want only the POST", calls)
			}
		})
	}
}

// A reply is read only up to upstream.MaxBody, as every other connector
// reads one: stripe-go reads a body whole, so an endpoint answering
// without end (a misconfigured URL, a broken proxy) would hold the node's
// memory. A reply past the bound is no answer: the outcome is unknown,
// and a lookup's "not found" is not read from it either.
func TestReply_BoundedLikeEveryConnector(t *testing.T) {
	pad := strings.Repeat("x", upstream.MaxBody)
	tests := []struct {
		name string
		body string
		call func(c *stripe.Connector) (processor.Result, error)
	}{
		{"submit", `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"succeeded",` +
			`"metadata":{"refundd_refund_id":"re_key"},"description":"` + pad + `"}`,
			func(c *stripe.Connector) (processor.Result, error) {
				return c.Refund(context.Background(), request("re_key", 100, "usd"))
			}},
		{"lookup by reference", `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"succeeded",` +
			`"metadata":{"refundd_refund_id":"re_key"},"description":"` + pad + `"}`,
			func(c *stripe.Connector) (processor.Result, error) {
				req := request("re_key", 100, "usd")
				req.Reference = "re_1"
				return c.StatusOf(context.Background(), req)
			}},
		{"list", `{"object":"list","url":"/v1/refunds","has_more":false,"data":[],"pad":"` + pad + `"}`,
			func(c *stripe.Connector) (processor.Result, error) {
				return c.StatusOf(context.Background(), request("re_key", 100, "usd"))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			res, err := tc.call(connector(t, srv.URL, "sk_test_1"))
			var te *processor.TransientError
			if !errors.As(err, &te) || te.Code != "unreadable" || te.NotExecuted {
				t.Fatalf("got %+v %v, want an unknown outcome (unreadable)", res, err)
			}
		})
	}
}

// Only a list Stripe answered, read to its end, proves the refund is not
// among the payment's: "not found" lets the core submit it again, which
// Stripe deduplicates only for 24 hours. Any other 200 body is unknown.
func TestStatusOf_OnlyAListProvesNotFound(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		notFound bool
	}{
		{"an empty list", `{"object":"list","url":"/v1/refunds","has_more":false,"data":[]}`, true},
		{"only others' refunds", `{"object":"list","url":"/v1/refunds","has_more":false,"data":[{"id":"re_a","object":"refund","amount":5,"currency":"usd","status":"succeeded","metadata":{"refundd_refund_id":"re_other"}}]}`, true},
		{"an empty object", `{}`, false},
		{"null", `null`, false},
		{"another object", `{"id":"re_1","object":"refund","amount":100,"currency":"usd","status":"succeeded"}`, false},
		{"a list without data", `{"object":"list","url":"/v1/refunds","has_more":false}`, false},
		{"more, but no page to follow", `{"object":"list","url":"/v1/refunds","has_more":true,"data":[]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/refunds" || r.URL.Query().Get("payment_intent") != "pi_3PqR2sAbCdEf" {
					t.Errorf("%s %s", r.Method, r.URL)
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			res, err := connector(t, srv.URL, "sk_test_1").StatusOf(context.Background(), request("re_key", 100, "usd"))
			var te *processor.TransientError
			switch {
			case tc.notFound && !errors.Is(err, processor.ErrNotFound):
				t.Fatalf("got %+v %v, want ErrNotFound", res, err)
			case !tc.notFound && !errors.As(err, &te):
				t.Fatalf("got %+v %v, want an unknown outcome", res, err)
			}
		})
	}
}
