// Package e2e runs refundd as real processes: the built binary, the
// sandbox acquirer service and real databases, driven over HTTP. These are
// the tests that kill nodes, run several of them on one PostgreSQL, and
// then check from the outside that no refund was lost or paid twice.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refundd/refundd/store/postgres/pgtest"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// binary is the refundd executable built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refundd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "refundd")
	build := exec.Command("go", "build", "-o", binary, "../cmd/refundd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building refundd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one running refundd process.
type proc struct {
	t    *testing.T
	name string
	args []string
	addr string
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

// start runs `refundd args...` listening on addr and waits until its
// readiness URL answers 200.
func start(t *testing.T, name, addr, ready string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, addr: addr}
	p.launch(ready)
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) launch(ready string) {
	p.t.Helper()
	logf, err := os.OpenFile(filepath.Join(p.t.TempDir(), p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	p.log = logf
	p.cmd = exec.Command(binary, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(p.cmd, p.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + p.addr + ready)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			p.t.Fatalf("%s exited before it was ready: %v\n%s", p.name, err, p.output())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready after 30s\n%s", p.name, p.output())
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
	p.log.Close()
}

// restart starts the same command again (same address and database).
func (p *proc) restart(ready string) {
	p.t.Helper()
	p.launch(ready)
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// database is where one test's refundd nodes keep their data.
type database struct {
	url  string
	kind string
}

// sqliteDB is a fresh SQLite file.
func sqliteDB(t *testing.T) database {
	return database{url: sqlitetest.URL(t), kind: "sqlite"}
}

// postgresDB gives the test a schema of its own on the test PostgreSQL
// (pgtest.URL), dropped when the test ends; it skips the test when
// REFUNDD_TEST_POSTGRES is unset. A schema, not a database: DROP DATABASE
// forces a checkpoint, which on a busy server took up to 19s per test.
// Several nodes and other test packages share the server's 100
// connections: each node's pool stays at 8.
func postgresDB(t *testing.T) database {
	t.Helper()
	return database{url: pgtest.URL(t, 8), kind: "postgres"}
}

// cli runs a one-shot refundd command and decodes its JSON output.
func cli(t *testing.T, out any, args ...string) {
	t.Helper()
	cliExit(t, 0, out, args...)
}

// cliExit is cli for a command that must exit with status code
// (reconcile's 3: it flagged rows).
func cliExit(t *testing.T, code int, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != code {
		t.Fatalf("refundd %s: %v, want exit status %d\n%s", strings.Join(args, " "), err, code, stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			t.Fatalf("refundd %s printed %q: %v", strings.Join(args, " "), stdout.String(), err)
		}
	}
}

// newMerchant creates a merchant in db and returns its API key.
func newMerchant(t *testing.T, db database) string {
	key, _ := newMerchantID(t, db)
	return key
}

// newMerchantID creates a merchant in db and returns its API key and id.
func newMerchantID(t *testing.T, db database) (key, id string) {
	t.Helper()
	var out struct {
		APIKey   string `json:"api_key"`
		Merchant struct {
			ID string `json:"id"`
		} `json:"merchant"`
	}
	cli(t, &out, "merchant", "create", "--db", db.url, "--name", "E2E Merchant")
	return out.APIKey, out.Merchant.ID
}

var client = &http.Client{Timeout: 15 * time.Second}

// call sends one JSON request; err is set only when no HTTP answer came.
func call(ctx context.Context, method, u, key string, body any, headers ...string) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return res.StatusCode, nil, fmt.Errorf("status %d, body not JSON: %q", res.StatusCode, raw)
	}
	return res.StatusCode, m, nil
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// createOrders makes n card orders of amount each through node and returns
// their ids.
func createOrders(t *testing.T, node, key string, n int, amount int64) []string {
	return createOrdersOn(t, node, key, "", n, amount)
}

// createOrdersOn makes them on the merchant's processor account named
// account ("": the merchant's default, else the node's processor).
func createOrdersOn(t *testing.T, node, key, account string, n int, amount int64) []string {
	t.Helper()
	var ids []string
	for i := range n {
		status, body, err := call(context.Background(), "POST", node+"/v1/orders", key, map[string]any{
			"reference": fmt.Sprintf("E2E-%d-%d", time.Now().UnixNano(), i), "currency": "SAR", "amount": amount,
			"payment_method": "card", "processor": account,
			"source": map[string]any{"scheme": "visa", "first_digits": "411111", "last_digits": "1111", "month": 12, "year": 2030},
		})
		if err != nil || status != 201 {
			t.Fatalf("create order: %d %v %v", status, body, err)
		}
		ids = append(ids, str(body, "id"))
	}
	return ids
}

// acked is a refund whose create request got a 2xx answer.
type acked struct {
	id, order string
	amount    int64
}

// runLoad sends partial refunds from clients goroutines, each with its own
// Idempotency-Key, to the nodes (round robin) until ctx ends or each client
// has sent perClient refunds (0: no limit). A request
// that got no answer or a 5xx is retried with the same key, as a careful
// client would; a 4xx is final. It returns the acknowledged refunds and
// counts by outcome.
type loadResult struct {
	mu       sync.Mutex
	acked    []acked
	outcomes map[string]int
}

func (lr *loadResult) count(k string) {
	lr.mu.Lock()
	lr.outcomes[k]++
	lr.mu.Unlock()
}

func runLoad(ctx context.Context, nodes []string, key string, orders []string, clients, perClient int, maxAmount int64) *loadResult {
	lr := &loadResult{outcomes: map[string]int{}}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(c), 7))
			for n := 0; ctx.Err() == nil && (perClient == 0 || n < perClient); n++ {
				idem := fmt.Sprintf("c%d-r%d", c, n)
				order := orders[rnd.IntN(len(orders))]
				amount := 1 + rnd.Int64N(maxAmount)
				body := map[string]any{"order_id": order, "amount": amount, "reason": "e2e"}
				for try := 0; ; try++ {
					node := nodes[(c+n+try)%len(nodes)]
					// The request outlives ctx: an acknowledged refund must
					// be recorded, so the last one in flight is finished.
					rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					status, reply, err := call(rctx, "POST", node+"/v1/refunds", key, body, "Idempotency-Key", idem)
					cancel()
					switch {
					case err == nil && status >= 200 && status < 300:
						lr.mu.Lock()
						lr.acked = append(lr.acked, acked{id: str(reply, "id"), order: order, amount: amount})
						lr.outcomes["created"]++
						lr.mu.Unlock()
					case err == nil && status == 409 && str(reply, "error", "code") == "idempotency_key_in_use":
						// The first request with this key is still running
						// (perhaps on a node that died): ask again.
						lr.count("retry_in_use")
						if ctx.Err() == nil || try < 200 {
							time.Sleep(20 * time.Millisecond)
							continue
						}
					case err == nil && status == 429:
						// Over the key's rate: wait as told, same key.
						lr.count("retry_rate_limited")
						if try < 400 {
							time.Sleep(100 * time.Millisecond)
							continue
						}
						lr.count("gave_up")
					case err == nil && status >= 400 && status < 500:
						lr.count(str(reply, "error", "code"))
					default:
						lr.count("retry_no_answer")
						if try < 400 {
							time.Sleep(25 * time.Millisecond)
							continue
						}
						lr.count("gave_up")
					}
					break
				}
			}
		})
	}
	wg.Wait()
	return lr
}

