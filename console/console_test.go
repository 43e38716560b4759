package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/console"
	"github.com/refundd/refundd/refund"
)

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	ctx := context.Background()
	revoked, revokedKey, err := e.srv.Service.CreateKey(ctx, e.mer.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Service.RevokeKey(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, partnerKey, err := e.srv.Service.CreatePartner(ctx, "Partner Co", []string{e.mer.ID})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    string
		status int
		text   string
	}{
		{"OK", e.key, http.StatusSeeOther, ""},
		{"OKPastedWithSpaces", "  " + e.key + "\n", http.StatusSeeOther, ""},
		{"ErrEmpty", "", http.StatusBadRequest, "Paste your API key"},
		{"ErrNotAKey", "password123", http.StatusUnauthorized, "That API key was not accepted"},
		{"ErrUnknownKey", "rk_000000000000_00000000000000000000000000000000", http.StatusUnauthorized, "That API key was not accepted"},
		{"ErrWrongSecret", e.key[:len(e.key)-4] + "0000", http.StatusUnauthorized, "That API key was not accepted"},
		{"ErrRevokedKey", revokedKey, http.StatusUnauthorized, "That API key was not accepted"},
		{"ErrPartnerKey", partnerKey, http.StatusForbidden, "This is a partner key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			p := b.signIn(tt.key)
			if p.status != tt.status {
				t.Fatalf("want %d, got %d: %s", tt.status, p.status, p.text())
			}
			orders := b.get("/console/orders")
			if tt.status != http.StatusSeeOther {
				mustContain(t, p, tt.text)
				if k := strings.TrimSpace(tt.key); k != "" {
					mustNotContain(t, p, k)
				}
				if c := p.header.Values("Set-Cookie"); strings.Contains(strings.Join(c, ";"), "refundd_console=") {
					t.Fatalf("a refused sign-in set a session cookie: %q", c)
				}
				if orders.status != http.StatusSeeOther || orders.location != "/console/login" {
					t.Fatalf("after a refused sign-in the orders page answered %d %q", orders.status, orders.location)
				}
				return
			}
			if p.location != "/console/orders" {
				t.Fatalf("want a redirect to the orders, got %q", p.location)
			}
			var session string
			for _, c := range p.header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "refundd_console=") {
					session = c
				}
			}
			for _, attr := range []string{"Path=/console", "HttpOnly", "SameSite=Strict", "Max-Age="} {
				if !strings.Contains(session, attr) {
					t.Errorf("session cookie %q lacks %s", session, attr)
				}
			}
			if strings.Contains(session, "Secure") {
				t.Errorf("session cookie over plain HTTP is Secure (the browser would drop it): %q", session)
			}
			if strings.Contains(session, strings.TrimSpace(tt.key)) || strings.Contains(session, refund.KeyPrefix(e.key)) {
				t.Errorf("session cookie holds the key: %q", session)
			}
			if orders.status != http.StatusOK {
				t.Fatalf("orders page after sign-in: %d %s", orders.status, orders.text())
			}
			mustContain(t, orders, "Souq Al Khaleej", "ORD-KWD-2001", "Sign out")
			mustNotContain(t, orders, e.key)
		})
	}
}

