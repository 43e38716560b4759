package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// TestAuthorizationMatrix walks every route of every surface, as the
// server registered them, and sends each the wrong callers: no credential,
// a malformed one, a revoked key, a key without the route's scope, another
// merchant's key (on this merchant's objects), and on the partner route a
// merchant token, an expired token and a partner not linked to the
// merchant. Each gets the status its surface documents in that surface's
// error shape; nothing changes; and another tenant's object answers
// exactly like a missing one. A route without an entry here fails the
// test, so a new route cannot skip the matrix.
func TestAuthorizationMatrix(t *testing.T) {
	s := mustStart(t, func(c *server.Config) { c.TokenSecret = strings.Repeat("k", 32) })
	ctx := context.Background()
	m := newMatrix(t, s)

	type entry struct {
		surface string
		scope   string // what a merchant key needs ("" for public routes and the partner route)
		body    string // a request that would change something if it were let through
		object  bool   // the path names one of the merchant's objects
	}
	const (
		public   = "public"
		native   = "native"
		gateway  = "gateway"
		sgate    = "sgate"
		paylink  = "paylink"
		upay     = "upayments"
		techrar  = "techrar"
		console  = "console"
		fallback = "fallback" // a surface's 404/405 reply for its unknown paths (/v1/, /rest/partner/v2/, ...)
	)
	matrix := map[string]entry{
		"GET /metrics":                 {surface: public},
		"GET /healthz":                 {surface: public},
		"GET /readyz":                  {surface: public},
		"GET /openapi.json":            {surface: public},
		"GET /docs":                    {surface: public},
		"/v1/":                         {surface: fallback},
		"/rest/partner/v2/":            {surface: fallback},
		"/orders/":                     {surface: fallback},
		"/api/v1/":                     {surface: fallback},
		"/order/v1/merchant/invoices/": {surface: fallback},
		"/v1/orders/{id}/refund":       {surface: fallback},
		"/v1/orders/{id}/refund/":      {surface: fallback},

		"POST /v1/orders":                               {native, refund.ScopeOrdersWrite, `{"currency":"SAR","amount":1000}`, false},
		"GET /v1/orders":                                {native, refund.ScopeOrdersRead, "", false},
		"GET /v1/orders/{id}":                           {native, refund.ScopeOrdersRead, "", true},
		"POST /v1/refunds":                              {native, refund.ScopeRefundsWrite, `{"order_id":"ORDER","amount":100}`, false},
		"GET /v1/refunds":                               {native, refund.ScopeRefundsRead, "", false},
		"GET /v1/refunds/{id}":                          {native, refund.ScopeRefundsRead, "", true},
		"GET /v1/refunds/{id}/transitions":              {native, refund.ScopeRefundsRead, "", true},
		"POST /v1/refunds/{id}/cancel":                  {native, refund.ScopeRefundsWrite, "", true},
		"POST /v1/refunds/{id}/sync":                    {native, refund.ScopeRefundsWrite, "", true},
		"POST /v1/refunds/{id}/resolve":                 {native, refund.ScopeRefundsReview, `{"outcome":"failed","note":"matrix"}`, true},
		"GET /v1/discrepancies":                         {native, refund.ScopeRefundsRead, "", false},
		"POST /v1/discrepancies/{id}/resolve":           {native, refund.ScopeRefundsReview, `{"note":"matrix"}`, true},
		"POST /v1/refunds/{id}/approve":                 {native, refund.ScopeRefundsApprove, "", true},
		"POST /v1/refunds/{id}/reject":                  {native, refund.ScopeRefundsApprove, `{"reason":"matrix"}`, true},
		"GET /v1/refund_policy":                         {native, refund.ScopeRefundsRead, "", false},
		"GET /v1/processors":                            {native, refund.ScopeRefundsRead, "", false},
		"PUT /v1/refund_policy":                         {native, refund.ScopeSettingsWrite, `{"older_than_days":1}`, false},
		"GET /v1/invoice_config":                        {native, refund.ScopeOrdersRead, "", false},
		"PUT /v1/invoice_config":                        {native, refund.ScopeOrdersWrite, `{"seller_crn":"1010010000"}`, false},
		"POST /v1/reconciliations":                      {native, refund.ScopeRefundsReview, "refund_id,amount,currency,status\nre_matrix,1.00,SAR,approved\n", false},
		"POST /v1/orders/{id}/voids":                    {native, refund.ScopeOrdersWrite, `{"amount":1,"reason":"matrix"}`, true},
		"POST /v1/orders/{id}/chargebacks":              {native, refund.ScopeOrdersWrite, `{"amount":1,"reason":"matrix"}`, true},
		"POST /v1/webhook_endpoints":                    {native, refund.ScopeWebhooksWrite, `{"url":"https://hooks.example.com/x"}`, false},
		"GET /v1/webhook_endpoints":                     {native, refund.ScopeWebhooksWrite, "", false},
		"GET /v1/webhook_endpoints/{id}":                {native, refund.ScopeWebhooksWrite, "", true},
		"POST /v1/webhook_endpoints/{id}":               {native, refund.ScopeWebhooksWrite, `{"description":"changed"}`, true},
		"PATCH /v1/webhook_endpoints/{id}":              {native, refund.ScopeWebhooksWrite, `{"description":"changed"}`, true},
		"DELETE /v1/webhook_endpoints/{id}":             {native, refund.ScopeWebhooksWrite, "", true},
		"GET /v1/webhook_endpoints/{id}/deliveries":     {native, refund.ScopeWebhooksWrite, "", true},
		"POST /v1/webhook_endpoints/{id}/test":          {native, refund.ScopeWebhooksWrite, "", true},
		"POST /v1/webhook_endpoints/{id}/rotate_secret": {native, refund.ScopeWebhooksWrite, "", true},
		"POST /v1/notify_secret":                        {native, refund.ScopeWebhooksWrite, "", false},
		"GET /v1/events":                                {native, refund.ScopeRefundsRead, "", false},
		"GET /v1/events/{id}":                           {native, refund.ScopeRefundsRead, "", true},
		"GET /v1/audit":                                 {native, refund.ScopeRefundsRead, "", false},
		"GET /v1/invoices":                              {native, refund.ScopeOrdersRead, "", false},
		"GET /v1/invoices/{id}":                         {native, refund.ScopeOrdersRead, "", true},
		"GET /v1/invoices/{id}/xml":                     {native, refund.ScopeOrdersRead, "", true},
		"GET /v1/invoices/{id}/qr":                      {native, refund.ScopeOrdersRead, "", true},
		"POST /v1/orders/{id}/invoice":                  {native, refund.ScopeOrdersWrite, "", true},

		"POST /v1/orders/{id}/refund": {gateway, refund.ScopeRefundsWrite, `{"amount":100}`, true},

		"POST /orders/{order_id}/refunds":            {sgate, refund.ScopeRefundsWrite, `{"amount":"1.00","reason":"matrix"}`, true},
		"GET /orders/{order_id}/refunds":             {sgate, refund.ScopeRefundsRead, "", true},
		"GET /orders/{order_id}/refunds/{refund_id}": {sgate, refund.ScopeRefundsRead, "", true},

		"POST /rest/partner/v2/auth": {surface: public},
		// Authenticated by its signature instead (notification_test.go).
		"POST /v1/processor/notifications":                    {surface: public},
		"POST /rest/partner/v2/merchant/{key}/{value}/refund": {paylink, "", `{"orderNumber":"ORDER","refundReason":"matrix"}`, true},

		"POST /api/v1/create-refund":             {upay, refund.ScopeRefundsWrite, `{"orderId":"ORDER","totalPrice":"1.00"}`, true},
		"POST /api/v1/create-multivendor-refund": {upay, refund.ScopeRefundsWrite, `{"orderId":"VORDER","refundPayload":[{"refundRequestId":"VREQ","amountToRefund":"1.000"}]}`, true},

		"POST /order/v1/merchant/invoices/{invoice_id}/refund/{$}": {techrar, refund.ScopeRefundsWrite, `{"comments":"matrix","refunded_items":[{"id":ITEMNUM,"qty":1}]}`, true},
		"GET /order/v1/merchant/invoices/{$}":                      {techrar, refund.ScopeOrdersRead, "", false},
		"GET /order/v1/merchant/invoices/{invoice_id}/{$}":         {techrar, refund.ScopeOrdersRead, "", true},
		"GET /order/v1/merchant/invoices/config/{$}":               {techrar, refund.ScopeOrdersRead, "", false},
		"POST /order/v1/merchant/invoices/config/{$}":              {techrar, refund.ScopeOrdersWrite, `{"serial_prefix":"HACK"}`, false},

		"GET /console":                       {surface: public}, // a redirect to /console/
		"GET /console/{$}":                   {surface: console},
		"GET /console/console.css":           {surface: public},
		"GET /console/favicon.svg":           {surface: public},
		"GET /console/login":                 {surface: public},
		"POST /console/login":                {surface: public},
		"POST /console/logout":               {surface: console},
		"POST /console/login/language":       {surface: public},
		"POST /console/language":             {surface: console, body: "lang=ar"},
		"GET /console/orders":                {surface: console},
		"GET /console/orders/{id}":           {surface: console, object: true},
		"POST /console/orders/{id}/refunds":  {surface: console, body: "amount=1.00&reason=matrix", object: true},
		"GET /console/refunds/{id}":          {surface: console, object: true},
		"POST /console/refunds/{id}/cancel":  {surface: console, object: true},
		"GET /console/invoices/{id}/xml":     {surface: console, object: true},
		"GET /console/webhooks":              {surface: console},
		"GET /console/discrepancies":         {surface: console},
		"GET /console/approvals":             {surface: console},
		"GET /console/attention":             {surface: console},
		"POST /console/refunds/{id}/resolve": {surface: console, body: "outcome=failed&note=matrix", object: true},
		"GET /console/refunds":               {surface: console},
		"GET /console/refunds.csv":           {surface: console},
		"POST /console/refunds/{id}/approve": {surface: console, object: true},
		"POST /console/refunds/{id}/reject":  {surface: console, body: "reason=matrix", object: true},
		"GET /console/webhooks/{id}":         {surface: console, object: true},
		"/console/":                          {surface: console},

		"POST /console/discrepancies/{id}/resolve": {surface: console, body: "note=matrix", object: true},
	}

	routes := s.Routes()
	for _, r := range routes {
		if _, ok := matrix[r]; !ok {
			t.Errorf("route %q has no authorization matrix entry", r)
		}
	}
	for r := range matrix {
		if !slices.Contains(routes, r) {
			t.Errorf("matrix entry %q is not a route of the server", r)
		}
	}

	checks := 0
	for _, pattern := range routes {
		e, ok := matrix[pattern]
		if !ok || e.surface == public || e.surface == fallback {
			continue
		}
		method, path := splitPattern(pattern)
		t.Run(pattern, func(t *testing.T) {
			own := m.path(path, false)
			body := m.fill(e.body)
			call := func(cred credential, p string) matrixReply {
				before := m.fingerprint(ctx)
				r := m.do(method, p, body, cred)
				if after := m.fingerprint(ctx); after != before {
					t.Errorf("%s %s as %s changed state (%d %s):\n before %s\n after  %s", method, p, cred.name, r.status, r.raw, before, after)
				}
				checks++
				return r
			}
			expect := func(r matrixReply, cred credential, status int) {
				t.Helper()
				if r.status != status || !m.shape(e.surface, r) {
					t.Errorf("%s as %s: %d %s; want %d in the %s error shape", pattern, cred.name, r.status, r.raw, status, e.surface)
				}
			}
			if e.surface == console {
				// Without a session every console page sends the browser
				// to sign in; a forged cookie is no session.
				for _, cred := range []credential{m.none, {name: "forged session", cookie: "refundd_console=forged"}} {
					r := call(cred, own)
					if r.status == http.StatusSeeOther && r.location == "/console/orders" {
						r = call(cred, r.location) // the console's home is the order list
					}
					if (r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/login")) && r.status != http.StatusForbidden {
						t.Errorf("%s as %s: %d (to %q); want a redirect to sign in", pattern, cred.name, r.status, r.location)
					}
				}
				return
			}
			unauth := http.StatusUnauthorized
			for _, cred := range []credential{m.none, m.malformed, m.revoked} {
				want := unauth
				if e.surface == gateway && cred.name != "no credential" {
					want = http.StatusForbidden // the seed: a wrong key is 403 "Unauthorized"
				}
				if e.surface == paylink {
					cred = m.asToken(cred)
				}
				expect(call(cred, own), cred, want)
			}
			if e.surface == paylink {
				expect(call(m.expiredToken, own), m.expiredToken, http.StatusUnauthorized)
				expect(call(m.merchantToken, own), m.merchantToken, http.StatusForbidden)
				// An unlinked partner, and a merchant that does not exist:
				// the same 404, the same body.
				unlinked := call(m.otherPartnerToken, own)
				missing := call(m.partnerToken, m.path(path, true))
				expect(unlinked, m.otherPartnerToken, http.StatusNotFound)
				if m.normalize(unlinked.raw) != m.normalize(missing.raw) || unlinked.status != missing.status {
					t.Errorf("unlinked merchant %d %s differs from a missing one %d %s", unlinked.status, unlinked.raw, missing.status, missing.raw)
				}
				return
			}
			lacking := m.keyWithout(e.scope)
			expect(call(lacking, own), lacking, http.StatusForbidden)

			// Another merchant's key: this merchant's objects look missing.
			foreign := call(m.other, own)
			if e.object {
				missing := call(m.other, m.path(path, true))
				if foreign.status != missing.status || m.normalize(foreign.raw) != m.normalize(missing.raw) {
					t.Errorf("%s: another merchant's object answers %d %s, a missing one %d %s", pattern, foreign.status, foreign.raw, missing.status, missing.raw)
				}
				if foreign.status < 400 {
					t.Errorf("%s: another merchant's key was let through: %d %s", pattern, foreign.status, foreign.raw)
				}
			}
			for _, id := range m.ownIDs() {
				// An id the caller sent may be echoed back; any other is a leak.
				if strings.Contains(foreign.raw, id) && !strings.Contains(own+body, id) {
					t.Errorf("%s: another merchant's reply leaks %s: %s", pattern, id, foreign.raw)
				}
			}
		})
	}
	t.Logf("authorization matrix: %d routes, %d calls, none changed anything", len(routes), checks)
}

