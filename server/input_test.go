package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// backends are the stores a test of input handling runs on: bad input
// must be answered the same whichever store holds the data. PostgreSQL is
// skipped, with pgtest's message, when REFUNDD_TEST_POSTGRES is not set.
var backends = []struct {
	name  string
	start func(t *testing.T, opts ...serverOpt) *testServer
}{
	{"SQLite", func(t *testing.T, opts ...serverOpt) *testServer { return mustStart(t, opts...) }},
	{"PostgreSQL", func(t *testing.T, opts ...serverOpt) *testServer {
		return mustStart(t, append(opts, onDB(pgSchema(t, 0)))...)
	}},
}

// storeAnswers keeps each case's reply per store, to be compared once
// every store has run: the same request must get the same answer on both.
type storeAnswers struct {
	got   map[string]map[string]reply // case -> store -> reply
	names []string                    // cases, in the order they ran
}

func (a *storeAnswers) add(name, store string, r reply) {
	if a.got == nil {
		a.got = map[string]map[string]reply{}
	}
	if a.got[name] == nil {
		a.got[name] = map[string]reply{}
		a.names = append(a.names, name)
	}
	a.got[name][store] = r
}

// compare reports each case PostgreSQL (when it ran) answered otherwise
// than SQLite, status and body byte for byte.
func (a *storeAnswers) compare(t *testing.T) {
	t.Helper()
	for _, n := range a.names {
		x, y := a.got[n]["SQLite"], a.got[n]["PostgreSQL"]
		if y.status != 0 && (x.status != y.status || x.raw != y.raw) {
			t.Errorf("%s: SQLite answers %d %s, PostgreSQL %d %s", n, x.status, x.raw, y.status, y.raw)
		}
	}
}

