package upayments_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upayments"
	"github.com/refundd/refundd/refund"
)

const (
	ibanA = "KW91KFHO0000000000051010173254" // the seed's vendor IBANs
	ibanB = "KW31NBOK0000000000002010177457"
)

// node is a real refundd acting as UPayments, and a connector to it with
// the merchant's key.
type node struct {
	*dialecttest.Server
	conn *upayments.Connector
}

func start(t *testing.T) *node {
	t.Helper()
	s := dialecttest.Start(t)
	return &node{Server: s, conn: mustConnect(t, s.URL(), s.Key)}
}

func mustConnect(t *testing.T, url, credential string) *upayments.Connector {
	t.Helper()
	c, err := upayments.New(processor.Account{Kind: upayments.Kind, URL: url, Credential: credential})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (n *node) order(t *testing.T, ref, currency, method, last4 string, amount int64, vendors ...refund.VendorInput) *refund.Order {
	t.Helper()
	return n.Order(refund.OrderInput{Reference: ref, Currency: currency, Amount: amount, PaymentMethod: method,
		Source: refund.Card{Scheme: "visa", FirstDigits: "411111", LastDigits: last4, Month: 1, Year: 2028}, Vendors: vendors})
}

func request(key string, o *refund.Order, amount int64) processor.Request {
	return processor.Request{IdempotencyKey: key, MerchantID: "mer_fwd", OrderID: "ord_fwd", Amount: amount,
		Currency: o.Currency, PaymentMethod: o.PaymentMethod, CardLast4: o.Source.LastDigits, Reason: "damaged",
		CustomerName: "Jhon Smith", CustomerEmail: "jhon@example.com", CustomerPhone: "+96512345678",
		ProcessorOrderID: o.ID, OrderAmount: o.Amount}
}

// seen is one refund as the node's native API lists it.
type seen struct {
	ID, Status, Reference, Amount, Currency, Surface, Vendors string
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
		var vendors []string
		if vs, ok := m.Get("vendors").([]any); ok {
			for _, v := range vs {
				vm := dialecttest.Reply{Body: v}
				vendors = append(vendors, vm.Str("vendor_id")+"="+vm.Str("amount"))
			}
		}
		out = append(out, seen{m.Str("id"), m.Str("status"), m.Str("merchant_reference"), m.Str("amount"), m.Str("currency"),
			m.Str("surface"), strings.Join(vendors, ",")})
	}
	return out
}

// TestRefund runs refunds through the connector against a real refundd
// serving UPayments' API: each appears exactly once, under the forwarding
// node's refund id, with the same amount; a second submission makes
// nothing new and answers the same.
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
		{"KWDThreeDecimals", "KWD", "knet", "", 50_000, 1235, processor.Approved, "", refund.StatusSucceeded},
		{"BHDWhole", "BHD", "card", "4444", 7_005, 7_005, processor.Approved, "", refund.StatusSucceeded},
		{"SAR", "SAR", "card", "4444", 10_000, 1035, processor.Approved, "", refund.StatusSucceeded},
		{"Declined51", "KWD", "card", "0051", 15_000, 5000, processor.Declined, "51", refund.StatusFailed},
		{"Declined05", "KWD", "card", "0005", 15_000, 5000, processor.Declined, "05", refund.StatusFailed},
		{"WalletPending", "KWD", "stcpay", "", 9_900, 1000, processor.Pending, "", refund.StatusProcessing},
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
			got := n.refundsAt(t, o.ID)
			if len(got) != 1 {
				t.Fatalf("at UPayments: want one refund, got %+v", got)
			}
			if res.Status != tt.status || res.ResponseCode != tt.code || res.Reference != got[0].ID {
				t.Fatalf("want %s %q with UPayments' refundOrderId %s, got %+v", tt.status, tt.code, got[0].ID, res)
			}
			if tt.status == processor.Approved && res.ARN == "" {
				t.Fatalf("an approval carries the refund's ARN: %+v", res)
			}
			want := seen{got[0].ID, string(tt.atServer), key, strconv.FormatInt(tt.amount, 10), tt.currency, "upayments", ""}
			if got[0] != want {
				t.Fatalf("at UPayments: want %+v, got %+v", want, got[0])
			}
			again, err := n.conn.Refund(t.Context(), req)
			if err != nil || again != res {
				t.Fatalf("a second submission answers the first result:\n got %+v (%v)\nwant %+v", again, err, res)
			}
			if got := n.refundsAt(t, o.ID); len(got) != 1 {
				t.Fatalf("a second submission made another refund: %+v", got)
			}
			if _, err := n.conn.Status(t.Context(), key); !errors.Is(err, processor.ErrNoStatus) {
				t.Fatalf("UPayments' API has no lookup: want ErrNoStatus, got %v", err)
			}
		})
	}
}