func splitPattern(p string) (method, path string) {
	if m, rest, ok := strings.Cut(p, " "); ok {
		return m, strings.TrimSuffix(rest, "{$}")
	}
	return "GET", p
}

// credential is one kind of caller.
type credential struct {
	name   string
	header string // Authorization value
	appID  string // techrar's app-id header
	cookie string
}

type matrixReply struct {
	status   int
	raw      string
	location string
}

// matrix holds a merchant with one object of each kind, and every wrong
// caller.
type matrix struct {
	t *testing.T
	s *testServer

	merchant                                                     *refund.Merchant
	order, vorder, refund, item, discrepancy                     string
	endpoint, event                                              string
	invoice, invoiceItem                                         int64
	vreq                                                         string
	none, malformed, revoked                                     credential
	other                                                        credential
	partnerToken, otherPartnerToken, merchantToken, expiredToken credential
	keys                                                         map[string]credential
}

func newMatrix(t *testing.T, s *testServer) *matrix {
	ctx := context.Background()
	m := &matrix{t: t, s: s, merchant: s.mer, keys: map[string]credential{}}
	app := fmt.Sprint(s.mer.AppID)
	m.none = credential{name: "no credential", appID: app}
	m.malformed = credential{name: "malformed key", header: "Bearer rk_nothex_!!", appID: app}

	_, revoked, err := s.Service.CreateKey(ctx, s.mer.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Service.ListKeys(ctx)
	for _, k := range keys {
		if strings.HasPrefix(revoked, k.Prefix) {
			if err := s.Service.RevokeKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.revoked = credential{name: "revoked key", header: "Bearer " + revoked, appID: app}

	other, otherKey, err := s.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Other Merchant", CR: "2020202020"})
	if err != nil {
		t.Fatal(err)
	}
	m.other = credential{name: "other merchant's key", header: "Bearer " + otherKey, appID: fmt.Sprint(other.AppID)}

	// The merchant's objects: an invoiced order with a line, a
	// multi-vendor KWD order, a queued refund, an endpoint, an event.
	o := s.do("POST", "/v1/orders", s.key, map[string]any{"currency": "SAR", "amount": 2066, "payment_method": "card",
		"source": map[string]any{"scheme": "visa", "last_digits": "4444"},
		"items":  []map[string]any{{"id": "line-1", "name_en": "Coffee", "qty": 2, "unit_amount": 1033, "tax_rate": "15"}}})
	v := s.do("POST", "/v1/orders", s.key, map[string]any{"currency": "KWD", "amount": 3000, "payment_method": "knet",
		"vendors": []map[string]any{
			{"id": "va", "name": "A", "iban": "KW81CBKU0000000000001234560101", "amount": 2000},
			{"id": "vb", "name": "B", "iban": "KW81CBKU0000000000001234560101", "amount": 1000}}})
	if o.status != 201 || v.status != 201 {
		t.Fatalf("orders: %s / %s", o.raw, v.raw)
	}
	m.order, m.vorder, m.item = o.str("id"), v.str("id"), "line-1"
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": m.order, "amount": 100, "queue": true})
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "https://hooks.example.com/matrix"})
	m.refund, m.endpoint = r.str("id"), ep.str("id")
	evs := s.do("GET", "/v1/events?limit=1", s.key, nil)
	m.event = evs.get("data").([]any)[0].(map[string]any)["id"].(string)
	inv := s.do("GET", "/v1/invoices?limit=1&type=invoice", s.key, nil)
	if data, _ := inv.get("data").([]any); len(data) > 0 {
		m.invoice = (toNum(data[0].(map[string]any)["id"]))
	}
	ti := s.do("GET", fmt.Sprintf("/order/v1/merchant/invoices/%d/", m.invoice), s.key, nil, "app-id", app)
	if items, _ := ti.get("items").([]any); len(items) > 0 {
		m.invoiceItem = (toNum(items[0].(map[string]any)["id"]))
	}
	quote := s.do("POST", "/api/v1/create-refund", s.key, map[string]any{"orderId": m.vorder, "totalPrice": "1.000"})
	if p, _ := quote.get("data", "refundPayload").([]any); len(p) > 0 {
		m.vreq = p[0].(map[string]any)["refundRequestId"].(string)
	}
	// A discrepancy: a settlement report row refundd cannot match.
	s.do("POST", "/v1/reconciliations", s.key, "refund_id,arn,rrn,amount,currency,status,date\n"+
		"re_matrix,74000000000000000000990,606099999990,1.00,SAR,approved,2026-03-01\n", "Content-Type", "text/csv")
	if data, _ := s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any); len(data) > 0 {
		m.discrepancy, _ = data[0].(map[string]any)["id"].(string)
	}
	if m.refund == "" || m.endpoint == "" || m.invoice == 0 || m.invoiceItem == 0 || m.vreq == "" || m.discrepancy == "" {
		t.Fatalf("matrix objects: refund %q endpoint %q invoice %d vendor request %q discrepancy %q", m.refund, m.endpoint, m.invoice, m.vreq, m.discrepancy)
	}

	// Partners: one linked to the merchant, one not.
	p, pkey, err := s.Service.CreatePartner(ctx, "Linked Partner", []string{s.mer.ID})
	if err != nil {
		t.Fatal(err)
	}
	q, qkey, err := s.Service.CreatePartner(ctx, "Unlinked Partner", []string{other.ID})
	if err != nil {
		t.Fatal(err)
	}
	m.partnerToken = m.token("linked partner's token", p.ID, pkey)
	m.otherPartnerToken = m.token("unlinked partner's token", q.ID, qkey)
	m.merchantToken = m.token("merchant's token", s.mer.ID, s.key)
	m.expiredToken = m.token("expired token", p.ID, pkey)
	s.clock.Advance(31 * time.Minute) // the expired token's 30 minutes are over
	m.partnerToken = m.token("linked partner's token", p.ID, pkey)
	m.otherPartnerToken = m.token("unlinked partner's token", q.ID, qkey)
	m.merchantToken = m.token("merchant's token", s.mer.ID, s.key)
	return m
}

