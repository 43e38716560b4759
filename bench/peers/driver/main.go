// Command driver puts the load of refundd's bench on the ledgers it is
// compared with (Blnk, Formance Ledger): N closed-loop clients posting a
// guarded 1-unit movement (refused if the source would go negative), in
// the spread shape (each request from another of ~2000 funded sources)
// or the hot one (every request from one source). It also runs the
// exactness race (2000 concurrent 1-unit requests on a source funded with
// 500) against those ledgers and against a running refundd. `driver
// table DIR` prints the Markdown table of a run directory of bench/peers/run.sh.
//
// Standard library only, in its own module, so the main module gains no
// dependency from it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pair is one movement's source and destination (a balance, an account,
// or for refundd an order and nothing).
type pair struct{ src, dst string }

// outcome of one movement: done, refused for want of funds (the guard),
// or anything else (an error, named by code).
type outcome struct {
	ok, refused bool
	code        string
}

// peer is one system under test.
type peer interface {
	// setup creates n funded sources, each holding funds units.
	setup(ctx context.Context, n int, funds int64) ([]pair, error)
	// move asks for the guarded 1-unit movement; ref is unique per
	// logical request and is reused when the race retries it.
	move(ctx context.Context, p pair, ref string) outcome
	// remaining is what the source still holds.
	remaining(ctx context.Context, p pair) (int64, error)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "table" {
		if err := table(os.Stdout, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "driver:", err)
			os.Exit(1)
		}
		return
	}
	var (
		name     = flag.String("peer", "", "blnk, formance or refundd (refundd: race only; its load is refundd bench)")
		base     = flag.String("url", "", "base URL of the peer")
		key      = flag.String("key", "", "refundd: merchant API key")
		mode     = flag.String("mode", "load", "load or race")
		shape    = flag.String("shape", "spread", "load: spread or hot")
		clients  = flag.Int("clients", 32, "load: closed-loop clients")
		duration = flag.Duration("duration", 10*time.Second, "load: measured time")
		warmup   = flag.Duration("warmup", time.Second, "load: unmeasured time before it")
		sources  = flag.Int("sources", 2000, "load, spread: funded sources")
		racers   = flag.Int("racers", 2000, "race: concurrent requests")
		funds    = flag.Int64("funds", 500, "race: units on the source")
		conns    = flag.Int("conns", 0, "cap on connections to the peer (0: one per request in flight)")
		asJSON   = flag.Bool("json", false, "print one JSON object")
	)
	flag.Parse()
	// Generous: the race queues 2000 requests on one row.
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, MaxConnsPerHost: *conns, IdleConnTimeout: time.Minute}}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	var p peer
	switch *name {
	case "blnk":
		p = &blnk{h: httpc{base: *base, c: client}, run: run}
	case "formance":
		p = &formance{h: httpc{base: *base, c: client}, ledger: "bench_" + run}
	case "refundd":
		if *mode != "race" {
			fail(errors.New("refundd: only -mode race (its load is `refundd bench`)"))
		}
		p = &refundd{h: httpc{base: *base, c: client, auth: "Bearer " + *key}}
	default:
		fail(fmt.Errorf("-peer %q: want blnk, formance or refundd", *name))
	}
	ctx := context.Background()
	var rep *report
	var err error
	if *mode == "race" {
		rep, err = race(ctx, p, *racers, *funds, run)
	} else {
		rep, err = load(ctx, p, *shape, *clients, *sources, *warmup, *duration, run)
	}
	if err != nil {
		fail(err)
	}
	rep.Peer = *name
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		fail(enc.Encode(rep))
		return
	}
	fmt.Println(rep.line())
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

