package sgate_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/sgate"
	"github.com/refundd/refundd/refund"
)

// node is a real refundd acting as SGate, and a connector to it with the
// merchant's key.
type node struct {
	*dialecttest.Server
	conn *sgate.Connector
}

func start(t *testing.T) *node {
	t.Helper()
	s := dialecttest.Start(t)
	return &node{Server: s, conn: mustConnect(t, s.URL(), s.Key)}
}

func mustConnect(t *testing.T, url, credential string) *sgate.Connector {
	t.Helper()
	c, err := sgate.New(processor.Account{Kind: sgate.Kind, URL: url, Credential: credential})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (n *node) order(t *testing.T, ref, currency, method, last4 string, amount int64) *refund.Order {
	t.Helper()
	return n.Order(refund.OrderInput{Reference: ref, Currency: currency, Amount: amount, PaymentMethod: method,
		Source: refund.Card{Scheme: "mastercard", FirstDigits: "555555", LastDigits: last4, Month: 12, Year: 2027}})
}

func request(key string, o *refund.Order, amount int64) processor.Request {
	return processor.Request{IdempotencyKey: key, MerchantID: "mer_fwd", OrderID: "ord_fwd", Amount: amount,
		Currency: o.Currency, PaymentMethod: o.PaymentMethod, CardLast4: o.Source.LastDigits, Reason: "damaged",
		ProcessorOrderID: o.ID, OrderAmount: o.Amount}
}

// seen is one refund as the node's native API lists it.
type seen struct {
	Status, Reference, Amount, Currency, Surface string
}

func (n *node) refundsAt(t *testing.T, orderID string) []seen {
	t.Helper()
	r := n.Do("GET", "/v1/refunds?order_id="+orderID, n.Key, "")
	if r.Status != 200 {
		t.Fatalf("GET /v1/refunds: %d %s", r.Status, r.Raw)
	}
	var out []seen
	for _, d := range r.Get("data").([]any) {
		m := dialecttest.Reply{Body: d}
		out = append(out, seen{m.Str("status"), m.Str("merchant_reference"), m.Str("amount"), m.Str("currency"), m.Str("surface")})
	}
	return out
}

// TestRefund runs refunds through the connector against a real refundd
// serving SGate's API: each appears exactly once, under the forwarding
// node's refund id, with the same amount; a second submission makes
// nothing new and answers the same; StatusOf finds it by SGate's id and by
// the refund id.
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
		{"Approved", "SAR", "card", "4444", 10_000, 1035, processor.Approved, "success", refund.StatusSucceeded},
		{"KWDTwoPlaces", "KWD", "knet", "", 50_000, 1230, processor.Approved, "success", refund.StatusSucceeded},
		{"KWDWhole", "KWD", "knet", "", 50_000, 50_000, processor.Approved, "success", refund.StatusSucceeded},
		{"JPY", "JPY", "card", "4444", 5_000, 127, processor.Approved, "success", refund.StatusSucceeded},
		{"Declined51", "SAR", "card", "0051", 15_000, 5000, processor.Declined, "fail", refund.StatusFailed},
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
			if res.Status != tt.status || res.ResponseCode != tt.code || res.Reference != o.ID+"_R1" {
				t.Fatalf("want %s %q with SGate's id %s_R1, got %+v", tt.status, tt.code, o.ID, res)
			}
			want := seen{string(tt.atServer), key, strconv.FormatInt(tt.amount, 10), tt.currency, "sgate"}
			if got := n.refundsAt(t, o.ID); len(got) != 1 || got[0] != want {
				t.Fatalf("at SGate: want [%+v], got %+v", want, got)
			}
			again, err := n.conn.Refund(t.Context(), req)
			if err != nil || again != res {
				t.Fatalf("a second submission answers the first result:\n got %+v (%v)\nwant %+v", again, err, res)
			}
			if got := n.refundsAt(t, o.ID); len(got) != 1 {
				t.Fatalf("a second submission made another refund: %+v", got)
			}
			byKey, byRef := req, req
			byRef.Reference = res.Reference
			for name, q := range map[string]processor.Request{"ByRefundID": byKey, "BySGateID": byRef} {
				if got, err := n.conn.StatusOf(t.Context(), q); err != nil || got != res {
					t.Fatalf("StatusOf %s:\n got %+v (%v)\nwant %+v", name, got, err, res)
				}
			}
			if _, err := n.conn.Status(t.Context(), key); !errors.Is(err, processor.ErrNoStatus) {
				t.Fatalf("Status without the order: want ErrNoStatus, got %v", err)
			}
		})
	}
}