func toNum(v any) int64 {
	n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	return n
}

func (m *matrix) token(name, id, key string) credential {
	r := m.s.do("POST", "/rest/partner/v2/auth", "", map[string]any{"apiId": id, "secretKey": key})
	if r.status != 200 || r.str("id_token") == "" {
		m.t.Fatalf("token for %s: %d %s", name, r.status, r.raw)
	}
	return credential{name: name, header: "Bearer " + r.str("id_token")}
}

// asToken turns a key credential into the token-route equivalent.
func (m *matrix) asToken(c credential) credential {
	switch c.name {
	case "malformed key":
		return credential{name: "malformed token", header: "Bearer eyJ.not.a-token"}
	case "revoked key":
		return credential{name: "API key instead of a token", header: c.header}
	}
	return c
}

// keyWithout returns a key of the merchant with every scope but one.
func (m *matrix) keyWithout(scope string) credential {
	if c, ok := m.keys[scope]; ok {
		return c
	}
	var scopes []string
	for _, sc := range refund.MerchantScopes {
		if sc != scope {
			scopes = append(scopes, sc)
		}
	}
	_, raw, err := m.s.Service.CreateKey(context.Background(), m.merchant.ID, "", scopes)
	if err != nil {
		m.t.Fatal(err)
	}
	c := credential{name: "key without " + scope, header: "Bearer " + raw, appID: fmt.Sprint(m.merchant.AppID)}
	m.keys[scope] = c
	return c
}

