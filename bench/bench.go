// Package bench is refundd's load generator: it drives a running refundd
// (or a trivial JSON handler, for the ceiling) with refund requests in a
// closed or open loop, measures throughput and latency, and at the end
// checks from outside that no order was over-refunded and every
// acknowledged refund exists.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refundd/refundd/money"
)

// Config of one run.
type Config struct {
	Target   string        // base URL of refundd
	Key      string        // merchant API key
	Surface  string        // native (default) or a dialect name
	Shape    string        // spread (default) or hot: every refund on one order for the whole run
	Invoiced bool          // orders with a line: a tax invoice each, a credit note per refund
	Clients  int           // closed loop: concurrent clients (default 32)
	Rate     float64       // open loop: requests per second (0 = closed loop)
	Duration time.Duration // measured time (default 10s)
	Warmup   time.Duration // unmeasured time before it (default 1s)
	Orders   int           // spread: orders in the pool (default 2000)
	Verify   bool          // check invariants at the end
	// Trace splits each acknowledged refund's latency into the phases the
	// server reports in its Server-Timing header (refundd serve
	// --server-timing; the in-process server of refundd bench --trace).
	Trace bool
	// RSS, when set, reads the server's resident memory (bytes).
	RSS func() int64
	// Measure, when set, is called when the measured drive starts and its
	// result when it ends (a CPU profile of exactly that window).
	Measure func() (stop func())
	// Partner is "ID:KEY", a partner linked to the merchant: the paylink
	// surface trades it for a token once per run (a merchant's own key
	// gets a MERCHANT token, which Paylink's refund route refuses).
	Partner string
	// Lookup names the merchant in Paylink's path, "key/value"
	// (accountNo/BENCH-1): Paylink finds the merchant by it, not by a key.
	Lookup string
	// AppID is the merchant's Techrar app-id header, which no merchant
	// key tells (refundd merchant create prints it).
	AppID int64
}

// Report is what a run measured.
type Report struct {
	Surface      string         `json:"surface"`
	Shape        string         `json:"shape"`
	Invoiced     bool           `json:"invoiced,omitempty"`
	Mode         string         `json:"mode"` // closed or open
	Clients      int            `json:"clients,omitempty"`
	Rate         float64        `json:"rate,omitempty"`
	Duration     float64        `json:"duration_s"`
	Requests     int            `json:"requests"`
	Refunds      int            `json:"refunds"`
	Throughput   float64        `json:"throughput"` // acknowledged refunds per second
	P50          float64        `json:"p50_ms"`
	P90          float64        `json:"p90_ms"`
	P99          float64        `json:"p99_ms"`
	P999         float64        `json:"p999_ms"`
	Max          float64        `json:"max_ms"`
	Errors       map[string]int `json:"errors"`
	RSSBytes     int64          `json:"rss_bytes,omitempty"`
	InvariantsOK *bool          `json:"invariants_ok,omitempty"`
	Invariants   []string       `json:"invariant_violations,omitempty"`
	Checked      int            `json:"invariant_checks,omitempty"`
	Ceiling      float64        `json:"ceiling_throughput,omitempty"`
	Ratio        float64        `json:"ratio,omitempty"`
	// Per refund: what the server sent its database during the measured
	// window (its /metrics counters, read before and after), divided by
	// the acknowledged refunds; background work (worker, outbox) included.
	// Absent when the target does not publish them.
	Statements   float64 `json:"statements_per_refund,omitempty"`
	RoundTrips   float64 `json:"round_trips_per_refund,omitempty"`
	Transactions float64 `json:"transactions_per_refund,omitempty"`
	// Retries is how many batches of writes the server ran again whole
	// in the window (a deadlock, a busy database): each a wait.
	Retries *int `json:"batch_retries,omitempty"` // nil: the target does not publish it
	// Trace is where the acknowledged refunds' time went (Config.Trace),
	// phase by phase in the order the server met them, then what the
	// server did outside them, the client's share and the whole.
	Trace []PhaseStat `json:"trace,omitempty"`

	counts [3]float64 // statements, round trips, transactions in the window
}

// storeMetrics are the counters storeCounts reads, in Report order; the
// first requiredMetrics must be published, the last (batches run again)
// is newer than the others and may be absent.
const requiredMetrics = 3