// TestStatusOf_Pending: a wallet refund answers pending; once the wallet
// settles at SGate, StatusOf reports it approved.
func TestStatusOf_Pending(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-STC", "SAR", "stcpay", "", 9_900)
	req := request("re_fwd_stc", o, 9_900)
	res, err := n.conn.Refund(t.Context(), req)
	if err != nil || res.Status != processor.Pending {
		t.Fatalf("want pending, got %+v %v", res, err)
	}
	n.RunWorker(time.Minute)
	req.Reference = res.Reference
	got, err := n.conn.StatusOf(t.Context(), req)
	if err != nil || got.Status != processor.Approved || got.Reference != res.Reference || got.ExecutedAt.IsZero() {
		t.Fatalf("after settling: %+v %v", got, err)
	}
}

// TestStatusOf_NotFound: the order's list without the refund id proves
// the refund was not executed; an order SGate does not have, too.
func TestStatusOf_NotFound(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-NF", "SAR", "card", "4444", 10_000)
	if _, err := n.conn.Refund(t.Context(), request("re_fwd_other", o, 100)); err != nil {
		t.Fatal(err)
	}
	missingOrder := request("re_fwd_nf", o, 100)
	missingOrder.ProcessorOrderID = "ord_missing"
	staleRef := request("re_fwd_nf", o, 100)
	staleRef.Reference = o.ID + "_R9"
	for name, req := range map[string]processor.Request{"NotInList": request("re_fwd_nf", o, 100),
		"NoSuchOrder": missingOrder, "UnknownSGateID": staleRef} {
		if _, err := n.conn.StatusOf(t.Context(), req); !errors.Is(err, processor.ErrNotFound) {
			t.Fatalf("%s: want ErrNotFound, got %v", name, err)
		}
	}
	wrong := mustConnect(t, n.URL(), "rk_000000000000_00000000000000000000000000000000")
	_, err := wrong.StatusOf(t.Context(), request("re_fwd_other", o, 100))
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != processor.CodeAuthFailed {
		t.Fatalf("a lookup refused for its credentials proves nothing: want a transient auth_failed, got %v", err)
	}
	noOrder := request("re_fwd_nf", o, 100)
	noOrder.ProcessorOrderID = ""
	if _, err := n.conn.StatusOf(t.Context(), noOrder); !errors.Is(err, processor.ErrNoStatus) {
		t.Fatalf("without the order: want ErrNoStatus, got %v", err)
	}
}

// TestRefund_ReferenceUsed: SGate's 409 on the refund id is read as the
// refund it names when that is this refund (same money), and as unknown
// when it is not; never as a decline.
func TestRefund_ReferenceUsed(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-DUP", "SAR", "card", "4444", 10_000)
	// The refund id was used before with another reason (the same money).
	if r := n.Do("POST", "/orders/"+o.ID+"/refunds", n.Key, `{"amount":"12.5","reason":"first try","merchantRefundId":"re_fwd_dup"}`); r.Status != 200 {
		t.Fatalf("setup: %d %s", r.Status, r.Raw)
	}
	res, err := n.conn.Refund(t.Context(), request("re_fwd_dup", o, 1250))
	if err != nil || res.Status != processor.Approved || res.Reference != o.ID+"_R1" {
		t.Fatalf("want the existing refund's approval, got %+v %v", res, err)
	}
	_, err = n.conn.Refund(t.Context(), request("re_fwd_dup", o, 1300))
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "reply_mismatch" || te.NotExecuted {
		t.Fatalf("the id names other money: want a transient reply_mismatch, got %v", err)
	}
	if got := n.refundsAt(t, o.ID); len(got) != 1 {
		t.Fatalf("want the one refund, got %+v", got)
	}
}

// TestRefund_Refused: answers that prove nothing was executed are
// declines with a clear code, and leave SGate's order unchanged.
func TestRefund_Refused(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-REF", "KWD", "knet", "", 10_000)
	wrong := mustConnect(t, n.URL(), "rk_000000000000_00000000000000000000000000000000")
	readOnly := mustConnect(t, n.URL(), n.NewKey(refund.ScopeRefundsRead, refund.ScopeOrdersRead))
	tests := []struct {
		name string
		conn *sgate.Connector
		edit func(*processor.Request)
		code string
	}{
		{"WrongCredential", wrong, nil, processor.CodeAuthFailed},
		{"CredentialWithoutScope", readOnly, nil, processor.CodeAuthFailed},
		{"NoSuchOrder", n.conn, func(r *processor.Request) { r.ProcessorOrderID = "ord_missing" }, "order_not_found"},
		{"OverRefundable", n.conn, func(r *processor.Request) { r.Amount = 10_010 }, "amount_exceeds_refundable"},
		{"ThreeDecimals", n.conn, func(r *processor.Request) { r.Amount = 1235 }, "amount_not_representable"},
		{"NoProcessorOrder", n.conn, func(r *processor.Request) { r.ProcessorOrderID = "" }, "invalid_request"},
		{"UnknownCurrency", n.conn, func(r *processor.Request) { r.Currency = "XXQ" }, "invalid_request"},
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

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		acct processor.Account
		ok   bool
	}{
		{"OK", processor.Account{URL: "https://api.sgate.example/v2", Credential: "k"}, true},
		{"NoCredential", processor.Account{URL: "https://api.sgate.example"}, false},
		{"Scheme", processor.Account{URL: "file:///etc/passwd", Credential: "k"}, false},
		{"UserInfo", processor.Account{URL: "https://user@api.sgate.example", Credential: "k"}, false},
		{"UnknownOption", processor.Account{URL: "https://api.sgate.example", Credential: "k", Options: map[string]string{"x": "1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sgate.New(tt.acct); (err == nil) != tt.ok {
				t.Fatalf("want ok %v, got %v", tt.ok, err)
			}
		})
	}
}