func TestPagesNeedASession(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.browser()
	tests := []struct {
		name, method, path string
		status             int
		location           string
	}{
		{"Root", "GET", "/console", http.StatusSeeOther, "/console/"},
		{"RootSlash", "GET", "/console/", http.StatusSeeOther, "/console/login"},
		{"Orders", "GET", "/console/orders", http.StatusSeeOther, "/console/login"},
		{"Order", "GET", "/console/orders/" + e.orders["ORD-KWD-2001"], http.StatusSeeOther, "/console/login"},
		{"Refund", "POST", "/console/orders/" + e.orders["ORD-KWD-2001"] + "/refunds", http.StatusSeeOther, "/console/login"},
		{"Webhooks", "GET", "/console/webhooks", http.StatusSeeOther, "/console/login"},
		{"Invoice", "GET", "/console/invoices/1/xml", http.StatusSeeOther, "/console/login"},
		{"SignOut", "POST", "/console/logout", http.StatusSeeOther, "/console/login"},
		{"UnknownPage", "GET", "/console/nowhere", http.StatusNotFound, ""},
		{"LoginPage", "GET", "/console/login", http.StatusOK, ""},
		{"Stylesheet", "GET", "/console/console.css", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p page
			if tt.method == "POST" {
				p = b.post(tt.path, url.Values{"kind": {"full"}})
			} else {
				p = b.get(tt.path)
			}
			if p.status != tt.status || p.location != tt.location {
				t.Fatalf("want %d %q, got %d %q", tt.status, tt.location, p.status, p.location)
			}
			if p.header.Get("Content-Security-Policy") == "" && strings.HasPrefix(tt.path, "/console/") {
				t.Errorf("no Content-Security-Policy on %s", tt.path)
			}
		})
	}
	if len(e.refunds("ORD-KWD-2001")) != 0 {
		t.Fatal("a refund form posted without a session made a refund")
	}
	css := b.get("/console/console.css")
	if ct := css.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") || len(css.body) < 100 {
		t.Fatalf("stylesheet: %q, %d bytes", ct, len(css.body))
	}
	login := b.get("/console/login")
	if strings.Contains(login.body, "<script") || strings.Contains(login.body, "http://") || strings.Contains(login.body, "https://") {
		t.Fatalf("the sign-in page loads a script or something from elsewhere:\n%s", login.body)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	orderID := e.orders["ORD-KWD-2001"]
	var queued struct{ ID string }
	e.api("POST", "/v1/refunds", e.key, jsonBody(map[string]any{"order_id": orderID, "amount": 100, "queue": true}), http.StatusCreated, &queued)
	b := e.mustSignIn(e.key)
	token := b.get("/console/refunds/" + queued.ID).csrf(t)
	other := e.mustSignIn(e.key).get("/console/orders").csrf(t)
	if other == token {
		t.Fatal("two sessions share a CSRF token")
	}
	cancel := "/console/refunds/" + queued.ID + "/cancel"
	tests := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"CancelNoToken", cancel, url.Values{}, nil},
		{"CancelWrongToken", cancel, url.Values{"csrf": {"not-the-token"}}, nil},
		{"CancelOtherSessionsToken", cancel, url.Values{"csrf": {other}}, nil},
		{"CancelForeignOrigin", cancel, url.Values{"csrf": {token}}, []string{"Origin", "https://evil.example"}},
		{"CancelCrossSiteNoOrigin", cancel, url.Values{"csrf": {token}}, []string{"Origin", "", "Sec-Fetch-Site", "cross-site"}},
		{"RefundNoToken", "/console/orders/" + orderID + "/refunds",
			url.Values{"kind": {"full"}, "idempotency_key": {"k1"}, "reason": {"x"}}, nil},
		{"RefundOtherSessionsToken", "/console/orders/" + orderID + "/refunds",
			url.Values{"csrf": {other}, "kind": {"full"}, "idempotency_key": {"k2"}, "reason": {"x"}}, nil},
		{"SignOutNoToken", "/console/logout", url.Values{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post(tt.path, tt.form, tt.headers...)
			if p.status != http.StatusForbidden {
				t.Fatalf("want 403, got %d %q: %s", p.status, p.location, p.text())
			}
			mustContain(t, p, "This form has expired or did not come from the console", "nothing was changed")
		})
	}
	// Nothing changed: the refund is still queued, no other refund was
	// made, and the session survived the refused sign-out.
	if rs := e.refunds("ORD-KWD-2001"); len(rs) != 1 || rs[0].Status != refund.StatusPending {
		t.Fatalf("after refused forms: %d refunds, first %s", len(rs), rs[0].Status)
	}
	if p := b.get("/console/orders"); p.status != http.StatusOK {
		t.Fatalf("session ended by a refused sign-out: %d", p.status)
	}
	// The same cancel with the session's token works.
	if p := b.post(cancel, url.Values{"csrf": {token}}); p.status != http.StatusSeeOther {
		t.Fatalf("cancel with the right token: %d %s", p.status, p.text())
	}
	if rs := e.refunds("ORD-KWD-2001"); rs[0].Status != refund.StatusCanceled {
		t.Fatalf("cancel with the right token left the refund %s", rs[0].Status)
	}

	t.Run("SignInWithoutFormToken", func(t *testing.T) {
		nb := e.browser()
		p := nb.post("/console/login", url.Values{"key": {e.key}})
		if p.status != http.StatusForbidden {
			t.Fatalf("want 403, got %d %q", p.status, p.location)
		}
		if o := nb.get("/console/orders"); o.status != http.StatusSeeOther {
			t.Fatalf("signed in without the form's token: %d", o.status)
		}
	})
	t.Run("SignInFromAnotherSite", func(t *testing.T) {
		nb := e.browser()
		form := nb.get("/console/login")
		p := nb.post("/console/login", url.Values{"csrf": {form.csrf(t)}, "key": {e.key}}, "Origin", "https://evil.example")
		if p.status != http.StatusForbidden {
			t.Fatalf("want 403, got %d %q", p.status, p.location)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		idle  []time.Duration // pauses between uses after sign-in
		alive bool
	}{
		{"UsedWithinIdleTimeout", []time.Duration{console.IdleTimeout - time.Minute}, true},
		{"KeptAliveByUse", []time.Duration{7 * time.Hour, 7 * time.Hour, 7 * time.Hour}, true},
		{"IdleTooLong", []time.Duration{console.IdleTimeout + time.Second}, false},
		{"OlderThanMaxAge", []time.Duration{7 * time.Hour, 7 * time.Hour, 7 * time.Hour, 3*time.Hour + time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustStart(t, false)
			b := e.mustSignIn(e.key)
			var p page
			for _, d := range tt.idle {
				e.clock.Advance(d)
				p = b.get("/console/orders")
			}
			if tt.alive {
				if p.status != http.StatusOK {
					t.Fatalf("session ended early: %d %q", p.status, p.location)
				}
				return
			}
			if p.status != http.StatusSeeOther || p.location != "/console/login?m=expired" {
				t.Fatalf("want a redirect to sign in again, got %d %q", p.status, p.location)
			}
			mustContain(t, b.get(p.location), "Your session ended", "Sign in")
			// The cookie was cleared and the session is gone for good.
			if again := b.get("/console/orders"); again.status != http.StatusSeeOther || again.location != "/console/login" {
				t.Fatalf("expired session answered %d %q", again.status, again.location)
			}
		})
	}
}

func TestRevokedKeySignsOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
	}{
		{"NextPage", "GET"},
		{"NextForm", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustStart(t, false)
			ctx := context.Background()
			k, key, err := e.srv.Service.CreateKey(ctx, e.mer.ID, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			orderID := e.orders["ORD-KWD-2001"]
			b := e.mustSignIn(key)
			orderPage := b.get("/console/orders/" + orderID)
			if orderPage.status != http.StatusOK {
				t.Fatalf("order page: %d", orderPage.status)
			}
			if err := e.srv.Service.RevokeKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			var p page
			if tt.method == "GET" {
				p = b.get("/console/orders/" + orderID)
			} else {
				p = b.post("/console/orders/"+orderID+"/refunds", url.Values{"csrf": {orderPage.csrf(t)}, "kind": {"full"},
					"reason": {"x"}, "idempotency_key": {orderPage.idempotencyKey(t, "full")}})
			}
			if p.status != http.StatusSeeOther || p.location != "/console/login?m=revoked" {
				t.Fatalf("want a redirect to sign in, got %d %q", p.status, p.location)
			}
			mustContain(t, b.get(p.location), "no longer accepted")
			if again := b.get("/console/orders"); again.status != http.StatusSeeOther || again.location != "/console/login" {
				t.Fatalf("the session outlived its key: %d %q", again.status, again.location)
			}
			if rs := e.refunds("ORD-KWD-2001"); len(rs) != 0 {
				t.Fatalf("a revoked key made %d refunds", len(rs))
			}
		})
	}
}

