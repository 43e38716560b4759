// Package metrics exposes refundd to Prometheus: request latency per route,
// processor calls by operation and outcome, and gauges read from the
// database at scrape time (refunds by surface, status and failure code, the
// worker's queue and the age of its oldest processing refund, webhook
// deliveries by status). Gauges read from the database are exact and the
// same on every node, whichever one is scraped.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// Metrics is one node's registry.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.HistogramVec
	procCalls *prometheus.HistogramVec
	acctCalls *prometheus.HistogramVec
}

// New registers refundd's metrics and the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refundd_http_request_duration_seconds",
			Help:    "HTTP requests by route pattern, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		procCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refundd_processor_call_duration_seconds",
			Help:    "Processor calls by operation (refund, status) and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op", "outcome"}),
		acctCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refundd_processor_account_call_duration_seconds",
			Help:    "Calls to merchants' processor accounts (connectors) by account, kind, operation and outcome (approved, declined, pending, not_found, no_status, not_sent, transient, timeout).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"account", "kind", "op", "outcome"}),
	}
	m.reg.MustRegister(m.requests, m.procCalls, m.acctCalls, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchStore adds counters of what st sent its database, when it counts
// (refund.CountingStore): refundd bench reads them around its run to give
// statements, round trips and transactions per refund.
func (m *Metrics) WatchStore(st refund.Store) {
	cs, ok := st.(refund.CountingStore)
	if !ok {
		return
	}
	for _, c := range []struct {
		name, help string
		get        func(refund.StoreCounts) uint64
	}{
		{"refundd_store_statements_total", "SQL statements this node sent its database (BEGIN, COMMIT and savepoints included).",
			func(c refund.StoreCounts) uint64 { return c.Statements }},
		{"refundd_store_round_trips_total", "Waits for the database: a statement alone or a pipelined batch (0 on SQLite, which runs in process).",
			func(c refund.StoreCounts) uint64 { return c.RoundTrips }},
		{"refundd_store_transactions_total", "Database transactions this node began, read-only ones included.",
			func(c refund.StoreCounts) uint64 { return c.Transactions }},
		{"refundd_store_batch_retries_total", "Batches of writes run again whole (PostgreSQL: a deadlock, a serialization failure, or a caller that gave up and broke the connection; SQLite: a busy database or a failed write).",
			func(c refund.StoreCounts) uint64 { return c.Retries }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.get(cs.Counts())) }))
	}
}

// WatchStats adds the gauges read from svc.Stats on every scrape. The age
// of the oldest processing refund is read on svc's clock, the one its
// times were written on (the store's, in production): on the node's own,
// each node would show another age.
func (m *Metrics) WatchStats(svc *refund.Service) {
	m.reg.MustRegister(&stats{svc: svc, now: svc.Now})
}

// ObserveAccountCall records one call to a processor account (the
// connector registry's observer).
func (m *Metrics) ObserveAccountCall(account, kind, op, outcome string, d time.Duration) {
	m.acctCalls.WithLabelValues(account, kind, op, outcome).Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Middleware times every request by its route pattern (not the raw path,
// which would make one series per id). next must pass r itself to the
// ServeMux, which records the pattern it chose in r.Pattern.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		defer func() {
			// A panic is counted as the 500 the recovering middleware
			// outside answers (api.Middleware), then goes on to it.
			v := recover()
			if v != nil && !rec.wrote {
				rec.code = http.StatusInternalServerError
			}
			m.requests.WithLabelValues(routeOf(r), r.Method, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	return r.Pattern
}

type recorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Processor wraps p so that every call is timed by operation and outcome.
// The wrapper can void keys exactly when p can (processor.Voider), and
// declares p's capabilities and asks by the request as p does: the core
// reads both from what it is given.
func (m *Metrics) Processor(p processor.Processor) processor.Processor {
	t := &timedProcessor{p: p, calls: m.procCalls}
	if v, ok := p.(processor.Voider); ok {
		return &timedVoider{timedProcessor: t, v: v}
	}
	return t
}

type timedVoider struct {
	*timedProcessor
	v processor.Voider
}

func (t *timedVoider) Void(ctx context.Context, key string) (processor.Result, error) {
	start := time.Now()
	res, err := t.v.Void(ctx, key)
	t.calls.WithLabelValues("void", outcome(res, err)).Observe(time.Since(start).Seconds())
	return res, err
}

type timedProcessor struct {
	p     processor.Processor
	calls *prometheus.HistogramVec
}

func (t *timedProcessor) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	start := time.Now()
	res, err := t.p.Refund(ctx, req)
	t.calls.WithLabelValues("refund", outcome(res, err)).Observe(time.Since(start).Seconds())
	return res, err
}

func (t *timedProcessor) Status(ctx context.Context, key string) (processor.Result, error) {
	start := time.Now()
	res, err := t.p.Status(ctx, key)
	t.calls.WithLabelValues("status", outcome(res, err)).Observe(time.Since(start).Seconds())
	return res, err
}

// StatusOf asks by the request when p does, by the key otherwise, as the
// core would ask p itself.
func (t *timedProcessor) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	rs, ok := t.p.(processor.RequestStatuser)
	if !ok {
		return t.Status(ctx, req.IdempotencyKey)
	}
	start := time.Now()
	res, err := rs.StatusOf(ctx, req)
	t.calls.WithLabelValues("status", outcome(res, err)).Observe(time.Since(start).Seconds())
	return res, err
}