var storeMetrics = [4]string{"refundd_store_statements_total", "refundd_store_round_trips_total", "refundd_store_transactions_total",
	"refundd_store_batch_retries_total"}

// storeCounts reads the target's store counters from its /metrics (served
// to loopback by default), and whether it publishes the last. An error
// when it does not publish the others.
func (r *run) storeCounts(ctx context.Context) ([4]float64, bool, error) {
	var out [4]float64
	retries := false
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(r.cfg.Target, "/")+"/metrics", nil)
	if err != nil {
		return out, false, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return out, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, false, fmt.Errorf("bench: /metrics answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return out, false, err
	}
	found := 0
	for line := range strings.Lines(string(body)) {
		for i, name := range storeMetrics {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				if out[i], err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
					return out, false, err
				}
				if i < requiredMetrics {
					found++
				} else {
					retries = true
				}
			}
		}
	}
	if found < requiredMetrics {
		return out, false, errors.New("bench: the target publishes no store counters")
	}
	return out, retries, nil
}

// PhaseStat is one phase of the refunds' latency. Means add up to the
// whole's mean; percentiles do not add up.
type PhaseStat struct {
	Phase string  `json:"phase"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Mean  float64 `json:"mean_ms"`
	Share float64 `json:"share"` // of the whole's mean
}

// Rows of a trace besides the server's phases.
const (
	PhaseServerOther = "server_other" // the server's total less its phases: HTTP, routing, JSON
	PhaseClient      = "client"       // the whole less the server's total: network, client, generator
	PhaseWhole       = "whole"        // the latency the generator measured
)

// surface builds one refund request and reads its answer.
type surface interface {
	// newOrder creates an order worth amount and returns its id.
	newOrder(ctx context.Context, amount int64) (string, error)
	// refund asks for amount off order.
	refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error)
}

// reply is the answer to one refund request: the refund id on success, an
// error code otherwise, and the server's Server-Timing header if it sent
// one.
type reply struct {
	id, code string
	timing   string
	// amount is what the server refunded when the request names none
	// (Paylink refunds what is left of the order); 0: what was asked.
	amount int64
}

// Client is the HTTP client every run uses: many idle connections, so the
// generator measures the server and not connection setup.
func Client() *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type run struct {
	cfg    Config
	client *http.Client
	surf   surface

	mu       sync.Mutex
	lat      []time.Duration
	errs     map[string]int
	acked    map[string][]ackedRefund // by order
	requests atomic.Int64
	traces   []trace

	orders []string
}

// trace is one acknowledged refund's phases as the server reported them,
// and its latency at the generator.
type trace struct {
	phases []phase
	whole  time.Duration
}

type phase struct {
	name string
	d    time.Duration
}

type ackedRefund struct {
	id     string
	amount int64
}

const (
	spreadOrderAmount  = 1_000_000 // 10,000.00: room for many small refunds
	spreadRefundAmount = 100
	// The hot order never runs out: at 1 minor unit a refund, 10^15 units
	// last longer than any run (a million refunds a second for 30 years).
	hotOrderAmount  = 1_000_000_000_000_000
	hotRefundAmount = 1
)

// Run drives cfg.Target and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Surface == "" {
		cfg.Surface = "native"
	}
	if cfg.Shape == "" {
		cfg.Shape = "spread"
	}
	if cfg.Shape != "spread" && cfg.Shape != "hot" {
		return nil, fmt.Errorf("bench: shape must be spread or hot, not %q", cfg.Shape)
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 32
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Warmup < 0 {
		cfg.Warmup = 0
	}
	if cfg.Orders <= 0 {
		cfg.Orders = 2000
	}
	if cfg.Surface == "paylink" && cfg.Shape == "hot" {
		// Its refund names no amount and takes what is left of the order:
		// one refund, then nothing but refusals to measure.
		return nil, errors.New("bench: a Paylink refund takes all that is left of its order, so the hot shape would make one refund; use --shape spread (with --orders above the refunds a run makes)")
	}
	if cfg.Surface == "techrar" {
		// Techrar refunds lines of a tax invoice: every order gets one.
		cfg.Invoiced = true
	}
	r := &run{cfg: cfg, client: Client(), errs: map[string]int{}, acked: map[string][]ackedRefund{}}
	var err error
	if r.surf, err = newSurface(ctx, cfg, r.client); err != nil {
		return nil, err
	}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Surface: cfg.Surface, Shape: cfg.Shape, Invoiced: cfg.Invoiced, Errors: map[string]int{}}
	if cfg.Warmup > 0 {
		r.drive(ctx, cfg.Warmup, false)
	}
	r.mu.Lock()
	r.lat, r.errs, r.traces = r.lat[:0], map[string]int{}, nil
	r.mu.Unlock()
	r.requests.Store(0)
	started := time.Now()
	if cfg.Rate > 0 {
		rep.Mode, rep.Rate = "open", cfg.Rate
	} else {
		rep.Mode, rep.Clients = "closed", cfg.Clients
	}
	stopMeasure := func() {}
	if cfg.Measure != nil {
		stopMeasure = cfg.Measure()
	}
	before, retriesBefore, countsErr := r.storeCounts(ctx)
	r.drive(ctx, cfg.Duration, true)
	stopMeasure()
	elapsed := time.Since(started)
	after, retries, err := r.storeCounts(ctx)
	if countsErr == nil && err == nil {
		rep.counts = [3]float64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
		if retries && retriesBefore {
			n := int(after[3] - before[3])
			rep.Retries = &n
		}
	}
	if cfg.RSS != nil {
		rep.RSSBytes = cfg.RSS()
	}

	r.mu.Lock()
	lat := slices.Clone(r.lat)
	for k, v := range r.errs {
		rep.Errors[k] = v
	}
	traces := r.traces
	r.mu.Unlock()
	if cfg.Trace {
		if rep.Trace = phaseStats(traces); rep.Trace == nil {
			return nil, errors.New("bench: --trace: the server answered no Server-Timing header (start it with --server-timing)")
		}
	}
	slices.Sort(lat)
	rep.Duration = elapsed.Seconds()
	rep.Requests = int(r.requests.Load())
	rep.Refunds = len(lat)
	rep.Throughput = float64(len(lat)) / elapsed.Seconds()
	if n := float64(len(lat)); n > 0 {
		rep.Statements, rep.RoundTrips, rep.Transactions = rep.counts[0]/n, rep.counts[1]/n, rep.counts[2]/n
	}
	rep.P50, rep.P90, rep.P99, rep.P999 = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 0.999)
	if len(lat) > 0 {
		rep.Max = ms(lat[len(lat)-1])
	}
	if cfg.Verify {
		v, n, err := r.verify(ctx)
		if err != nil {
			return nil, err
		}
		ok := len(v) == 0
		rep.InvariantsOK, rep.Invariants, rep.Checked = &ok, v, n
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the p-quantile of sorted latencies (nearest rank).
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return ms(sorted[min(max(i, 0), len(sorted)-1)])
}

// setup creates the spread pool or the one hot order.
func (r *run) setup(ctx context.Context) error {
	if r.cfg.Shape == "hot" {
		id, err := r.surf.newOrder(ctx, hotOrderAmount)
		if err != nil {
			return err
		}
		r.orders = []string{id}
		return nil
	}
	ids := make([]string, r.cfg.Orders)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id, err := r.surf.newOrder(ctx, spreadOrderAmount)
			if err != nil {
				select {
				case errc <- err:
				default:
				}
				return
			}
			ids[i] = id
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("bench: creating orders: %w", err)
	default:
	}
	r.orders = ids
	return nil
}

// pick returns the order and amount for request seq: the hot order is
// orders[0], and the spread pool is walked round.
func (r *run) pick(seq uint64) (string, int64) {
	if r.cfg.Shape == "hot" {
		return r.orders[0], hotRefundAmount
	}
	return r.orders[seq%uint64(len(r.orders))], spreadRefundAmount
}

var seq atomic.Uint64

// one sends one refund; latency counts from intended (the open loop's
// planned send time, or now).
func (r *run) one(ctx context.Context, intended time.Time, record bool) {
	n := seq.Add(1)
	order, amount := r.pick(n)
	rep, err := r.surf.refund(ctx, order, amount, n)
	took := time.Since(intended)
	if ctx.Err() != nil {
		return
	}
	r.requests.Add(1)
	if err != nil {
		rep.code = "transport_error"
	}
	var tr []phase
	if r.cfg.Trace && record && rep.id != "" {
		tr = parseServerTiming(rep.timing)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rep.amount != 0 {
		amount = rep.amount
	}
	if rep.id != "" {
		r.acked[order] = append(r.acked[order], ackedRefund{id: rep.id, amount: amount})
		if record {
			r.lat = append(r.lat, took)
			if tr != nil {
				r.traces = append(r.traces, trace{phases: tr, whole: took})
			}
		}
		return
	}
	if record {
		r.errs[rep.code]++
	}
}

// drive sends load for d: closed loop with Clients workers, or open loop
// at Rate. Sending stops after d; the requests sent by then are answered
// and counted (the client's timeout bounds them). Cancelled at d, they
// counted neither their refunds nor their latency though the server did
// the work, and a short run on a busy machine could count none at all.
func (r *run) drive(ctx context.Context, d time.Duration, record bool) {
	sending, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	if r.cfg.Rate <= 0 {
		for range r.cfg.Clients {
			wg.Go(func() {
				for sending.Err() == nil {
					r.one(ctx, time.Now(), record)
				}
			})
		}
		wg.Wait()
		return
	}
	// Open loop: request i is due at start + i/rate whether or not earlier
	// ones have answered; its latency counts from that moment.
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			select {
			case <-sending.Done():
				wg.Wait()
				return
			case <-time.After(w):
			}
		}
		if sending.Err() != nil {
			break
		}
		wg.Go(func() { r.one(ctx, due, record) })
	}
	wg.Wait()
}

// verify checks every order the run touched, and every acknowledged
// refund, through the native API.
func (r *run) verify(ctx context.Context) ([]string, int, error) {
	var bad []string
	checks := 0
	n := &native{base: r.cfg.Target, key: r.cfg.Key, client: r.client}
	r.mu.Lock()
	acked := r.acked
	r.mu.Unlock()
	for order, refunds := range acked {
		var o struct {
			Captured int64 `json:"captured_amount"`
			Refunded int64 `json:"refunded_amount"`
			Pending  int64 `json:"pending_refund_amount"`
		}
		if err := n.get(ctx, "/v1/orders/"+order, &o); err != nil {
			return nil, 0, err
		}
		checks++
		if o.Refunded+o.Pending > o.Captured {
			bad = append(bad, fmt.Sprintf("order %s: refunded %d + pending %d > captured %d", order, o.Refunded, o.Pending, o.Captured))
		}
		known := map[string]int64{}
		cursor := ""
		for {
			var page struct {
				Data []struct {
					ID                string `json:"id"`
					Amount            int64  `json:"amount"`
					MerchantReference string `json:"merchant_reference"`
				} `json:"data"`
				HasMore    bool   `json:"has_more"`
				NextCursor string `json:"next_cursor"`
			}
			path := "/v1/refunds?limit=100&order_id=" + order
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			if err := n.get(ctx, path, &page); err != nil {
				return nil, 0, err
			}
			for _, d := range page.Data {
				known[d.ID] = d.Amount
				if d.MerchantReference != "" {
					// Dialects that answer with their own ids (SGate's
					// <order>_R<n>) are matched by the merchant reference.
					known["ref:"+d.MerchantReference] = d.Amount
				}
			}
			if !page.HasMore {
				break
			}
			cursor = page.NextCursor
		}
		for _, a := range refunds {
			checks++
			if amt, ok := known[a.id]; !ok || amt != a.amount {
				bad = append(bad, fmt.Sprintf("acknowledged refund %s on order %s is missing or changed", a.id, order))
			}
		}
	}
	return bad, checks, nil
}

// Table renders reports as a text table.
func Table(w io.Writer, reps ...*Report) {
	fmt.Fprintf(w, "%-10s %-7s %-14s %10s %9s %9s %9s %9s %9s %8s %s\n",
		"surface", "shape", "load", "refunds/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "RSS MB", "errors")
	for _, r := range reps {
		load := "closed " + strconv.Itoa(r.Clients)
		if r.Mode == "open" {
			load = "open " + strconv.FormatFloat(r.Rate, 'f', 0, 64) + "/s"
		}
		var errs []string
		for k, v := range r.Errors {
			errs = append(errs, k+"="+strconv.Itoa(v))
		}
		slices.Sort(errs)
		shape := r.Shape
		if r.Invoiced {
			shape += "+inv" // orders with a line: tax invoice, credit notes
		}
		fmt.Fprintf(w, "%-10s %-7s %-14s %10.0f %9.2f %9.2f %9.2f %9.2f %9.2f %8.1f %s\n",
			r.Surface, shape, load, r.Throughput, r.P50, r.P90, r.P99, r.P999, r.Max,
			float64(r.RSSBytes)/(1<<20), strings.Join(errs, " "))
		if r.Ceiling > 0 {
			fmt.Fprintf(w, "ceiling (trivial JSON handler, same generator): %.0f req/s; refundd at %.1f %% of it\n", r.Ceiling, 100*r.Ratio)
		}
		if r.Statements > 0 {
			again := ""
			if r.Retries != nil {
				again = fmt.Sprintf("; %d batches run again", *r.Retries)
			}
			fmt.Fprintf(w, "database work per refund: %.1f statements, %.1f round trips, %.2f transactions%s\n",
				r.Statements, r.RoundTrips, r.Transactions, again)
		}
		if r.InvariantsOK != nil {
			verdict := "ok"
			if !*r.InvariantsOK {
				verdict = "VIOLATED: " + strings.Join(r.Invariants, "; ")
			}
			fmt.Fprintf(w, "invariants (%d checks): %s\n", r.Checked, verdict)
		}
		TraceTable(w, r)
	}
}

// orderCurrency is every bench order's currency.
const orderCurrency = "SAR"

// native speaks the native v1 API.
type native struct {
	base, key string
	client    *http.Client
	invoiced  bool           // orders carry a line (Config.Invoiced)
	cur       money.Currency // the orders' (orderCurrency): the dialects' decimal amounts are in it
}

func (n *native) do(ctx context.Context, method, path string, body []byte, out any, headers ...string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := n.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, res.Header, fmt.Errorf("bench: %s %s answered %d %q", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode, res.Header, nil
}

// setupWaits bounds how many 429s one request around the measured run
// waits out before the run gives up.
const setupWaits = 120

// doWaiting is do for the requests around the measured run (creating the
// orders, the closing check): a node that limits the key (refundd serve
// --rate-limit, 200/s by default) answers the setup's burst of orders
// with 429, refused before anything is done, and each is sent again after
// its Retry-After. The measured refunds use do and count a 429 as an error.
func (n *native) doWaiting(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	for waits := 0; ; waits++ {
		status, h, err := n.do(ctx, method, path, body, out)
		if err != nil || status != http.StatusTooManyRequests || waits == setupWaits {
			return status, err
		}
		wait := time.Second
		if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return status, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (n *native) get(ctx context.Context, path string, out any) error {
	status, err := n.doWaiting(ctx, "GET", path, nil, out)
	if err == nil && status != 200 {
		err = fmt.Errorf("bench: GET %s answered %d", path, status)
	}
	return err
}

func (n *native) newOrder(ctx context.Context, amount int64) (string, error) {
	var items string
	if n.invoiced {
		items = fmt.Sprintf(`,"items":[{"id":"line-1","sku":"BENCH-1","name_en":"Bench","qty":1,"unit_amount":%d}]`, amount)
	}
	body := fmt.Appendf(nil, `{"currency":%q,"amount":%d,"payment_method":"card","source":{"scheme":"visa","last_digits":"4242"}%s}`, orderCurrency, amount, items)
	var o struct {
		ID    string `json:"id"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	status, err := n.doWaiting(ctx, "POST", "/v1/orders", body, &o)
	if err != nil {
		return "", err
	}
	if status == http.StatusTooManyRequests {
		return "", fmt.Errorf("bench: create order answered 429 %d times: %s (the target limits each key: start it with --rate-limit 0 to measure it)",
			setupWaits+1, o.Error.Message)
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("bench: create order answered %d: %s", status, o.Error.Message)
	}
	return o.ID, nil
}