// logEntry is one row of the sandbox acquirer's append-only execution log:
// one per time money moved.
type logEntry struct {
	IdempotencyKey string `json:"idempotency_key"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`
}

func executionLog(t *testing.T, acquirer string) []logEntry {
	t.Helper()
	res, err := client.Get(acquirer + "/v1/sandbox/executions")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out []logEntry
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// listAll pages through a native list endpoint.
func listAll(t *testing.T, node, key, path string) []map[string]any {
	t.Helper()
	var all []map[string]any
	cursor := ""
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for {
		u := node + path + sep + "limit=100"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		status, body, err := call(context.Background(), "GET", u, key, nil)
		if err != nil || status != 200 {
			t.Fatalf("GET %s: %d %v %v", u, status, body, err)
		}
		for _, d := range body["data"].([]any) {
			all = append(all, d.(map[string]any))
		}
		if body["has_more"] != true {
			return all
		}
		cursor = body["next_cursor"].(string)
	}
}

// waitFinal waits until no refund of the merchant is pending, processing or
// waiting for review.
func waitFinal(t *testing.T, node, key string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		open := 0
		for _, st := range []string{"pending", "processing", "requires_review"} {
			open += len(listAll(t, node, key, "/v1/refunds?status="+st))
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refunds still pending, processing or requires_review after %s", open, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkInvariants verifies, from outside, everything an acknowledged
// refund promises, and returns how many checks it made.
func checkInvariants(t *testing.T, node, key string, acquirers []string, orders []string, lr *loadResult, captured int64) int {
	t.Helper()
	checks := 0
	refunds := map[string]map[string]any{}
	for _, r := range listAll(t, node, key, "/v1/refunds") {
		refunds[r["id"].(string)] = r
	}
	// 1. Every acknowledged refund exists, with its amount and order.
	for _, a := range lr.acked {
		r, ok := refunds[a.id]
		checks++
		if !ok || r["order_id"] != a.order || num(r["amount"]) != a.amount {
			t.Errorf("acknowledged refund %s (order %s, %d) is missing or changed: %v", a.id, a.order, a.amount, r)
		}
	}
	// 2. Every refund is final.
	for id, r := range refunds {
		checks++
		if s := r["status"]; s != "succeeded" && s != "failed" {
			t.Errorf("refund %s is %v after recovery", id, s)
		}
	}
	// 3. The acquirers executed each succeeded refund exactly once, and
	// no failed or unknown one: counted from their append-only execution
	// logs (a ledger is keyed by idempotency key, so it could never show a
	// key executed twice; and an acquirer that deduplicates would absorb a
	// blind resubmission, which one that does not shows here).
	executed := map[string]int64{}
	perKey := map[string]int{}
	for _, acquirer := range acquirers {
		for _, e := range executionLog(t, acquirer) {
			perKey[e.IdempotencyKey]++
			executed[e.IdempotencyKey] += e.Amount
		}
	}
	for k, n := range perKey {
		checks++
		if n != 1 {
			t.Errorf("acquirer executed %s %d times", k, n)
		}
	}
	for id, r := range refunds {
		checks++
		amt, ok := executed[id]
		switch r["status"] {
		case "succeeded":
			if !ok || amt != num(r["amount"]) {
				t.Errorf("succeeded refund %s: acquirer executed %d (present %v), want %d", id, amt, ok, num(r["amount"]))
			}
		default:
			if ok {
				t.Errorf("%v refund %s was executed at the acquirer (%d)", r["status"], id, amt)
			}
		}
	}
	for k := range executed {
		checks++
		if _, ok := refunds[k]; !ok {
			t.Errorf("acquirer executed %s, which refundd does not know", k)
		}
	}
	// 4. Per order: refunded + pending <= captured, and refunded equals
	// what the acquirer executed for it.
	for _, o := range orders {
		status, body, err := call(context.Background(), "GET", node+"/v1/orders/"+o, key, nil)
		if err != nil || status != 200 {
			t.Fatalf("get order %s: %d %v", o, status, err)
		}
		refunded, pending := num(body["refunded_amount"]), num(body["pending_refund_amount"])
		var sum int64
		for id, r := range refunds {
			if r["order_id"] == o && r["status"] == "succeeded" {
				sum += executed[id]
			}
		}
		checks += 3
		if refunded+pending > captured {
			t.Errorf("order %s over-refunded: refunded %d + pending %d > captured %d", o, refunded, pending, captured)
		}
		if pending != 0 {
			t.Errorf("order %s still has %d pending after recovery", o, pending)
		}
		if refunded != sum {
			t.Errorf("order %s: refunded %d, acquirer executed %d", o, refunded, sum)
		}
	}
	return checks
}
