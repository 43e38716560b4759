package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/refund"
)

// mapFlags collects --map column=HEADER.
type mapFlags []string

func (m *mapFlags) String() string     { return strings.Join(*m, ",") }
func (m *mapFlags) Set(v string) error { *m = append(*m, v); return nil }

// inFlagWords puts the server's hint in a refusal of the report in this
// command's words: the API names its query parameters (map it with
// map=amount=HEADER; an empty report needs from and to), which the command
// takes as --map amount=HEADER, --from and --to; a lost answer's new
// Idempotency-Key is its --idempotency-key.
func inFlagWords(err error) error {
	var e *client.Error
	if !errors.As(err, &e) || (e.Code != refund.EInvalidRequest && e.Code != refund.EReconciliationAnswerLost) {
		return err
	}
	c := *e
	c.Message = strings.NewReplacer("with map=", "with --map ", "needs from and to", "needs --from and --to",
		"a new Idempotency-Key reconciles", "another --idempotency-key reconciles").Replace(c.Message)
	return &c
}

// runReconcile sends a processor's settlement report to a running refundd
// and prints what it found: a summary per currency, then every flagged
// row (or the whole reply with --json). --out writes every result as CSV.
// With --exit-code, a run that flagged rows, or of a report without
// dates, ends with a foundError (exit 3); without it such a run exits 0, as it always has, since a
// report with discrepancies is a report reconciled.
func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reconcile", stderr)
	var rf remoteFlags
	rf.register(fs)
	asJSON := fs.Bool("json", false, "print the reconciliation as JSON")
	exitCode := fs.Bool("exit-code", false, "exit 3 when rows are flagged (discrepancies found) or the report's rows carry no dates (missing refunds not looked for), so a script tells them from a clean run (0) and a failure (1)")
	out := fs.String("out", "", "write every result as CSV to this file")
	lag := fs.Duration("settlement-lag", 0, "how long after a refund succeeds in refundd the processor's report may first list it: its cut-off, its time zone (3h for Riyadh's day), a day more for T+1 (27h)")
	proc := fs.String("processor", "", "the processor account whose report it is: only its refunds can be matched or missing from it")
	from := fs.String("from", "", "first day (YYYY-MM-DD, UTC) the report covers, with --to, in place of its rows' dates (an empty report needs them)")
	to := fs.String("to", "", "last day (YYYY-MM-DD, UTC, included) the report covers")
	var columns mapFlags
	fs.Var(&columns, "map", "column=HEADER: read a column (refund_id, arn, rrn, amount, currency, status, date) under another header; repeatable")
	idemKey := fs.String("idempotency-key", "", "the request's Idempotency-Key; default: one derived from the report and these options, so the same command run again within 24 hours is answered the first run's results (corrections included) instead of reconciling again; give another to reconcile the same report again")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("reconcile needs one report file: refundd reconcile --url URL --key KEY FILE.csv")
	}
	c, err := rf.client("reconcile")
	if err != nil {
		return err
	}
	report, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	mapping, err := api.ReportMapping(columns)
	if err != nil {
		return usageError("--" + refund.ErrorMessage(err))
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	opt := client.ReconcileOptions{Map: mapping, SettlementLag: *lag, Processor: *proc}
	for _, d := range []struct {
		flag, value string
		day         *time.Time
	}{{"--from", *from, &opt.From}, {"--to", *to, &opt.To}} {
		if d.value == "" {
			continue
		}
		if *d.day, err = time.Parse(time.DateOnly, d.value); err != nil {
			return usageError(d.flag + " must be a day, YYYY-MM-DD")
		}
	}
	// --out is opened before the report is sent: a path that cannot be
	// written fails the command before the reconciliation is recorded.
	// It is written beside its name and renamed when whole, so an
	// earlier result is never left truncated.
	var outFile io.Writer
	commit := func(bool) error { return nil }
	if *out != "" {
		if outFile, commit, err = createOutput(*out, nil); err != nil {
			return err
		}
		defer commit(false)
	}
	opt.IdempotencyKey = *idemKey
	if opt.IdempotencyKey == "" {
		opt.IdempotencyKey = reportKey(report, opt)
	}
	rec, err := c.ReconcileWith(cctx, report, opt)
	if e, ok := errors.AsType[*client.Error](err); ok && e.Replayed {
		// As for a replayed answer: the server did not read the report
		// again, and answers this key the same for 24 hours whatever
		// changed since.
		fmt.Fprintf(stderr, "refundd: reconcile: this report, with these options, was refused before (Idempotency-Key %s, kept 24 hours): "+
			"this is that refusal, replayed; to send it again, give another --idempotency-key\n", opt.IdempotencyKey)
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", inFlagWords(err))
	}
	if rec.Replayed {
		// Not reconciled now: a result read as today's would hide what
		// changed since, and one that corrected a refund still says so.
		fmt.Fprintf(stderr, "refundd: reconcile: this report, with these options, was reconciled before (Idempotency-Key %s, kept 24 hours): "+
			"this is that run's answer, replayed; to reconcile it again, give another --idempotency-key\n", opt.IdempotencyKey)
	}
	if rec.From == nil {
		// A report without days answers for no day: "0 flagged" says
		// nothing of the refunds it left out, and a script would take it
		// for a clean day.
		fmt.Fprintln(stderr, "refundd: reconcile: the report's rows carry no dates: refunds missing from it were not looked for; "+
			"give the days it covers with --from and --to, or its date column with --map date=HEADER")
	}
	if outFile != nil {
		if err := writeReconciliation(outFile, rec); err != nil {
			return err
		}
		if err := commit(true); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
		return flagged(rec, *exitCode)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENCY\tKIND\tCOUNT\tTOTAL (minor units)")
	for _, s := range rec.Summary {
		for _, k := range slices.Sorted(maps.Keys(s.Counts)) {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", s.Currency, k, s.Counts[k], s.Totals[k])
		}
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d flagged\n", rec.Flagged)
	for _, u := range rec.Unchecked {
		var totals []string
		for _, c := range slices.Sorted(maps.Keys(u.Totals)) {
			totals = append(totals, fmt.Sprintf("%s %d", c, u.Totals[c]))
		}
		if u.Refunds == nil {
			fmt.Fprintf(stdout, "unchecked: %s to %s, no report reconciled (refunds not counted: more than 31 days, or the count failed)\n", u.From, u.To)
			continue
		}
		refunds := fmt.Sprintf("%d refunds", *u.Refunds)
		if *u.Refunds == 1 {
			refunds = "1 refund"
		}
		fmt.Fprintf(stdout, "unchecked: %s to %s, no report reconciled; %s succeeded there that no report listed", u.From, u.To, refunds)
		if len(totals) > 0 {
			fmt.Fprintf(stdout, " (%s minor units)", strings.Join(totals, ", "))
		}
		fmt.Fprintln(stdout)
	}
	for _, r := range rec.Results {
		if r.Flagged {
			line := "-"
			if r.Line != nil {
				line = strconv.Itoa(*r.Line)
			}
			fmt.Fprintf(stdout, "line %s: %s %s: %s\n", line, r.Kind, deref(r.RefundID, deref(r.Reference, "")), r.Detail)
		}
	}
	return flagged(rec, *exitCode)
}

// reportKey is the Idempotency-Key of a report sent with opt: the same
// file and options give the same key, so running the command again after
// a lost answer (a timeout, a dropped connection, a killed cron job) is
// answered what the first run found and corrected, which a second run
// would read as matched. Another report, or other options, is another key.
func reportKey(report []byte, opt client.ReconcileOptions) string {
	h := sha256.New()
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	fmt.Fprintf(h, "%q %q %q %q\n", opt.Processor, opt.SettlementLag.String(), day(opt.From), day(opt.To))
	for _, col := range slices.Sorted(maps.Keys(opt.Map)) {
		fmt.Fprintf(h, "%q=%q\n", col, opt.Map[col])
	}
	fmt.Fprintf(h, "%d\n", len(report))
	h.Write(report)
	return "reconcile-" + hex.EncodeToString(h.Sum(nil))
}

// flagged is the end of a reconciliation that ran: a foundError naming
// how many rows it flagged when asked for one (--exit-code), else nil. A
// report without dates is not a clean run either, whatever it flagged:
// the refunds missing from it were not looked for, and exit 0 would tell
// a script the day is clean.
func flagged(rec *client.Reconciliation, exitCode bool) error {
	if !exitCode {
		return nil
	}
	var found []string
	if rec.Flagged > 0 {
		found = append(found, fmt.Sprintf("discrepancies found: %d flagged (listed at GET /v1/discrepancies and on the console's Discrepancies page)", rec.Flagged))
	}
	if rec.From == nil {
		found = append(found, "the report's rows carry no dates, so refunds missing from it were not looked for (give its days with --from and --to)")
	}
	if len(found) == 0 {
		return nil
	}
	return foundError("reconcile: " + strings.Join(found, "; "))
}

func writeReconciliation(out io.Writer, rec *client.Reconciliation) error {
	w := csv.NewWriter(out)
	w.Write([]string{"line", "kind", "refund_id", "reference", "currency", "report_amount", "book_amount",
		"report_status", "book_status", "corrected", "flagged", "detail"})
	for _, r := range rec.Results {
		line := ""
		if r.Line != nil {
			line = strconv.Itoa(*r.Line)
		}
		w.Write([]string{line, cell(r.Kind), cell(deref(r.RefundID, "")), cell(deref(r.Reference, "")), cell(r.Currency),
			strconv.FormatInt(r.ReportAmount, 10), strconv.FormatInt(r.BookAmount, 10), cell(deref(r.ReportStatus, "")),
			cell(deref(r.BookStatus, "")), strconv.FormatBool(r.Corrected), strconv.FormatBool(r.Flagged), cell(r.Detail)})
	}
	w.Flush()
	return w.Error()
}

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}
