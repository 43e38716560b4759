// Package dialecttest runs a real refundd server (SQLite file, free port,
// fake clock, worker driven by hand) for the dialects' contract tests, and
// compares replies with the seeds' examples by shape.
//
// It is imported only by tests.
package dialecttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// Clock is a fake clock tests move by hand; tests never sleep.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Server is a running refundd with one merchant.
type Server struct {
	*server.Server
	TB        testing.TB
	Clock     *Clock
	Key       string // the merchant's key, every merchant scope
	Merchant  *refund.Merchant
	Principal refund.Principal
}

// Start runs a real server on a temp SQLite file and a free port, with the
// background worker off (RunWorker drives it) and a fake clock. opts
// adjust the configuration.
func Start(tb testing.TB, opts ...func(*server.Config)) *Server {
	tb.Helper()
	clk := &Clock{now: time.Date(2026, 3, 1, 9, 0, 0, 123_000_000, time.UTC)}
	var n atomic.Int64
	cfg := server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(tb),
		WorkerInterval: -1, Now: clk.Now, NewID: func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) },
		ProcessorTimeout: 2 * time.Second, SettleDelay: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Stop(context.Background()) })
	s := &Server{Server: srv, TB: tb, Clock: clk}
	s.Merchant, s.Key, err = srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq Test", Email: "ops@souq.example"})
	if err != nil {
		tb.Fatal(err)
	}
	if s.Principal, err = srv.Service.Authenticate(ctx, s.Key); err != nil {
		tb.Fatal(err)
	}
	return s
}

// NewMerchant creates another merchant and returns its key.
func (s *Server) NewMerchant(name string) string {
	s.TB.Helper()
	_, key, err := s.Service.CreateMerchant(context.Background(), refund.MerchantInput{Name: name})
	if err != nil {
		s.TB.Fatal(err)
	}
	return key
}

// NewKey issues the merchant a key with only the given scopes.
func (s *Server) NewKey(scopes ...string) string {
	s.TB.Helper()
	_, key, err := s.Service.CreateKey(context.Background(), s.Merchant.ID, "", scopes)
	if err != nil {
		s.TB.Fatal(err)
	}
	return key
}

// Order records an order for the merchant.
func (s *Server) Order(in refund.OrderInput) *refund.Order {
	s.TB.Helper()
	o, err := s.Service.CreateOrder(context.Background(), s.Principal, in)
	if err != nil {
		s.TB.Fatal(err)
	}
	return o
}

// Snapshot is what a refused request must leave unchanged on an order.
type Snapshot struct {
	Refunded, Pending     int64
	Refunds, Transactions int
}

// Snap reads the order's balances and counts.
func (s *Server) Snap(orderID string) Snapshot {
	s.TB.Helper()
	o, err := s.Service.GetOrder(context.Background(), s.Principal, orderID)
	if err != nil {
		s.TB.Fatal(err)
	}
	return Snapshot{o.RefundedAmount, o.PendingRefundAmount, o.RefundCount, len(o.Transactions)}
}

// RunWorker moves the clock and runs worker passes until nothing is due.
func (s *Server) RunWorker(advance time.Duration) {
	s.TB.Helper()
	s.Clock.Advance(advance)
	for range 10 {
		n, err := s.Worker.RunOnce(context.Background())
		if err != nil {
			s.TB.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// Reply is one answer, its body decoded with UseNumber (money never
// passes through float64).
type Reply struct {
	Status int
	Header http.Header
	Raw    string
	Body   any
}

// Get walks objects by key.
func (r Reply) Get(path ...string) any {
	v := r.Body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// Str returns a field as text ("" when absent).
func (r Reply) Str(path ...string) string {
	v := r.Get(path...)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Request builds a request; key "" sends no Authorization header; headers
// come in name, value pairs.
func Request(method, url, key, body string, headers ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, url, rd)
	req.RequestURI = ""
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// Do sends one request over the network to the running server.
func (s *Server) Do(method, path, key, body string, headers ...string) Reply {
	s.TB.Helper()
	resp, err := http.DefaultClient.Do(Request(method, s.URL()+path, key, body, headers...))
	if err != nil {
		s.TB.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return decodeReply(resp.StatusCode, resp.Header, raw)
}

// Serve sends one request to the server's handler in-process (fuzzing).
func (s *Server) Serve(method, path, key, body string) Reply {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, Request(method, "http://refundd.test"+path, key, body))
	return decodeReply(rec.Code, rec.Header(), rec.Body.Bytes())
}

func decodeReply(status int, h http.Header, raw []byte) Reply {
	r := Reply{Status: status, Header: h, Raw: string(raw)}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&r.Body)
	return r
}

// Testdata reads a file of the calling package's testdata directory.
func Testdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Decode parses JSON text with UseNumber.
func Decode(tb testing.TB, text string) any {
	tb.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, text)
	}
	return v
}

// ShapeDiff compares got with a seed example: the same keys at every
// level, and the same JSON type for every value (null only where the seed
// has null). Each element of an array must match some element of the
// seed's array, so a seed that shows a field as a string in one element
// and null in another allows both. It returns the differences.
func ShapeDiff(seed, got any) []string {
	var out []string
	shapeDiff("$", seed, got, &out)
	return out
}

func shapeDiff(path string, want, got any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: want an object, got %s", path, kind(got)))
			return
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: missing", path, k))
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: not in the seed", path, k))
			}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if gv, ok := g[k]; ok {
				shapeDiff(path+"."+k, w[k], gv, out)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: want an array, got %s", path, kind(got)))
			return
		}
		for i, ge := range g {
			var best []string
			for j, we := range w {
				var d []string
				shapeDiff(fmt.Sprintf("%s[%d]", path, i), we, ge, &d)
				if j == 0 || len(d) < len(best) {
					best = d
				}
				if len(d) == 0 {
					break
				}
			}
			*out = append(*out, best...)
		}
	default:
		if kind(want) != kind(got) {
			*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, kind(want), kind(got)))
		}
	}
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}
