package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/gateway"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// node is a real refundd acting as the gateway, and a connector to it
// with the merchant's key.
type node struct {
	*dialecttest.Server
	conn *gateway.Connector
}

func start(t *testing.T, opts ...func(*server.Config)) *node {
	t.Helper()
	s := dialecttest.Start(t, opts...)
	return &node{Server: s, conn: mustConnect(t, s.URL(), s.Key)}
}

func mustConnect(t *testing.T, url, credential string) *gateway.Connector {
	t.Helper()
	c, err := gateway.New(processor.Account{Kind: gateway.Kind, URL: url, Credential: credential})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func card(last4 string) refund.Card {
	return refund.Card{Scheme: "mastercard", FirstDigits: "555555", LastDigits: last4, Month: 12, Year: 2027}
}

// order records an order at the gateway node; the refund request names
// it by the gateway's id, as the forwarding node would.
func (n *node) order(t *testing.T, ref, currency, method, last4 string, amount int64) *refund.Order {
	t.Helper()
	return n.Order(refund.OrderInput{Reference: ref, Currency: currency, Amount: amount, PaymentMethod: method, Source: card(last4)})
}

func request(key string, o *refund.Order, amount int64) processor.Request {
	return processor.Request{IdempotencyKey: key, MerchantID: "mer_fwd", OrderID: "ord_fwd", Amount: amount,
		Currency: o.Currency, PaymentMethod: o.PaymentMethod, CardLast4: o.Source.LastDigits, CaptureRef: "txn_fwd",
		ProcessorOrderID: o.ID, OrderAmount: o.Amount}
}

// seen is one refund as the gateway node's native API lists it.
type seen struct {
	ID, Status, Reference, Amount, Currency string
}

// refundsAt lists the order's refunds through the node's native API.
func (n *node) refundsAt(t *testing.T, orderID string) []seen {
	t.Helper()
	r := n.Do("GET", "/v1/refunds?order_id="+orderID, n.Key, "")
	if r.Status != 200 {
		t.Fatalf("GET /v1/refunds: %d %s", r.Status, r.Raw)
	}
	var out []seen
	for _, d := range r.Get("data").([]any) {
		m := dialecttest.Reply{Body: d}
		out = append(out, seen{m.Str("id"), m.Str("status"), m.Str("merchant_reference"), m.Str("amount"), m.Str("currency")})
	}
	return out
}

// TestRefund runs refunds through the connector against a real refundd
// serving the gateway's API: each appears exactly once at the gateway,
// under the forwarding node's refund id, with the same amount; a second
// submission with the same key makes nothing new and answers the same.
func TestRefund(t *testing.T) {
	t.Parallel()
	n := start(t)
	tests := []struct {
		name, currency, method, last4 string
		orderAmount, amount           int64
		status                        processor.Status
		code                          string
		atServer                      refund.Status
	}{
		{"Approved", "SAR", "card", "4444", 262346, 1000, processor.Approved, "00", refund.StatusSucceeded},
		{"KWDThreeDecimals", "KWD", "knet", "", 50_000, 1235, processor.Approved, "00", refund.StatusSucceeded},
		{"Whole", "BHD", "card", "4444", 7_005, 7_005, processor.Approved, "00", refund.StatusSucceeded},
		{"Declined51", "SAR", "card", "0051", 15_000, 5000, processor.Declined, "51", refund.StatusFailed},
		{"WalletPending", "SAR", "stcpay", "", 9_900, 1000, processor.Pending, "", refund.StatusProcessing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := n.order(t, "ORD-"+tt.name, tt.currency, tt.method, tt.last4, tt.orderAmount)
			key := "re_fwd_" + tt.name
			req := request(key, o, tt.amount)
			res, err := n.conn.Refund(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.status || res.ResponseCode != tt.code {
				t.Fatalf("want %s %q, got %+v", tt.status, tt.code, res)
			}
			if tt.status == processor.Approved && (res.Reference == "" || res.RRN == "" || res.STAN == "" || res.ExecutedAt.IsZero()) {
				t.Fatalf("an approval carries the gateway's transaction id, RRN, STAN and time: %+v", res)
			}
			want := []seen{{ID: "", Status: string(tt.atServer), Reference: key, Amount: itoa(tt.amount), Currency: tt.currency}}
			got := n.refundsAt(t, o.ID)
			if len(got) == 1 {
				want[0].ID = got[0].ID
			}
			if len(got) != 1 || got[0] != want[0] {
				t.Fatalf("at the gateway: want %+v, got %+v", want, got)
			}

			again, err := n.conn.Refund(t.Context(), req)
			if err != nil || again != res {
				t.Fatalf("a second submission answers the first result:\n got %+v (%v)\nwant %+v", again, err, res)
			}
			if got := n.refundsAt(t, o.ID); len(got) != 1 {
				t.Fatalf("a second submission made another refund: %+v", got)
			}
			if _, err := n.conn.Status(t.Context(), key); !errors.Is(err, processor.ErrNoStatus) {
				t.Fatalf("the gateway's API has no lookup: want ErrNoStatus, got %v", err)
			}
		})
	}
}

// TestRefund_AfterKeyExpired: once the gateway forgot the key's stored
// answer, the key still finds the same refund (it is the refund's
// reference there) and nothing is refunded twice.
func TestRefund_AfterKeyExpired(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-EXP", "SAR", "card", "4444", 10_000)
	req := request("re_fwd_expired", o, 2500)
	first, err := n.conn.Refund(t.Context(), req)
	if err != nil || first.Status != processor.Approved {
		t.Fatalf("first: %+v %v", first, err)
	}
	n.Clock.Advance(25 * time.Hour)
	if k, err := n.Service.Housekeep(t.Context()); err != nil || k == 0 {
		t.Fatalf("housekeeping removed %d keys: %v", k, err)
	}
	again, err := n.conn.Refund(t.Context(), req)
	if err != nil || again != first {
		t.Fatalf("after the key expired:\n got %+v (%v)\nwant %+v", again, err, first)
	}
	if got := n.refundsAt(t, o.ID); len(got) != 1 || got[0].Amount != "2500" {
		t.Fatalf("want one refund of 2500, got %+v", got)
	}
	// The same key with other money is not this refund: unknown, for a
	// person to look at, never a decline that would release the money.
	req.Amount = 2600
	_, err = n.conn.Refund(t.Context(), req)
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "idempotency_key_reused" || te.NotExecuted {
		t.Fatalf("want a transient idempotency_key_reused, got %v", err)
	}
}

// TestRefund_Refused: answers that prove nothing was executed are
// declines with a clear code, and leave the gateway's order unchanged.
func TestRefund_Refused(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-REF", "SAR", "card", "4444", 10_000)
	wrong := mustConnect(t, n.URL(), "rk_000000000000_00000000000000000000000000000000")
	readOnly := mustConnect(t, n.URL(), n.NewKey(refund.ScopeRefundsRead, refund.ScopeOrdersRead))
	tests := []struct {
		name string
		conn *gateway.Connector
		edit func(*processor.Request)
		code string
	}{
		{"WrongCredential", wrong, nil, processor.CodeAuthFailed},
		{"CredentialWithoutScope", readOnly, nil, processor.CodeAuthFailed},
		{"NoSuchOrder", n.conn, func(r *processor.Request) { r.ProcessorOrderID = "ord_missing" }, "order_not_found"},
		{"OverRefundable", n.conn, func(r *processor.Request) { r.Amount = 10_001 }, "amount_exceeds_refundable"},
		{"NoProcessorOrder", n.conn, func(r *processor.Request) { r.ProcessorOrderID = "" }, "invalid_request"},
		{"Vendors", n.conn, func(r *processor.Request) { r.Vendors = []processor.VendorPart{{VendorID: "v1", Amount: 100}} }, "unsupported_request"},
		{"Lines", n.conn, func(r *processor.Request) { r.Lines = []processor.LinePart{{ItemID: "l1", Qty: 1, Amount: 100}} }, "unsupported_request"},
	}
	before := n.Snap(o.ID)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("re_fwd_"+tt.name, o, 100)
			if tt.edit != nil {
				tt.edit(&req)
			}
			res, err := tt.conn.Refund(t.Context(), req)
			if err != nil || res.Status != processor.Declined || res.ResponseCode != tt.code || res.Message == "" {
				t.Fatalf("want declined %s, got %+v %v", tt.code, res, err)
			}
			if got := n.Snap(o.ID); got != before {
				t.Fatalf("a refused request changed the order: %+v, was %+v", got, before)
			}
		})
	}
}