func TestOtherMerchantsObjectsAreNotFound(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	ctx := context.Background()
	orderID := e.orders["ORD-SAR-1001"]
	var queued struct{ ID string }
	e.api("POST", "/v1/refunds", e.key, jsonBody(map[string]any{"order_id": orderID, "amount": 100, "queue": true}), http.StatusCreated, &queued)
	var invoices struct{ Data []struct{ ID int64 } }
	e.api("GET", "/v1/invoices?order_id="+orderID, e.key, "", http.StatusOK, &invoices)
	if len(invoices.Data) == 0 {
		t.Fatal("the seeded SAR order has no tax invoice")
	}
	invoiceID := invoices.Data[0].ID
	var endpoint struct{ ID string }
	e.api("POST", "/v1/webhook_endpoints", e.key, `{"url":"https://hooks.example.com/a"}`, http.StatusCreated, &endpoint)

	_, otherKey, err := e.srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Other Merchant"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.mustSignIn(otherKey)
	token := b.get("/console/orders").csrf(t)
	tests := []struct {
		name, method, path string
		form               url.Values
	}{
		{"Order", "GET", "/console/orders/" + orderID, nil},
		{"RefundTheOrder", "POST", "/console/orders/" + orderID + "/refunds",
			url.Values{"csrf": {token}, "kind": {"full"}, "reason": {"x"}, "idempotency_key": {"k"}}},
		{"Refund", "GET", "/console/refunds/" + queued.ID, nil},
		{"CancelRefund", "POST", "/console/refunds/" + queued.ID + "/cancel", url.Values{"csrf": {token}}},
		{"Invoice", "GET", "/console/invoices/" + strconv.FormatInt(invoiceID, 10) + "/xml", nil},
		{"WebhookEndpoint", "GET", "/console/webhooks/" + endpoint.ID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p page
			if tt.method == "POST" {
				p = b.post(tt.path, tt.form)
			} else {
				p = b.get(tt.path)
			}
			if p.status != http.StatusNotFound {
				t.Fatalf("want 404, got %d: %s", p.status, p.text())
			}
			mustContain(t, p, "There is no such")
			mustNotContain(t, p, "ORD-SAR-1001", "hooks.example.com")
		})
	}
	t.Run("SearchByReference", func(t *testing.T) {
		p := b.get("/console/orders?q=ORD-SAR-1001")
		mustContain(t, p, "No order has the id or reference")
		if strings.Contains(p.body, orderID) && strings.Contains(p.body, "/console/orders/"+orderID) {
			t.Fatal("search found another merchant's order")
		}
	})
	t.Run("Lists", func(t *testing.T) {
		mustNotContain(t, b.get("/console/orders"), "ORD-SAR", "ORD-KWD")
		mustNotContain(t, b.get("/console/webhooks"), "hooks.example.com")
	})
	o := e.order("ORD-SAR-1001")
	if rs := e.refunds("ORD-SAR-1001"); len(rs) != 1 || rs[0].Status != refund.StatusPending || o.PendingRefundAmount != 100 || o.RefundedAmount != 0 {
		t.Fatalf("another merchant changed the order: %d refunds, pending %d, refunded %d", len(rs), o.PendingRefundAmount, o.RefundedAmount)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	tests := []struct {
		name   string
		order  string
		kind   string
		fields url.Values
		status int
		text   []string
	}{
		{"EmptyAmount", "ORD-KWD-2001", "partial", url.Values{"amount": {""}}, 422, []string{"Enter an amount in KWD, such as 1.005"}},
		{"Letters", "ORD-KWD-2001", "partial", url.Values{"amount": {"abc"}}, 422, []string{"Type the amount as digits"}},
		{"TooManyDecimals", "ORD-KWD-2001", "partial", url.Values{"amount": {"1.0005"}}, 422, []string{"KWD has 3 decimals"}},
		{"TooManyDecimalsSAR", "ORD-SAR-1001", "partial", url.Values{"amount": {"1.005"}}, 422, []string{"SAR has 2 decimals"}},
		{"Negative", "ORD-KWD-2001", "partial", url.Values{"amount": {"-1"}}, 422, []string{"Type the amount as digits"}},
		{"Exponent", "ORD-KWD-2001", "partial", url.Values{"amount": {"1e3"}}, 422, []string{"Type the amount as digits"}},
		{"Comma", "ORD-KWD-2001", "partial", url.Values{"amount": {"1,5"}}, 422, []string{"Type the amount as digits"}},
		{"ArabicDigits", "ORD-KWD-2001", "partial", url.Values{"amount": {"١٫٥"}}, 422, []string{"Type the amount as digits"}},
		{"Zero", "ORD-KWD-2001", "partial", url.Values{"amount": {"0.000"}}, 422, []string{"greater than zero"}},
		{"Overflow", "ORD-KWD-2001", "partial", url.Values{"amount": {"99999999999999999999"}}, 422, []string{"too large"}},
		{"MoreThanLeft", "ORD-KWD-2001", "partial", url.Values{"amount": {"12.346"}}, 422,
			[]string{"That is more than is left to refund", "12.346 KWD", "12.345 KWD"}},
		{"ReasonTooLong", "ORD-KWD-2001", "partial", url.Values{"amount": {"1.000"}, "reason": {strings.Repeat("r", 501)}}, 400,
			[]string{"reason is at most 500 characters"}},
		{"SplitOrderNeedsVendors", "ORD-KWD-2002", "partial", url.Values{"amount": {"1.000"}}, 400, []string{"split between vendors"}},
		{"QtyNotANumber", "ORD-SAR-1001", "items", url.Values{"item_id": {"line-1", "line-2"}, "qty": {"x", ""}}, 400,
			[]string{"whole numbers of units"}},
		{"QtyNegative", "ORD-SAR-1001", "items", url.Values{"item_id": {"line-1", "line-2"}, "qty": {"-1", ""}}, 400,
			[]string{"whole numbers of units"}},
		{"QtyMoreThanSold", "ORD-SAR-1001", "items", url.Values{"item_id": {"line-1", "line-2"}, "qty": {"3", ""}}, 422,
			[]string{"That is more than is left to refund", "sold 2"}},
		{"NoQty", "ORD-SAR-1001", "items", url.Values{"item_id": {"line-1", "line-2"}, "qty": {"", "0"}}, 400,
			[]string{"at least one line"}},
		{"UnknownLine", "ORD-SAR-1001", "items", url.Values{"item_id": {"line-9"}, "qty": {"1"}}, 400, []string{"line-9"}},
		{"VendorLetters", "ORD-KWD-2002", "vendors", url.Values{"vendor_id": {"vendor-a", "vendor-b"}, "vendor_amount": {"abc", ""}}, 422,
			[]string{"Type the amount as digits"}},
		{"VendorMoreThanShare", "ORD-KWD-2002", "vendors", url.Values{"vendor_id": {"vendor-a", "vendor-b"}, "vendor_amount": {"50.001", ""}}, 422,
			[]string{"That is more than is left to refund", "vendor-a"}},
		{"NoVendorAmount", "ORD-KWD-2002", "vendors", url.Values{"vendor_id": {"vendor-a", "vendor-b"}, "vendor_amount": {"", " "}}, 400,
			[]string{"at least one vendor"}},
		{"UnknownKind", "ORD-KWD-2001", "everything", url.Values{}, 400, []string{"Choose a full, partial"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := url.Values{"reason": {"customer request"}}
			for k, v := range tt.fields {
				fields[k] = v
			}
			orderID := e.orders[tt.order]
			kind := tt.kind
			if kind == "everything" {
				kind = "full"
			}
			page := b.get("/console/orders/" + orderID)
			form := url.Values{"csrf": {page.csrf(t)}, "kind": {tt.kind}, "idempotency_key": {page.idempotencyKey(t, kind)}}
			for k, v := range fields {
				form[k] = v
			}
			p := b.post("/console/orders/"+orderID+"/refunds", form)
			if p.status != tt.status {
				t.Fatalf("want %d, got %d %q: %s", tt.status, p.status, p.location, p.text())
			}
			mustContain(t, p, tt.text...)
			if !strings.Contains(p.body, `role="alert"`) {
				t.Fatal("the error is not shown as an alert")
			}
			// The form comes back as it was typed, with a new key.
			if a := tt.fields.Get("amount"); tt.kind == "partial" && a != "" && a != "١٫٥" && !strings.Contains(p.body, `value="`+a+`"`) {
				t.Errorf("the typed amount %q is not in the form again", a)
			}
			if p.idempotencyKey(t, kind) == form.Get("idempotency_key") {
				t.Error("the form came back with the key it was sent with")
			}
			o := e.order(tt.order)
			if o.RefundedAmount != 0 || o.PendingRefundAmount != 0 || len(e.refunds(tt.order)) != 0 {
				t.Fatalf("bad input changed the order: refunded %d, pending %d, %d refunds",
					o.RefundedAmount, o.PendingRefundAmount, len(e.refunds(tt.order)))
			}
		})
	}
}

