package paylink_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

const (
	authPath = "/rest/partner/v2/auth"
	secret   = "test-token-secret-of-at-least-32-bytes"
)

// fixture is a server with the Paylink cast: a merchant linked to the
// partner, one that is not (with a partner of its own), and orders.
type fixture struct {
	*dialecttest.Server
	linked, unlinked       *refund.Merchant
	linkedKey, unlinkedKey string
	partner                *refund.Partner
	partnerKey             string
}

func withSecret(c *server.Config) { c.TokenSecret = secret }

func start(t testing.TB, opts ...func(*server.Config)) *fixture {
	t.Helper()
	s := dialecttest.Start(t, append([]func(*server.Config){withSecret}, opts...)...)
	ctx := context.Background()
	f := &fixture{Server: s}
	var err error
	f.linked, f.linkedKey, err = s.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq Al Waha", CR: "1010101010",
		Freelancer: "FL-7788", Email: "refunds@alwaha.example", Mobile: "+966500000001", AccountNo: "SA-ACC-1001"})
	if err != nil {
		t.Fatal(err)
	}
	f.unlinked, f.unlinkedKey, err = s.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Gulf Gadgets", CR: "2020202020"})
	if err != nil {
		t.Fatal(err)
	}
	if f.partner, f.partnerKey, err = s.Service.CreatePartner(ctx, "Platform", []string{f.linked.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err = s.Service.CreatePartner(ctx, "Other Platform", []string{f.unlinked.ID}); err != nil {
		t.Fatal(err)
	}
	return f
}

// order records an order for the merchant behind key.
func (f *fixture) order(key string, in refund.OrderInput) *refund.Order {
	f.TB.Helper()
	ctx := context.Background()
	p, err := f.Service.Authenticate(ctx, key)
	if err != nil {
		f.TB.Fatal(err)
	}
	if in.Currency == "" {
		in.Currency = "SAR"
	}
	if in.Source.LastDigits == "" {
		in.Source = refund.Card{Scheme: "mastercard", LastDigits: "4444"}
	}
	o, err := f.Service.CreateOrder(ctx, p, in)
	if err != nil {
		f.TB.Fatal(err)
	}
	return o
}

// token exchanges an id and key for a token.
func (f *fixture) token(id, key string) string {
	f.TB.Helper()
	r := f.Do("POST", authPath, "", `{"apiId":"`+id+`","secretKey":"`+key+`"}`)
	if r.Status != http.StatusOK || r.Str("id_token") == "" {
		f.TB.Fatalf("auth: %d %s", r.Status, r.Raw)
	}
	return r.Str("id_token")
}

func refundPath(key, value string) string {
	return "/rest/partner/v2/merchant/" + key + "/" + value + "/refund"
}

func body(orderNumber, reason string) string {
	b, _ := json.Marshal(map[string]string{"orderNumber": orderNumber, "refundReason": reason})
	return string(b)
}

// snapshot is what a refused request must leave unchanged on an order.
type snapshot struct {
	refunded, pending int64
	refunds           int
}

func (f *fixture) snap(t testing.TB, key string, orderID string) snapshot {
	t.Helper()
	p, err := f.Service.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.Service.GetOrder(context.Background(), p, orderID)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{o.RefundedAmount, o.PendingRefundAmount, o.RefundCount}
}

func wantShape(t *testing.T, seedFile string, r dialecttest.Reply) {
	t.Helper()
	if d := dialecttest.ShapeDiff(dialecttest.Decode(t, dialecttest.Testdata(t, seedFile)), r.Body); len(d) > 0 {
		t.Fatalf("reply differs from %s:\n%s\n%s", seedFile, strings.Join(d, "\n"), r.Raw)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := start(t)
	seed := strings.NewReplacer("PARTNER_ID", f.partner.ID, "PARTNER_API_KEY", f.partnerKey).
		Replace(dialecttest.Testdata(t, "auth_request.json"))
	for _, tc := range []struct {
		name, body string
		status     int
		role       string
	}{
		{"Partner", seed, 200, "PARTNER"},
		{"PartnerPersistToken", `{"apiId":"` + f.partner.ID + `","secretKey":"` + f.partnerKey + `","persistToken":false}`, 200, "PARTNER"},
		{"Merchant", `{"apiId":"` + f.linked.ID + `","secretKey":"` + f.linkedKey + `"}`, 200, "MERCHANT"},
		{"ErrWrongKey", `{"apiId":"` + f.partner.ID + `","secretKey":"rk_000000000000_00000000000000000000000000000000"}`, 401, ""},
		{"ErrKeyOfAnother", `{"apiId":"` + f.partner.ID + `","secretKey":"` + f.linkedKey + `"}`, 401, ""},
		{"ErrMissingSecret", `{"apiId":"` + f.partner.ID + `"}`, 400, ""},
		{"ErrMissingID", `{"secretKey":"` + f.partnerKey + `"}`, 400, ""},
		{"ErrMalformed", `{"apiId":`, 400, ""},
		{"ErrUnknownField", `{"apiId":"x","secretKey":"y","role":"PARTNER"}`, 400, ""},
		{"ErrWrongType", `{"apiId":1,"secretKey":"y"}`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.Do("POST", authPath, "", tc.body)
			if r.Status != tc.status {
				t.Fatalf("want %d, got %d %s", tc.status, r.Status, r.Raw)
			}
			if tc.status != 200 {
				wantError(t, r, tc.status)
				return
			}
			wantShape(t, "auth_reply.json", r)
			var c jwt.MapClaims
			if _, err := jwt.ParseWithClaims(r.Str("id_token"), &c, func(*jwt.Token) (any, error) { return []byte(secret), nil },
				jwt.WithTimeFunc(f.Clock.Now)); err != nil {
				t.Fatalf("token does not verify with the configured secret: %v", err)
			}
			if c["role"] != tc.role || c["sub"] == "" || c["exp"] == nil {
				t.Fatalf("claims %v, want role %s with sub and exp", c, tc.role)
			}
		})
	}
}

// wantError checks the error body: the status again, its text, a
// message and a code.
func wantError(t *testing.T, r dialecttest.Reply, status int) {
	t.Helper()
	if r.Status != status || r.Str("status") != strconv.Itoa(status) {
		t.Fatalf("want %d, got %d %s", status, r.Status, r.Raw)
	}
	if r.Str("error") != http.StatusText(status) || r.Str("message") == "" || r.Str("code") == "" {
		t.Fatalf("error body: %s", r.Raw)
	}
}

func TestRefund_SeedExample(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.order(f.linkedKey, refund.OrderInput{Reference: "1722731077436", Amount: 12500})
	tok := f.token(f.partner.ID, f.partnerKey)
	r := f.Do("POST", refundPath("email", "refunds@alwaha.example"), tok, dialecttest.Testdata(t, "refund_request.json"))
	if r.Status != http.StatusOK {
		t.Fatalf("refund: %d %s", r.Status, r.Raw)
	}
	wantShape(t, "refund_reply.json", r)
	for field, want := range map[string]string{"orderNumber": "1722731077436", "amount": "125.00", "currency": "SAR",
		"refundReason": "Client canceled the order.", "createDatetime": strconv.FormatInt(f.Clock.Now().UnixMilli(), 10)} {
		if got := r.Str(field); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	if !strings.Contains(r.Raw, `"amount":125.00,`) {
		t.Errorf("amount is not the exact decimal 125.00: %s", r.Raw)
	}
	if got := f.snap(t, f.linkedKey, o.ID); got.refunded != 12500 || got.pending != 0 {
		t.Fatalf("order after the refund: %+v", got)
	}
}

func TestRefund_ByEveryKey(t *testing.T) {
	t.Parallel()
	f := start(t)
	tok := f.token(f.partner.ID, f.partnerKey)
	var lastID int64
	for _, tc := range []struct {
		key, value, currency string
		amount               int64
		want                 string
	}{
		{"cr", "1010101010", "SAR", 262346, "2623.46"},
		{"freelancer", "FL-7788", "SAR", 100, "1.00"},
		{"mobile", "+966500000001", "AED", 5, "0.05"},
		{"email", "refunds@alwaha.example", "SAR", 99999, "999.99"},
		{"accountNo", "SA-ACC-1001", "KWD", 1005, "1.005"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			ref := "ORD-" + tc.key
			f.order(f.linkedKey, refund.OrderInput{Reference: ref, Currency: tc.currency, Amount: tc.amount})
			r := f.Do("POST", refundPath(tc.key, tc.value), tok, body(ref, "damaged"))
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			wantShape(t, "refund_reply.json", r)
			if !strings.Contains(r.Raw, `"amount":`+tc.want+`,`) || r.Str("currency") != tc.currency {
				t.Fatalf("want the whole remainder %s %s exactly: %s", tc.want, tc.currency, r.Raw)
			}
			// Integer ids: unique and increasing across orders.
			id, err := r.Get("id").(json.Number).Int64()
			if err != nil || id <= lastID {
				t.Fatalf("id %v after %d", r.Get("id"), lastID)
			}
			lastID = id
		})
	}
}

// TestRefund_SharedLookupValues: another partner's merchant, created
// first, shares the linked merchant's cr, email and mobile; the partner
// still finds its own merchant, with the email in any case.
func TestRefund_SharedLookupValues(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	twin, twinKey, err := f.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Twin", CR: "3030303030",
		Email: "shop@twin.example", Mobile: "+966500000077"})
	if err != nil {
		t.Fatal(err)
	}
	mine, mineKey, err := f.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Mine", CR: "3030303030",
		Email: "Shop@Twin.example", Mobile: "+966500000077"})
	if err != nil {
		t.Fatal(err)
	}
	if twin.AppID >= mine.AppID {
		t.Fatalf("app ids %d, %d: the twin must come first", twin.AppID, mine.AppID)
	}
	p, pKey, err := f.Service.CreatePartner(ctx, "Mine's platform", []string{mine.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(p.ID, pKey)
	for i, tc := range []struct{ key, value string }{
		{"cr", "3030303030"}, {"email", "SHOP@TWIN.EXAMPLE"}, {"email", "shop@twin.example"}, {"mobile", "+966500000077"},
	} {
		ref := "ORD-TWIN-" + strconv.Itoa(i)
		theirs := f.order(twinKey, refund.OrderInput{Reference: ref, Amount: 700})
		ours := f.order(mineKey, refund.OrderInput{Reference: ref, Amount: 500})
		r := f.Do("POST", refundPath(tc.key, tc.value), tok, body(ref, "x"))
		if r.Status != http.StatusOK || !strings.Contains(r.Raw, `"amount":5.00,`) {
			t.Fatalf("%s=%s: %d %s", tc.key, tc.value, r.Status, r.Raw)
		}
		if got := f.snap(t, mineKey, ours.ID); got.refunded != 500 {
			t.Fatalf("%s: the partner's merchant was not refunded: %+v", tc.key, got)
		}
		if got := f.snap(t, twinKey, theirs.ID); got.refunds != 0 {
			t.Fatalf("%s: the other merchant's order was refunded: %+v", tc.key, got)
		}
	}
}

// TestRefund_AmbiguousLookupRefused: a partner linked to two merchants
// that share a cr, an email or a mobile (one owner's two shops) cannot
// tell them apart by it. Taking the first refunded the first shop's order
// of that number, which may not be the order meant; the lookup is refused
// in Paylink's shape, neither order is touched, and a value the two do
// not share still finds its merchant.
func TestRefund_AmbiguousLookupRefused(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	var keys []string
	var ids []string
	for _, acc := range []string{"ACC-TWIN-1", "ACC-TWIN-2"} {
		m, key, err := f.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Shop " + acc, CR: "4040404040",
			Email: "owner@shops.example", Mobile: "+966500000088", AccountNo: acc})
		if err != nil {
			t.Fatal(err)
		}
		keys, ids = append(keys, key), append(ids, m.ID)
	}
	p, pKey, err := f.Service.CreatePartner(ctx, "Both shops' platform", ids)
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(p.ID, pKey)
	for i, tc := range []struct{ key, value string }{
		{"cr", "4040404040"}, {"email", "OWNER@shops.example"}, {"mobile", "+966500000088"},
	} {
		ref := "ORD-SHOPS-" + strconv.Itoa(i)
		first := f.order(keys[0], refund.OrderInput{Reference: ref, Amount: 700})
		second := f.order(keys[1], refund.OrderInput{Reference: ref, Amount: 500})
		r := f.Do("POST", refundPath(tc.key, tc.value), tok, body(ref, "x"))
		wantError(t, r, http.StatusBadRequest)
		if !strings.Contains(r.Raw, "more than one merchant") {
			t.Fatalf("%s=%s: %s, want the ambiguity named", tc.key, tc.value, r.Raw)
		}
		if a, b := f.snap(t, keys[0], first.ID), f.snap(t, keys[1], second.ID); a.refunds != 0 || b.refunds != 0 {
			t.Fatalf("%s=%s refunded an order: %+v, %+v", tc.key, tc.value, a, b)
		}
		r = f.Do("POST", refundPath("accountNo", "ACC-TWIN-2"), tok, body(ref, "x"))
		if r.Status != http.StatusOK || !strings.Contains(r.Raw, `"amount":5.00,`) {
			t.Fatalf("accountNo: %d %s", r.Status, r.Raw)
		}
		if a := f.snap(t, keys[0], first.ID); a.refunds != 0 {
			t.Fatalf("the first shop's order was refunded: %+v", a)
		}
	}
}