type nativeReply struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (n *native) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	body := fmt.Appendf(nil, `{"order_id":%q,"amount":%d}`, order, amount)
	var rep nativeReply
	status, h, err := n.do(ctx, "POST", "/v1/refunds", body, &rep, "Idempotency-Key", "bench-"+strconv.FormatUint(seq, 36)+"-"+order)
	if err != nil {
		return reply{}, err
	}
	if status == http.StatusCreated && rep.Status != "failed" {
		return reply{id: rep.ID, timing: h.Get("Server-Timing")}, nil
	}
	if rep.Error.Code == "" {
		rep.Error.Code = "http_" + strconv.Itoa(status)
	}
	return reply{code: rep.Error.Code}, nil
}

func newSurface(ctx context.Context, cfg Config, c *http.Client) (surface, error) {
	cur, err := money.LookupCurrency(orderCurrency)
	if err != nil {
		return nil, err
	}
	n := &native{base: strings.TrimRight(cfg.Target, "/"), key: cfg.Key, client: c, invoiced: cfg.Invoiced, cur: cur}
	switch cfg.Surface {
	case "native":
		return n, nil
	case "ceiling":
		return &ceilingSurface{n}, nil
	case "gateway":
		return &gatewaySurface{n}, nil
	case "sgate":
		return &sgateSurface{n}, nil
	case "upayments":
		return &upaymentsSurface{n}, nil
	case "paylink":
		return newPaylink(ctx, n, cfg.Partner, cfg.Lookup)
	case "techrar":
		if cfg.AppID <= 0 {
			return nil, errors.New("bench: the techrar surface needs the merchant's app id (--app-id)")
		}
		return &techrarSurface{native: n, appID: strconv.FormatInt(cfg.AppID, 10)}, nil
	}
	return nil, fmt.Errorf("bench: unknown surface %q (native, gateway, sgate, upayments, paylink or techrar)", cfg.Surface)
}

