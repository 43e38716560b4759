package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/secretscan"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// scanned receives the servers' logs and every console page; TestMain
// fails the run if any of it holds an API key, a full IBAN or a secret.
var scanned = new(secretscan.Sink)

func TestMain(m *testing.M) { os.Exit(secretscan.Main(m, scanned)) }

// clock is a fake clock tests move by hand; tests never sleep.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a running refundd with a merchant and the orders of
// testdata/orders.json.
type env struct {
	t      testing.TB
	srv    *server.Server
	clock  *clock // nil when the server runs on the real clock
	key    string
	mer    *refund.Merchant
	orders map[string]string // order id by reference
}

// mustStart runs a real server on a temp SQLite file and a free port with
// the worker off (queued refunds stay queued), webhooks allowed to
// loopback, and, unless realClock, a fake clock.
func mustStart(t testing.TB, realClock bool) *env {
	t.Helper()
	return mustStartWith(t, realClock, func(*server.Config) {})
}

// mustStartWith is mustStart with set changing the server's configuration.
func mustStartWith(t testing.TB, realClock bool, set func(*server.Config)) *env {
	t.Helper()
	e := &env{t: t, orders: map[string]string{}}
	cfg := server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(t),
		WorkerInterval: -1, WebhookAllowPrivate: true, ProcessorTimeout: 5 * time.Second,
		Log: slog.New(slog.NewJSONHandler(scanned, nil))}
	set(&cfg)
	if !realClock {
		e.clock = &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
		var n atomic.Int64
		cfg.Now = e.clock.Now
		cfg.NewID = func(prefix string) string { return fmt.Sprintf("%s_%012d", prefix, n.Add(1)) }
	}
	ctx := context.Background()
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	e.srv = srv
	if e.mer, e.key, err = srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq Al Khaleej"}); err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join("testdata", "orders.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bodies []json.RawMessage
	if err := json.Unmarshal(seed, &bodies); err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		var o struct{ ID, Reference string }
		e.api("POST", "/v1/orders", e.key, string(b), http.StatusCreated, &o)
		e.orders[o.Reference] = o.ID
	}
	return e
}

// with returns e reporting to t (a fuzz target must not report to its F).
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// api calls the native API and decodes its reply into out.
func (e *env) api(method, path, key, body string, want int, out any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: want %d, got %d %s", method, path, want, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

// order reads an order through the service, as the merchant.
func (e *env) order(ref string) *refund.Order {
	e.t.Helper()
	p, err := e.srv.Service.Authenticate(context.Background(), e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	o, err := e.srv.Service.GetOrder(context.Background(), p, e.orders[ref])
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// refunds lists an order's refunds through the service.
func (e *env) refunds(ref string) []*refund.Refund {
	e.t.Helper()
	p, err := e.srv.Service.Authenticate(context.Background(), e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	page, err := e.srv.Service.ListRefunds(context.Background(), p, refund.RefundFilter{OrderID: e.orders[ref], Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Data
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see where each answer sends it.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
	// lang is the Accept-Language it sends ("" sends none).
	lang string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{t: e.t, base: e.srv.URL(), c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	header   http.Header
	body     string
	location string
}

// text is the page's text without tags and with entities decoded, with
// runs of white space made one space, for "contains" checks. Inline tags
// go without a trace, as a browser shows them ("1.005 KWD: succeeded"
// across an amount's span); other tags part words.
func (p page) text() string {
	s := inlineTagRE.ReplaceAllString(p.body, "")
	s = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

var inlineTagRE = regexp.MustCompile(`(?s)</?(a|span|strong|time|b|em|bdi|code|small)\b[^>]*>`)

// with returns b, with its cookies, reporting to t.
func (b *browser) with(t testing.TB) *browser {
	c := *b
	c.t = t
	return &c
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if b.lang != "" && req.Header.Get("Accept-Language") == "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	scanned.Write(raw)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw), location: resp.Header.Get("Location")}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser on the console's own page would,
// Origin included; headers come in name, value pairs and override.
func (b *browser) post(path string, form url.Values, headers ...string) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the first form on a page.
func (p page) csrf(t testing.TB) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field on the page (%d): %s", p.status, p.body)
	}
	return m[1]
}

// idempotencyKey returns the key of the refund form of one kind.
func (p page) idempotencyKey(t testing.TB, kind string) string {
	t.Helper()
	m := regexp.MustCompile(`name="idempotency_key" value="([^"]+-` + kind + `)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no %s refund form on the page: %s", kind, p.body)
	}
	return m[1]
}

// signIn signs in with key as a person would: open the form, paste, send.
func (b *browser) signIn(key string) page {
	b.t.Helper()
	form := b.get("/console/login")
	if form.status != http.StatusOK {
		b.t.Fatalf("sign-in page: %d", form.status)
	}
	return b.post("/console/login", url.Values{"csrf": {form.csrf(b.t)}, "key": {key}})
}

// mustSignIn signs in and fails the test unless it worked.
func (e *env) mustSignIn(key string) *browser {
	e.t.Helper()
	b := e.browser()
	if p := b.signIn(key); p.status != http.StatusSeeOther || p.location != "/console/orders" {
		e.t.Fatalf("sign in: want 303 to /console/orders, got %d %q: %s", p.status, p.location, p.text())
	}
	return b
}

// refundForm fills one of the order page's refund forms.
func (b *browser) refundForm(orderID, kind string, fields url.Values) (orderPage, result page) {
	b.t.Helper()
	orderPage = b.get("/console/orders/" + orderID)
	if orderPage.status != http.StatusOK {
		b.t.Fatalf("order page: %d %s", orderPage.status, orderPage.text())
	}
	form := url.Values{"csrf": {orderPage.csrf(b.t)}, "kind": {kind}, "idempotency_key": {orderPage.idempotencyKey(b.t, kind)}}
	for k, v := range fields {
		form[k] = v
	}
	return orderPage, b.post("/console/orders/"+orderID+"/refunds", form)
}

// mustContain fails unless the page's text holds every string.
func mustContain(t testing.TB, p page, want ...string) {
	t.Helper()
	text := p.text()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("page (%d) lacks %q:\n%s", p.status, w, text)
		}
	}
}

func mustNotContain(t testing.TB, p page, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if strings.Contains(p.body, w) {
			t.Fatalf("page (%d) holds %q:\n%s", p.status, w, p.text())
		}
	}
}

// jsonBody is a compact way to write a JSON request body in a test.
func jsonBody(v any) string {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		panic(err)
	}
	return buf.String()
}
