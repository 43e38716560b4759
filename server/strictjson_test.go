package server_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/refundd/refundd/server"
)

// Duplicate member names, case variants of a member name and invalid
// UTF-8 are refused on the native API and on every dialect, in each
// surface's error shape, and refund nothing.
func TestStrictJSON_EverySurface(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	app := fmt.Sprint(s.mer.AppID)
	order := m.order
	type surface struct {
		name, path, auth string
		headers          []string
		dup, caseVar     string
		utf8             string
	}
	bad := "\xff\xfe"
	for _, tc := range []surface{
		{"native", "/v1/refunds", "Bearer " + s.key, nil,
			`{"order_id":"` + order + `","amount":100,"amount":200}`, `{"order_id":"` + order + `","AMOUNT":100}`,
			`{"order_id":"` + order + `","amount":100,"reason":"` + bad + `"}`},
		{"gateway", "/v1/orders/" + order + "/refund", "Bearer " + s.key, nil,
			`{"amount":100,"amount":200}`, `{"AMOUNT":100}`, `{"amount":100,"note":"` + bad + `"}`},
		{"sgate", "/orders/" + order + "/refunds", "Bearer " + s.key, nil,
			`{"amount":"1.00","amount":"2.00","reason":"r"}`, `{"Amount":"1.00","reason":"r"}`, `{"amount":"1.00","reason":"` + bad + `"}`},
		{"upayments", "/api/v1/create-refund", "Bearer " + s.key, nil,
			`{"orderId":"` + order + `","totalPrice":"1.00","totalPrice":"2.00"}`, `{"orderId":"` + order + `","TotalPrice":"1.00"}`,
			`{"orderId":"` + order + `","totalPrice":"1.00","customerFirstName":"` + bad + `"}`},
		{"paylink", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund", m.partnerToken.header, nil,
			`{"orderNumber":"` + order + `","refundReason":"a","refundReason":"b"}`, `{"orderNumber":"` + order + `","RefundReason":"a"}`,
			`{"orderNumber":"` + order + `","refundReason":"` + bad + `"}`},
		{"techrar", fmt.Sprintf("/order/v1/merchant/invoices/%d/refund/", m.invoice), "Bearer " + s.key, []string{"app-id", app},
			fmt.Sprintf(`{"comments":"a","refunded_items":[{"id":%d,"qty":1,"qty":2}]}`, m.invoiceItem),
			fmt.Sprintf(`{"comments":"a","REFUNDED_ITEMS":[{"id":%d,"qty":1}]}`, m.invoiceItem),
			fmt.Sprintf(`{"comments":"%s","refunded_items":[{"id":%d,"qty":1}]}`, bad, m.invoiceItem)},
	} {
		for kind, body := range map[string]string{"duplicate": tc.dup, "case variant": tc.caseVar, "invalid UTF-8": tc.utf8} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				before := s.refundsOf(order)
				r := s.do("POST", tc.path, "", body, append([]string{"Authorization", tc.auth}, tc.headers...)...)
				if r.status < 400 || r.status >= 500 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				if n := s.refundsOf(order); n != before {
					t.Fatalf("a refused request made %d refunds", n-before)
				}
				want := map[string]string{"duplicate": "duplicate", "invalid UTF-8": "UTF-8"}[kind]
				if want != "" && !strings.Contains(r.raw, want) {
					t.Errorf("the reply does not say what is wrong: %s", r.raw)
				}
			})
		}
	}
}

