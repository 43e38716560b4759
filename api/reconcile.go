package api

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// reportColumns are the columns a settlement report is read by, each with
// the header names it is found under (case and spaces ignored).
var reportColumns = map[string][]string{
	"refund_id": {"refund_id", "idempotency_key", "refund id", "merchant_refund_id"},
	"arn":       {"arn", "acquirer_reference_number"},
	"rrn":       {"rrn", "retrieval_reference_number"},
	"amount":    {"amount"},
	"currency":  {"currency"},
	"status":    {"status"},
	"date":      {"date", "executed_at", "settlement_date"},
}

// ReportMapping reads map pairs (column=HEADER, the column in any case)
// into the mapping ParseReport takes, for the API and the CLI alike. A
// column named twice is refused: which header to read is the caller's to
// say once.
func ReportMapping(pairs []string) (map[string]string, error) {
	mapping := map[string]string{}
	for _, m := range pairs {
		col, header, ok := strings.Cut(m, "=")
		if !ok || col == "" || header == "" {
			return nil, refund.Errorf(refund.EInvalidRequest, "map", "map must be column=HEADER")
		}
		col = strings.ToLower(col)
		if prev, twice := mapping[col]; twice {
			return nil, refund.Errorf(refund.EInvalidRequest, "map", "map names column %s twice (%q and %q)", col, prev, header)
		}
		mapping[col] = header
	}
	return mapping, nil
}

// checkMapping refuses a mapping of a column no report has.
func checkMapping(mapping map[string]string) error {
	for col := range mapping {
		if _, ok := reportColumns[col]; !ok {
			return refund.Errorf(refund.EInvalidRequest, "map", "unknown column %q (one of refund_id, arn, rrn, amount, currency, status, date)", col)
		}
	}
	return nil
}

// WithoutBOM reads r without the byte order mark spreadsheets write
// before a CSV's header. It goes before the CSV reader sees it: behind a
// BOM a quoted first field (Export-Csv quotes every one) is no longer
// quoted, and refused.
func WithoutBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	return br
}

// ParseReport reads a processor's settlement report (CSV with a header
// row). Columns are found by header name; mapping (column -> header)
// names others. Amounts are decimals in the row's currency, parsed
// exactly. Errors name the line.
func ParseReport(r io.Reader, mapping map[string]string) ([]refund.ReportRow, error) {
	cr := csv.NewReader(WithoutBOM(r))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, refund.Errorf(refund.EInvalidRequest, "", "the report has no header row")
	}
	at := map[string]int{}
	// found reads column col at header i. Two headers for one column (a
	// processor's refund_id beside merchant_refund_id, an execution and a
	// settlement date) are refused: which one to read is the caller's to
	// say, not the order of the columns'.
	found := func(col string, i int) error {
		if prev, ok := at[col]; ok {
			return refund.Errorf(refund.EInvalidRequest, col, "the report has two %s columns, %q and %q: name the one to read with map=%s=HEADER",
				col, strings.TrimSpace(header[prev]), strings.TrimSpace(header[i]), col)
		}
		at[col] = i
		return nil
	}
	if err := checkMapping(mapping); err != nil {
		return nil, err
	}
	for col, m := range mapping {
		// The header spelled as mapped first: only then one in another
		// case, so that of "amount" and "Amount" either can be named.
		m = strings.TrimSpace(m)
		var exact, folded []int
		for i, h := range header {
			switch h = strings.TrimSpace(h); {
			case h == m:
				exact = append(exact, i)
			case strings.EqualFold(h, m):
				folded = append(folded, i)
			}
		}
		if len(exact) == 0 {
			exact = folded
		}
		for _, i := range exact {
			if err := found(col, i); err != nil {
				return nil, err
			}
		}
	}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		for col, names := range reportColumns {
			if _, mapped := mapping[col]; !mapped && slices.Contains(names, h) {
				if err := found(col, i); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, need := range []string{"amount", "currency", "status"} {
		if _, ok := at[need]; !ok {
			return nil, refund.Errorf(refund.EInvalidRequest, need, "the report has no %s column (map it with map=%s=HEADER)", need, need)
		}
	}
	var rows []refund.ReportRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			return nil, refund.Errorf(refund.EInvalidRequest, "", "line %d: %v", pe.StartLine, pe.Err)
		}
		if err != nil {
			return nil, refund.Errorf(refund.EInvalidRequest, "", "%v", err)
		}
		// The row's first line in the file, as an editor numbers it: the
		// reader skips blank lines and a quoted field may hold line
		// breaks, so counting rows would name another row.
		line, _ := cr.FieldPos(0)
		get := func(col string) string {
			if i, ok := at[col]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue // a blank line
		}
		row := refund.ReportRow{Line: line, RefundID: get("refund_id"), ARN: get("arn"), RRN: get("rrn"),
			Currency: strings.ToUpper(get("currency")), Status: get("status")}
		cur, err := money.LookupCurrency(row.Currency)
		if err != nil {
			return nil, refund.Errorf(refund.EInvalidRequest, "currency", "line %d: %v", line, err)
		}
		if row.Amount, err = money.ParseDecimal(get("amount"), cur); err != nil {
			return nil, refund.Errorf(refund.EInvalidAmount, "amount", "line %d: %v", line, err)
		}
		if d := get("date"); d != "" {
			t, err := time.Parse("2006-01-02", d)
			if err != nil {
				if t, err = time.Parse(time.RFC3339Nano, d); err != nil {
					return nil, refund.Errorf(refund.EInvalidRequest, "date", "line %d: date %q is neither YYYY-MM-DD nor RFC 3339", line, d)
				}
			}
			row.Date = t.UTC()
		}
		rows = append(rows, row)
	}
}