// TestRefund_PendingSettles: resubmitting the same reference is how the
// connector learns that a pending refund settled.
func TestRefund_PendingSettles(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-STC", "KWD", "stcpay", "", 9_900)
	req := request("re_fwd_stc", o, 9_900)
	if res, err := n.conn.Refund(t.Context(), req); err != nil || res.Status != processor.Pending {
		t.Fatalf("want pending, got %+v %v", res, err)
	}
	n.RunWorker(time.Minute)
	res, err := n.conn.Refund(t.Context(), req)
	if err != nil || res.Status != processor.Approved || res.ARN == "" {
		t.Fatalf("after settling: %+v %v", res, err)
	}
	if got := n.refundsAt(t, o.ID); len(got) != 1 || got[0].Status != "succeeded" {
		t.Fatalf("want the one refund, succeeded: %+v", got)
	}
}

// TestRefund_Vendors: a refund naming vendor shares goes through the
// multi-vendor endpoint, each share to its vendor, once.
func TestRefund_Vendors(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-KW-3001", "KWD", "knet", "", 75_500,
		refund.VendorInput{ID: "vendor-a", Name: "Al Shaya Perfumes", IBAN: ibanA, Amount: 50_000},
		refund.VendorInput{ID: "vendor-b", Name: "Kuwait Dates Co", IBAN: ibanB, Amount: 25_500})
	tests := []struct {
		name    string
		vendors []processor.VendorPart
		status  processor.Status
		code    string
		seen    string // the vendor shares at UPayments, "" when nothing is refunded
	}{
		{"ByVendorID", []processor.VendorPart{{VendorID: "vendor-a", Amount: 10_250}, {VendorID: "vendor-b", Amount: 5_505}},
			processor.Approved, "", "vendor-a=10250,vendor-b=5505"},
		{"ByIBAN", []processor.VendorPart{{VendorID: ibanB, Amount: 1_001}}, processor.Approved, "", "vendor-b=1001"},
		{"NoVendors", nil, processor.Declined, "vendors_required", ""},
		{"UnknownVendor", []processor.VendorPart{{VendorID: "vendor-z", Amount: 100}}, processor.Declined, "vendor_not_found", ""},
		{"OverVendorLimit", []processor.VendorPart{{VendorID: "vendor-b", Amount: 25_000}}, processor.Declined, "amount_exceeds_refundable", ""},
	}
	var refunds int
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "re_fwd_" + tt.name
			req := request(key, o, 0)
			req.Vendors = tt.vendors
			for _, v := range tt.vendors {
				req.Amount += v.Amount
			}
			if req.Amount == 0 {
				req.Amount = 100
			}
			res, err := n.conn.Refund(t.Context(), req)
			if err != nil || res.Status != tt.status || res.ResponseCode != tt.code {
				t.Fatalf("want %s %q, got %+v %v", tt.status, tt.code, res, err)
			}
			if tt.seen == "" {
				if got := n.refundsAt(t, o.ID); len(got) != refunds {
					t.Fatalf("a refused refund made one: %+v", got)
				}
				return
			}
			refunds++
			got := n.refundsAt(t, o.ID)
			var mine []seen
			for _, g := range got {
				if g.Reference == key {
					mine = append(mine, g)
				}
			}
			want := seen{res.Reference, "succeeded", key, strconv.FormatInt(req.Amount, 10), "KWD", "upayments", tt.seen}
			if len(got) != refunds || len(mine) != 1 || mine[0] != want {
				t.Fatalf("at UPayments: want one %+v, got %+v", want, got)
			}
			again, err := n.conn.Refund(t.Context(), req)
			if err != nil || again != res {
				t.Fatalf("a second submission answers the first result:\n got %+v (%v)\nwant %+v", again, err, res)
			}
			if got := n.refundsAt(t, o.ID); len(got) != refunds {
				t.Fatalf("a second submission made another refund: %+v", got)
			}
		})
	}
}