// TestRefund_SharedValueOneOrder: two shops linked to the partner share
// every value a partner can name them by (no accountNo), and neither
// their keys nor the partner's links can change. An orderNumber that
// only one of them holds (refundd's order id, unique in the
// installation, or a reference the other never used) names one order of
// one shop: it is refunded there, and only there. Refusing it left both
// shops' orders unrefundable on this surface, the first shop's being
// refundable before.
func TestRefund_SharedValueOneOrder(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	var keys, ids []string
	for _, name := range []string{"Shop one", "Shop two"} {
		m, key, err := f.Service.CreateMerchant(ctx, refund.MerchantInput{Name: name, CR: "5050505050",
			Email: "owner@pair.example", Mobile: "+966500000066"})
		if err != nil {
			t.Fatal(err)
		}
		keys, ids = append(keys, key), append(ids, m.ID)
	}
	p, pKey, err := f.Service.CreatePartner(ctx, "The pair's platform", ids)
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(p.ID, pKey)
	for i, tc := range []struct {
		name, key, value string
		shop             int  // whose order the orderNumber names
		byID             bool // refundd's order id, not the reference
	}{
		{"IDOfTheSecond", "cr", "5050505050", 1, true},
		{"IDOfTheFirst", "email", "OWNER@pair.example", 0, true},
		{"ReferenceOnlyTheSecondHas", "mobile", "+966500000066", 1, false},
		{"ReferenceOnlyTheFirstHas", "cr", "5050505050", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := "ORD-PAIR-" + strconv.Itoa(i)
			o := f.order(keys[tc.shop], refund.OrderInput{Reference: ref, Amount: int64(300 + 100*tc.shop)})
			other := f.order(keys[1-tc.shop], refund.OrderInput{Reference: ref + "-OTHER", Amount: 900})
			number := ref
			if tc.byID {
				number = o.ID
			}
			r := f.Do("POST", refundPath(tc.key, tc.value), tok, body(number, "x"))
			want := `"amount":` + map[int]string{0: "3.00", 1: "4.00"}[tc.shop] + `,`
			if r.Status != http.StatusOK || !strings.Contains(r.Raw, want) {
				t.Fatalf("%s=%s %s: %d %s", tc.key, tc.value, number, r.Status, r.Raw)
			}
			if got := f.snap(t, keys[tc.shop], o.ID); got.refunded != o.Amount {
				t.Fatalf("the order named was not refunded: %+v", got)
			}
			if got := f.snap(t, keys[1-tc.shop], other.ID); got.refunds != 0 {
				t.Fatalf("the other shop's order was refunded: %+v", got)
			}
		})
	}
	// An order number neither shop holds is no order found for the key
	// and value: the seed's 404.
	r := f.Do("POST", refundPath("cr", "5050505050"), tok, body("ORD-PAIR-NONE", "x"))
	wantError(t, r, http.StatusNotFound)
}