// Capabilities are p's.
func (t *timedProcessor) Capabilities() processor.Capabilities { return processor.CapabilitiesOf(t.p) }

// outcome is a small, fixed set of labels: the processor's status, or what
// kind of failure left the outcome unknown.
func outcome(res processor.Result, err error) string {
	var transient *processor.TransientError
	switch {
	case err == nil:
		return string(res.Status)
	case errors.Is(err, processor.ErrNotFound):
		return "not_found"
	case errors.As(err, &transient):
		return "transient"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// stats collects the database-derived gauges on each scrape.
type stats struct {
	svc *refund.Service
	now func() time.Time
}

var (
	refundsDesc = prometheus.NewDesc("refundd_refunds", "Refunds by surface, status, failure code and currency.",
		[]string{"surface", "status", "failure_code", "currency"}, nil)
	refundAmountDesc = prometheus.NewDesc("refundd_refund_amount_minor", "Sum of refund amounts in minor units, by surface, status and currency.",
		[]string{"surface", "status", "currency"}, nil)
	queueDesc = prometheus.NewDesc("refundd_worker_queue_depth", "Refunds the worker still has to finish, by status (pending, processing, requires_review).",
		[]string{"status"}, nil)
	discrepanciesDesc = prometheus.NewDesc("refundd_discrepancies", "Open discrepancies between the processor and the books (GET /v1/discrepancies?status=open); each needs a person.",
		nil, nil)
	oldestDesc = prometheus.NewDesc("refundd_oldest_processing_refund_age_seconds", "Age of the oldest refund still processing (0: none).",
		nil, nil)
	deliveriesDesc = prometheus.NewDesc("refundd_webhook_deliveries", "Webhook deliveries by status (pending, succeeded, failed).",
		[]string{"status"}, nil)
	overdueDesc = prometheus.NewDesc("refundd_webhook_delivery_overdue_seconds", "How long past its due time the most overdue pending webhook delivery has waited (0: none overdue).",
		nil, nil)
	scrapeErrDesc = prometheus.NewDesc("refundd_stats_scrape_error", "1 when the database statistics could not be read.", nil, nil)
)

func (c *stats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{refundsDesc, refundAmountDesc, queueDesc, discrepanciesDesc, oldestDesc, deliveriesDesc, overdueDesc, scrapeErrDesc} {
		ch <- d
	}
}

func (c *stats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.svc.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, 0)
	amounts := map[[3]string]int64{}
	for _, r := range st.Refunds {
		ch <- prometheus.MustNewConstMetric(refundsDesc, prometheus.GaugeValue, float64(r.Count),
			r.Surface, string(r.Status), r.FailureCode, r.Currency)
		k := [3]string{r.Surface, string(r.Status), r.Currency}
		amounts[k] = money.AddCapped(amounts[k], r.Amount) // failure codes' sums, capped as the store caps each
	}
	for k, v := range amounts {
		ch <- prometheus.MustNewConstMetric(refundAmountDesc, prometheus.GaugeValue, float64(v), k[0], k[1], k[2])
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.Processing), "processing")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.RequiresReview), "requires_review")
	ch <- prometheus.MustNewConstMetric(discrepanciesDesc, prometheus.GaugeValue, float64(st.Discrepancies))
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(0, c.now().Sub(st.Oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	for _, d := range st.Deliveries {
		ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.GaugeValue, float64(d.Count), string(d.Status))
	}
	overdue := 0.0
	if !st.FirstDue.IsZero() {
		overdue = max(0, c.now().Sub(st.FirstDue).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, overdue)
}