// gatewaySurface refunds through the gateway dialect: integer minor units
// and an Idempotency-Key, which the dialect keeps as the refund's merchant
// reference (the check finds the refund under it). The reply is the order.
type gatewaySurface struct{ *native }

func (g *gatewaySurface) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	key := "bench-" + strconv.FormatUint(seq, 36) + "-" + order[len(order)-8:]
	var rep struct {
		Errors map[string][]string `json:"errors"`
	}
	status, h, err := g.do(ctx, "POST", "/v1/orders/"+order+"/refund", fmt.Appendf(nil, `{"amount":%d}`, amount), &rep, "Idempotency-Key", key)
	if err != nil {
		return reply{}, err
	}
	if status == http.StatusOK {
		return reply{id: "ref:" + key, timing: h.Get("Server-Timing")}, nil
	}
	// A 422 names the fields at fault (amount, when nothing is left), in
	// one order so that one error counts under one code.
	code := "http_" + strconv.Itoa(status)
	for _, field := range slices.Sorted(maps.Keys(rep.Errors)) {
		code += "_" + field
	}
	return reply{code: code}, nil
}

// sgateSurface refunds through the SGate dialect: a decimal amount string
// and a merchantRefundId, which also makes its retries idempotent. Orders
// are made through the native API (SGate has no order creation).
type sgateSurface struct{ *native }