// Lists refuse an unknown query parameter (a typo must not list
// everything unfiltered) and a single-valued one given twice.
func TestStrictQueries(t *testing.T) {
	s := mustStart(t)
	for _, tc := range []struct {
		path, param string
		status      int
	}{
		{"/v1/refunds?status=succeeded", "", 200},
		{"/v1/refunds?stauts=succeeded", "stauts", 400},
		{"/v1/refunds?status=succeeded&status=failed", "status", 400},
		{"/v1/orders?limit=5&limit=6", "limit", 400},
		{"/v1/events?type=refund.created&typ=x", "typ", 400},
		{"/v1/discrepancies?kind=amount_mismatch", "", 200},
		{"/v1/discrepancies?kind=chargeback_after_refund", "", 200},
		{"/v1/discrepancies?kind=amount_mismatches", "kind", 400}, // a typo listed nothing, as if all were well
		{"/v1/events?type=refund.succeded", "type", 400},
	} {
		r := s.do("GET", tc.path, s.key, nil)
		if r.status != tc.status || (tc.param != "" && r.str("error", "param") != tc.param) {
			t.Errorf("GET %s: %d %s, want %d naming %q", tc.path, r.status, r.raw, tc.status, tc.param)
		}
	}
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Request logs do not carry the personal data Paylink puts in its paths
// (the merchant's mobile number or e-mail address).
func TestRequestLogsMaskPersonalPathSegments(t *testing.T) {
	var logs lockedBuffer
	s := mustStart(t, func(c *server.Config) { c.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	mobile := "966500000001"
	r := s.do("POST", "/rest/partner/v2/merchant/mobile/"+mobile+"/refund", "", `{"orderNumber":"x","refundReason":"r"}`,
		"Authorization", "Bearer not-a-token")
	if r.status != 401 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if strings.Contains(logs.String(), mobile) {
		t.Fatalf("the log holds the mobile number from the path:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "/rest/partner/v2/merchant/mobile/***/refund") {
		t.Fatalf("the access log lacks the masked path:\n%s", logs.String())
	}
}

// /metrics answers only the allowed networks (loopback by default).
func TestMetricsOnlyToAllowedNetworks(t *testing.T) {
	s := mustStart(t, func(c *server.Config) { c.MetricsAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	res, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("/metrics from loopback with only 10.0.0.0/8 allowed: %d", res.StatusCode)
	}
	d := mustStart(t)
	if res, err = http.Get(d.URL() + "/metrics"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics from loopback by default: %d", res.StatusCode)
	}
}

// A reverse proxy on the same host passes every client's request to
// /metrics from loopback. Trusted (--trusted-proxies), the client it
// names is who asks: one from outside is refused, as is one the proxy
// cannot name ("unknown"), and the proxy's own request (no client named)
// is served.
func TestMetricsBehindASameHostProxy(t *testing.T) {
	s := mustStart(t, func(c *server.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	for _, tc := range []struct {
		name, client string
		want         int
	}{
		{"ClientOutside", "203.0.113.9", http.StatusForbidden},
		{"ClientOutsideNamingLoopback", "127.0.0.1, 203.0.113.9", http.StatusForbidden},
		{"AProxysUnknown", "unknown", http.StatusForbidden},
		{"ClientOutsideThenUnknown", "203.0.113.9, unknown", http.StatusForbidden},
		{"BracketsWithoutAPort", "[2001:db8::7]", http.StatusForbidden},
		{"LoopbackClient", "127.0.0.1", http.StatusOK},
		{"TheProxyItself", "", http.StatusOK},
	} {
		var headers []string
		if tc.client != "" {
			headers = []string{"X-Forwarded-For", tc.client}
		}
		if r := s.do("GET", "/metrics", "", nil, headers...); r.status != tc.want {
			t.Fatalf("%s: /metrics answered %d, want %d", tc.name, r.status, tc.want)
		}
	}
}

// Any host in a trusted network can name any client: /metrics wants the
// connection's address allowed too, not only the client named.
func TestMetricsNamedClientAloneIsNotEnough(t *testing.T) {
	s := mustStart(t, func(c *server.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.MetricsAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	if r := s.do("GET", "/metrics", "", nil, "X-Forwarded-For", "10.1.2.3"); r.status != http.StatusForbidden {
		t.Fatalf("/metrics from loopback naming an allowed client answered %d, want 403", r.status)
	}
}
