package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/secretscan"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/postgres/pgtest"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// clock is a fake clock tests move by hand; tests never sleep.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

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

// seqIDs returns deterministic, time-ordered ids.
func seqIDs() func(string) string {
	var n atomic.Int64
	return func(prefix string) string { return fmt.Sprintf("%s_%012d", prefix, n.Add(1)) }
}

type testServer struct {
	*server.Server
	t     *testing.T
	clock *clock
	key   string // merchant key
	mer   *refund.Merchant
}

type serverOpt func(*server.Config)

func withProcessorTimeout(d time.Duration) serverOpt {
	return func(c *server.Config) { c.ProcessorTimeout = d }
}

// scanned receives every test server's log, and every error, event and
// delivery log reply; TestMain fails the run if it holds a secret.
var scanned = new(secretscan.Sink)

func TestMain(m *testing.M) { os.Exit(pgtest.AfterTests(secretscan.Main(m, scanned))) }

// mustStart runs a real server on a temp SQLite file and a free port, with
// the background worker off (tests drive it with Worker.RunOnce) and a fake
// clock.
func mustStart(t *testing.T, opts ...serverOpt) *testServer {
	t.Helper()
	clk := newClock()
	cfg := server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(t),
		WorkerInterval: -1, Now: clk.Now, NewID: seqIDs(), ProcessorTimeout: 2 * time.Second, SettleDelay: 30 * time.Second,
		Log: slog.New(slog.NewJSONHandler(scanned, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&cfg)
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
	m, key, err := srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Test Merchant", CR: "1010101010"})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: srv, t: t, clock: clk, key: key, mer: m}
}

// newMerchant creates another merchant and returns its key.
func (s *testServer) newMerchant(name string) string {
	s.t.Helper()
	_, key, err := s.Service.CreateMerchant(context.Background(), refund.MerchantInput{Name: name})
	if err != nil {
		s.t.Fatal(err)
	}
	return key
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(path ...string) string {
	v := r.get(path...)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// num returns a JSON number field as int64 (replies are decoded with
// UseNumber, so money never passes through float64).
func (r reply) num(path ...string) int64 {
	n, ok := r.get(path...).(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return i
}

func (r reply) get(path ...string) any {
	var v any = r.body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// do sends one request. body may be a string (sent as is) or a value
// (JSON-encoded). headers come in name, value pairs.
func (s *testServer) do(method, path, key string, body any, headers ...string) reply {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.StatusCode >= 400 || strings.HasPrefix(path, "/v1/events") || strings.Contains(path, "/deliveries") {
		scanned.Write(raw) // errors, events and delivery logs must hold no secret
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&out.body)
	return out
}

// mustOrder creates an order and returns its id.
func (s *testServer) mustOrder(body map[string]any) string {
	s.t.Helper()
	if _, ok := body["currency"]; !ok {
		body["currency"] = "SAR"
	}
	r := s.do("POST", "/v1/orders", s.key, body)
	if r.status != http.StatusCreated {
		s.t.Fatalf("create order: %d %s", r.status, r.raw)
	}
	return r.str("id")
}

func cardOrder(last4 string, amount int64) map[string]any {
	return map[string]any{"amount": amount, "payment_method": "card",
		"source": map[string]any{"scheme": "mastercard", "first_digits": "555555", "last_digits": last4, "month": 12, "year": 2027}}
}

// runWorker moves the clock and runs worker passes until nothing is due.
func (s *testServer) runWorker(advance time.Duration) {
	s.t.Helper()
	s.clock.Advance(advance)
	for i := 0; i < 10; i++ {
		n, err := s.Worker.RunOnce(context.Background())
		if err != nil {
			s.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// expectError checks a native error reply: status and envelope code.
func expectError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error", "code") != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.status, r.raw)
	}
	if r.str("error", "message") == "" {
		t.Fatalf("error without message: %s", r.raw)
	}
}