// TestInput_NULInText: a NUL (U+0000) in text a request gives to be kept
// (a description, a reason, a name) is refused by the core on every
// surface, in the surface's own shape, and on both stores alike:
// PostgreSQL cannot hold it as text, so SQLite must not keep it either.
// The replies of the two stores are compared byte for byte.
func TestInput_NULInText(t *testing.T) {
	answers := storeAnswers{}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			m := newMatrix(t, s)
			app := fmt.Sprint(s.mer.AppID)
			nul := `a\u0000b`
			for _, tc := range []struct {
				name, path, auth string
				headers          []string
				body             string
				status           int
				want             string // in the reply: the field at fault
			}{
				{"native/refund.reason", "/v1/refunds", "Bearer " + s.key, nil,
					`{"order_id":"` + m.order + `","amount":100,"reason":"` + nul + `"}`, 400, `"param":"reason"`},
				{"native/order.description", "/v1/orders", "Bearer " + s.key, nil,
					`{"currency":"SAR","amount":100,"description":"` + nul + `"}`, 400, `"param":"description"`},
				{"native/order.customer.name", "/v1/orders", "Bearer " + s.key, nil,
					`{"currency":"SAR","amount":100,"customer":{"name":"` + nul + `"}}`, 400, `"param":"customer.name"`},
				{"native/order.items[0].name_ar", "/v1/orders", "Bearer " + s.key, nil,
					`{"currency":"SAR","amount":100,"items":[{"id":"l1","qty":1,"unit_amount":100,"name_ar":"` + nul + `"}]}`, 400, `"param":"items[0].name_ar"`},
				{"native/order.vendors[0].name", "/v1/orders", "Bearer " + s.key, nil,
					`{"currency":"SAR","amount":100,"vendors":[{"id":"v1","amount":100,"name":"` + nul + `"}]}`, 400, `"param":"vendors[0].name"`},
				{"native/reject.reason", "/v1/refunds/" + m.refund + "/reject", "Bearer " + s.key, nil,
					`{"reason":"` + nul + `"}`, 400, `"param":"reason"`},
				{"native/void.reason", "/v1/orders/" + m.order + "/voids", "Bearer " + s.key, nil,
					`{"amount":1,"reason":"` + nul + `"}`, 400, `"param":"reason"`},
				{"native/webhook.description", "/v1/webhook_endpoints", "Bearer " + s.key, nil,
					`{"url":"https://hooks.example.com/x","description":"` + nul + `"}`, 400, `"param":"description"`},
				{"sgate/reason", "/orders/" + m.order + "/refunds", "Bearer " + s.key, nil,
					`{"amount":"1.00","reason":"` + nul + `"}`, 400, `"field":"reason"`},
				{"sgate/merchantRefundId", "/orders/" + m.order + "/refunds", "Bearer " + s.key, nil,
					`{"amount":"1.00","reason":"x","merchantRefundId":"a b"}`, 400, `"message":"merchantRefundId must be 1-255`},
				{"upayments/customerFirstName", "/api/v1/create-refund", "Bearer " + s.key, nil,
					`{"orderId":"` + m.order + `","totalPrice":"1.00","customerFirstName":"` + nul + `"}`, 400, "customerFirstName"},
				{"paylink/refundReason", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund", m.partnerToken.header, nil,
					`{"orderNumber":"` + m.order + `","refundReason":"` + nul + `"}`, 400, `"message":"refundReason must not contain a NUL`}, // the seed's error has no field member
				{"techrar/comments", fmt.Sprintf("/order/v1/merchant/invoices/%d/refund/", m.invoice), "Bearer " + s.key, []string{"app-id", app},
					fmt.Sprintf(`{"comments":"%s","refunded_items":[{"id":%d,"qty":1}]}`, nul, m.invoiceItem), 400, `"detail":"comments must not contain a NUL`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					refunds, orders := s.refundsOf(m.order), len(s.do("GET", "/v1/orders?limit=100", s.key, nil).get("data").([]any))
					r := s.do("POST", tc.path, "", tc.body, append([]string{"Authorization", tc.auth}, tc.headers...)...)
					if r.status != tc.status || !strings.Contains(r.raw, tc.want) {
						t.Errorf("%d %s; want %d naming %s", r.status, r.raw, tc.status, tc.want)
					}
					if n := s.refundsOf(m.order); n != refunds {
						t.Errorf("a refused request made %d refunds", n-refunds)
					}
					if n := len(s.do("GET", "/v1/orders?limit=100", s.key, nil).get("data").([]any)); n != orders {
						t.Errorf("a refused request made %d orders", n-orders)
					}
					answers.add(tc.name, b.name, r)
				})
			}
		})
	}
	answers.compare(t)
}

// TestInput_TypeErrorNamesTheElement: a JSON value of the wrong type, or
// a member twice, inside an array names the element (items[1].qty), as
// the core's own errors do, not the array ("items.qty": which item?).
func TestInput_TypeErrorNamesTheElement(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"native/order.items", "POST", "/v1/orders",
			`{"currency":"SAR","amount":100,"items":[{"id":"a","qty":1,"unit_amount":50},{"id":"b","qty":"1","unit_amount":50}]}`,
			400, `"param":"items[1].qty"`},
		{"native/order.items.object", "POST", "/v1/orders",
			`{"currency":"SAR","amount":100,"items":[{"id":"a","qty":{"n":1},"unit_amount":50}]}`,
			400, `"param":"items[0].qty"`},
		{"native/order.items.element", "POST", "/v1/orders",
			`{"currency":"SAR","amount":100,"items":[5]}`, 400, `"param":"items[0]"`},
		{"native/order.vendors.amount", "POST", "/v1/orders",
			`{"currency":"SAR","amount":100,"vendors":[{"id":"v","amount":"100"}]}`, 400, `"param":"vendors[0].amount"`},
		{"native/refund.items", "POST", "/v1/refunds",
			`{"order_id":"` + m.order + `","items":[{"item_id":"line-1","qty":true}]}`, 400, `"param":"items[0].qty"`},
		{"native/refund.items.duplicate", "POST", "/v1/refunds",
			`{"order_id":"` + m.order + `","items":[{"item_id":"line-1","qty":1,"qty":2}]}`, 400, `"param":"items[0].qty"`},
		{"native/policy.map", "PUT", "/v1/refund_policy",
			`{"approval_threshold":{"SAR":"500"}}`, 400, `"param":"approval_threshold.SAR"`},
		{"upayments/refundPayload", "POST", "/api/v1/create-multivendor-refund",
			`{"orderId":"` + m.vorder + `","refundPayload":[{"refundRequestId":"` + m.vreq + `","amountToRefund":"1.000"},{"refundRequestId":7,"amountToRefund":"1.000"}]}`,
			400, "refundPayload[1].refundRequestId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.refundsOf(m.order) + s.refundsOf(m.vorder)
			r := s.do(tc.method, tc.path, s.key, tc.body)
			if r.status != tc.status || !strings.Contains(r.raw, tc.want) {
				t.Errorf("%d %s; want %d naming %s", r.status, r.raw, tc.status, tc.want)
			}
			if n := s.refundsOf(m.order) + s.refundsOf(m.vorder); n != before {
				t.Errorf("a refused request made %d refunds", n-before)
			}
		})
	}
}