func (s *sgateSurface) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	ref := "bench-" + strconv.FormatUint(seq, 36) + "-" + order[len(order)-8:]
	body := fmt.Appendf(nil, `{"amount":"%s","reason":"bench","merchantRefundId":%q}`, money.Format(amount, s.cur), ref)
	var rep struct {
		Status string `json:"status"`
		Code   string `json:"code"`
	}
	status, h, err := s.do(ctx, "POST", "/orders/"+order+"/refunds", body, &rep)
	if err != nil {
		return reply{}, err
	}
	if status < 300 && rep.Status != "fail" {
		return reply{id: "ref:" + ref, timing: h.Get("Server-Timing")}, nil
	}
	if rep.Code == "" {
		rep.Code = "http_" + strconv.Itoa(status)
	}
	return reply{code: rep.Code}, nil
}

// upaymentsSurface refunds through the UPayments dialect: a decimal
// totalPrice and a reference, which the dialect keeps as the refund's
// merchant reference (so its retries are idempotent, and the check finds
// the refund under it). Orders are made through the native API.
type upaymentsSurface struct{ *native }

func (u *upaymentsSurface) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	ref := "bench-" + strconv.FormatUint(seq, 36) + "-" + order[len(order)-8:]
	body := fmt.Appendf(nil, `{"orderId":%q,"totalPrice":"%s","reference":%q}`, order, money.Format(amount, u.cur), ref)
	var rep struct {
		Status bool `json:"status"`
	}
	status, h, err := u.do(ctx, "POST", "/api/v1/create-refund", body, &rep)
	if err != nil {
		return reply{}, err
	}
	if status == http.StatusOK && rep.Status {
		return reply{id: "ref:" + ref, timing: h.Get("Server-Timing")}, nil
	}
	// The surface's errors carry no code: its HTTP status stands for it
	// (422: nothing left to refund, or declined).
	return reply{code: "http_" + strconv.Itoa(status)}, nil
}