// report uses the field names of `refundd bench --json`, so that one
// table reads both.
type report struct {
	Peer       string         `json:"peer"`
	Mode       string         `json:"mode"` // load or race
	Shape      string         `json:"shape,omitempty"`
	Clients    int            `json:"clients,omitempty"`
	Duration   float64        `json:"duration_s,omitempty"`
	Requests   int            `json:"requests"`
	Succeeded  int            `json:"succeeded"`
	Refused    int            `json:"refused"`
	Throughput float64        `json:"throughput,omitempty"` // succeeded per second
	P50        float64        `json:"p50_ms,omitempty"`
	P99        float64        `json:"p99_ms,omitempty"`
	P999       float64        `json:"p999_ms,omitempty"`
	Errors     map[string]int `json:"errors"`
	// race
	Funds     int64  `json:"funds,omitempty"`
	Retries   int64  `json:"retries,omitempty"`
	Remaining *int64 `json:"remaining,omitempty"`
	Exact     *bool  `json:"exact,omitempty"`
}

func (r *report) line() string {
	if r.Mode == "race" {
		rem := "?"
		if r.Remaining != nil {
			rem = strconv.FormatInt(*r.Remaining, 10)
		}
		return fmt.Sprintf("%s race: %d requests for %d units: %d succeeded, %d refused, %d retries, errors %v, remaining %s, exact %v",
			r.Peer, r.Requests, r.Funds, r.Succeeded, r.Refused, r.Retries, r.Errors, rem, r.Exact != nil && *r.Exact)
	}
	return fmt.Sprintf("%s %s: %.0f/s  p50 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  %d ok  errors %v",
		r.Peer, r.Shape, r.Throughput, r.P50, r.P99, r.P999, r.Succeeded, r.Errors)
}

// load runs the closed loop: a warm-up, then the measured window; a
// client that is mid-request when the window closes finishes it and the
// time it takes counts (as in refundd bench).
func load(ctx context.Context, p peer, shape string, clients, sources int, warmup, duration time.Duration, run string) (*report, error) {
	n := sources
	if shape == "hot" {
		n = 1
	} else if shape != "spread" {
		return nil, fmt.Errorf("-shape %q: want spread or hot", shape)
	}
	// Enough that no source runs dry in any run.
	pairs, err := p.setup(ctx, n, 1_000_000_000)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var seq atomic.Int64
	drive := func(d time.Duration) (lat []time.Duration, refused int, errs map[string]int, elapsed time.Duration) {
		var mu sync.Mutex
		errs = map[string]int{}
		start := time.Now()
		end := start.Add(d)
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				var mine []time.Duration
				for time.Now().Before(end) {
					i := seq.Add(1)
					pr := pairs[int(i)%len(pairs)]
					t := time.Now()
					o := p.move(ctx, pr, run+"-"+strconv.FormatInt(i, 36))
					took := time.Since(t)
					switch {
					case o.ok:
						mine = append(mine, took)
					case o.refused:
						mu.Lock()
						refused++
						mu.Unlock()
					default:
						mu.Lock()
						errs[o.code]++
						mu.Unlock()
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return lat, refused, errs, time.Since(start)
	}
	if warmup > 0 {
		drive(warmup)
	}
	lat, refused, errs, elapsed := drive(duration)
	slices.Sort(lat)
	errn := 0
	for _, v := range errs {
		errn += v
	}
	return &report{Mode: "load", Shape: shape, Clients: clients, Duration: elapsed.Seconds(),
		Requests: len(lat) + refused + errn, Succeeded: len(lat), Refused: refused, Errors: errs,
		Throughput: float64(len(lat)) / elapsed.Seconds(),
		P50:        pct(lat, 0.50), P99: pct(lat, 0.99), P999: pct(lat, 0.999)}, nil
}

// pct is the p-quantile of sorted latencies, nearest rank, in ms (the
// same rule as refundd bench).
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)].Microseconds()) / 1000
}