func TestRefundKinds(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	tests := []struct {
		name      string
		order     string
		kind      string
		fields    url.Values
		status    refund.Status
		refunded  int64    // the order's refunded amount afterwards, minor units
		orderText []string // on the order page after the redirect
	}{
		{"PartialKWD", "ORD-KWD-2001", "partial", url.Values{"amount": {"1.005"}}, refund.StatusSucceeded, 1005,
			[]string{"Refund of 1.005 KWD: succeeded", "Refunded 1.005 KWD", "Left to refund 11.340 KWD"}},
		{"FullRest", "ORD-KWD-2001", "full", nil, refund.StatusSucceeded, 12345,
			[]string{"Refund of 11.340 KWD: succeeded", "Refunded 12.345 KWD", "Left to refund 0.000 KWD"}},
		{"LineItem", "ORD-SAR-1001", "items", url.Values{"item_id": {"line-1", "line-2"}, "qty": {"1", ""}}, refund.StatusSucceeded, 1033,
			[]string{"Refund of 10.33 SAR: succeeded", "Refunded 10.33 SAR", "Left to refund 20.66 SAR"}},
		{"Vendors", "ORD-KWD-2002", "vendors", url.Values{"vendor_id": {"vendor-a", "vendor-b"}, "vendor_amount": {"1.25", "0.750"}},
			refund.StatusSucceeded, 2000, []string{"Refund of 2.000 KWD: succeeded", "Refunded 2.000 KWD", "48.750 KWD"}},
		{"Declined", "ORD-SAR-1051", "partial", url.Values{"amount": {"10"}}, refund.StatusFailed, 0,
			[]string{"Refund of 10.00 SAR: failed", "The processor said:", "(code 51)", "Refunded 0.00 SAR"}},
		{"Queued", "ORD-SAR-1051", "partial", url.Values{"amount": {"0.50"}, "queue": {"on"}}, refund.StatusPending, 0,
			[]string{"Refund of 0.50 SAR: pending", "Queued", "Refunds in progress 0.50 SAR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.refunds(tt.order))
			fields := url.Values{"reason": {"damaged in transit"}}
			for k, v := range tt.fields {
				fields[k] = v
			}
			_, p := b.refundForm(e.orders[tt.order], tt.kind, fields)
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/console/orders/"+e.orders[tt.order]+"?refund=") {
				t.Fatalf("want a redirect to the order, got %d %q: %s", p.status, p.location, p.text())
			}
			rs := e.refunds(tt.order)
			if len(rs) != before+1 || rs[0].Status != tt.status || rs[0].Surface != console.Surface || rs[0].Reason != "damaged in transit" {
				t.Fatalf("want one more refund, %s via console; have %d (was %d), newest %+v", tt.status, len(rs), before, rs[0])
			}
			if got := e.order(tt.order).RefundedAmount; got != tt.refunded {
				t.Fatalf("refunded amount: want %d, got %d", tt.refunded, got)
			}
			mustContain(t, b.get(p.location), tt.orderText...)
		})
	}
}

func TestDoubleSubmitRefundsOnce(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	orderID := e.orders["ORD-KWD-2001"]
	page := b.get("/console/orders/" + orderID)
	form := url.Values{"csrf": {page.csrf(t)}, "kind": {"partial"}, "idempotency_key": {page.idempotencyKey(t, "partial")},
		"amount": {"1.005"}, "reason": {"double click"}}
	first := b.post("/console/orders/"+orderID+"/refunds", form)
	second := b.post("/console/orders/"+orderID+"/refunds", form)
	if first.status != http.StatusSeeOther || first.location != second.location {
		t.Fatalf("want both sends to show the same refund, got %d %q and %d %q", first.status, first.location, second.status, second.location)
	}
	if rs, o := e.refunds("ORD-KWD-2001"), e.order("ORD-KWD-2001"); len(rs) != 1 || o.RefundedAmount != 1005 {
		t.Fatalf("a double submit made %d refunds, refunded %d", len(rs), o.RefundedAmount)
	}
	// The same form sent again with another amount is refused, not a
	// second refund.
	form.Set("amount", "2.000")
	p := b.post("/console/orders/"+orderID+"/refunds", form)
	if p.status != http.StatusConflict {
		t.Fatalf("want 409, got %d: %s", p.status, p.text())
	}
	mustContain(t, p, "already sent with other values")
	if rs := e.refunds("ORD-KWD-2001"); len(rs) != 1 {
		t.Fatalf("a reused form made %d refunds", len(rs))
	}
	// A fresh render refunds again.
	if _, p := b.refundForm(orderID, "partial", url.Values{"amount": {"1.005"}, "reason": {"second item"}}); p.status != http.StatusSeeOther {
		t.Fatalf("a new form: %d %s", p.status, p.text())
	}
	if o := e.order("ORD-KWD-2001"); o.RefundedAmount != 2010 {
		t.Fatalf("refunded %d, want 2010", o.RefundedAmount)
	}
}