func TestRefund_Errors(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-1001", Amount: 10000})
	other := f.order(f.unlinkedKey, refund.OrderInput{Reference: "ORD-2001", Amount: 10000})
	partner := f.token(f.partner.ID, f.partnerKey)
	merchant := f.token(f.linked.ID, f.linkedKey)
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": f.partner.ID, "role": "PARTNER",
		"iss": "refundd", "exp": f.Clock.Now().Add(time.Hour).Unix()}).SignedString([]byte("another-secret-of-at-least-32-bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": f.partner.ID, "role": "PARTNER",
		"iss": "refundd", "exp": f.Clock.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	good := body("ORD-1001", "damaged")
	for _, tc := range []struct {
		name, path, token, body string
		status                  int
	}{
		{"ErrNoToken", refundPath("cr", "1010101010"), "", good, 401},
		{"ErrGarbageToken", refundPath("cr", "1010101010"), "not-a-token", good, 401},
		{"ErrOtherSecret", refundPath("cr", "1010101010"), forged, good, 401},
		{"ErrAlgNone", refundPath("cr", "1010101010"), none, good, 401},
		{"ErrAPIKeyIsNoToken", refundPath("cr", "1010101010"), f.partnerKey, good, 401},
		{"ErrMerchantToken", refundPath("cr", "1010101010"), merchant, good, 403},
		{"ErrUnknownMerchant", refundPath("cr", "9999999999"), partner, good, 404},
		{"ErrUnlinkedMerchant", refundPath("cr", "2020202020"), partner, body("ORD-2001", "x"), 404},
		{"ErrUnknownOrder", refundPath("cr", "1010101010"), partner, body("ORD-404", "x"), 404},
		{"ErrOtherMerchantsOrder", refundPath("cr", "1010101010"), partner, body(other.ID, "x"), 404},
		{"ErrUnknownKey", refundPath("iban", "1010101010"), partner, good, 400},
		{"ErrEmailLongerThanAny", refundPath("email", strings.Repeat("a", 243)+"@example.com"), partner, good, 404},
		{"ErrCRLongerThanAny", refundPath("cr", strings.Repeat("1", 300)), partner, good, 404},
		{"ErrAppIDIsNoKey", refundPath("app_id", "1"), partner, good, 400},
		{"ErrMalformed", refundPath("cr", "1010101010"), partner, `{"orderNumber":`, 400},
		{"ErrEmptyBody", refundPath("cr", "1010101010"), partner, ``, 400},
		{"ErrMissingOrderNumber", refundPath("cr", "1010101010"), partner, `{"refundReason":"x"}`, 400},
		{"ErrMissingReason", refundPath("cr", "1010101010"), partner, `{"orderNumber":"ORD-1001"}`, 400},
		{"ErrNumberOrderNumber", refundPath("cr", "1010101010"), partner, `{"orderNumber":1001,"refundReason":"x"}`, 400},
		{"ErrUnknownField", refundPath("cr", "1010101010"), partner, `{"orderNumber":"ORD-1001","refundReason":"x","amount":1}`, 400},
		{"ErrTrailingData", refundPath("cr", "1010101010"), partner, good + `{}`, 400},
		{"ErrReasonTooLong", refundPath("cr", "1010101010"), partner, body("ORD-1001", strings.Repeat("x", 501)), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.snap(t, f.linkedKey, o.ID)
			r := f.Do("POST", tc.path, tc.token, tc.body)
			wantError(t, r, tc.status)
			// A 401 says where a token comes from: an API key sent in its
			// place was answered "invalid or expired token" alone.
			if tc.status == 401 && !strings.Contains(r.Str("message"), "/rest/partner/v2/auth") {
				t.Fatalf("a 401 that does not say where to get a token: %s", r.Raw)
			}
			if after := f.snap(t, f.linkedKey, o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
			if got := f.snap(t, f.unlinkedKey, other.ID); got.refunds != 0 {
				t.Fatalf("the unlinked merchant's order was refunded: %+v", got)
			}
		})
	}
}

// TestRoutes_AnswerInTheShape: a path or a method outside the two routes
// is answered in Paylink's error shape, not in the mux's text, and a
// method a route does not take names the one it does.
func TestRoutes_AnswerInTheShape(t *testing.T) {
	t.Parallel()
	f := start(t)
	o := f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-1001", Amount: 10000})
	partner := f.token(f.partner.ID, f.partnerKey)
	for _, tc := range []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"AuthByGet", "GET", authPath, 405, "POST"},
		{"RefundByPut", "PUT", refundPath("cr", "1010101010"), 405, "POST"},
		{"RefundByDelete", "DELETE", refundPath("cr", "1010101010"), 405, "POST"},
		{"EscapedSlashSegment", "POST", refundPath("cr", "%2F"), 404, ""},
		{"EscapedSlashKey", "POST", refundPath("%2F", "1010101010"), 404, ""},
		{"UnknownPath", "POST", "/rest/partner/v2/merchant/cr/1010101010/refunds", 404, ""},
		{"Prefix", "GET", "/rest/partner/v2/", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.snap(t, f.linkedKey, o.ID)
			r := f.Do(tc.method, tc.path, partner, body("ORD-1001", "damaged"))
			wantError(t, r, tc.status)
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow: %q, want %q", got, tc.allow)
			}
			if want := map[int]string{404: "route_not_found", 405: "method_not_allowed"}[tc.status]; r.Str("code") != want {
				t.Fatalf("code %q, want %q", r.Str("code"), want)
			}
			if after := f.snap(t, f.linkedKey, o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
}

// TestRefund_UnlinkedLooksMissing: a partner cannot tell a merchant linked
// only to another partner from one that does not exist.
func TestRefund_UnlinkedLooksMissing(t *testing.T) {
	t.Parallel()
	f := start(t)
	tok := f.token(f.partner.ID, f.partnerKey)
	path := refundPath("email", "ops@newcomer.example")
	missing := f.Do("POST", path, tok, body("ORD-1", "x"))
	m, key, err := f.Service.CreateMerchant(context.Background(), refund.MerchantInput{Name: "Newcomer", Email: "ops@newcomer.example"})
	if err != nil {
		t.Fatal(err)
	}
	f.order(key, refund.OrderInput{Reference: "ORD-1", Amount: 5000})
	unlinked := f.Do("POST", path, tok, body("ORD-1", "x"))
	wantError(t, missing, 404)
	if unlinked.Status != missing.Status || unlinked.Raw != missing.Raw {
		t.Fatalf("unlinked merchant answers differently from a missing one:\n%d %s\n%d %s",
			missing.Status, missing.Raw, unlinked.Status, unlinked.Raw)
	}
	// Neither does a link to another partner.
	if _, _, err := f.Service.CreatePartner(context.Background(), "Third", []string{m.ID}); err != nil {
		t.Fatal(err)
	}
	if r := f.Do("POST", path, tok, body("ORD-1", "x")); r.Status != 404 {
		t.Fatalf("another partner's link must not help this one: %d %s", r.Status, r.Raw)
	}
}

func TestRefund_TokenLifetime(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-1", Amount: 5000})
	f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-2", Amount: 5000})
	tok := f.token(f.partner.ID, f.partnerKey)
	f.Clock.Advance(29 * time.Minute)
	if r := f.Do("POST", refundPath("cr", "1010101010"), tok, body("ORD-1", "x")); r.Status != 200 {
		t.Fatalf("token within its lifetime: %d %s", r.Status, r.Raw)
	}
	f.Clock.Advance(time.Minute + time.Second)
	r := f.Do("POST", refundPath("cr", "1010101010"), tok, body("ORD-2", "x"))
	wantError(t, r, 401)
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	// A fresh token works again.
	if r := f.Do("POST", refundPath("cr", "1010101010"), f.token(f.partner.ID, f.partnerKey), body("ORD-2", "x")); r.Status != 200 {
		t.Fatalf("fresh token: %d %s", r.Status, r.Raw)
	}
}

func TestRefund_RevokedKeyStopsItsTokens(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-1", Amount: 5000})
	tok := f.token(f.partner.ID, f.partnerKey)
	p, err := f.Service.Authenticate(context.Background(), f.partnerKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Service.RevokeKey(context.Background(), p.KeyID); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.Do("POST", refundPath("cr", "1010101010"), tok, body("ORD-1", "x")), 401)
	wantError(t, f.Do("POST", authPath, "", `{"apiId":"`+f.partner.ID+`","secretKey":"`+f.partnerKey+`"}`), 401)
}

func TestRefund_Outcomes(t *testing.T) {
	t.Parallel()
	f := start(t)
	tok := f.token(f.partner.ID, f.partnerKey)
	path := refundPath("cr", "1010101010")

	// A second full refund finds nothing left: 400, nothing changes.
	o := f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-1", Amount: 5000})
	if r := f.Do("POST", path, tok, body("ORD-1", "x")); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	wantError(t, f.Do("POST", path, tok, body(o.ID, "again")), 400)
	if got := f.snap(t, f.linkedKey, o.ID); got.refunded != 5000 || got.refunds != 1 {
		t.Fatalf("after the second try: %+v", got)
	}

	// A partial refund made elsewhere leaves the rest for Paylink.
	o = f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-2", Amount: 5000})
	p, _ := f.Service.Authenticate(context.Background(), f.linkedKey)
	amount := int64(1234)
	if _, err := f.Service.CreateRefund(context.Background(), p, refund.RefundInput{OrderID: o.ID, Amount: &amount}); err != nil {
		t.Fatal(err)
	}
	if r := f.Do("POST", path, tok, body("ORD-2", "rest")); r.Status != 200 || !strings.Contains(r.Raw, `"amount":37.66,`) {
		t.Fatalf("rest of ORD-2: %d %s", r.Status, r.Raw)
	}

	// Declined by the processor: not a success, and the id to look it up.
	o = f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-3", Amount: 5000, Source: refund.Card{LastDigits: "0051"}})
	r := f.Do("POST", path, tok, body("ORD-3", "x"))
	wantError(t, r, 422)
	if r.Str("code") != "refund_declined" || r.Get("id") == nil || !strings.Contains(r.Str("message"), "51") {
		t.Fatalf("declined: %s", r.Raw)
	}
	if got := f.snap(t, f.linkedKey, o.ID); got.refunded != 0 || got.pending != 0 {
		t.Fatalf("declined refund kept money: %+v", got)
	}
}

// TestRefund_RateLimited: a token spends the rate of the key behind it.
func TestRefund_RateLimited(t *testing.T) {
	t.Parallel()
	f := start(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 1, 1 })
	f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-1", Amount: 5000})
	tok := f.token(f.partner.ID, f.partnerKey) // spends the one request the burst allows
	r := f.Do("POST", refundPath("cr", "1010101010"), tok, body("ORD-1", "x"))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || r.Str("code") != "rate_limited" {
		t.Fatalf("want 429 with Retry-After, got %d %v %s", r.Status, r.Header, r.Raw)
	}
	f.Clock.Advance(time.Second)
	if r := f.Do("POST", refundPath("cr", "1010101010"), tok, body("ORD-1", "x")); r.Status != 200 {
		t.Fatalf("after a second: %d %s", r.Status, r.Raw)
	}
}