// race sends racers concurrent 1-unit requests at one source funded with
// funds units. A request that ends neither done nor refused (a lock
// timeout, a dropped connection) is retried with the same reference, as
// a client would, up to 20 times: exact means every request got a
// definite answer, exactly funds of them succeeded and the source holds 0.
func race(ctx context.Context, p peer, racers int, funds int64, run string) (*report, error) {
	pairs, err := p.setup(ctx, 1, funds)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var ok, refused, retries atomic.Int64
	var mu sync.Mutex
	errs := map[string]int{}
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-gate
			ref := run + "-race-" + strconv.Itoa(i)
			var o outcome
			for try := range 20 {
				if try > 0 {
					retries.Add(1)
					time.Sleep(time.Duration(try) * 50 * time.Millisecond)
				}
				if o = p.move(ctx, pairs[0], ref); o.ok || o.refused {
					break
				}
			}
			switch {
			case o.ok:
				ok.Add(1)
			case o.refused:
				refused.Add(1)
			default:
				mu.Lock()
				errs[o.code]++
				mu.Unlock()
			}
		})
	}
	close(gate)
	wg.Wait()
	rem, err := p.remaining(ctx, pairs[0])
	if err != nil {
		return nil, fmt.Errorf("reading the source back: %w", err)
	}
	exact := ok.Load() == funds && refused.Load() == int64(racers)-funds && rem == 0 && len(errs) == 0
	return &report{Mode: "race", Requests: racers, Succeeded: int(ok.Load()), Refused: int(refused.Load()),
		Errors: errs, Funds: funds, Retries: retries.Load(), Remaining: &rem, Exact: &exact}, nil
}

// parallel runs f(0..n-1) on 16 goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// httpc is a JSON-over-HTTP client for one base URL.
type httpc struct {
	base string
	c    *http.Client
	auth string
}

// do sends body as JSON and decodes the answer into out (when not nil);
// it returns the status, and the raw body when it could not decode it.
func (h httpc) do(ctx context.Context, method, path string, body, out any, hdr ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if out != nil && len(raw) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber() // balances are integers that may exceed 2^53
		if err := d.Decode(out); err != nil {
			return resp.StatusCode, raw, nil
		}
	}
	return resp.StatusCode, raw, nil
}