// TestDoubleSubmitWhileTheFirstIsOut: a refund form sent twice while the
// first send is still at the processor (a double click; the processor
// takes seconds) is answered "still being sent" (409), on the order page
// with the form as it was filled in. Sending that form again, as anyone
// would, must not refund a second time: it carries the first send's
// idempotency key, so it is refused while the first is out and shows the
// first refund once it is done.
func TestDoubleSubmitWhileTheFirstIsOut(t *testing.T) {
	t.Parallel()
	called, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	var calls atomic.Int64
	approve := acquirerAnswer(map[string]any{"status": "approved", "response_code": "00", "message": "ok"})
	e := startOnProcessor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(called)
			<-release
		}
		approve(w, r)
	}))
	t.Cleanup(free) // before the acquirer's Close, which waits for the call
	var o struct{ ID string }
	e.api("POST", "/v1/orders", e.key, jsonBody(map[string]any{"reference": "ORD-1", "currency": "SAR", "amount": 5000,
		"payment_method": "card", "source": map[string]any{"scheme": "visa", "first_digits": "400000", "last_digits": "0002", "month": 12, "year": 2027}}),
		http.StatusCreated, &o)
	e.orders["ORD-1"] = o.ID
	b := e.mustSignIn(e.key)
	path := "/console/orders/" + o.ID + "/refunds"
	orderPage := b.get("/console/orders/" + o.ID)
	fields := url.Values{"kind": {"partial"}, "amount": {"10.00"}, "reason": {"double click"}}
	form := func(p page) url.Values {
		f := url.Values{"csrf": {p.csrf(t)}, "idempotency_key": {p.idempotencyKey(t, "partial")}}
		for k, v := range fields {
			f[k] = v
		}
		return f
	}
	first := make(chan page, 1)
	go func() {
		req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form(orderPage).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		resp, err := b.c.Do(req)
		if err != nil {
			first <- page{}
			return
		}
		resp.Body.Close()
		first <- page{status: resp.StatusCode, location: resp.Header.Get("Location")}
	}()
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the first send never reached the processor")
	}
	answer := b.post(path, form(orderPage))
	if answer.status != http.StatusConflict {
		t.Fatalf("the second send while the first is out: want 409, got %d: %s", answer.status, answer.text())
	}
	mustContain(t, answer, "still being sent")
	for _, tc := range []struct {
		name     string
		firstOut bool // the first send is still at the processor
		status   int
	}{
		{"AgainWhileTheFirstIsOut", true, http.StatusConflict},
		{"AgainAfterTheFirst", false, http.StatusSeeOther},
	} {
		var firstShown string
		if !tc.firstOut {
			free()
			p := <-first
			if p.status != http.StatusSeeOther {
				t.Fatalf("the first send: %d", p.status)
			}
			firstShown = p.location
		}
		// The answer's own form, as the page shows it.
		again := b.post(path, form(answer))
		if again.status != tc.status {
			t.Errorf("%s: want %d, got %d: %s", tc.name, tc.status, again.status, again.text())
		}
		if rs := e.refunds("ORD-1"); len(rs) != 1 {
			t.Fatalf("%s: the order has %d refunds, want 1", tc.name, len(rs))
		}
		if firstShown != "" && again.location != firstShown {
			t.Errorf("%s: shows %q, want the first refund %q", tc.name, again.location, firstShown)
		}
		if again.status == http.StatusConflict {
			answer = again
		}
	}
	if got, want := e.order("ORD-1").RefundedAmount, int64(1000); got != want {
		t.Fatalf("refunded %d, want %d", got, want)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the processor was called %d times, want 1", n)
	}
}