// paylinkSurface refunds through the Paylink partner dialect: a partner
// token fetched once per run (it lives 30 minutes), the merchant named by
// a lookup in the path, and an Idempotency-Key, which the dialect keeps as
// the refund's merchant reference (the check finds the refund under it).
// Paylink's body has no amount: a refund takes what is left of the order,
// so each order takes one refund (the spread pool's size bounds the
// refunds of a run, and the hot order takes one) and later ones are
// counted as errors. Orders are made through the native API.
type paylinkSurface struct {
	*native
	path, token string
}

func newPaylink(ctx context.Context, n *native, partner, lookup string) (*paylinkSurface, error) {
	id, secret, ok := strings.Cut(partner, ":")
	key, value, ok2 := strings.Cut(lookup, "/")
	if !ok || id == "" || secret == "" || !ok2 || key == "" || value == "" {
		return nil, errors.New("bench: the paylink surface needs a linked partner's id and key (--partner ID:KEY) " +
			"and the merchant's lookup (--lookup key/value, such as accountNo/BENCH-1)")
	}
	body, err := json.Marshal(map[string]string{"apiId": id, "secretKey": secret})
	if err != nil {
		return nil, err
	}
	var tok struct {
		Token   string `json:"id_token"`
		Message string `json:"message"`
	}
	status, err := n.doWaiting(ctx, "POST", "/rest/partner/v2/auth", body, &tok)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK || tok.Token == "" {
		return nil, fmt.Errorf("bench: paylink auth answered %d: %s", status, tok.Message)
	}
	return &paylinkSurface{native: n, token: tok.Token,
		path: "/rest/partner/v2/merchant/" + url.PathEscape(key) + "/" + url.PathEscape(value) + "/refund"}, nil
}