// TestRefund_HTTPMapping covers answers refundd's SGate surface never
// gives, from a stand-in server, and checks what is sent.
func TestRefund_HTTPMapping(t *testing.T) {
	t.Parallel()
	const ok = `{"amount":10.5,"status":"success","id":"O1_R1","orderId":"O1","paymentMethod":"mastercard","merchantRefundId":"re_1",` +
		`"merchantId":"M1","originTransactionId":"O1_1","currency":"KWD","createdAt":"2026-03-01T09:00:00.000Z","updatedAt":"2026-03-01T09:00:00.000Z"}`
	tests := []struct {
		name      string
		status    int
		header    string
		body      string
		want      processor.Status
		code      string
		transient string
		notExec   bool
		retry     time.Duration
	}{
		{"Approved", 200, "", ok, processor.Approved, "success", "", false, 0},
		{"AmountWithZeros", 200, "", strings.Replace(ok, "10.5", "10.500", 1), processor.Approved, "success", "", false, 0},
		{"Failed", 200, "", strings.Replace(ok, `"success"`, `"fail"`, 1), processor.Declined, "fail", "", false, 0},
		{"Pending", 200, "", strings.Replace(ok, `"success"`, `"pending"`, 1), processor.Pending, "", "", false, 0},
		{"OtherAmount", 200, "", strings.Replace(ok, "10.5", "10.501", 1), "", "", "reply_mismatch", false, 0},
		{"FloatAmount", 200, "", strings.Replace(ok, "10.5", "1.05e1", 1), "", "", "reply_mismatch", false, 0},
		{"OtherRefundID", 200, "", strings.Replace(ok, `"re_1"`, `"re_2"`, 1), "", "", "reply_mismatch", false, 0},
		{"OtherCurrency", 200, "", strings.Replace(ok, `"KWD"`, `"SAR"`, 1), "", "", "reply_mismatch", false, 0},
		{"UnknownStatus", 200, "", strings.Replace(ok, `"success"`, `"refunded"`, 1), "", "", "unreadable_reply", false, 0},
		{"Garbage", 200, "", `{"amount":`, "", "", "unreadable_reply", false, 0},
		{"RateLimited", 429, "30", `{"code":"rate_limited","message":"slow down"}`, "", "", "rate_limited", true, 30 * time.Second},
		{"Unavailable", 503, "", `{"code":"processor_unavailable","message":"later"}`, "", "", "upstream_503", false, 0},
		{"Unauthorized", 401, "", `{"code":"unauthorized","message":"no"}`, processor.Declined, processor.CodeAuthFailed, "", false, 0},
		{"InvalidAmount", 400, "", `{"code":"invalid_amount","message":"amount: too many decimals","field":"amount"}`, processor.Declined, "invalid_amount", "", false, 0},
		{"TooMuch", 422, "", `{"code":"amount_exceeds_refundable","message":"no","field":"amount"}`, processor.Declined, "amount_exceeds_refundable", "", false, 0},
		{"InProgress", 409, "", `{"code":"conflict","message":"busy"}`, "", "", "in_progress", false, 0},
		{"Teapot", 418, "", ``, "", "", "unexpected_418", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sent map[string]any
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.EscapedPath()
				b, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(b, &sent)
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			req := processor.Request{IdempotencyKey: "re_1", Amount: 10_500, Currency: "KWD", ProcessorOrderID: "O1"}
			res, err := mustConnect(t, srv.URL, "k").Refund(t.Context(), req)
			if path != "/orders/O1/refunds" || sent["amount"] != "10.50" || sent["merchantRefundId"] != "re_1" || sent["reason"] != "Refund" {
				t.Fatalf("sent %s %v", path, sent)
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