func TestCancelQueuedRefund(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	orderID := e.orders["ORD-KWD-2001"]
	_, p := b.refundForm(orderID, "partial", url.Values{"amount": {"2.500"}, "reason": {"changed mind"}, "queue": {"on"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("queue a refund: %d %s", p.status, p.text())
	}
	refundID := strings.TrimPrefix(p.location, "/console/orders/"+orderID+"?refund=")
	rp := b.get("/console/refunds/" + refundID)
	mustContain(t, rp, "Refund of 2.500 KWD pending", "Cancel this refund", "created via console")
	c := b.post("/console/refunds/"+refundID+"/cancel", url.Values{"csrf": {rp.csrf(t)}})
	if c.status != http.StatusSeeOther || c.location != "/console/refunds/"+refundID+"?m=canceled" {
		t.Fatalf("cancel: %d %q %s", c.status, c.location, c.text())
	}
	after := b.get(c.location)
	mustContain(t, after, "Refund of 2.500 KWD canceled", "The refund was canceled", "canceled by merchant")
	if strings.Contains(after.text(), "Cancel this refund") {
		t.Fatal("a canceled refund still offers to cancel")
	}
	o := e.order("ORD-KWD-2001")
	if o.PendingRefundAmount != 0 || o.RefundedAmount != 0 {
		t.Fatalf("after cancel: pending %d, refunded %d", o.PendingRefundAmount, o.RefundedAmount)
	}
	// A stale cancel form is refused in words and changes nothing.
	again := b.post("/console/refunds/"+refundID+"/cancel", url.Values{"csrf": {rp.csrf(t)}})
	if again.status != http.StatusConflict {
		t.Fatalf("cancel twice: want 409, got %d", again.status)
	}
	mustContain(t, again, "can no longer be canceled", "this one is canceled")

	// A refund that went to the processor cannot be canceled.
	_, p = b.refundForm(orderID, "partial", url.Values{"amount": {"1.000"}, "reason": {"now"}})
	done := strings.TrimPrefix(p.location, "/console/orders/"+orderID+"?refund=")
	dp := b.get("/console/refunds/" + done)
	if strings.Contains(dp.text(), "Cancel this refund") {
		t.Fatal("a succeeded refund offers to cancel")
	}
	if r := b.post("/console/refunds/"+done+"/cancel", url.Values{"csrf": {dp.csrf(t)}}); r.status != http.StatusConflict {
		t.Fatalf("cancel a succeeded refund: want 409, got %d", r.status)
	}
	if o := e.order("ORD-KWD-2001"); o.RefundedAmount != 1000 {
		t.Fatalf("refunded %d, want 1000", o.RefundedAmount)
	}
}

func TestOrderPage(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	tests := []struct {
		name  string
		ref   string
		want  []string
		never []string
	}{
		{"KWDVendors", "ORD-KWD-2002", []string{"Order amount 75.500 KWD", "Al Shaya Perfumes", refund.MaskIBAN("KW81CBKU0000000000001234560101"),
			refund.MaskIBAN("KW86NBOK0000000000002012345678"), "50.000 KWD", "25.500 KWD", "Vendor refund", "capture succeeded 75.500 KWD"},
			[]string{"KW81CBKU0000000000001234560101", "KW86NBOK0000000000002012345678", "Line-item refund"}},
		// Line items are named in the page's language (English here; the
		// Arabic names are TestArabic's).
		{"SARItems", "ORD-SAR-1001", []string{"Order amount 30.99 SAR", "Arabic coffee 250g", "10.33 SAR", "15 %",
			"mada card ending 4444", "tax invoice (XML)", "Line-item refund"}, []string{"Vendor refund", "قهوة عربية"}},
		{"KWDCard", "ORD-KWD-2001", []string{"Order amount 12.345 KWD", "Left to refund 12.345 KWD", "No refunds yet"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/console/orders/" + e.orders[tt.ref])
			if p.status != http.StatusOK {
				t.Fatalf("order page: %d", p.status)
			}
			mustContain(t, p, tt.want...)
			mustNotContain(t, p, tt.never...)
		})
	}
	t.Run("Missing", func(t *testing.T) {
		if p := b.get("/console/orders/ord_nope"); p.status != http.StatusNotFound {
			t.Fatalf("want 404, got %d", p.status)
		}
	})
}

func TestRefundInvoiceDownload(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	orderID := e.orders["ORD-SAR-1001"]
	_, p := b.refundForm(orderID, "items", url.Values{"item_id": {"line-1", "line-2"}, "qty": {"", "1"}, "reason": {"stale dates"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("line-item refund: %d %s", p.status, p.text())
	}
	refundID := strings.TrimPrefix(p.location, "/console/orders/"+orderID+"?refund=")
	rp := b.get("/console/refunds/" + refundID)
	link := regexpFind(t, rp.body, `href="(/console/invoices/[0-9]+/xml)" id="invoice-xml"`)
	x := b.get(link)
	if x.status != http.StatusOK || !strings.HasPrefix(x.header.Get("Content-Type"), "application/xml") ||
		!strings.HasPrefix(x.header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("invoice XML: %d %q %q", x.status, x.header.Get("Content-Type"), x.header.Get("Content-Disposition"))
	}
	if !strings.Contains(x.body, "<?xml") || !strings.Contains(x.body, "10.33") {
		t.Fatalf("not the refund invoice's XML:\n%.500s", x.body)
	}
	mustContain(t, b.get("/console/orders/"+orderID), "XML")
	for _, bad := range []string{"/console/invoices/0/xml", "/console/invoices/abc/xml", "/console/invoices/999999/xml"} {
		if p := b.get(bad); p.status != http.StatusNotFound {
			t.Errorf("%s: want 404, got %d", bad, p.status)
		}
	}
}

func TestOrdersListAndSearch(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	newestFirst := []string{"ORD-KWD-2001", "ORD-KWD-2002", "ORD-SAR-1001", "ORD-SAR-1051"}

	all := b.get("/console/orders")
	text := all.text()
	last := -1
	for _, ref := range newestFirst {
		i := strings.Index(text, ref)
		if i < 0 || i < last {
			t.Fatalf("orders not listed newest first (%s at %d after %d):\n%s", ref, i, last, text)
		}
		last = i
	}
	mustContain(t, all, "12.345 KWD", "30.99 SAR")

	first := b.get("/console/orders?limit=3")
	next := regexpFind(t, first.body, `rel="next" href="([^"]+)"`)
	mustContain(t, first, newestFirst[:3]...)
	mustNotContain(t, first, newestFirst[3])
	second := b.get(strings.ReplaceAll(next, "&amp;", "&"))
	mustContain(t, second, newestFirst[3], "First page")
	mustNotContain(t, second, newestFirst[0], `rel="next"`)

	tests := []struct {
		name   string
		q      string
		status int
		want   string
	}{
		{"ByReference", "ORD-KWD-2002", 200, "75.500 KWD"},
		{"ByID", e.orders["ORD-SAR-1001"], 200, "ORD-SAR-1001"},
		{"Spaces", "  ORD-KWD-2002 ", 200, "75.500 KWD"},
		{"NoMatch", "ORD-0000", 200, "No order has the id or reference “ORD-0000”"},
		{"Markup", "<b>x</b>", 200, "No order has the id or reference “<b>x</b>”"},
		{"TooLong", strings.Repeat("x", 129), 400, "at most 128 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/console/orders?q=" + url.QueryEscape(tt.q))
			if p.status != tt.status {
				t.Fatalf("want %d, got %d", tt.status, p.status)
			}
			mustContain(t, p, tt.want)
			if strings.Contains(p.body, "<b>x</b>") {
				t.Fatal("the query was echoed unescaped")
			}
		})
	}
	for _, bad := range []string{"0", "101", "x"} {
		if p := b.get("/console/orders?limit=" + bad); p.status != http.StatusBadRequest {
			t.Errorf("limit=%s: want 400, got %d", bad, p.status)
		}
	}
}

func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	// The receiver refuses refund.created and takes everything else.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		if ev.Type == refund.EventRefundCreated {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer receiver.Close()
	var endpoint struct{ ID, Secret string }
	e.api("POST", "/v1/webhook_endpoints", e.key, jsonBody(map[string]any{"url": receiver.URL + "/hook"}), http.StatusCreated, &endpoint)
	e.api("POST", "/v1/refunds", e.key, jsonBody(map[string]any{"order_id": e.orders["ORD-KWD-2001"], "amount": 1005}), http.StatusCreated, nil)
	if n, err := e.srv.Webhooks.RunOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("deliveries sent: %d, %v", n, err)
	}
	b := e.mustSignIn(e.key)
	for _, path := range []string{"/console/webhooks", "/console/webhooks/" + endpoint.ID} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		mustContain(t, p, receiver.URL+"/hook", "refund.created", "refund.succeeded", "1 500", "1 200")
		mustNotContain(t, p, endpoint.Secret)
		// Two attempts at 09:00:00 UTC (12:00 in Riyadh, the merchant's
		// zone) and the refused one's retry a few seconds later (5 s with
		// jitter); the accepted one has none.
		_, log, _ := strings.Cut(p.text(), "Next retry")
		if n := strings.Count(log, "2026-03-01 12:00:"); n != 3 || strings.Count(log, " +03:00") != 3 || !strings.Contains(log, "—") {
			t.Fatalf("want 2 attempt times and 1 retry time, found %d:\n%s", n, p.text())
		}
	}
	if p := b.get("/console/webhooks/we_nope"); p.status != http.StatusNotFound {
		t.Fatalf("unknown endpoint: %d", p.status)
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	token := b.get("/console/orders").csrf(t)
	u, _ := url.Parse(e.srv.URL() + "/console/orders")
	var old *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "refundd_console" {
			old = c
		}
	}
	if old == nil {
		t.Fatal("no session cookie after sign-in")
	}
	p := b.post("/console/logout", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || p.location != "/console/login?m=signed_out" {
		t.Fatalf("sign out: %d %q", p.status, p.location)
	}
	mustContain(t, b.get(p.location), "You are signed out")
	if o := b.get("/console/orders"); o.status != http.StatusSeeOther {
		t.Fatalf("orders after sign-out: %d", o.status)
	}
	// The session is gone on the server too: its old cookie opens nothing.
	replay := e.browser()
	req, _ := http.NewRequest("GET", e.srv.URL()+"/console/orders", nil)
	req.AddCookie(old)
	if o := replay.do(req); o.status != http.StatusSeeOther || o.location != "/console/login" {
		t.Fatalf("the signed-out session's cookie still works: %d %q", o.status, o.location)
	}
}