func (p *paylinkSurface) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	ref := "bench-" + strconv.FormatUint(seq, 36) + "-" + order[len(order)-8:]
	body := fmt.Appendf(nil, `{"orderNumber":%q,"refundReason":"bench"}`, order)
	var rep struct {
		Amount   json.Number `json:"amount"`
		Currency string      `json:"currency"`
		Code     string      `json:"code"`
	}
	// The token in place of the merchant key: do sends its own
	// Authorization first, and the headers after it win.
	status, h, err := p.do(ctx, "POST", p.path, body, &rep, "Authorization", "Bearer "+p.token, "Idempotency-Key", ref)
	if err != nil {
		return reply{}, err
	}
	if status == http.StatusOK {
		// The reply's amount is what the check expects of the refund.
		cur, err := money.LookupCurrency(rep.Currency)
		minor := int64(0)
		if err == nil {
			minor, err = money.ParseDecimal(rep.Amount.String(), cur)
		}
		if err != nil || minor <= 0 {
			return reply{code: "unreadable_amount"}, nil
		}
		return reply{id: "ref:" + ref, amount: minor, timing: h.Get("Server-Timing")}, nil
	}
	if rep.Code == "" {
		rep.Code = "http_" + strconv.Itoa(status)
	}
	return reply{code: rep.Code}, nil
}