type reconcileResultJSON struct {
	Line         *int    `json:"line"`
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

type reconcileSummaryJSON struct {
	Currency string           `json:"currency"`
	Counts   map[string]int   `json:"counts"`
	Totals   map[string]int64 `json:"totals"`
}

type uncheckedDaysJSON struct {
	From    string           `json:"from"`
	To      string           `json:"to"`
	Refunds *int             `json:"refunds"` // null: not counted
	Totals  map[string]int64 `json:"totals"`
}

// reconcile matches the processor's report in the body (CSV, whatever
// Content-Type a client gives it) to the merchant's refunds.
// ?map=column=HEADER names a column by another header; ?settlement_lag=27h
// says how late the processor may first list a refund, ?processor=NAME
// whose report it is, ?from=DAY&to=DAY the days it covers
// (refund.ReconcileOptions).
func (a *API) reconcile(w http.ResponseWriter, r *http.Request) {
	opt := refund.ReconcileOptions{Processor: r.URL.Query().Get("processor")}
	if v := r.URL.Query().Get("settlement_lag"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || len(v) > 32 {
			a.fail(w, r, refund.Errorf(refund.EInvalidRequest, "settlement_lag", "settlement_lag %q is not a duration such as 3h or 27h", v))
			return
		}
		opt.SettlementLag = d
	}
	for _, d := range []struct {
		param string
		day   *time.Time
	}{{"from", &opt.From}, {"to", &opt.To}} {
		if v := r.URL.Query().Get(d.param); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil || t.IsZero() { // year 1 would read as not given
				a.fail(w, r, refund.Errorf(refund.EInvalidRequest, d.param, "%s is not a day (YYYY-MM-DD)", d.param))
				return
			}
			*d.day = t
		}
	}
	mapping, err := ReportMapping(r.URL.Query()["map"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := CheckCharset(r); err != nil { // a report is read as UTF-8
		a.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	var maxErr *http.MaxBytesError
	if len(body) > MaxBodyBytes || errors.As(err, &maxErr) {
		a.fail(w, r, refund.Errorf(ECodeTooLarge, "", "a report is at most %d bytes; split it by day", MaxBodyBytes))
		return
	}
	if err != nil {
		a.fail(w, r, refund.Errorf(refund.EInvalidRequest, "", "the report could not be read"))
		return
	}
	var rows []refund.ReportRow
	if strings.TrimSpace(strings.TrimPrefix(string(body), "\ufeff")) == "" { // an empty file: no rows, for from and to to cover
		err = checkMapping(mapping)
	} else {
		rows, err = ParseReport(strings.NewReader(string(body)), mapping)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rec, err := a.svc.Reconcile(r.Context(), PrincipalFrom(r.Context()), rows, opt)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	results := make([]reconcileResultJSON, len(rec.Results))
	for i, x := range rec.Results {
		j := reconcileResultJSON{Kind: x.Kind, RefundID: nullable(x.RefundID), Reference: nullable(x.Reference), Currency: x.Currency,
			ReportAmount: x.ReportAmount, BookAmount: x.BookAmount, ReportStatus: nullable(x.ReportStatus),
			BookStatus: nullable(x.BookStatus), Corrected: x.Corrected, Flagged: x.Flagged, Detail: x.Detail}
		if x.Line > 0 {
			j.Line = &rec.Results[i].Line
		}
		results[i] = j
	}
	summary := make([]reconcileSummaryJSON, len(rec.Summary))
	for i, s := range rec.Summary {
		summary[i] = reconcileSummaryJSON{Currency: s.Currency, Counts: s.Counts, Totals: s.Totals}
	}
	unchecked := make([]uncheckedDaysJSON, len(rec.Unchecked))
	for i, u := range rec.Unchecked {
		unchecked[i] = uncheckedDaysJSON{From: u.From.Format(time.DateOnly), To: u.To.Format(time.DateOnly), Totals: u.Totals}
		if u.Counted {
			unchecked[i].Refunds = &rec.Unchecked[i].Refunds
		}
	}
	if rec.Kept {
		// An earlier run of this request applied the report and stopped
		// before its answer was stored: this is its answer (its unchecked
		// days counted again), as a replay is.
		w.Header().Set("Idempotent-Replayed", "true")
	}
	var from, to *string
	if !rec.From.IsZero() {
		f, t := rec.From.Format(time.DateOnly), rec.To.Format(time.DateOnly)
		from, to = &f, &t
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "reconciliation", "from": from, "to": to,
		"flagged": rec.Flagged, "results": results, "summary": summary, "unchecked": unchecked})
}