// path fills a route's path parameters with the merchant's objects, or with
// ids of the same form that exist nowhere.
func (m *matrix) path(p string, missing bool) string {
	order, refundID, endpoint, event, invoice, discrepancy := m.order, m.refund, m.endpoint, m.event, fmt.Sprint(m.invoice), m.discrepancy
	cr := m.merchant.CR
	if missing {
		order, refundID, endpoint, event, invoice, discrepancy = "ord_missing", "re_missing", "we_missing", "evt_missing", "999999", "dsc_missing"
		cr = "9999999999"
	}
	id := order
	switch {
	case strings.Contains(p, "/refunds/{id}"):
		id = refundID
	case strings.Contains(p, "/webhook_endpoints/{id}"), strings.Contains(p, "/webhooks/{id}"):
		id = endpoint
	case strings.Contains(p, "/events/{id}"):
		id = event
	case strings.Contains(p, "/invoices/{id}"):
		id = invoice
	case strings.Contains(p, "/discrepancies/{id}"):
		id = discrepancy
	}
	return strings.NewReplacer("{id}", url.PathEscape(id), "{order_id}", order, "{refund_id}", order+"_R1",
		"{key}", "cr", "{value}", cr, "{invoice_id}", invoice).Replace(p)
}

func (m *matrix) fill(body string) string {
	return strings.NewReplacer(`"ORDER"`, `"`+m.order+`"`, `"VORDER"`, `"`+m.vorder+`"`, `"VREQ"`, `"`+m.vreq+`"`,
		`"ITEM"`, `"`+m.item+`"`, "ITEMNUM", fmt.Sprint(m.invoiceItem)).Replace(body)
}