// regexpFind returns the first group of pattern in s, or fails.
func regexpFind(t *testing.T, s, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in:\n%s", pattern, s)
	}
	return m[1]
}

// The discrepancies page lists what needs a person: here a chargeback of
// money a refund had already returned.
func TestDiscrepanciesPage(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.mustSignIn(e.key)
	mustContain(t, b.get("/console/discrepancies"), "No discrepancies.")
	orderID := e.orders["ORD-KWD-2001"]
	o := e.order("ORD-KWD-2001")
	e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q}`, orderID), http.StatusCreated, nil)
	e.api("POST", "/v1/orders/"+orderID+"/chargebacks", e.key, fmt.Sprintf(`{"amount":%d,"processor_reference":"CB-CONSOLE"}`, o.CapturedAmount),
		http.StatusCreated, nil)
	p := b.get("/console/discrepancies")
	mustContain(t, p, "chargeback_after_refund", orderID, "refunds had already returned", "Open: needs a person")
	html := func(p page, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(p.body, w) {
				t.Fatalf("page (%d) lacks %q:\n%s", p.status, w, p.body)
			}
		}
	}
	html(b.get("/console/"), `<strong id="count-discrepancies">1</strong>`)

	// A key without refunds:review sees it but no form, and is refused.
	var scopes []string
	for _, sc := range refund.MerchantScopes {
		if sc != refund.ScopeRefundsReview {
			scopes = append(scopes, sc)
		}
	}
	_, readOnly, err := e.srv.Service.CreateKey(context.Background(), e.mer.ID, "", scopes)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct {
			ID         string
			Status     string
			ResolvedBy string `json:"resolved_by"`
		}
	}
	e.api("GET", "/v1/discrepancies", e.key, "", http.StatusOK, &list)
	if len(list.Data) != 1 {
		t.Fatalf("%d discrepancies, want 1", len(list.Data))
	}
	id := list.Data[0].ID
	action := `action="/console/discrepancies/` + id + `/resolve"`
	reader := e.mustSignIn(readOnly)
	rp := reader.get("/console/discrepancies")
	mustContain(t, rp, "Open: needs a person")
	mustNotContain(t, rp, action)
	if r := reader.post("/console/discrepancies/"+id+"/resolve", url.Values{"csrf": {rp.csrf(t)}, "note": {"settled"}}); r.status != http.StatusForbidden {
		t.Fatalf("resolved without refunds:review: %d", r.status)
	}
	html(p, action)
	row := `data-discrepancy="` + id + `"`
	html(b.get("/console/discrepancies?status=open"), row, "Open: needs a person")
	if rp := b.get("/console/discrepancies?status=resolved"); strings.Contains(rp.body, row) {
		t.Fatalf("an open discrepancy listed as resolved:\n%s", rp.body)
	}
	resolve := func(id, note string) page {
		t.Helper()
		return b.post("/console/discrepancies/"+id+"/resolve", url.Values{"csrf": {p.csrf(t)}, "note": {note}})
	}
	if r := resolve(id, "   "); r.status != http.StatusBadRequest {
		t.Fatalf("a blank note: %d", r.status)
	}
	if r := resolve("dsc_missing", "settled"); r.status != http.StatusNotFound {
		t.Fatalf("an unknown discrepancy: %d", r.status)
	} else {
		mustContain(t, r, "No such discrepancy.")
	}
	mustContain(t, b.get("/console/discrepancies"), "Open: needs a person")

	// Resolved, it stays listed with when, by whom and the note, and no
	// longer counts as open on the overview or the attention page.
	e.clock.Advance(time.Hour)
	r := resolve(id, "<b>paid back</b> by transfer")
	if r.status != http.StatusSeeOther || r.location != "/console/discrepancies?m=resolved" {
		t.Fatalf("resolve: %d to %q", r.status, r.location)
	}
	e.api("GET", "/v1/discrepancies?status=resolved", e.key, "", http.StatusOK, &list)
	if len(list.Data) != 1 || list.Data[0].ID != id || list.Data[0].ResolvedBy == "" {
		t.Fatalf("resolved discrepancies: %+v", list.Data)
	}
	p = b.get(r.location)
	mustContain(t, p, "Resolved: the discrepancy stays listed with your note",
		"Resolved 2026-03-01 13:00:00 +03:00 by "+list.Data[0].ResolvedBy, "<b>paid back</b> by transfer")
	mustNotContain(t, p, "Open: needs a person", action)
	html(p, `data-status="resolved"`, `<bdi class="resolution">&lt;b&gt;paid back&lt;/b&gt; by transfer</bdi>`)
	html(b.get("/console/"), `<strong id="count-discrepancies">0</strong>`, `href="/console/discrepancies?status=open"`)
	html(b.get("/console/attention"), `href="/console/discrepancies?status=open" id="to-discrepancies">Open discrepancies</a>: <strong>0</strong>`)
	// The overview's link shows the open ones; resolved ones are a click
	// away, and a status that is none is refused.
	open := b.get("/console/discrepancies?status=open")
	mustContain(t, open, "No discrepancies.")
	html(open, `href="/console/discrepancies?status=open" aria-current="page"`)
	if strings.Contains(open.body, row) {
		t.Fatalf("a resolved discrepancy listed as open:\n%s", open.body)
	}
	html(b.get("/console/discrepancies?status=resolved"), row, `data-status="resolved"`)
	if bad := b.get("/console/discrepancies?status=closed"); bad.status != http.StatusBadRequest {
		t.Fatalf("an unknown status: %d", bad.status)
	}
	if again := resolve(id, "again"); again.status != http.StatusConflict {
		t.Fatalf("resolving again: %d", again.status)
	} else {
		mustContain(t, again, "This discrepancy was resolved before")
	}
	b.lang = "ar"
	mustContain(t, b.get("/console/discrepancies"), "سُوّي في 2026-03-01 13:00:00 +03:00 بواسطة "+list.Data[0].ResolvedBy)
}

// TestOrderPage_VoidsAndChargebacks: the order page lists the order's
// voids and chargebacks, newest first, with kind, amount and what of it
// applied in the order's currency, reason and time, and links each to
// its credit notes when the order is invoiced (one per part of a
// chargeback applied in parts); the amounts say what was charged back.
// An order without a tax invoice lists its void without a note; one
// with neither shows no such section; the same in Arabic. Before, the
// page showed none of it, and the refundable amount dropped unexplained.
func TestOrderPage_VoidsAndChargebacks(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	sar, kwd := e.orders["ORD-SAR-1001"], e.orders["ORD-KWD-2001"]
	adjust := func(orderID, kind, body string) string {
		var a struct{ ID string }
		e.api("POST", "/v1/orders/"+orderID+"/"+kind, e.key, body, http.StatusCreated, &a)
		return a.ID
	}
	void := adjust(sar, "voids", `{"amount":1033,"reason":"out of stock"}`)
	e.clock.Advance(time.Minute)
	cb := adjust(sar, "chargebacks", `{"amount":500,"reason":"fraud","processor_reference":"CB-77"}`)
	kwdVoid := adjust(kwd, "voids", `{"amount":1005,"reason":"دفعة مكررة"}`)
	var notes struct {
		Data []struct {
			ID           int64
			Serial       string
			AdjustmentID string `json:"adjustment_id"`
		}
	}
	e.api("GET", "/v1/invoices?type=refund&order_id="+sar, e.key, "", http.StatusOK, &notes)
	if len(notes.Data) != 2 {
		t.Fatalf("%d credit notes, want the void's and the chargeback's", len(notes.Data))
	}
	noteOf := map[string]string{}
	for _, n := range notes.Data {
		noteOf[n.AdjustmentID] = fmt.Sprintf(`<a class="mono" href="/console/invoices/%d/xml">%s</a>`, n.ID, n.Serial)
	}

	b := e.mustSignIn(e.key)
	p := b.get("/console/orders/" + sar)
	if p.status != http.StatusOK {
		t.Fatalf("order page: %d", p.status)
	}
	mustContain(t, p, "Voids and chargebacks", "Voided 10.33 SAR", "Charged back 5.00 SAR", "Left to refund 15.66 SAR",
		"void 10.33 SAR 10.33 SAR out of stock", "chargeback 5.00 SAR 5.00 SAR fraud", "2026-03-01 12:01:00 +03:00")
	rows := regexp.MustCompile(`(?s)<tr data-adjustment="([^"]+)">(.*?)</tr>`).FindAllStringSubmatch(p.body, -1)
	if len(rows) != 2 || rows[0][1] != cb || rows[1][1] != void {
		t.Fatalf("adjustment rows %v, want %s then %s", rows, cb, void)
	}
	for _, row := range rows {
		if !strings.Contains(row[2], noteOf[row[1]]) {
			t.Errorf("the row of %s has no link to its credit note %s:\n%s", row[1], noteOf[row[1]], row[2])
		}
	}
	link := regexpFind(t, rows[1][2], `href="(/console/invoices/[0-9]+/xml)"`)
	if x := b.get(link); x.status != http.StatusOK || !strings.Contains(x.body, "<cbc:InvoiceTypeCode") ||
		!strings.Contains(x.body, "void: out of stock") {
		t.Fatalf("the void's credit note: %d\n%.500s", x.status, x.body)
	}

	k := b.get("/console/orders/" + kwd)
	mustContain(t, k, "Voided 1.005 KWD", "void 1.005 KWD 1.005 KWD دفعة مكررة")
	mustNotContain(t, k, "Charged back", `href="/console/invoices/`)
	if !strings.Contains(k.body, `<tr data-adjustment="`+kwdVoid+`">`) {
		t.Fatalf("the KWD order's void is not listed: %s", k.text())
	}
	mustNotContain(t, b.get("/console/orders/"+e.orders["ORD-KWD-2002"]), "Voids and chargebacks")

	b.lang = "ar"
	a := b.get("/console/orders/" + sar)
	mustSpeak(t, a, "ar")
	mustNotSay(t, a, englishWords...)
	mustContain(t, a, "الإبطالات والاعتراضات على العمليات", "المُسترجَع بالاعتراض 5.00 SAR", "إبطال 10.33 SAR 10.33 SAR out of stock",
		"اعتراض على العملية 5.00 SAR 5.00 SAR fraud")
	if !strings.Contains(a.body, noteOf[cb]) {
		t.Fatalf("the Arabic page has no link to the chargeback's credit note %s", noteOf[cb])
	}
}
