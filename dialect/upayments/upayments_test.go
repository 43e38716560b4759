package upayments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

const (
	createPath      = "/api/v1/create-refund"
	multivendorPath = "/api/v1/create-multivendor-refund"

	ibanA = "KW91KFHO0000000000051010173254" // the seed's vendor IBANs
	ibanB = "KW31NBOK0000000000002010177457"
)

// syncBuffer collects the server's log, to show it never holds an IBAN.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	*dialecttest.Server
	log *syncBuffer
}

// start runs a server whose notify targets may be local (the test
// receiver) and whose log is kept.
func start(t testing.TB, opts ...func(*server.Config)) *fixture {
	t.Helper()
	log := &syncBuffer{}
	s := dialecttest.Start(t, append([]func(*server.Config){func(c *server.Config) {
		c.WebhookAllowPrivate = true
		c.Log = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}, opts...)...)
	return &fixture{Server: s, log: log}
}

// kwdOrder is a 75.500 KWD order: single-merchant, or split 50.000 and
// 25.500 between two vendors.
func (f *fixture) kwdOrder(reference string, vendors bool) *refund.Order {
	in := refund.OrderInput{Reference: reference, Currency: "KWD", Amount: 75500, PaymentMethod: "knet"}
	if vendors {
		in.Vendors = []refund.VendorInput{
			{ID: "vendor-a", Name: "Al Shaya Perfumes", IBAN: ibanA, Amount: 50000},
			{ID: "vendor-b", Name: "Kuwait Dates Co", IBAN: ibanB, Amount: 25500}}
	}
	return f.Order(in)
}

// seedRequest is the seed's example with fields replaced.
func seedRequest(t testing.TB, set map[string]any) string {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(dialecttest.Testdata(t, "create_refund_request.json")))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func wantShape(t *testing.T, seedFile string, r dialecttest.Reply) {
	t.Helper()
	if d := dialecttest.ShapeDiff(dialecttest.Decode(t, dialecttest.Testdata(t, seedFile)), r.Body); len(d) > 0 {
		t.Fatalf("reply differs from %s:\n%s\n%s", seedFile, strings.Join(d, "\n"), r.Raw)
	}
}

// wantError checks {"status":false,"message"} with the HTTP status.
func wantError(t *testing.T, r dialecttest.Reply, status int) {
	t.Helper()
	if r.Status != status || r.Get("status") != false || r.Str("message") == "" {
		t.Fatalf("want %d {status:false,message}, got %d %s", status, r.Status, r.Raw)
	}
}

func TestCreateRefund_SingleMerchant(t *testing.T) {
	t.Parallel()
	f := start(t)
	for _, tc := range []struct {
		name       string
		totalPrice any
		refunded   int64
	}{
		{"SeedNumber", nil, 10000}, // the seed's 10
		{"NumberWithDecimals", json.Number("10.250"), 10250},
		{"String", "1.005", 1005},
		{"StringWhole", "7", 7000},
		{"Fils", json.Number("0.001"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := f.kwdOrder("ORD-"+tc.name, false)
			set := map[string]any{"orderId": o.Reference, "reference": "RF-" + tc.name}
			if tc.totalPrice != nil {
				set["totalPrice"] = tc.totalPrice
			}
			r := f.Do("POST", createPath, f.Key, seedRequest(t, set))
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			wantShape(t, "create_refund_reply.json", r)
			ref, err := f.Service.GetRefund(context.Background(), f.Principal, r.Str("data", "refundOrderId"))
			if err != nil {
				t.Fatal(err)
			}
			if ref.Amount != tc.refunded || ref.Status != refund.StatusSucceeded || r.Str("data", "refundArn") != ref.ARN || ref.ARN == "" {
				t.Fatalf("refund %+v for %s", ref, r.Raw)
			}
			if r.Get("status") != true || r.Str("message") != "Refund invoice generated successfully" || r.Str("data", "orderId") != o.Reference {
				t.Fatalf("reply: %s", r.Raw)
			}
			if got := f.Snap(o.ID); got.Refunded != tc.refunded {
				t.Fatalf("order refunded %d, want %d", got.Refunded, tc.refunded)
			}
		})
	}
}

// TestCreateRefund_SeedExampleAccepted sends the page's own request: its
// customerEmail is not an address ("[email protected]"), and refundd keeps
// none of the customer fields, so only the email's length is checked.
func TestCreateRefund_SeedExampleAccepted(t *testing.T) {
	t.Parallel()
	f := start(t)
	seed := dialecttest.Testdata(t, "create_refund_request_seed.json")
	var example struct{ OrderID string }
	if err := json.Unmarshal([]byte(seed), &example); err != nil {
		t.Fatal(err)
	}
	o := f.kwdOrder(example.OrderID, false)
	with := func(reference, email string) string {
		return seedRequest(t, map[string]any{"orderId": example.OrderID, "reference": reference, "customerEmail": email})
	}
	var refunded int64
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"Verbatim", seed, 200},
		{"EmailPlainWord", with("R-word", "jhon"), 200},
		{"EmailAddress", with("R-address", "jhon@example.com"), 200},
		{"ErrEmailTooLong", with("R-long", strings.Repeat("a", 251)), 400},
		{"ErrEmailNUL", with("R-nul", "a\x00b"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.Do("POST", createPath, f.Key, tc.body)
			if tc.status != http.StatusOK {
				wantError(t, r, tc.status)
				if !strings.Contains(r.Str("message"), "customerEmail") {
					t.Fatalf("message does not name customerEmail: %s", r.Raw)
				}
			} else {
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				wantShape(t, "create_refund_reply.json", r)
				refunded += 10000 // the example's totalPrice: 10 KWD
			}
			if got := f.Snap(o.ID); got.Refunded != refunded {
				t.Fatalf("order refunded %d, want %d", got.Refunded, refunded)
			}
		})
	}
}