// TestRefund_Refused: answers that prove nothing was executed are
// declines with a clear code, and leave the order unchanged.
func TestRefund_Refused(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-REF", "KWD", "knet", "", 10_000)
	wrong := mustConnect(t, n.URL(), "rk_000000000000_00000000000000000000000000000000")
	readOnly := mustConnect(t, n.URL(), n.NewKey(refund.ScopeRefundsRead, refund.ScopeOrdersRead))
	tests := []struct {
		name string
		conn *upayments.Connector
		edit func(*processor.Request)
		code string
	}{
		{"WrongCredential", wrong, nil, processor.CodeAuthFailed},
		{"CredentialWithoutScope", readOnly, nil, processor.CodeAuthFailed},
		{"NoSuchOrder", n.conn, func(r *processor.Request) { r.ProcessorOrderID = "ord_missing" }, "order_not_found"},
		{"OverRefundable", n.conn, func(r *processor.Request) { r.Amount = 10_001 }, "amount_exceeds_refundable"},
		{"VendorsOnPlainOrder", n.conn, func(r *processor.Request) {
			r.Vendors = []processor.VendorPart{{VendorID: "v1", Amount: 60}, {VendorID: "v2", Amount: 30}}
		}, "invalid_amount"},
		{"Lines", n.conn, func(r *processor.Request) { r.Lines = []processor.LinePart{{ItemID: "l1", Qty: 1, Amount: 100}} }, "unsupported_request"},
		{"NoProcessorOrder", n.conn, func(r *processor.Request) { r.ProcessorOrderID = "" }, "invalid_request"},
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

// TestRefund_ReferenceTaken: the refund id already named another refund
// (other money): the outcome is unknown, never a decline.
func TestRefund_ReferenceTaken(t *testing.T) {
	t.Parallel()
	n := start(t)
	o := n.order(t, "ORD-DUP", "KWD", "knet", "", 10_000)
	if r := n.Do("POST", "/api/v1/create-refund", n.Key, `{"orderId":"ORD-DUP","totalPrice":"1.500","reference":"re_fwd_dup"}`); r.Status != 200 {
		t.Fatalf("setup: %d %s", r.Status, r.Raw)
	}
	_, err := n.conn.Refund(t.Context(), request("re_fwd_dup", o, 1000))
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "conflict" || te.NotExecuted {
		t.Fatalf("want a transient conflict, got %v", err)
	}
	if got := n.refundsAt(t, o.ID); len(got) != 1 || got[0].Amount != "1500" {
		t.Fatalf("want the one earlier refund, got %+v", got)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		acct processor.Account
		ok   bool
	}{
		{"OK", processor.Account{URL: "https://dev-apiv2api.upayments.com", Credential: "jtest123"}, true},
		{"NoCredential", processor.Account{URL: "https://dev-apiv2api.upayments.com"}, false},
		{"Scheme", processor.Account{URL: "gopher://x", Credential: "k"}, false},
		{"UserInfo", processor.Account{URL: "https://a:b@x.example", Credential: "k"}, false},
		{"UnknownOption", processor.Account{URL: "https://x.example", Credential: "k", Options: map[string]string{"sandbox": "true"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := upayments.New(tt.acct); (err == nil) != tt.ok {
				t.Fatalf("want ok %v, got %v", tt.ok, err)
			}
		})
	}
}

// exchange is one request a stand-in server saw.
type exchange struct {
	path, auth, idem string
	body             map[string]any
}

// standIn answers each request with the next of replies and records it.
func standIn(t *testing.T, replies ...[3]string) (*httptest.Server, func() []exchange) {
	t.Helper()
	var mu sync.Mutex
	var seen []exchange
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		var body map[string]any
		_ = dec.Decode(&body)
		mu.Lock()
		i := len(seen)
		seen = append(seen, exchange{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), body})
		mu.Unlock()
		if i >= len(replies) {
			w.WriteHeader(599)
			return
		}
		status, _ := strconv.Atoi(replies[i][0])
		if replies[i][1] != "" {
			w.Header().Set("Retry-After", replies[i][1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(replies[i][2]))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []exchange {
		mu.Lock()
		defer mu.Unlock()
		return append([]exchange(nil), seen...)
	}
}

// TestRefund_HTTPMapping covers answers refundd's UPayments surface never
// gives, from a stand-in server, and checks what is sent.
func TestRefund_HTTPMapping(t *testing.T) {
	t.Parallel()
	const ok = `{"status":true,"message":"Refund invoice generated successfully","data":{"orderId":"O1","refundOrderId":"R1","refundArn":"2023110743"}}`
	tests := []struct {
		name      string
		status    string
		retry     string
		body      string
		want      processor.Status
		code      string
		transient string
		notExec   bool
		after     time.Duration
	}{
		{"Approved", "200", "", ok, processor.Approved, "", "", false, 0},
		{"NoARNYet", "200", "", strings.Replace(ok, `"2023110743"`, `""`, 1), processor.Pending, "", "", false, 0},
		{"FalseWithRefund", "200", "", strings.Replace(ok, `"status":true`, `"status":false`, 1), processor.Declined, "declined", "", false, 0},
		{"FalseNoRefund", "200", "", `{"status":false,"message":"Invalid order"}`, processor.Declined, "refused", "", false, 0},
		{"NoStatus", "200", "", `{"message":"ok","data":{"refundOrderId":"R1","refundArn":"A"}}`, "", "", "unreadable_reply", false, 0},
		{"DataNotObject", "200", "", `{"status":true,"data":"R1"}`, "", "", "unreadable_reply", false, 0},
		{"TrueNoRefund", "200", "", `{"status":true,"message":"ok","data":{}}`, "", "", "unreadable_reply", false, 0},
		{"Trailing", "200", "", ok + `}`, "", "", "unreadable_reply", false, 0},
		{"Declined", "422", "", `{"status":false,"message":"the processor declined the refund (05): Do not honor","data":{"refundOrderId":"R1"}}`, processor.Declined, "05", "", false, 0},
		{"RateLimited", "429", "12", `{"status":false,"message":"slow"}`, "", "", "rate_limited", true, 12 * time.Second},
		{"Unavailable", "503", "", ``, "", "", "upstream_503", false, 0},
		{"Unauthorized", "401", "", `{"status":false,"message":"Unauthenticated."}`, processor.Declined, processor.CodeAuthFailed, "", false, 0},
		{"Conflict", "409", "", `{"status":false,"message":"reference used"}`, "", "", "conflict", false, 0},
		{"BadRequest", "400", "", `{"status":false,"message":"orderId is required"}`, processor.Declined, "invalid_request", "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, seen := standIn(t, [3]string{tt.status, tt.retry, tt.body})
			req := processor.Request{IdempotencyKey: "re_1", Amount: 1235, Currency: "KWD", ProcessorOrderID: "O1",
				CustomerName: "Jhon", CustomerEmail: "not an email", CustomerPhone: "+96512345678"}
			res, err := mustConnect(t, srv.URL, "tok").Refund(t.Context(), req)
			ex := seen()
			if len(ex) != 1 || ex[0].path != "/api/v1/create-refund" || ex[0].auth != "Bearer tok" || ex[0].idem != "" ||
				ex[0].body["totalPrice"] != json.Number("1.235") || ex[0].body["reference"] != "re_1" || ex[0].body["orderId"] != "O1" ||
				ex[0].body["customerFirstName"] != "Jhon" || ex[0].body["customerMobileNumber"] != "+96512345678" || ex[0].body["customerEmail"] != nil {
				t.Fatalf("sent %+v", ex)
			}
			if tt.transient != "" {
				var te *processor.TransientError
				if !errors.As(err, &te) || te.Code != tt.transient || te.NotExecuted != tt.notExec || te.RetryAfter != tt.after {
					t.Fatalf("want transient %s (not executed %v, retry %v), got %+v %v", tt.transient, tt.notExec, tt.after, res, err)
				}
				return
			}
			if err != nil || res.Status != tt.want || res.ResponseCode != tt.code {
				t.Fatalf("want %s %q, got %+v %v", tt.want, tt.code, res, err)
			}
		})
	}
}

// TestRefund_MultivendorMapping: the second step sends the shares by the
// processor's refundRequestId to the account's own URL (not the endpoint
// the answer names), and an answer that took other money is not this
// refund.
func TestRefund_MultivendorMapping(t *testing.T) {
	t.Parallel()
	const split = `{"status":true,"message":"success","data":{"orderId":"O1","isMultivendorRefund":true,"refundPayload":[` +
		`{"refundRequestId":"cDg2RTY1Yjc5aw==","ibanNumber":"KW91KFHO0000000000051010173254","totalPaid":"50.000","refundedAmount":0,"remainingLimit":50,"amountToRefund":0,"merchantType":"vendor"},` +
		`{"refundRequestId":"bExqUVk2T1Y4Tg==","ibanNumber":"KW31NBOK0000000000002010177457","totalPaid":"50.000","refundedAmount":0,"remainingLimit":50,"amountToRefund":0,"merchantType":"vendor"}],` +
		`"multivendor_refund_end_point":"https://elsewhere.example/api/v1/create-multivendor-refund"}}`
	const done = `{"status":true,"message":"Refund invoice generated successfully","data":{"orderId":"O1","refundOrderId":"R9","refundArn":"A9",` +
		`"isMultivendorRefund":true,"refundPayload":[{"refundRequestId":"bExqUVk2T1Y4Tg==","amountToRefund":"AMOUNT"}]}}`
	tests := []struct {
		name      string
		reply     string
		want      processor.Status
		transient string
	}{
		{"Approved", strings.Replace(done, `"AMOUNT"`, `5.5`, 1), processor.Approved, ""},
		{"ApprovedAmountText", strings.Replace(done, `"AMOUNT"`, `"5.500"`, 1), processor.Approved, ""},
		{"OtherMoney", strings.Replace(done, `"AMOUNT"`, `5.501`, 1), "", "reply_mismatch"},
		// The vendor not asked for listed as refunding nothing, as
		// refundd's surface lists every vendor: this refund's answer.
		{"OtherVendorNothing", strings.Replace(done, `"AMOUNT"}`, `5.5},{"refundRequestId":"cDg2RTY1Yjc5aw==","amountToRefund":0}`, 1),
			processor.Approved, ""},
		// Money taken from a vendor the refund did not name: the processor
		// refunded more than was asked, never this refund approved.
		{"OtherVendorsMoney", strings.Replace(done, `"AMOUNT"}`, `5.5},{"refundRequestId":"cDg2RTY1Yjc5aw==","amountToRefund":"2.000"}`, 1),
			"", "reply_mismatch"},
		// The vendor sent, listed twice with its share: twice its share.
		{"VendorListedTwice", strings.Replace(done, `"AMOUNT"}`, `5.5},{"refundRequestId":"bExqUVk2T1Y4Tg==","amountToRefund":"5.500"}`, 1),
			"", "reply_mismatch"},
		// Only another vendor listed, giving nothing: the vendor sent is
		// not confirmed to have given its share.
		{"VendorSentLeftOut", strings.Replace(done, `{"refundRequestId":"bExqUVk2T1Y4Tg==","amountToRefund":"AMOUNT"}`, `{"refundRequestId":"cDg2RTY1Yjc5aw==","amountToRefund":0}`, 1),
			"", "reply_mismatch"},
		{"OtherVendorUnreadable", strings.Replace(done, `"AMOUNT"}`, `5.5},{"refundRequestId":"cDg2RTY1Yjc5aw==","amountToRefund":"2.0001"}`, 1),
			"", "reply_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, seen := standIn(t, [3]string{"200", "", split}, [3]string{"200", "", tt.reply})
			req := processor.Request{IdempotencyKey: "re_1", Amount: 5500, Currency: "KWD", ProcessorOrderID: "O1",
				Vendors: []processor.VendorPart{{VendorID: ibanB, Amount: 5500}}}
			res, err := mustConnect(t, srv.URL, "tok").Refund(t.Context(), req)
			ex := seen()
			if len(ex) != 2 || ex[1].path != "/api/v1/create-multivendor-refund" || ex[1].body["reference"] != "re_1" {
				t.Fatalf("sent %+v", ex)
			}
			payload, _ := ex[1].body["refundPayload"].([]any)
			if len(payload) != 1 || payload[0].(map[string]any)["refundRequestId"] != "bExqUVk2T1Y4Tg==" ||
				payload[0].(map[string]any)["amountToRefund"] != json.Number("5.500") {
				t.Fatalf("payload sent: %+v", ex[1].body)
			}
			if tt.transient != "" {
				var te *processor.TransientError
				if !errors.As(err, &te) || te.Code != tt.transient || te.NotExecuted {
					t.Fatalf("want transient %s, got %+v %v", tt.transient, res, err)
				}
				return
			}
			if err != nil || res.Status != tt.want || res.Reference != "R9" || res.ARN != "A9" {
				t.Fatalf("want %s R9, got %+v %v", tt.want, res, err)
			}
		})
	}
}