// TestRefund_StillProcessing: the seed's 400 (another refund of the order
// is still running) says nothing final.
func TestRefund_StillProcessing(t *testing.T) {
	t.Parallel()
	n := start(t, func(c *server.Config) { c.InFlightWait = 20 * time.Millisecond })
	o := n.order(t, "ORD-STC", "SAR", "stcpay", "", 9_900)
	if res, err := n.conn.Refund(t.Context(), request("re_fwd_a", o, 1000)); err != nil || res.Status != processor.Pending {
		t.Fatalf("first: %+v %v", res, err)
	}
	_, err := n.conn.Refund(t.Context(), request("re_fwd_b", o, 500))
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "in_progress" || te.NotExecuted {
		t.Fatalf("want a transient in_progress, got %v", err)
	}
	if got := n.refundsAt(t, o.ID); len(got) != 1 {
		t.Fatalf("the refused request made a refund: %+v", got)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		acct processor.Account
		ok   bool
	}{
		{"OK", processor.Account{URL: "https://gw.example/api", Credential: "k"}, true},
		{"HTTP", processor.Account{URL: "http://127.0.0.1:8080", Credential: "k"}, true},
		{"NoCredential", processor.Account{URL: "https://gw.example", Credential: " "}, false},
		{"FTP", processor.Account{URL: "ftp://gw.example", Credential: "k"}, false},
		{"NoHost", processor.Account{URL: "https:///x", Credential: "k"}, false},
		{"UserInfo", processor.Account{URL: "https://u:p@gw.example", Credential: "k"}, false},
		{"Query", processor.Account{URL: "https://gw.example/?a=1", Credential: "k"}, false},
		{"NotURL", processor.Account{URL: "::", Credential: "k"}, false},
		{"UnknownOption", processor.Account{URL: "https://gw.example", Credential: "k", Options: map[string]string{"mode": "x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.New(tt.acct)
			if (err == nil) != tt.ok {
				t.Fatalf("want ok %v, got %v", tt.ok, err)
			}
			if err != nil && tt.acct.Credential != " " && strings.Contains(err.Error(), tt.acct.Credential+"\"") {
				t.Fatalf("the error quotes the credential: %v", err)
			}
		})
	}
}

// TestRefund_HTTPMapping covers answers refundd's gateway surface never
// gives, from a stand-in server.
func TestRefund_HTTPMapping(t *testing.T) {
	t.Parallel()
	const approved = `{"id":"o/1","currency":"SAR","updated_at":"2026-03-01T09:00:00Z","transactions":[
		{"id":"t0","type":"capture","status":"approved","amount":5000,"created_at":"2026-03-01T08:00:00Z"},
		{"id":"t1","type":"refund","status":"approved","response_code":"00","message":"APPROVED","retrieval_reference":"242590000001","stan":"000001","auth_code":null,"amount":1000,"created_at":"2026-03-01T09:00:00Z"}]}`
	tests := []struct {
		name      string
		status    int
		header    string // Retry-After
		body      string
		want      processor.Status
		code      string
		transient string // TransientError code, when one is expected
		notExec   bool
		retry     time.Duration
	}{
		{"Approved", 200, "", approved, processor.Approved, "00", "", false, 0},
		{"OtherAmount", 200, "", strings.Replace(approved, `"amount":1000`, `"amount":999`, 1), processor.Pending, "", "", false, 0},
		{"OlderThanOrder", 200, "", strings.Replace(approved, `"updated_at":"2026-03-01T09:00:00Z"`, `"updated_at":"2026-03-01T09:00:01Z"`, 1), processor.Pending, "", "", false, 0},
		{"NoRefundYet", 200, "", `{"id":"o/1","currency":"SAR","updated_at":"2026-03-01T09:00:00Z","transactions":[]}`, processor.Pending, "", "", false, 0},
		{"UnknownTxStatus", 200, "", strings.Replace(approved, `"status":"approved","response_code"`, `"status":"weird","response_code"`, 1), "", "", "unreadable_reply", false, 0},
		{"OtherCurrency", 200, "", strings.Replace(approved, `"SAR"`, `"KWD"`, 1), "", "", "currency_mismatch", false, 0},
		{"Garbage200", 200, "", `<html>ok</html>`, "", "", "unreadable_reply", false, 0},
		{"RateLimited", 429, "7", `{"message":"Too Many Attempts."}`, "", "", "rate_limited", true, 7 * time.Second},
		{"Unavailable", 503, "", ``, "", "", "upstream_503", false, 0},
		{"ServerError", 500, "", `{"message":"Server Error"}`, "", "", "upstream_500", false, 0},
		{"Unauthorized", 401, "", `{"message":"Missing authentication information"}`, processor.Declined, processor.CodeAuthFailed, "", false, 0},
		{"Forbidden", 403, "", `{"message":"Unauthorized"}`, processor.Declined, processor.CodeAuthFailed, "", false, 0},
		{"StillProcessing", 400, "", `{"message":"Initial request is still processing."}`, "", "", "in_progress", false, 0},
		{"AmountInvalid", 422, "", `{"message":"Data validation failed","errors":{"amount":["The value must be greater than or equal to 1."]}}`, processor.Declined, "invalid_amount", "", false, 0},
		{"AmountOver", 422, "", `{"message":"Data validation failed","errors":{"amount":["The value must be less than or equal to 5."]}}`, processor.Declined, "amount_exceeds_refundable", "", false, 0},
		{"KeyReused", 422, "", `{"message":"Data validation failed","errors":{"Idempotency-Key":["used"]}}`, "", "", "idempotency_key_reused", false, 0},
		{"Garbage422", 422, "", `nope`, "", "", "unreadable_reply", false, 0},
		{"Conflict", 409, "", ``, "", "", "http_409", false, 0},
		{"Redirect", 302, "", ``, "", "", "unexpected_reply", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			conn := mustConnect(t, srv.URL, "sk_test")
			req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o/1"}
			res, err := conn.Refund(t.Context(), req)
			if got == nil || got.URL.EscapedPath() != "/v1/orders/o%2F1/refund" || got.Header.Get("Idempotency-Key") != "re_1" ||
				got.Header.Get("Authorization") != "Bearer sk_test" {
				t.Fatalf("request: %+v", got)
			}
			if tt.transient != "" {
				var te *processor.TransientError
				if !errors.As(err, &te) || te.Code != tt.transient || te.NotExecuted != tt.notExec || te.RetryAfter != tt.retry {
					t.Fatalf("want transient %s (not executed %v, retry %v), got %+v %v", tt.transient, tt.notExec, tt.retry, res, err)
				}
				return
			}
			if err != nil || res.Status != tt.want || res.ResponseCode != tt.code {
				t.Fatalf("want %s %q, got %+v %v", tt.want, tt.code, res, err)
			}
		})
	}
}

// TestRefund_Transport: a connection refused proves nothing was sent; a
// connection dropped after the request proves nothing either way.
func TestRefund_Transport(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	defer hangup.Close()
	req := processor.Request{IdempotencyKey: "re_1", Amount: 1000, Currency: "SAR", ProcessorOrderID: "o1"}
	for _, tt := range []struct {
		name    string
		url     string
		notExec bool
	}{{"Refused", closedURL, true}, {"HungUp", hangup.URL, false}} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustConnect(t, tt.url, "k").Refund(context.Background(), req)
			var te *processor.TransientError
			if !errors.As(err, &te) || te.NotExecuted != tt.notExec {
				t.Fatalf("want transient, not executed %v; got %v", tt.notExec, err)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