// must is do that wants the given status.
func (h httpc) must(ctx context.Context, want int, method, path string, body, out any, hdr ...string) error {
	st, raw, err := h.do(ctx, method, path, body, out, hdr...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if st != want {
		return fmt.Errorf("%s %s: %d %.300s", method, path, st, raw)
	}
	return nil
}

func netCode(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "network"
}

// --- Blnk ---

// blnk posts synchronous transactions (skip_queue: true: applied under
// the balances' Redis locks before the answer, not queued for a worker)
// with allow_overdraft false, between balances of one fresh ledger.
type blnk struct {
	h   httpc
	run string
}

func (b *blnk) setup(ctx context.Context, n int, funds int64) ([]pair, error) {
	var l struct {
		ID string `json:"ledger_id"`
	}
	if err := b.h.must(ctx, 201, "POST", "/ledgers", map[string]any{"name": "bench-" + b.run}, &l); err != nil {
		return nil, err
	}
	pairs := make([]pair, n)
	err := parallel(n, func(i int) error {
		var ids [2]string
		for k := range ids {
			var bal struct {
				ID string `json:"balance_id"`
			}
			if err := b.h.must(ctx, 201, "POST", "/balances", map[string]any{"ledger_id": l.ID, "currency": "USD"}, &bal); err != nil {
				return err
			}
			ids[k] = bal.ID
		}
		pairs[i] = pair{ids[0], ids[1]}
		// @World is Blnk's internal source of funds; it may go negative.
		return b.h.must(ctx, 201, "POST", "/transactions", map[string]any{
			"amount": funds, "precision": 1, "currency": "USD", "reference": "fund-" + b.run + "-" + strconv.Itoa(i),
			"description": "fund", "source": "@World", "destination": ids[0], "allow_overdraft": true, "skip_queue": true}, nil)
	})
	return pairs, err
}

func (b *blnk) move(ctx context.Context, p pair, ref string) outcome {
	var e struct {
		Detail struct {
			Code string `json:"code"`
		} `json:"error_detail"`
	}
	st, _, err := b.h.do(ctx, "POST", "/transactions", map[string]any{
		"amount": 1, "precision": 1, "currency": "USD", "reference": ref, "description": "bench",
		"source": p.src, "destination": p.dst, "allow_overdraft": false, "skip_queue": true}, &e)
	switch {
	case err != nil:
		return outcome{code: netCode(err)}
	case st == 201:
		return outcome{ok: true}
	case e.Detail.Code == "TXN_INSUFFICIENT_FUNDS":
		return outcome{refused: true}
	}
	return outcome{code: strconv.Itoa(st) + " " + e.Detail.Code}
}

func (b *blnk) remaining(ctx context.Context, p pair) (int64, error) {
	var bal struct {
		Balance json.Number `json:"balance"`
	}
	if err := b.h.must(ctx, 200, "GET", "/balances/"+p.src, nil, &bal); err != nil {
		return 0, err
	}
	return bal.Balance.Int64()
}

// --- Formance Ledger v2 ---

// formance posts a Numscript send from src:i to dst:i in a fresh ledger;
// without an overdraft clause the source may not go below zero, and the
// interpreter refuses with INSUFFICIENT_FUND. The request's reference
// travels as its Idempotency-Key, as refundd bench sends one.
type formance struct {
	h      httpc
	ledger string
}

// The script is the same text every time (its accounts are variables),
// so the ledger parses it once and caches it.
const sendOne = "vars {\n  account $src\n  account $dst\n}\nsend [COIN 1] (\n  source = $src\n  destination = $dst\n)\n"

func (f *formance) setup(ctx context.Context, n int, funds int64) ([]pair, error) {
	if err := f.h.must(ctx, 204, "POST", "/v2/"+f.ledger, map[string]any{}, nil); err != nil {
		return nil, err
	}
	pairs := make([]pair, n)
	for i := range pairs {
		pairs[i] = pair{"src:" + strconv.Itoa(i), "dst:" + strconv.Itoa(i)}
	}
	// Every funding comes from @world, whose row each one locks: a
	// hundred sends to a transaction keeps the set-up short.
	const per = 100
	err := parallel((n+per-1)/per, func(c int) error {
		var script strings.Builder
		for _, p := range pairs[c*per : min((c+1)*per, n)] {
			fmt.Fprintf(&script, "send [COIN %d] (\n  source = @world\n  destination = @%s\n)\n", funds, p.src)
		}
		return f.h.must(ctx, 200, "POST", "/v2/"+f.ledger+"/transactions",
			map[string]any{"script": map[string]any{"plain": script.String()}}, nil)
	})
	return pairs, err
}

func (f *formance) move(ctx context.Context, p pair, ref string) outcome {
	var e struct {
		Code string `json:"errorCode"`
	}
	st, _, err := f.h.do(ctx, "POST", "/v2/"+f.ledger+"/transactions",
		map[string]any{"script": map[string]any{"plain": sendOne, "vars": map[string]string{"src": p.src, "dst": p.dst}}}, &e,
		"Idempotency-Key", ref)
	switch {
	case err != nil:
		return outcome{code: netCode(err)}
	case st == 200:
		return outcome{ok: true}
	case e.Code == "INSUFFICIENT_FUND":
		return outcome{refused: true}
	}
	return outcome{code: strconv.Itoa(st) + " " + e.Code}
}

func (f *formance) remaining(ctx context.Context, p pair) (int64, error) {
	var a struct {
		Data struct {
			Volumes map[string]struct {
				Balance json.Number `json:"balance"`
			} `json:"volumes"`
		} `json:"data"`
	}
	if err := f.h.must(ctx, 200, "GET", "/v2/"+f.ledger+"/accounts/"+p.src+"?expand=volumes", nil, &a); err != nil {
		return 0, err
	}
	return a.Data.Volumes["COIN"].Balance.Int64()
}

// --- refundd (the race only) ---

// refundd races 1-unit refunds on one card order captured for funds
// units; the guard is refundd's own (refunded + pending <= captured).
type refundd struct{ h httpc }

func (r *refundd) setup(ctx context.Context, n int, funds int64) ([]pair, error) {
	pairs := make([]pair, n)
	err := parallel(n, func(i int) error {
		var o struct {
			ID string `json:"id"`
		}
		// Card ending 4444: the sandbox acquirer approves at once.
		err := r.h.must(ctx, 201, "POST", "/v1/orders", map[string]any{"amount": funds, "currency": "SAR", "payment_method": "card",
			"source": map[string]any{"scheme": "mastercard", "first_digits": "555555", "last_digits": "4444", "month": 12, "year": 2030}}, &o)
		pairs[i] = pair{src: o.ID}
		return err
	})
	return pairs, err
}

func (r *refundd) move(ctx context.Context, p pair, ref string) outcome {
	var a struct {
		Status string `json:"status"`
		Error  struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	st, _, err := r.h.do(ctx, "POST", "/v1/refunds", map[string]any{"order_id": p.src, "amount": 1, "reason": "race"}, &a,
		"Idempotency-Key", ref)
	switch {
	case err != nil:
		return outcome{code: netCode(err)}
	case st == 201 && a.Status == "succeeded":
		return outcome{ok: true}
	case st == 422 && a.Error.Code == "amount_exceeds_refundable":
		return outcome{refused: true}
	}
	return outcome{code: strconv.Itoa(st) + " " + a.Status + a.Error.Code}
}

func (r *refundd) remaining(ctx context.Context, p pair) (int64, error) {
	var o struct {
		Amount   json.Number `json:"amount"`
		Refunded json.Number `json:"refunded_amount"`
		Pending  json.Number `json:"pending_refund_amount"`
	}
	if err := r.h.must(ctx, 200, "GET", "/v1/orders/"+p.src, nil, &o); err != nil {
		return 0, err
	}
	a, err1 := o.Amount.Int64()
	f, err2 := o.Refunded.Int64()
	q, err3 := o.Pending.Int64()
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, fmt.Errorf("order %s: %w", p.src, err)
	}
	return a - f - q, nil
}

// --- table ---

// table prints the Markdown table of one run directory of run.sh:
// <system>-spread.json and <system>-hot.json (refundd's from `refundd
// bench --json`, the others from this driver) and <system>-race.json.
func table(w io.Writer, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: driver table RUN_DIR")
	}
	dir := args[0]
	fmt.Fprintln(w, "| system | shape | moves/s | p50 ms | p99 ms | p99.9 ms | errors | race: 2000 for 500 |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|---|")
	for _, sys := range []string{"refundd", "blnk", "formance"} {
		exact := "not run"
		var rc report
		if err := readJSON(filepath.Join(dir, sys+"-race.json"), &rc); err == nil && rc.Exact != nil {
			exact = fmt.Sprintf("%d ok, %d refused, left %d", rc.Succeeded, rc.Refused, *rc.Remaining)
			if rc.Retries > 0 {
				exact += fmt.Sprintf(", %d retries", rc.Retries)
			}
			if *rc.Exact {
				exact = "exact: " + exact
			} else {
				exact = fmt.Sprintf("NOT exact: %s, errors %v", exact, rc.Errors)
			}
		}
		for _, shape := range []string{"spread", "hot"} {
			var r report
			if err := readJSON(filepath.Join(dir, sys+"-"+shape+".json"), &r); err != nil {
				fmt.Fprintf(w, "| %s | %s | not run | | | | | %s |\n", sys, shape, exact)
				continue
			}
			n := 0
			for _, v := range r.Errors {
				n += v
			}
			errs := strconv.Itoa(n)
			if n > 0 {
				errs = fmt.Sprintf("%d %v", n, r.Errors)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.1f | %s | %s |\n", sys, shape, r.Throughput, r.P50, r.P99, r.P999, errs, exact)
		}
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
