package client

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"time"
)

// ReconcileResult is what one report row, or one refund the report lacks,
// came to. Kind is matched, amount_mismatch, status_mismatch,
// missing_at_processor, unknown_to_refundd or executed_not_recorded.
type ReconcileResult struct {
	Line         *int    `json:"line"` // nil for a refund the report lacks
	Kind         string  `json:"kind"`
	RefundID     *string `json:"refund_id"`
	Reference    *string `json:"reference"`
	Currency     string  `json:"currency"`
	ReportAmount int64   `json:"report_amount"`
	BookAmount   int64   `json:"book_amount"`
	ReportStatus *string `json:"report_status"`
	BookStatus   *string `json:"book_status"`
	Corrected    bool    `json:"corrected"`
	Flagged      bool    `json:"flagged"`
	Detail       string  `json:"detail"`
}

// ReconcileSummary counts one currency's results by kind.
type ReconcileSummary struct {
	Currency string           `json:"currency"`
	Counts   map[string]int   `json:"counts"`
	Totals   map[string]int64 `json:"totals"`
}

// Reconciliation is the answer of Reconcile.
type Reconciliation struct {
	From    *string            `json:"from"`
	To      *string            `json:"to"`
	Flagged int                `json:"flagged"`
	Results []ReconcileResult  `json:"results"`
	Summary []ReconcileSummary `json:"summary"`
	// Unchecked are days next to the report's that no reconciled report
	// covers, with the refunds no report has listed that succeeded in
	// them: reconcile those days' reports.
	Unchecked []UncheckedDays `json:"unchecked"`
	// Replayed: the answer is an earlier run's under the same
	// Idempotency-Key (the same report and options), replayed by the
	// server; nothing was reconciled again.
	Replayed bool `json:"-"`
}

// UncheckedDays are days (YYYY-MM-DD, both included) no reconciled report
// covers, with how many refunds succeeded in them that no report listed
// (nil when not counted: a span of more than 31 days, or a count that
// failed after the reconciliation was recorded), and their amounts by
// currency in minor units (nil when not counted).
type UncheckedDays struct {
	From    string           `json:"from"`
	To      string           `json:"to"`
	Refunds *int             `json:"refunds"`
	Totals  map[string]int64 `json:"totals"`
}

// Reconcile sends a processor's settlement report (CSV with a header row)
// to be matched to the merchant's refunds. mapping names columns by other
// headers (column -> header). It is sent with an Idempotency-Key
// (ReconcileOptions.IdempotencyKey), so the client's own retries are
// answered the first run's results.
func (c *Client) Reconcile(ctx context.Context, report []byte, mapping map[string]string) (*Reconciliation, error) {
	return c.ReconcileWith(ctx, report, ReconcileOptions{Map: mapping})
}

// ReconcileOptions are Reconcile's settings.
type ReconcileOptions struct {
	Map map[string]string // column -> header
	// SettlementLag is how long after a refund succeeds in refundd the
	// processor's report may first list it (cut-off, time zone, a day's
	// delay); 0, the default, for the same day (UTC).
	SettlementLag time.Duration
	// Processor names the processor account whose report it is; "" for
	// a report of all the merchant's refunds.
	Processor string
	// From and To, set together, are the days the report covers (both
	// included) in place of its rows' dates: an empty report (no rows, or
	// no bytes at all) of days the processor executed nothing needs them.
	// A time at midnight in its own location is that date; any other is
	// its UTC day (time.Now().Truncate(24*time.Hour) is today in UTC). A
	// corrected report replaces the first when it covers the same days.
	From, To time.Time
	// IdempotencyKey is sent as the Idempotency-Key; "" generates one.
	// The same key with the same report and options is answered the first
	// run's results, corrections included, for at least 24 hours; reusing
	// it for another report or options is refused (idempotency_key_reused).
	IdempotencyKey string
}

// reportDay is the date a report day is sent as: a midnight as written
// (Riyadh's 2 March is 2 March), anything else its UTC day.
func reportDay(t time.Time) string {
	if h, m, s := t.Clock(); h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.UTC().Format(time.DateOnly)
}

// ReconcileWith is Reconcile with all its settings.
func (c *Client) ReconcileWith(ctx context.Context, report []byte, opt ReconcileOptions) (*Reconciliation, error) {
	q := url.Values{}
	// In order: the query is part of what the key stands for, and a retry
	// must send the same one.
	for _, col := range slices.Sorted(maps.Keys(opt.Map)) {
		q.Add("map", col+"="+opt.Map[col])
	}
	if opt.SettlementLag != 0 {
		q.Set("settlement_lag", opt.SettlementLag.String())
	}
	if opt.Processor != "" {
		q.Set("processor", opt.Processor)
	}
	if !opt.From.IsZero() {
		q.Set("from", reportDay(opt.From))
	}
	if !opt.To.IsZero() {
		q.Set("to", reportDay(opt.To))
	}
	var out Reconciliation
	err := c.do(ctx, request{method: "POST", path: "/v1/reconciliations", query: q, raw: report, rawType: "text/csv",
		idemKey: c.idempotencyKey(opt.IdempotencyKey), replayed: &out.Replayed}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