// TestInput_TimeBounds: created_gte and created_lt are bounds whatever
// instant they name, on both stores alike: the zero time (year 1), a time
// before it, and one past what SQLite's nanoseconds hold (2262) select
// what they say, none of them "no bound"; any RFC 3339 spelling is taken.
func TestInput_TimeBounds(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			order := s.mustOrder(cardOrder("4444", 10_000))
			if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100}); r.status != 201 {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			for _, tc := range []struct {
				query string
				n     int
			}{
				{"created_lt=0001-01-01T00:00:00Z", 0},
				{"created_lt=0001-01-01T03:00:00%2B03:00", 0},
				{"created_lt=0000-06-01T00:00:00Z", 0},
				{"created_lt=0", 0},
				{"created_gte=0001-01-01T00:00:00Z", 1},
				{"created_gte=0000-06-01T00:00:00Z", 1},
				{"created_gte=0", 1},
				{"created_lt=9999-12-31T23:59:59Z", 1},
				{"created_gte=9999-12-31T23:59:59Z", 0},
				{"created_gte=2300-01-01T00:00:00Z", 0},
				{"created_lt=2300-01-01T00:00:00Z", 1},
				{"created_gte=1600-01-01T00:00:00Z&created_lt=2300-01-01T00:00:00Z", 1},
				// RFC 3339 lets T and Z be lower case; JSON Schema's date-time is RFC 3339.
				{"created_gte=1600-01-01t00:00:00z&created_lt=2300-01-01t00:00:00z", 1},
				{"created_gte=2300-01-01t00:00:00z", 0},
			} {
				t.Run(tc.query, func(t *testing.T) {
					r := s.do("GET", "/v1/refunds?"+tc.query, s.key, nil)
					data, _ := r.get("data").([]any)
					if r.status != 200 || len(data) != tc.n {
						t.Errorf("%d %s; want %d refunds", r.status, r.raw, tc.n)
					}
				})
			}
		})
	}
}