// normalize hides the ids that differ between a foreign and a missing
// object, so that their replies can be compared.
func (m *matrix) normalize(raw string) string {
	return strings.NewReplacer(m.merchant.CR, "ID", "9999999999", "ID",
		m.order, "ID", "ord_missing", "ID", m.refund, "ID", "re_missing", "ID",
		m.endpoint, "ID", "we_missing", "ID", m.event, "ID", "evt_missing", "ID",
		fmt.Sprint(m.invoice), "ID", "999999", "ID", m.discrepancy, "ID", "dsc_missing", "ID").Replace(raw)
}

// ownIDs are the merchant's object ids, which another tenant must never
// see.
func (m *matrix) ownIDs() []string {
	return []string{m.order, m.vorder, m.refund, m.endpoint, m.event, m.discrepancy}
}

func (m *matrix) do(method, path, body string, c credential) matrixReply {
	req, err := http.NewRequest(method, m.s.URL()+path, strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	if body != "" {
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if c.header != "" {
		req.Header.Set("Authorization", c.header)
	}
	if c.appID != "" {
		req.Header.Set("app-id", c.appID)
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	if res.StatusCode >= 400 {
		scanned.Write(raw) // error replies must hold no secret
	}
	return matrixReply{status: res.StatusCode, raw: string(raw), location: res.Header.Get("Location")}
}

// shape reports whether r is an error in the surface's documented shape.
func (m *matrix) shape(surface string, r matrixReply) bool {
	var body map[string]any
	if err := decodeJSON(r.raw, &body); err != nil {
		return false
	}
	has := func(k string) bool { _, ok := body[k]; return ok }
	switch surface {
	case "native":
		e, ok := body["error"].(map[string]any)
		return ok && e["code"] != nil && e["message"] != nil && len(body) == 1
	case "gateway":
		return has("message") && len(body) <= 2
	case "sgate":
		return has("code") && has("message")
	case "upayments":
		return body["status"] == false && has("message")
	case "paylink":
		return has("message") || has("error")
	case "techrar":
		return has("detail") || has("message") || has("error")
	}
	return false
}

// fingerprint summarises everything a wrong caller could change: every
// refund by status, the queue, and the newest audit entry of both
// merchants (each state-changing call writes one).
func (m *matrix) fingerprint(ctx context.Context) string {
	st, err := m.s.Service.Stats(ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	page, err := m.s.Service.ListAudit(ctx, refund.Principal{MerchantID: m.merchant.ID, Scopes: refund.MerchantScopes}, refund.AuditFilter{Limit: 1})
	if err != nil {
		m.t.Fatal(err)
	}
	head := ""
	if len(page.Data) > 0 {
		head = page.Data[0].ID
	}
	return fmt.Sprintf("%v %d %d %s", st.Refunds, st.Pending, st.Processing, head)
}

func decodeJSON(raw string, v any) error { return json.Unmarshal([]byte(raw), v) }