// TestRefund_ReplayOfACanceledRefund: a refund retried with its key after
// the key's answer has expired finds the refund by that key; canceled
// meanwhile (rejected by an approver), it must not answer as a refund
// paid, which is all the seed's reply can say.
func TestRefund_ReplayOfACanceledRefund(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	tok := f.token(f.partner.ID, f.partnerKey)
	p, err := f.Service.Authenticate(ctx, f.linkedKey)
	if err != nil {
		t.Fatal(err)
	}
	limits := map[string]int64{"SAR": 1000}
	if _, err := f.Service.PutRefundPolicy(ctx, p, refund.RefundPolicyInput{ApprovalThreshold: &limits}); err != nil {
		t.Fatal(err)
	}
	o := f.order(f.linkedKey, refund.OrderInput{Reference: "ORD-R", Amount: 5000})
	send := func() dialecttest.Reply {
		return f.Do("POST", refundPath("cr", "1010101010"), tok, body("ORD-R", "x"), "Idempotency-Key", "pl-replay-1")
	}
	if r := send(); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	page, err := f.Service.ListRefunds(ctx, p, refund.RefundFilter{OrderID: o.ID})
	if err != nil || len(page.Data) != 1 || page.Data[0].Status != refund.StatusRequiresApproval {
		t.Fatalf("the waiting refund: %+v, %v", page, err)
	}
	_, approver, err := f.Service.CreateKey(ctx, f.linked.ID, "", []string{refund.ScopeRefundsApprove})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := f.Service.Authenticate(ctx, approver)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Service.RejectRefund(ctx, ap, page.Data[0].ID, "duplicate"); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(25 * time.Hour) // the key's answer expires
	if _, err := f.Service.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	tok = f.token(f.partner.ID, f.partnerKey)
	r := send()
	wantError(t, r, 422)
	if r.Str("code") != "refund_canceled" || !strings.Contains(r.Str("message"), "canceled (rejected): duplicate") {
		t.Fatalf("replay of the rejected refund: %s", r.Raw)
	}
	if got := f.snap(t, f.linkedKey, o.ID); got.refunded != 0 || got.pending != 0 || got.refunds != 1 {
		t.Fatalf("after the replay: %+v", got)
	}
}