// TestInput_Charset: every surface reads a body as UTF-8, so a
// Content-Type declaring another charset is refused with 415 in the
// surface's shape, and refunds nothing; charset=utf-8 in any case (and
// the common utf8) is UTF-8, and so is US-ASCII, its first 128 characters.
func TestInput_Charset(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	app := fmt.Sprint(s.mer.AppID)
	for _, tc := range []struct {
		name, path, auth string
		headers          []string
		body             string
		want             string // in the 415 reply
	}{
		{"native", "/v1/refunds", "Bearer " + s.key, nil,
			`{"order_id":"` + m.order + `","amount":1,"reason":"caf\u00e9"}`, `"code":"unsupported_media_type"`},
		{"gateway", "/v1/orders/" + m.order + "/refund", "Bearer " + s.key, nil, `{"amount":1}`, `"message"`},
		{"sgate", "/orders/" + m.order + "/refunds", "Bearer " + s.key, nil,
			`{"amount":"0.01","reason":"caf\u00e9"}`, `"code":"unsupported_media_type"`},
		{"upayments", "/api/v1/create-refund", "Bearer " + s.key, nil,
			`{"orderId":"` + m.order + `","totalPrice":"0.01"}`, `"status":false`},
		{"paylink", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund", m.partnerToken.header, nil,
			`{"orderNumber":"` + m.order + `","refundReason":"caf\u00e9"}`, `"code":"unsupported_media_type"`},
		{"techrar", fmt.Sprintf("/order/v1/merchant/invoices/%d/refund/", m.invoice), "Bearer " + s.key, []string{"app-id", app},
			fmt.Sprintf(`{"comments":"x","refunded_items":[{"id":%d,"qty":1}]}`, m.invoiceItem), `"code":"unsupported_media_type"`},
	} {
		for _, ct := range []string{"application/json; charset=latin1", "application/json; charset=ISO-8859-1", "application/json;charset=windows-1256"} {
			t.Run(tc.name+"/"+ct, func(t *testing.T) {
				before := s.refundsOf(m.order)
				r := s.do("POST", tc.path, "", tc.body, append([]string{"Authorization", tc.auth, "Content-Type", ct}, tc.headers...)...)
				if r.status != 415 || !strings.Contains(r.raw, tc.want) {
					t.Errorf("%d %s; want 415 with %s", r.status, r.raw, tc.want)
				}
				if n := s.refundsOf(m.order); n != before {
					t.Errorf("a refused request made %d refunds", n-before)
				}
			})
		}
	}
	for _, ct := range []string{"application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json; charset=utf8", "application/json; charset=us-ascii", "application/json"} {
		t.Run("native/"+ct, func(t *testing.T) {
			r := s.do("POST", "/v1/refunds", "", `{"order_id":"`+m.order+`","amount":1}`, "Authorization", "Bearer "+s.key, "Content-Type", ct)
			if r.status != 201 {
				t.Errorf("%d %s; want 201", r.status, r.raw)
			}
		})
	}
}

// TestInput_CursorShape: a cursor is the id of a page's last object, so
// one that is not shaped like an id refundd makes (lower-case hex and
// dashes after the list's prefix) is refused on every list: "re_zzz"
// sorts after every refund id and listed the first page again, and
// upper-case hex sorts before lower-case, somewhere else than the
// instant it reads as. An id of the list's shape that no object has
// (pruned, or never made) is a place in the list, as ids are
// time-ordered: the objects made before it.
func TestInput_CursorShape(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 100}); r.status != 201 {
		t.Fatal(r.raw)
	}
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "https://hooks.example.com/cursor"})
	if ep.status != 201 {
		t.Fatal(ep.raw)
	}
	for _, l := range []struct{ path, prefix string }{
		{"/v1/orders", "ord"}, {"/v1/refunds", "re"}, {"/v1/events", "evt"}, {"/v1/audit", "aud"},
		{"/v1/discrepancies", "dsc"}, {"/v1/webhook_endpoints/" + ep.str("id") + "/deliveries", "wa"},
	} {
		for _, tc := range []struct {
			cursor string
			ok     bool
		}{
			{l.prefix + "_zzz", false},
			{l.prefix + "_", false},
			{l.prefix + "_0195C2B2-1F3E-7B2A-8C4D-9E0F1A2B3C4D", false},
			{l.prefix + "_0195c2b2 1f3e", false},
			{l.prefix + "_ffffffff-ffff-7fff-bfff-ffffffffffff", true},
			{l.prefix + "_999999999999", true},
		} {
			t.Run(l.path+"/"+tc.cursor, func(t *testing.T) {
				r := s.do("GET", l.path+"?cursor="+url.QueryEscape(tc.cursor), s.key, nil)
				if tc.ok {
					if r.status != 200 {
						t.Errorf("%d %s; want 200", r.status, r.raw)
					}
					return
				}
				expectError(t, r, 400, "invalid_request")
				if r.str("error", "param") != "cursor" {
					t.Errorf("param: want cursor, got %s", r.raw)
				}
			})
		}
	}
}