func TestCreateRefund_ByRefunddOrderID(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.kwdOrder("", false)
	r := f.Do("POST", createPath, f.Key, `{"orderId":"`+o.ID+`","totalPrice":"75.500"}`)
	if r.Status != 200 || f.Snap(o.ID).Refunded != 75500 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
}

func TestCreateRefund_ReferenceIsIdempotent(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.kwdOrder("ORD-1", false)
	body := seedRequest(t, map[string]any{"orderId": "ORD-1"})
	first := f.Do("POST", createPath, f.Key, body)
	again := f.Do("POST", createPath, f.Key, body)
	if first.Status != 200 || again.Raw != first.Raw {
		t.Fatalf("replay differs:\n%s\n%s", first.Raw, again.Raw)
	}
	if got := f.Snap(o.ID); got.Refunded != 10000 || got.Refunds != 1 {
		t.Fatalf("replay refunded again: %+v", got)
	}
	wantError(t, f.Do("POST", createPath, f.Key, seedRequest(t, map[string]any{"orderId": "ORD-1", "totalPrice": 11})), 409)
	if got := f.Snap(o.ID); got.Refunded != 10000 || got.Refunds != 1 {
		t.Fatalf("reused reference refunded: %+v", got)
	}
}

func TestCreateRefund_Errors(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.kwdOrder("ORD-1", false)
	foreign := f.NewMerchant("Other")
	p, err := f.Service.Authenticate(context.Background(), foreign)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := f.Service.CreateOrder(context.Background(), p, refund.OrderInput{Reference: "ORD-THEIRS", Currency: "KWD", Amount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Service.GetMerchant(context.Background(), f.Merchant.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, partnerKey, err := f.Service.CreatePartner(context.Background(), "Platform", []string{m.ID})
	if err != nil {
		t.Fatal(err)
	}
	readOnly := f.NewKey(refund.ScopeOrdersRead)
	req := func(set map[string]any) string {
		set["orderId"] = "ORD-1"
		return seedRequest(t, set)
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name, key, body string
		status          int
		mentions        string
	}{
		{"ErrNoKey", "", req(map[string]any{}), 401, "key"},
		{"ErrBadKey", "rk_000000000000_00000000000000000000000000000000", req(map[string]any{}), 401, "key"},
		{"ErrPartnerKey", partnerKey, req(map[string]any{}), 403, "merchant"},
		{"ErrNoRefundScope", readOnly, req(map[string]any{}), 403, "refunds:write"},
		{"ErrUnknownOrder", "", seedRequest(t, map[string]any{"orderId": "ORD-404"}), 404, "order"},
		{"ErrOtherMerchantsOrder", "", seedRequest(t, map[string]any{"orderId": theirs.ID}), 404, "order"},
		{"ErrMissingOrderID", "", seedRequest(t, map[string]any{"orderId": nil}), 400, "orderId"},
		{"ErrMissingTotalPrice", "", req(map[string]any{"totalPrice": nil}), 400, "totalPrice"},
		{"ErrNullTotalPrice", "", `{"orderId":"ORD-1","totalPrice":null}`, 400, "totalPrice"},
		{"ErrTooManyDecimals", "", req(map[string]any{"totalPrice": json.Number("1.0005")}), 400, "decimal"},
		{"ErrTooManyDecimalsString", "", req(map[string]any{"totalPrice": "1.0005"}), 400, "decimal"},
		{"ErrNegative", "", req(map[string]any{"totalPrice": json.Number("-1")}), 400, "totalPrice"},
		{"ErrExponent", "", req(map[string]any{"totalPrice": json.Number("1e3")}), 400, "totalPrice"},
		{"ErrZero", "", req(map[string]any{"totalPrice": json.Number("0")}), 400, "totalPrice"},
		{"ErrText", "", req(map[string]any{"totalPrice": "ten"}), 400, "totalPrice"},
		{"ErrEmptyString", "", req(map[string]any{"totalPrice": ""}), 400, "totalPrice"},
		{"ErrBool", "", req(map[string]any{"totalPrice": true}), 400, "totalPrice"},
		{"ErrOverflow", "", req(map[string]any{"totalPrice": json.Number("99999999999999999999")}), 400, "totalPrice"},
		{"ErrMoreThanPaid", "", req(map[string]any{"totalPrice": "75.501"}), 422, "75.500 KWD"},
		{"ErrOrderIDTooLong", "", seedRequest(t, map[string]any{"orderId": long(256)}), 400, "orderId"},
		{"ErrFirstNameTooLong", "", req(map[string]any{"customerFirstName": long(256)}), 400, "customerFirstName"},
		{"ErrEmailTooLong", "", req(map[string]any{"customerEmail": long(246) + "@x.io"}), 400, "customerEmail"},
		{"ErrMobileInvalid", "", req(map[string]any{"customerMobileNumber": "+965-1234"}), 400, "customerMobileNumber"},
		{"ErrReferenceTooLong", "", req(map[string]any{"reference": long(256)}), 400, "reference"},
		{"ErrReferenceChars", "", req(map[string]any{"reference": "a b"}), 400, "reference"},
		{"ErrNotifyURLTooLong", "", req(map[string]any{"notifyUrl": "https://x.example/" + long(240)}), 400, "notifyUrl"},
		{"ErrNotifyURLNotHTTP", "", req(map[string]any{"notifyUrl": "ftp://x.example/"}), 400, "notifyUrl"},
		{"ErrUnknownField", "", req(map[string]any{"amount": 1}), 400, "amount"},
		{"ErrWrongType", "", req(map[string]any{"customerFirstName": 1}), 400, "customerFirstName"},
		{"ErrMalformed", "", `{"orderId":`, 400, "JSON"},
		{"ErrEmpty", "", ``, 400, "empty"},
		{"ErrTwoObjects", "", req(map[string]any{}) + `{}`, 400, "one JSON object"},
		{"ErrMultivendorOnSingleOrder", "", `{"orderId":"ORD-1","refundPayload":[{"refundRequestId":"eA==","amountToRefund":1}]}`, 400, "create-refund"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" && !strings.HasPrefix(tc.name, "ErrNoKey") {
				key = f.Key
			}
			path := createPath
			if strings.HasPrefix(tc.name, "ErrMultivendor") {
				path = multivendorPath
			}
			before := f.Snap(o.ID)
			r := f.Do("POST", path, key, tc.body)
			wantError(t, r, tc.status)
			if !strings.Contains(r.Str("message"), tc.mentions) {
				t.Fatalf("message %q does not mention %q", r.Str("message"), tc.mentions)
			}
			if after := f.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
}

func TestCreateRefund_Declined(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.Order(refund.OrderInput{Reference: "ORD-0051", Currency: "KWD", Amount: 5000, Source: refund.Card{LastDigits: "0051"}})
	r := f.Do("POST", createPath, f.Key, `{"orderId":"ORD-0051","totalPrice":1}`)
	wantError(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Str("message"), "51") || r.Str("data", "refundOrderId") == "" {
		t.Fatalf("declined: %s", r.Raw)
	}
	if got := f.Snap(o.ID); got.Refunded != 0 || got.Pending != 0 {
		t.Fatalf("declined refund kept money: %+v", got)
	}
}

// receiver is a notify URL that keeps what it is sent.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  [][]byte
	path []string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got, rc.path = append(rc.got, b), append(rc.path, r.URL.Path)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func TestCreateRefund_NotifyURL(t *testing.T) {
	t.Parallel()
	f := start(t)
	rc := newReceiver(t)
	f.kwdOrder("ORD-1", false)
	r := f.Do("POST", createPath, f.Key, seedRequest(t, map[string]any{"orderId": "ORD-1", "notifyUrl": rc.URL + "/upayments/notify"}))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if _, err := f.Webhooks.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 1 || rc.path[0] != "/upayments/notify" {
		t.Fatalf("notify URL got %d requests (%v), want the final status once", len(rc.got), rc.path)
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rc.got[0], &ev); err != nil || ev.Type != "refund.succeeded" ||
		ev.Data.ID != r.Str("data", "refundOrderId") || ev.Data.Status != "succeeded" {
		t.Fatalf("notification %s (%v)", rc.got[0], err)
	}
}

func TestMultivendor(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.kwdOrder("ORD-KW-3001", true)

	// create-refund moves no money on a split order: it answers the
	// figures and where to refund per vendor.
	r := f.Do("POST", createPath, f.Key, seedRequest(t, map[string]any{"orderId": "ORD-KW-3001"}))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	wantShape(t, "create_refund_reply_multivendor.json", r)
	if r.Str("message") != "success" || r.Get("data", "isMultivendorRefund") != true ||
		r.Str("data", "multivendor_refund_end_point") != f.URL()+multivendorPath {
		t.Fatalf("reply: %s", r.Raw)
	}
	if got := f.Snap(o.ID); got.Refunds != 0 || got.Pending != 0 {
		t.Fatalf("create-refund on a split order moved money: %+v", got)
	}
	wantFigures(t, r, [][5]string{{ibanA, "50.000", "0.000", "50.000", "0.000"}, {ibanB, "25.500", "0.000", "25.500", "0.000"}})
	payload := r.Get("data", "refundPayload").([]any)
	idA := payload[0].(map[string]any)["refundRequestId"].(string)
	idB := payload[1].(map[string]any)["refundRequestId"].(string)

	// The payload sent back as it came, with amounts filled in.
	payload[0].(map[string]any)["amountToRefund"] = json.Number("10.250")
	body, _ := json.Marshal(map[string]any{"orderId": "ORD-KW-3001", "refundPayload": payload, "reference": "MV-1"})
	mv := f.Do("POST", multivendorPath, f.Key, string(body))
	if mv.Status != 200 {
		t.Fatalf("multivendor: %d %s", mv.Status, mv.Raw)
	}
	wantShape(t, "multivendor_reply.json", mv)
	ref, err := f.Service.GetRefund(context.Background(), f.Principal, mv.Str("data", "refundOrderId"))
	if err != nil || ref.Amount != 10250 || ref.Status != refund.StatusSucceeded || mv.Str("data", "refundArn") != ref.ARN {
		t.Fatalf("refund %+v (%v) for %s", ref, err, mv.Raw)
	}
	wantFigures(t, mv, [][5]string{{ibanA, "50.000", "10.250", "39.750", "10.250"}, {ibanB, "25.500", "0.000", "25.500", "0.000"}})

	// The same reference and request replays; create-refund now shows the
	// refund in the figures.
	if again := f.Do("POST", multivendorPath, f.Key, string(body)); again.Str("data", "refundOrderId") != ref.ID {
		t.Fatalf("replay: %s", again.Raw)
	}
	wantFigures(t, f.Do("POST", createPath, f.Key, seedRequest(t, map[string]any{"orderId": o.ID})),
		[][5]string{{ibanA, "50.000", "10.250", "39.750", "0.000"}, {ibanB, "25.500", "0.000", "25.500", "0.000"}})

	// Over one vendor's limit: the whole request is refused, naming it.
	for _, tc := range []struct {
		name, body, mentions string
		status               int
	}{
		{"ErrOverVendorLimit", mvBody(o.Reference, idA, "39.751", idB, "1"), idA, 422},
		{"ErrOverVendorLimitNamesVendor", mvBody(o.Reference, idB, "25.501", idA, "1"), `vendor "vendor-b"`, 422},
		{"ErrUnknownRequestID", mvBody(o.Reference, "bm9wZQ==", "1"), "bm9wZQ==", 400},
		{"ErrNotBase64", mvBody(o.Reference, "%%%", "1"), "%%%", 400},
		{"ErrDuplicateRequestID", mvBody(o.Reference, idA, "1", idA, "1"), "twice", 400},
		{"ErrAllZero", mvBody(o.Reference, idA, "0", idB, "0"), "nothing to refund", 400},
		{"ErrTooManyDecimals", mvBody(o.Reference, idA, "1.0001"), "amountToRefund", 400},
		{"ErrNegative", mvBody(o.Reference, idA, "-1"), "amountToRefund", 400},
		{"ErrNoPayload", `{"orderId":"ORD-KW-3001","refundPayload":[]}`, "refundPayload", 400},
		{"ErrMissingAmount", `{"orderId":"ORD-KW-3001","refundPayload":[{"refundRequestId":"` + idA + `"}]}`, "amountToRefund", 400},
		{"ErrUnknownOrder", mvBody("ORD-404", idA, "1"), "order", 404},
		{"ErrUnknownField", `{"orderId":"ORD-KW-3001","refundPayload":[{"refundRequestId":"` + idA + `","amountToRefund":1,"x":1}]}`, "x", 400},
		{"ErrReferenceReused", mvBodyRef(o.Reference, "MV-1", idA, "1"), "reference", 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Snap(o.ID)
			r := f.Do("POST", multivendorPath, f.Key, tc.body)
			wantError(t, r, tc.status)
			if !strings.Contains(r.Str("message"), tc.mentions) {
				t.Fatalf("message %q does not mention %q", r.Str("message"), tc.mentions)
			}
			if after := f.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}

	// An id from another order cannot refund this one's vendor of the
	// same name.
	other := f.kwdOrder("ORD-KW-3002", true)
	wantError(t, f.Do("POST", multivendorPath, f.Key, mvBody(other.Reference, idA, "1")), 400)

	// Exactly what is left of both vendors.
	if r := f.Do("POST", multivendorPath, f.Key, mvBody(o.Reference, idA, "39.750", idB, "25.500")); r.Status != 200 {
		t.Fatalf("the rest: %d %s", r.Status, r.Raw)
	}
	if got := f.Snap(o.ID); got.Refunded != 75500 {
		t.Fatalf("after refunding the rest: %+v", got)
	}
	if strings.Contains(f.log.String(), ibanA) || strings.Contains(f.log.String(), ibanB) {
		t.Fatalf("an IBAN reached the log:\n%s", f.log.String())
	}
}

// exampleMultivendor is testdata/multivendor_request.json pointed at an
// order, its vendor shares and a notify URL.
func exampleMultivendor(t testing.TB, orderID, notifyURL string, ids ...string) string {
	t.Helper()
	m := dialecttest.Decode(t, dialecttest.Testdata(t, "multivendor_request.json")).(map[string]any)
	m["orderId"], m["notifyUrl"] = orderID, notifyURL
	for i, e := range m["refundPayload"].([]any) {
		e.(map[string]any)["refundRequestId"] = ids[i]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestMultivendor_Example posts the documented request: one refund of
// 10.000 + 5.500 KWD, and its final status at the notify URL.
func TestMultivendor_Example(t *testing.T) {
	t.Parallel()
	f := start(t)
	rc := newReceiver(t)
	o := f.kwdOrder("ORD-KW-3001", true)
	r := f.Do("POST", createPath, f.Key, `{"orderId":"ORD-KW-3001","totalPrice":15.5}`)
	payload := r.Get("data", "refundPayload").([]any)
	ids := []string{payload[0].(map[string]any)["refundRequestId"].(string), payload[1].(map[string]any)["refundRequestId"].(string)}
	mv := f.Do("POST", multivendorPath, f.Key, exampleMultivendor(t, "ORD-KW-3001", rc.URL+"/notify", ids...))
	if mv.Status != 200 {
		t.Fatalf("%d %s", mv.Status, mv.Raw)
	}
	wantShape(t, "multivendor_reply.json", mv)
	wantFigures(t, mv, [][5]string{{ibanA, "50.000", "10.000", "40.000", "10.000"}, {ibanB, "25.500", "5.500", "20.000", "5.500"}})
	if got := f.Snap(o.ID); got.Refunded != 15500 || got.Refunds != 1 {
		t.Fatalf("order after the refund: %+v", got)
	}
	if _, err := f.Webhooks.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 1 || !strings.Contains(string(rc.got[0]), `"refund.succeeded"`) ||
		!strings.Contains(string(rc.got[0]), mv.Str("data", "refundOrderId")) {
		t.Fatalf("notify URL got %d: %q", len(rc.got), rc.got)
	}
}

// mvBody is a multivendor request: orderId, then refundRequestId and
// amountToRefund pairs.
func mvBody(orderID string, pairs ...string) string {
	return mvBodyRef(orderID, "", pairs...)
}

func mvBodyRef(orderID, reference string, pairs ...string) string {
	var payload []map[string]any
	for i := 0; i+1 < len(pairs); i += 2 {
		payload = append(payload, map[string]any{"refundRequestId": pairs[i], "amountToRefund": json.Number(pairs[i+1])})
	}
	m := map[string]any{"orderId": orderID, "refundPayload": payload}
	if reference != "" {
		m["reference"] = reference
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// wantFigures checks each vendor's ibanNumber, totalPaid, refundedAmount,
// remainingLimit and amountToRefund, as exact text.
func wantFigures(t *testing.T, r dialecttest.Reply, want [][5]string) {
	t.Helper()
	payload, _ := r.Get("data", "refundPayload").([]any)
	if len(payload) != len(want) {
		t.Fatalf("refundPayload: %s", r.Raw)
	}
	for i, w := range want {
		v := payload[i].(map[string]any)
		got := [5]string{}
		for j, k := range []string{"ibanNumber", "totalPaid", "refundedAmount", "remainingLimit", "amountToRefund"} {
			got[j] = jsonText(v[k])
		}
		if got != w || v["merchantType"] != "vendor" {
			t.Fatalf("vendor %d: got %v, want %v\n%s", i, got, w, r.Raw)
		}
	}
}

func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestMultivendor_Concurrent: many refunds race for one vendor's share;
// the vendor is never overdrawn and every figure adds up afterwards.
func TestMultivendor_Concurrent(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.kwdOrder("ORD-RACE", true)
	r := f.Do("POST", createPath, f.Key, `{"orderId":"ORD-RACE","totalPrice":1}`)
	payload := r.Get("data", "refundPayload").([]any)
	idA := payload[0].(map[string]any)["refundRequestId"].(string)
	idB := payload[1].(map[string]any)["refundRequestId"].(string)

	// Each asks 7.000 from vendor-a (50.000: room for 7) and 3.000 from
	// vendor-b (25.500: room for 8).
	const n = 24
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = f.Do("POST", multivendorPath, f.Key, mvBody(o.Reference, idA, "7.000", idB, "3.000")).Status
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 422:
		default:
			t.Fatalf("unexpected status %d among %v", s, statuses)
		}
	}
	if ok != 7 {
		t.Fatalf("%d refunds went through, want 7 (vendor-a has room for 7 x 7.000): %v", ok, statuses)
	}
	o, err := f.Service.GetOrder(context.Background(), f.Principal, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{"vendor-a": {49000, 1000}, "vendor-b": {21000, 4500}}
	for _, v := range o.Vendors {
		w := want[v.ID]
		if v.RefundedAmount+v.PendingAmount != w[0] || v.Refundable() != w[1] || v.Refundable() < 0 {
			t.Fatalf("vendor %s: refunded %d pending %d left %d, want %d taken and %d left", v.ID, v.RefundedAmount, v.PendingAmount, v.Refundable(), w[0], w[1])
		}
	}
	if o.RefundedAmount+o.PendingRefundAmount != 70000 {
		t.Fatalf("order: refunded %d pending %d, want 70.000 in all", o.RefundedAmount, o.PendingRefundAmount)
	}
	wantFigures(t, f.Do("POST", createPath, f.Key, `{"orderId":"ORD-RACE","totalPrice":1}`),
		[][5]string{{ibanA, "50.000", "49.000", "1.000", "0.000"}, {ibanB, "25.500", "21.000", "4.500", "0.000"}})
}

func TestCreateRefund_RateLimited(t *testing.T) {
	t.Parallel()
	f := start(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 1, 1 })
	f.kwdOrder("ORD-1", false)
	f.Clock.Advance(time.Second) // the harness spent the burst authenticating
	if r := f.Do("POST", createPath, f.Key, `{"orderId":"ORD-1","totalPrice":1}`); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	r := f.Do("POST", createPath, f.Key, `{"orderId":"ORD-1","totalPrice":1}`)
	wantError(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %v", r.Header)
	}
}

// TestMultivendor_EndpointFromPublicURL: the endpoint the answer names is
// the configured public URL, whatever Host header the caller sends.
func TestMultivendor_EndpointFromPublicURL(t *testing.T) {
	t.Parallel()
	f := start(t, func(c *server.Config) { c.PublicURL = "https://refunds.example.com/" })
	f.kwdOrder("ORD-KW-HOST", true)
	req := dialecttest.Request("POST", f.URL()+createPath, f.Key, seedRequest(t, map[string]any{"orderId": "ORD-KW-HOST"}))
	req.Host = "attacker.example"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct {
		Data struct {
			Endpoint string `json:"multivendor_refund_end_point"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != 200 {
		t.Fatalf("%d %v", res.StatusCode, err)
	}
	if got.Data.Endpoint != "https://refunds.example.com"+multivendorPath {
		t.Fatalf("endpoint %q", got.Data.Endpoint)
	}
}

// TestRefund_LongOrderID: the seed allows order ids of 255 characters;
// 256 is refused with the seed's error shape.
func TestRefund_LongOrderID(t *testing.T) {
	t.Parallel()
	f := start(t)
	long := "ORD-" + strings.Repeat("9", 251)
	o := f.kwdOrder(long, false)
	r := f.Do("POST", createPath, f.Key, seedRequest(t, map[string]any{"orderId": long, "reference": strings.Repeat("R", 255)}))
	if r.Status != 200 || r.Str("data", "orderId") != long {
		t.Fatalf("255-character order id: %d %s", r.Status, r.Raw)
	}
	if got := f.Snap(o.ID); got.Refunds != 1 {
		t.Fatalf("order after the refund: %+v", got)
	}
	r = f.Do("POST", createPath, f.Key, seedRequest(t, map[string]any{"orderId": long + "9"}))
	if r.Status != 400 || r.Get("status") != false {
		t.Fatalf("256-character order id: %d %s", r.Status, r.Raw)
	}
}

// TestRoutes_AnswerInTheShape: a path under /api/v1/ that is no route, or
// a method its route does not take, is answered in UPayments' error shape
// ({"status":false,"message"}), not in the mux's text.
func TestRoutes_AnswerInTheShape(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.kwdOrder("ORD-RT", false)
	body := seedRequest(t, map[string]any{"orderId": "ORD-RT", "totalPrice": "1.000"})
	for _, tc := range []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"CreateByGet", "GET", createPath, 405, "POST"},
		{"CreateByPut", "PUT", createPath, 405, "POST"},
		{"MultivendorByDelete", "DELETE", multivendorPath, 405, "POST"},
		{"UnknownPath", "POST", "/api/v1/refund", 404, ""},
		{"TrailingSlash", "POST", createPath + "/", 404, ""},
		{"Prefix", "GET", "/api/v1/", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Snap(o.ID)
			r := f.Do(tc.method, tc.path, f.Key, body)
			wantError(t, r, tc.status)
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow: %q, want %q", got, tc.allow)
			}
			if after := f.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
}

// TestCreateRefund_ReplayOfACanceledRefund: the same reference sent again
// after its refund was rejected by an approver answers that it was
// canceled, not "Refund invoice generated successfully".
func TestCreateRefund_ReplayOfACanceledRefund(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	limits := map[string]int64{"KWD": 5000}
	if _, err := f.Service.PutRefundPolicy(ctx, f.Principal, refund.RefundPolicyInput{ApprovalThreshold: &limits}); err != nil {
		t.Fatal(err)
	}
	o := f.kwdOrder("ORD-R", false)
	req := seedRequest(t, map[string]any{"orderId": "ORD-R"})
	first := f.Do("POST", createPath, f.Key, req)
	if first.Status != 200 || first.Get("status") != true {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	ap, err := f.Service.Authenticate(ctx, f.NewKey(refund.ScopeRefundsApprove))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Service.RejectRefund(ctx, ap, first.Str("data", "refundOrderId"), "duplicate"); err != nil {
		t.Fatal(err)
	}
	again := f.Do("POST", createPath, f.Key, req)
	wantError(t, again, http.StatusUnprocessableEntity)
	if !strings.Contains(again.Str("message"), "canceled (rejected): duplicate") {
		t.Fatalf("replay of the rejected refund: %s", again.Raw)
	}
	if got := f.Snap(o.ID); got.Refunded != 0 || got.Pending != 0 || got.Refunds != 1 {
		t.Fatalf("after the replay: %+v", got)
	}
}