// techrarSurface refunds through the Techrar dialect: part of the one line
// of the order's tax invoice, as a decimal amount (VAT included), with the
// merchant's app-id header and an Idempotency-Key, which the dialect keeps
// as the refund's merchant reference (the check finds the refund under
// it). Orders are made through the native API with a line, so each has a
// tax invoice; newOrder looks up its invoice and line ids once per order.
type techrarSurface struct {
	*native
	appID string
	lines sync.Map // order id -> techrarLine
}

// techrarLine is where Techrar refunds an order: its tax invoice and the
// invoice's line, both integer ids.
type techrarLine struct{ invoice, line int64 }

func (t *techrarSurface) newOrder(ctx context.Context, amount int64) (string, error) {
	id, err := t.native.newOrder(ctx, amount)
	if err != nil {
		return "", err
	}
	var page struct {
		Data []struct {
			ID    int64 `json:"id"`
			Lines []struct {
				ID int64 `json:"id"`
			} `json:"lines"`
		} `json:"data"`
	}
	if err := t.get(ctx, "/v1/invoices?type=invoice&order_id="+url.QueryEscape(id), &page); err != nil {
		return "", err
	}
	if len(page.Data) != 1 || len(page.Data[0].Lines) != 1 {
		return "", fmt.Errorf("bench: order %s has no tax invoice of one line for techrar to refund", id)
	}
	t.lines.Store(id, techrarLine{invoice: page.Data[0].ID, line: page.Data[0].Lines[0].ID})
	return id, nil
}

func (t *techrarSurface) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	v, ok := t.lines.Load(order)
	if !ok {
		return reply{}, fmt.Errorf("bench: order %s has no techrar invoice line", order)
	}
	l := v.(techrarLine)
	key := "bench-" + strconv.FormatUint(seq, 36) + "-" + order[len(order)-8:]
	// qty 0 with an amount: part of the line's value, not whole units.
	body := fmt.Appendf(nil, `{"comments":"bench","refunded_items":[{"id":%d,"qty":0,"amount":%s}]}`, l.line, money.Format(amount, t.cur))
	var rep struct {
		Status string `json:"status"`
		Code   string `json:"code"`
	}
	status, h, err := t.do(ctx, "POST", "/order/v1/merchant/invoices/"+strconv.FormatInt(l.invoice, 10)+"/refund/", body, &rep,
		"app-id", t.appID, "Idempotency-Key", key)
	if err != nil {
		return reply{}, err
	}
	// 200 in every case: a refund invoice void is a refund that failed.
	if status == http.StatusOK && rep.Status != "void" {
		return reply{id: "ref:" + key, timing: h.Get("Server-Timing")}, nil
	}
	if rep.Code == "" {
		rep.Code = "http_" + strconv.Itoa(status)
		if rep.Status == "void" {
			rep.Code = "refund_void"
		}
	}
	return reply{code: rep.Code}, nil
}

// ceilingSurface sends the native requests to the trivial handler.
type ceilingSurface struct{ *native }

func (c *ceilingSurface) newOrder(context.Context, int64) (string, error) { return "ord_ceiling", nil }

func (c *ceilingSurface) refund(ctx context.Context, order string, amount int64, seq uint64) (reply, error) {
	return c.native.refund(ctx, order, amount, seq)
}

// Ceiling serves the trivial handler the ceiling run measures: it decodes
// the JSON body and answers a small JSON object, nothing else.
func Ceiling() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, `{"error":{"code":"invalid_request"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"re_%d","object":"refund","status":"succeeded"}`, n.Add(1))
	})
}

// RunCeiling measures the trivial handler with the same generator and
// settings as cfg, on a loopback listener in this process.
func RunCeiling(ctx context.Context, cfg Config) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: Ceiling(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	cfg.Target, cfg.Key, cfg.Surface, cfg.Shape, cfg.Verify, cfg.RSS = "http://"+ln.Addr().String(), "ceiling", "ceiling", "spread", false, nil
	cfg.Trace, cfg.Measure = false, nil
	cfg.Orders = 1
	rep, err := Run(ctx, cfg)
	if err != nil {
		return 0, err
	}
	if rep.Throughput == 0 {
		return 0, errors.New("bench: the ceiling run answered nothing")
	}
	return rep.Throughput, nil
}