// TestInput_UnstorableTextInLookups: an id or filter that no store can
// hold as text (a NUL, bytes that are not UTF-8), in a path, a query or
// a body, is the same 400 on both stores (the gateway's, in its path, a
// 404: no order has it), in the surface's shape and naming the field as
// the surface does: PostgreSQL refused it when reading, SQLite answered
// not found or an empty list.
func TestInput_UnstorableTextInLookups(t *testing.T) {
	answers := storeAnswers{}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			m := newMatrix(t, s)
			for _, tc := range []struct {
				name, method, path, auth string
				body                     string
				status                   int
				want                     string
			}{
				{"native/order", "GET", "/v1/orders/ord_%00", "Bearer " + s.key, "", 400, `"param":"id"`},
				{"native/refund", "GET", "/v1/refunds/re_%FF", "Bearer " + s.key, "", 400, `"param":"id"`},
				{"native/cancel", "POST", "/v1/refunds/re_%00/cancel", "Bearer " + s.key, "", 400, `"param":"id"`},
				{"native/endpoint", "GET", "/v1/webhook_endpoints/we_%00", "Bearer " + s.key, "", 400, `"param":"id"`},
				{"native/orders?reference", "GET", "/v1/orders?reference=%FF", "Bearer " + s.key, "", 400, `"param":"reference"`},
				{"native/refunds?order_id", "GET", "/v1/refunds?order_id=%00", "Bearer " + s.key, "", 400, `"param":"order_id"`},
				{"native/events?refund_id", "GET", "/v1/events?refund_id=%00", "Bearer " + s.key, "", 400, `"param":"refund_id"`},
				{"native/invoices?adjustment_id", "GET", "/v1/invoices?adjustment_id=void_%FF", "Bearer " + s.key, "", 400, `"param":"adjustment_id"`},
				{"native/audit?action", "GET", "/v1/audit?action=%FF", "Bearer " + s.key, "", 400, `"param":"action"`},
				{"native/refund.order_id", "POST", "/v1/refunds", "Bearer " + s.key, `{"order_id":"ord_\u0000","amount":1}`, 400, `"param":"order_id"`},
				{"gateway", "POST", "/v1/orders/%00/refund", "Bearer " + s.key, `{"amount":1}`, 404, `"Not Found"`}, // no order has such an id
				{"sgate", "POST", "/orders/%FF/refunds", "Bearer " + s.key, `{"amount":"0.01","reason":"x"}`, 400, `"code":"invalid_request"`},
				{"sgate/list", "GET", "/orders/%00/refunds", "Bearer " + s.key, "", 400, `"code":"invalid_request"`},
				{"upayments", "POST", "/api/v1/create-refund", "Bearer " + s.key, `{"orderId":"a\u0000","totalPrice":"0.01"}`, 400, `"message":"orderId must be UTF-8`},
				{"paylink/orderNumber", "POST", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund", m.partnerToken.header,
					`{"orderNumber":"a\u0000","refundReason":"x"}`, 400, `"message":"orderNumber must be UTF-8`},
				{"paylink/value", "POST", "/rest/partner/v2/merchant/email/a%00b@example.com/refund", m.partnerToken.header,
					`{"orderNumber":"` + m.order + `","refundReason":"x"}`, 400, `"code":"invalid_request"`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					refunds := s.refundsOf(m.order)
					var body any
					if tc.body != "" {
						body = tc.body
					}
					r := s.do(tc.method, tc.path, "", body, "Authorization", tc.auth)
					if r.status != tc.status || !strings.Contains(r.raw, tc.want) {
						t.Errorf("%d %s; want %d with %s", r.status, r.raw, tc.status, tc.want)
					}
					if n := s.refundsOf(m.order); n != refunds {
						t.Errorf("a refused request made %d refunds", n-refunds)
					}
					answers.add(tc.name, b.name, r)
				})
			}
		})
	}
	answers.compare(t)
}
