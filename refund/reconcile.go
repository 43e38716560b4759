package refund

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
)

// Reconciliation result kinds. Stable names: reports and alerts key on
// them.
const (
	ReconMatched            = "matched"
	ReconAmountMismatch     = "amount_mismatch"
	ReconStatusMismatch     = "status_mismatch"
	ReconMissingAtProcessor = "missing_at_processor"
	ReconUnknownToRefundd   = "unknown_to_refundd"
	// ReconExecutedNotRecorded shares its name with the discrepancy kind.
	ReconExecutedNotRecorded = DiscrepancyExecutedNotRecorded
)

// ReportRow is one row of a processor's settlement report, as a surface
// parsed it (amounts already exact minor units of Currency).
type ReportRow struct {
	Line     int    // in the file, for the result
	RefundID string // the idempotency key refundd sent; "" when the report has none
	ARN, RRN string
	Amount   int64
	Currency string
	Status   string    // the processor's word: approved, settled, declined, reversed, ...
	Date     time.Time // zero: not given
}

// ReconcileResult is what one row, or one refund the report lacks, came to.
//
// Its JSON names are those a reconciliation kept with its key is stored
// under (keptReconciliation): fixed, so that renaming a field does not
// empty it in what an earlier node kept.
type ReconcileResult struct {
	Line         int    `json:"Line"` // 0 for a refund the report lacks
	Kind         string `json:"Kind"`
	RefundID     string `json:"RefundID"`
	Reference    string `json:"Reference"` // the row's id, ARN or RRN when no refund matched; for a payment listed again, which (refund id/report's days/n)
	Currency     string `json:"Currency"`
	ReportAmount int64  `json:"ReportAmount"`
	BookAmount   int64  `json:"BookAmount"`
	ReportStatus string `json:"ReportStatus"`
	BookStatus   string `json:"BookStatus"`
	// Corrected: a safe correction was applied (a refund waiting for
	// review or still processing that the report shows paid became
	// succeeded); Flagged: it is listed as a discrepancy.
	Corrected bool   `json:"Corrected"`
	Flagged   bool   `json:"Flagged"`
	Detail    string `json:"Detail"`
}

// SettlementReport is what refundd remembers of a reconciled report: the
// days it covers and the refunds it listed. Its JSON names are fixed as
// ReconcileResult's are.
type SettlementReport struct {
	MerchantID string `json:"MerchantID"`
	// ProcessorAccount is the id of the processor account whose report it
	// is; "" for a report of all the merchant's refunds.
	ProcessorAccount string    `json:"ProcessorAccount"`
	Day              time.Time `json:"Day"`  // its last day, midnight UTC (its latest row's, or the one given): the report's own
	From             time.Time `json:"From"` // its first day
	ReconciledAt     time.Time `json:"ReconciledAt"`
	RefundIDs        []string  `json:"RefundIDs"`
}

// ReportCoverage is what a processor account's recorded reports cover,
// seen from one report's days [from, to] (store.ReportCoverage).
type ReportCoverage struct {
	First time.Time // the earliest day any of them covers; zero: none is recorded
	// Before is the last day covered by those that begin before from,
	// After the first day covered by those that end after to; zero: none.
	Before, After time.Time
}

// UncheckedDays are days next to a report's that no reconciled report of
// its account covers, with the refunds that succeeded in them (by the
// same rule as a report of those days, settlement lag included) and that
// no report listed: nothing has checked them yet. Reconciling those days'
// reports does.
type UncheckedDays struct {
	From time.Time `json:"From"` // days, UTC, both included
	To   time.Time `json:"To"`
	// Counted is false for a span of more than MaxReportDays days, whose
	// refunds are not counted (a reconciliation does not page through
	// months of history), and when counting failed after the
	// reconciliation committed.
	Counted bool             `json:"Counted"`
	Refunds int              `json:"Refunds"`
	Totals  map[string]int64 `json:"Totals"` // their amounts by currency; nil when not counted
}

// ReconcileSummary counts one currency's results.
type ReconcileSummary struct {
	Currency string
	Counts   map[string]int   // by kind
	Totals   map[string]int64 // report amounts by kind (book amounts for missing_at_processor)
}

// oneDay is a report's day: reports go by UTC days.
const oneDay = 24 * time.Hour

// MaxSettlementLag bounds ReconcileOptions.SettlementLag.
const MaxSettlementLag = 7 * oneDay

// ReconcileOptions are a reconciliation's settings.
type ReconcileOptions struct {
	// SettlementLag is how long after a refund succeeds in refundd the
	// processor's report may first list it: its cut-off, its time zone's
	// offset (a processor that reports by Riyadh's day lists a refund that
	// succeeded at 22:00 UTC on the next day), and a day more if it
	// settles a day late. 0: a report lists a refund on the day it
	// succeeded (UTC).
	SettlementLag time.Duration
	// Processor names the processor account (name or id) whose report it
	// is: only refunds of its orders can be matched or missing from it,
	// and its reports are remembered apart. "": the report answers for
	// all the merchant's refunds.
	Processor string
	// From and To, when set, are the days the report covers (UTC days,
	// both included, at most MaxReportDays), in place of its rows'
	// dates: a day on which the processor executed nothing has an empty
	// report, and it answers for that day all the same (every refund that
	// succeeded then and that no other report listed is missing from it).
	From, To time.Time
}

// MaxReportReference bounds, in characters, a report row's refund id, ARN
// and RRN: a longer one names no refund (refundd's ids, ARNs and RRNs are
// a few dozen characters), and an unknown row is kept as a discrepancy
// under it, which PostgreSQL's index on the reference cannot hold (about
// 2.7 kB; SQLite has no such bound). A processor's ARN or RRN longer than
// it is not kept, for the index on each (storable).
const MaxReportReference = 200

// MaxReportDays bounds the days ReconcileOptions.From and To cover.
const MaxReportDays = 31

// A report's days, given or its rows', lie in these years: a typo's year
// would otherwise set the days every later report is measured against.
const minReportYear, maxReportYear = 2000, 2199

func inReportYears(t time.Time) bool {
	y := t.UTC().Year()
	return y >= minReportYear && y <= maxReportYear
}

// Reconciliation is the outcome of matching one report.
type Reconciliation struct {
	From, To time.Time // the days the report covers (its rows' dates, or those given)
	Results  []ReconcileResult
	Summary  []ReconcileSummary
	Flagged  int
	// Unchecked are the days between this report's and the account's
	// nearest reconciled reports before and after it that no report
	// covers (a day skipped, or not yet reconciled).
	Unchecked []UncheckedDays
	// Kept: the answer of an earlier run of the same request (its
	// Idempotency-Key) that applied the report and stopped before its
	// answer was stored: its results as that run made them, its unchecked
	// days counted again.
	Kept bool
}

// reportStatus reduces a processor's status word to what it means for the
// money.
func reportStatus(s string) (processor.Status, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "approved", "succeeded", "success", "settled", "paid", "completed", "captured":
		return processor.Approved, true
	case "declined", "failed", "fail", "rejected", "voided":
		return processor.Declined, true
	case "reversed", "returned":
		return processor.Reversed, true
	}
	return "", false
}

// Reconcile matches a processor's report to the caller's refunds: by
// refund id, else ARN, else RRN. Safe corrections apply themselves (a
// refund waiting for review, or still processing, that the report shows
// paid becomes succeeded, through the same guarded update as any answer;
// so does one recorded failed, when the order still has room for it);
// every other difference becomes a discrepancy, kept once per refund and
// kind (or per reference, for rows refundd cannot match), so reconciling
// the same report again changes nothing. A refund a second row shows paid
// again is executed_not_recorded: refundd recorded one payment. Each such
// payment is kept under its own reference (the refund, the report's days,
// which payment), so it is listed even when the refund was before. Refunds
// that succeeded within the days the report covers that it does not list
// are missing_at_processor. A refund is judged by when it succeeded, not when
// it was made: one approved or retried days after it was made runs, and
// is listed, on that later day. One whose outcome refundd learned late
// (resolved from review, found executed after it was recorded failed,
// corrected by a report) counts from when refundd learned it; the report
// that listed it, once reconciled, keeps later ones from flagging it.
//
// A report's days are its rows' dates, or opt.From to opt.To when given:
// an empty report, of days on which the processor executed nothing,
// answers for them all the same. A corrected report replaces the first
// when it covers the same days: by its rows' dates or given, the same
// first and last day.
//
// A refund may reach the processor's report on a later day than refundd
// saw it succeed (opt.SettlementLag): a report covering days [From, To]
// then answers for the refunds that succeeded in [From-lag, To+1d-lag),
// those whose last day to be listed it covers. Reports are remembered by
// the days they cover with the refunds they listed (RecordReport), a
// report of the same days reconciled again replacing the first, and a
// refund that another report listed is not missing. Nor is a refund that
// succeeded before the first day a remembered report covers: a report no
// one reconciled here may have listed it. The days between a report and
// its account's nearest reconciled reports before and after it that no
// report covers (a day skipped, or not yet reconciled) come back as
// Unchecked, with the refunds that succeeded in them and no report has
// listed: not flagged, since those days' own reports, once reconciled,
// answer for them. With opt.Processor, only refunds of that processor
// account's orders can match a row (a row naming another's refund by id
// is unknown_to_refundd) or be missing, and its reports are
// kept apart from other accounts': a merchant with several processors
// reconciles each one's report on its own.
//
// A reconciliation with an Idempotency-Key claims it in its transaction,
// and keeps its results with it there (keptReconciliation): a retry of
// the same report is answered the first run's results, whose corrections
// would read matched if it ran again, even when the first run stopped
// between its commit and storing its answer. A refusal for a processor
// account not added yet is not kept as the key's answer.
func (s *Service) Reconcile(ctx context.Context, p Principal, rows []ReportRow, opt ReconcileOptions) (_ *Reconciliation, err error) {
	// An unknown processor account passes too: the account is added, and
	// the same report (refundd reconcile sends it under the same key) must
	// reconcile then, not be told for a day that the account does not exist.
	defer func() { noteTransient(ctx, err, EProcessorAccountNotFound) }()
	if err := require(p, ScopeRefundsReview); err != nil {
		return nil, err
	}
	if opt.SettlementLag < 0 || opt.SettlementLag > MaxSettlementLag {
		return nil, Errorf(EInvalidRequest, "settlement_lag", "the settlement lag is from 0 to %dh", int(MaxSettlementLag.Hours()))
	}
	switch {
	case opt.From.IsZero() != opt.To.IsZero():
		return nil, Errorf(EInvalidRequest, "from", "from and to, the days the report covers, go together")
	case !opt.From.IsZero() && (!opt.From.Equal(opt.From.Truncate(oneDay)) || !inReportYears(opt.From)):
		return nil, Errorf(EInvalidRequest, "from", "from is a day (midnight UTC) from %d to %d", minReportYear, maxReportYear)
	case !opt.To.IsZero() && (!opt.To.Equal(opt.To.Truncate(oneDay)) || !inReportYears(opt.To)):
		return nil, Errorf(EInvalidRequest, "to", "to is a day (midnight UTC) from %d to %d", minReportYear, maxReportYear)
	case opt.To.Before(opt.From):
		return nil, Errorf(EInvalidRequest, "to", "to is before from")
	case opt.To.Sub(opt.From) >= MaxReportDays*oneDay:
		return nil, Errorf(EInvalidRequest, "to", "a report covers at most %d days; split it", MaxReportDays)
	case len(rows) == 0 && opt.From.IsZero():
		return nil, Errorf(EInvalidRequest, "", "the report has no rows (an empty report needs from and to, the days it covers)")
	}
	if len(rows) > 100_000 {
		return nil, Errorf(EInvalidRequest, "", "a report has at most 100000 rows; split it by day")
	}
	opt.From, opt.To = opt.From.UTC(), opt.To.UTC()
	// Rows of a report of given days may be dated a UTC day either side
	// of its days (a processor's zone ahead of or behind UTC) and the
	// lag's days before (a refund it lists late); a row dated further out
	// is from another report, sent with the wrong days. Rows that set the
	// days themselves span at most as much.
	rowsFrom, rowsTo := opt.From.Add(-opt.SettlementLag-oneDay).Truncate(oneDay), opt.To.Add(oneDay)
	var firstDay, lastDay time.Time // the report's days: its rows' first and last, or those given
	for _, r := range rows {
		if !r.Date.IsZero() && !inReportYears(r.Date) {
			return nil, Errorf(EInvalidRequest, "date", "line %d: the date is not from %d to %d", r.Line, minReportYear, maxReportYear)
		}
		if d := r.Date.UTC().Truncate(oneDay); !opt.From.IsZero() && !r.Date.IsZero() && (d.Before(rowsFrom) || d.After(rowsTo)) {
			return nil, Errorf(EInvalidRequest, "date", "line %d is dated %s, outside the days given (%s to %s): a row of another report?",
				r.Line, d.Format(time.DateOnly), opt.From.Format(time.DateOnly), opt.To.Format(time.DateOnly))
		} else if !r.Date.IsZero() {
			if firstDay.IsZero() || d.Before(firstDay) {
				firstDay = d
			}
			if d.After(lastDay) {
				lastDay = d
			}
		}
		if _, ok := reportStatus(r.Status); !ok {
			return nil, Errorf(EInvalidRequest, "status", "line %d: unknown status %q", r.Line, r.Status)
		}
		if r.RefundID == "" && r.ARN == "" && r.RRN == "" {
			return nil, Errorf(EInvalidRequest, "refund_id", "line %d names no refund id, ARN or RRN", r.Line)
		}
		for _, f := range []struct{ param, value string }{{"refund_id", r.RefundID}, {"arn", r.ARN}, {"rrn", r.RRN}} {
			// No refund has such a name, and PostgreSQL refuses to look
			// for one where SQLite finds nothing, or to keep a long one as
			// an unknown row's reference where SQLite keeps it: refused on
			// both.
			if CheckLookup(f.param, f.value) != nil {
				return nil, Errorf(EInvalidRequest, f.param, "line %d: the %s must be UTF-8 text without NUL characters", r.Line, f.param)
			}
			if utf8.RuneCountInString(f.value) > MaxReportReference {
				return nil, Errorf(EInvalidRequest, f.param, "line %d: the %s is at most %d characters", r.Line, f.param, MaxReportReference)
			}
		}
	}
	if opt.From.IsZero() && lastDay.Sub(firstDay) >= MaxReportDays*oneDay+opt.SettlementLag+oneDay {
		return nil, Errorf(EInvalidRequest, "date", "the rows are dated from %s to %s; a report covers at most %d days, its rows the settlement lag and a day more: split it, or give its days (from and to)",
			firstDay.Format(time.DateOnly), lastDay.Format(time.DateOnly), MaxReportDays)
	}
	if !opt.From.IsZero() {
		firstDay, lastDay = opt.From, opt.To
	}
	if k, err := s.keptBefore(ctx, p.MerchantID); err != nil {
		return nil, err
	} else if k != nil {
		return s.answerKept(ctx, p.MerchantID, k)
	}
	out := &Reconciliation{}
	var rep *SettlementReport
	var seen map[string]bool
	var paid map[string][]int      // refund id -> the lines of its rows paid
	var uncheckedIn [][2]time.Time // when the refunds of each unchecked span succeeded
	run := func(tx Tx) error {
		out.Results, out.Unchecked, uncheckedIn = nil, nil, nil
		account, of := "", &reportOf{orders: map[string]string{}, days: undatedDays(rows)}
		if !firstDay.IsZero() {
			of.days = firstDay.Format(time.DateOnly)
			if lastDay.After(firstDay) {
				of.days += ".." + lastDay.Format(time.DateOnly)
			}
		}
		if opt.Processor != "" {
			a, err := accountFor(ctx, tx, p.MerchantID, opt.Processor)
			if err != nil {
				return err
			}
			account, of.account = a.ID, a
		}
		seen, paid = map[string]bool{}, map[string][]int{}
		reversedOn := map[string]int{} // refund id -> a line that lists it reversed
		now := s.now()
		for _, row := range rows {
			res, err := s.reconcileRow(ctx, tx, p, of, row, paid, now)
			if err != nil {
				return err
			}
			if res.RefundID != "" {
				seen[res.RefundID] = true
				if st, _ := reportStatus(row.Status); st == processor.Reversed {
					reversedOn[res.RefundID] = row.Line
				}
			}
			out.Results = append(out.Results, res)
		}
		for i := range out.Results {
			if err := s.paidThenReversed(ctx, tx, p.MerchantID, &out.Results[i], reversedOn, now); err != nil {
				return err
			}
		}
		out.From, out.To = firstDay, lastDay
		if out.From.IsZero() {
			return nil // a report without dates covers no day for certain
		}
		cov, err := tx.ReportCoverage(ctx, p.MerchantID, account, out.From, out.To)
		if err != nil {
			return err
		}
		covered := cov.First
		if covered.IsZero() || out.From.Before(covered) {
			covered = out.From
		}
		rep = &SettlementReport{MerchantID: p.MerchantID, ProcessorAccount: account, Day: out.To, From: out.From, ReconciledAt: now,
			RefundIDs: slices.Sorted(maps.Keys(seen))}
		if err := tx.RecordReport(ctx, rep); err != nil {
			return err
		}
		if _, err := tx.RecoverSucceededAt(ctx, p.MerchantID); err != nil {
			return err
		}
		// succeeded is when a refund that a report of days [first, last]
		// answers for succeeded: [first-lag, last+1d-lag), and never
		// before the first day a report covers.
		succeeded := func(first, last time.Time) (time.Time, time.Time) {
			from, to := first.Add(-opt.SettlementLag), last.Add(oneDay-opt.SettlementLag)
			if from.Before(covered) {
				from = covered
			}
			return from, to
		}
		from, to := succeeded(out.From, out.To)
		err = s.unlisted(ctx, tx, p.MerchantID, rep, from, to, seen, func(r *Refund) error {
			res := ReconcileResult{Kind: ReconMissingAtProcessor, RefundID: r.ID, Currency: r.Currency, BookAmount: r.Amount,
				BookStatus: string(r.Status), Detail: "succeeded in refundd, absent from this report, which covers its last day to be listed, and from every other report reconciled"}
			out.Results = append(out.Results, res)
			return s.flag(ctx, tx, &out.Results[len(out.Results)-1], p.MerchantID, r.ID, r.OrderID, now)
		})
		if err != nil {
			return err
		}
		for _, gap := range uncovered(cov, out.From, out.To) {
			from, to := succeeded(gap[0], gap[1])
			out.Unchecked = append(out.Unchecked, UncheckedDays{From: gap[0], To: gap[1], Counted: gap[1].Sub(gap[0]) < MaxReportDays*oneDay})
			uncheckedIn = append(uncheckedIn, [2]time.Time{from, to})
		}
		return nil
	}
	err = s.update(ctx, func(tx Tx) error {
		if err := run(tx); err != nil {
			return err
		}
		// The results are kept with the key in this transaction: a node
		// stopping before the answer is stored leaves them for the retry.
		return s.keepReconciliation(ctx, tx, p.MerchantID, &keptReconciliation{From: out.From, To: out.To,
			Results: out.Results, Unchecked: out.Unchecked, UncheckedIn: uncheckedIn, Report: rep})
	})
	if err != nil {
		return nil, err
	}
	s.countUnchecked(ctx, p.MerchantID, rep, seen, out, uncheckedIn)
	out.summarize()
	return out, nil
}

// countUnchecked counts the refunds of out's unchecked days (their
// refunds succeeded in the spans in), after the reconciliation committed,
// in a read: the report is recorded, and counting holds no write
// transaction (on SQLite, every refund's). A count that fails is answered
// uncounted.
func (s *Service) countUnchecked(ctx context.Context, merchantID string, rep *SettlementReport, seen map[string]bool, out *Reconciliation, in [][2]time.Time) {
	for i := range out.Unchecked {
		u := &out.Unchecked[i]
		if !u.Counted || i >= len(in) {
			u.Counted = false
			continue
		}
		err := s.cfg.Store.View(ctx, func(tx Tx) error {
			u.Refunds, u.Totals = 0, map[string]int64{}
			return s.unlisted(ctx, tx, merchantID, rep, in[i][0], in[i][1], seen, func(r *Refund) error {
				u.Refunds++
				u.Totals[r.Currency] = money.AddCapped(u.Totals[r.Currency], r.Amount)
				return nil
			})
		})
		if err != nil {
			// The reconciliation is committed: answer it, uncounted.
			s.log.Warn("could not count the refunds of days no report covers; answered uncounted", "err", err)
			u.Counted, u.Refunds, u.Totals = false, 0, nil
		}
	}
}

// keptReconciliation is what a reconciliation's transaction keeps with its
// Idempotency-Key, beside the report it records: its results, and what
// counting its unchecked days takes. Its answer, stored once it has gone
// out, replaces it. A retry that takes the key over from a run that died
// between the two (its lease run out) answers these results, its
// corrections as they were made, and counts the unchecked days again
// (answerKept): run again, what the first run corrected would read
// matched, and the operator would never see it.
//
// Its JSON names, and those of the types it holds, are fixed with tags
// (the names first written without them): a node reads what another
// node, perhaps of an earlier release, kept.
type keptReconciliation struct {
	From        time.Time         `json:"From"`
	To          time.Time         `json:"To"`
	Results     []ReconcileResult `json:"Results"`
	Unchecked   []UncheckedDays   `json:"Unchecked"`
	UncheckedIn [][2]time.Time    `json:"UncheckedIn"`
	Report      *SettlementReport `json:"Report"` // nil for a report without dates
	// Lost: the results were too large to keep (maxReplyBytes), and a
	// retry is refused (EReconciliationAnswerLost), not run again.
	Lost bool `json:"Lost"`
}

// keptReconciliationType marks a key's Reply that holds a
// keptReconciliation, not a surface's answer: its Status is 0, so it is
// never replayed as one (an earlier release, too, reads no answer in it),
// and a media type holds no colon, so no answer's type is taken for it.
const keptReconciliationType = "refundd:reconciliation"

// keepReconciliation keeps k with the key of the request in ctx, in tx
// (see keptReconciliation).
func (s *Service) keepReconciliation(ctx context.Context, tx Tx, merchantID string, k *keptReconciliation) error {
	c := claimFrom(ctx, merchantID)
	if c == nil || c.unsure {
		return nil
	}
	body, err := packKept(k)
	if err != nil {
		return err
	}
	if len(body) > maxKeptBytes {
		if body, err = packKept(&keptReconciliation{From: k.From, To: k.To, Lost: true}); err != nil {
			return err
		}
	}
	rec, err := c.record(ctx, tx)
	if err != nil {
		return err
	}
	rec.Reply = Reply{ContentType: keptReconciliationType, Body: body}
	// A long report outlasts the key's lease, taken when the transaction
	// began: renewed from now, a retry before the answer is stored is told
	// the run is still going, not let take it over.
	rec.LockedUntil = s.now().Add(s.cfg.Lease)
	if err := tx.UpdateIdempotency(ctx, rec); err != nil {
		return err
	}
	c.rec = rec
	return nil
}

// keptBefore is the reconciliation an earlier run of the request holding
// ctx's claim kept with its key (keepReconciliation) and died before
// answering, or nil: the claim was taken over from it (BeginIdempotent),
// and its key's row, as read then, holds no answer but that. Results that
// do not read back are refused as lost results are (a definite 409 the
// operator can act on, not a 500 for as long as the key lives): run again,
// the report's corrections would read matched.
func (s *Service) keptBefore(ctx context.Context, merchantID string) (*keptReconciliation, error) {
	c := claimFrom(ctx, merchantID)
	if c == nil || c.rec == nil || c.rec.Reply.Status != 0 || c.rec.Reply.ContentType != keptReconciliationType {
		return nil, nil
	}
	var k keptReconciliation
	zr, err := gzip.NewReader(bytes.NewReader(c.rec.Reply.Body))
	if err == nil {
		err = json.NewDecoder(zr).Decode(&k)
	}
	if err != nil {
		// Refused for good under this key, even if a node of another
		// release could read it: the names are fixed by tags, so only a
		// damaged body or a changed type gets here.
		s.log.Error("the reconciliation kept with an Idempotency-Key does not read back; its retry is refused", "merchant", merchantID, "key", c.key, "err", err)
		return nil, answerLost("the results it kept with this key cannot be read")
	}
	return &k, nil
}

// maxKeptBytes bounds a kept reconciliation as a kept answer is bounded.
var maxKeptBytes = maxReplyBytes

// packKept is k as kept: JSON, gzipped, since a report's results repeat
// the same words row after row (about a tenth of the size: tens of
// thousands of rows fit in a key's maxReplyBytes, not a few thousand).
func packKept(k *keptReconciliation) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level: no error
	if err := json.NewEncoder(zw).Encode(k); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// answerKept answers a reconciliation an earlier run applied and kept
// (keptBefore): its results as they were, its unchecked days counted now.
func (s *Service) answerKept(ctx context.Context, merchantID string, k *keptReconciliation) (*Reconciliation, error) {
	if k.Lost {
		return nil, answerLost("its answer, too large to keep, is lost")
	}
	out := &Reconciliation{From: k.From, To: k.To, Results: k.Results, Unchecked: k.Unchecked, Kept: true}
	seen := map[string]bool{}
	if k.Report != nil {
		for _, id := range k.Report.RefundIDs {
			seen[id] = true
		}
	}
	s.countUnchecked(ctx, merchantID, k.Report, seen, out, k.UncheckedIn)
	out.summarize()
	return out, nil
}

// answerLost refuses the retry of a reconciliation that was applied and
// whose results, as why says, are not there to answer.
func answerLost(why string) error {
	return Errorf(EReconciliationAnswerLost, "Idempotency-Key",
		"this reconciliation was applied and %s: run again it would show what it corrected as matched. "+
			"GET /v1/discrepancies lists what it flagged; a new Idempotency-Key reconciles the report again", why)
}

// reportOf is the processor account a report is of, with what a
// reconciliation has read of its refunds' orders.
type reportOf struct {
	account *ProcessorAccount // nil: a report of all the merchant's refunds
	orders  map[string]string // order id -> its processor account id, "" for the node's own processor
	days    string            // the days it covers (undatedDays without), for the reference of a payment it lists again
}

// sentElsewhere says where refundd sent r when that is not the report's
// processor account, and "" when it is (always, for a report of all the
// merchant's refunds).
func sentElsewhere(ctx context.Context, tx Tx, of *reportOf, r *Refund) (string, error) {
	if of.account == nil {
		return "", nil
	}
	acct, ok := of.orders[r.OrderID]
	if !ok {
		// The order's row alone, unlocked: GetOrder's transactions grow
		// with its refunds, and a report lists many of one order.
		found, err := tx.ListOrders(ctx, OrderFilter{MerchantID: r.MerchantID, ID: r.OrderID, Limit: 1})
		if err != nil {
			return "", err
		}
		if len(found) == 0 {
			return "", fmt.Errorf("refund %s: its order %s is not found", r.ID, r.OrderID) // internal: orders are never deleted
		}
		acct = found[0].ProcessorAccountID
		of.orders[r.OrderID] = acct
	}
	switch {
	case acct == of.account.ID:
		return "", nil
	case acct == "":
		return "this node's own processor (its order names no processor account)", nil
	}
	a, err := tx.GetProcessorAccount(ctx, r.MerchantID, acct)
	if ErrorCode(err) == EProcessorAccountNotFound {
		return fmt.Sprintf("processor account %s, since removed", acct), nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("processor account %q", a.Name), nil
}

// reconcileRow matches one row by refund id, else ARN, else RRN, among
// the refunds of the report's processor account (all the merchant's
// without one). paid holds the refunds earlier rows showed paid, with
// their lines.
func (s *Service) reconcileRow(ctx context.Context, tx Tx, p Principal, of *reportOf, row ReportRow, paid map[string][]int, now time.Time) (ReconcileResult, error) {
	st, _ := reportStatus(row.Status)
	res := ReconcileResult{Line: row.Line, Currency: row.Currency, ReportAmount: row.Amount, ReportStatus: row.Status}
	account := ""
	if of.account != nil {
		account = of.account.ID
	}
	var r *Refund
	var shared string // an ARN or RRN that names more than one refund
	for _, try := range []struct{ field, value string }{{"id", row.RefundID}, {"arn", row.ARN}, {"rrn", row.RRN}} {
		if try.value == "" {
			continue
		}
		if try.field == "id" {
			got, err := tx.GetRefund(ctx, p.MerchantID, try.value)
			if err == nil {
				// A processor's report speaks for the refunds refundd sent
				// it, as its ARNs and RRNs are looked for among them alone:
				// another's refund is not this report's to match, correct
				// or resolve. refundd's ids name one refund across
				// processors, so the row names that refund and no other
				// (no ARN or RRN is tried): unknown to this processor.
				where, err := sentElsewhere(ctx, tx, of, got)
				if err != nil {
					return res, err
				}
				if where != "" {
					res.Kind, res.Reference = ReconUnknownToRefundd, row.RefundID
					res.Detail = fmt.Sprintf("the report of processor account %q lists refund %s, which refundd sent to %s: not this processor's refund, left as it is",
						of.account.Name, got.ID, where)
					return res, s.flag(ctx, tx, &res, p.MerchantID, "", "", now)
				}
				r = got
				break
			}
			if ErrorCode(err) != ERefundNotFound {
				return res, err
			}
			continue
		}
		// Processors number refunds each on their own: an ARN or RRN
		// names this report's processor's refund, and one that names
		// several names none for certain.
		found, err := tx.FindRefunds(ctx, p.MerchantID, account, try.field, try.value, 2)
		if err != nil {
			return res, err
		}
		if len(found) == 1 {
			r = found[0]
			break
		}
		if len(found) > 1 && shared == "" {
			shared = strings.ToUpper(try.field)
		}
	}
	if r == nil {
		res.Kind, res.Reference = ReconUnknownToRefundd, firstOf(row.RefundID, row.ARN, row.RRN)
		res.Detail = "the report lists a refund refundd does not know"
		if shared != "" {
			res.Detail = fmt.Sprintf("the report's %s names more than one refund (give the report's processor, or the refund id)", shared)
		}
		return res, s.flag(ctx, tx, &res, p.MerchantID, "", "", now)
	}
	res.RefundID, res.BookAmount, res.BookStatus = r.ID, r.Amount, string(r.Status)
	if row.Currency == "" {
		res.Currency = r.Currency
	}
	if st == processor.Approved {
		// A second row paid is a second payment refundd never recorded
		// (or a row repeated): matched, it would hide in the total.
		lines := paid[r.ID]
		paid[r.ID] = append(lines, row.Line)
		if len(lines) > 0 {
			// Each payment is a finding of its own, kept under a
			// reference naming it (the refund, the report's days, which
			// payment): listed even when the refund has an
			// executed_not_recorded discrepancy already (an earlier
			// report's second payment, one paid before it was sent),
			// once however often this report is reconciled.
			res.Kind = ReconExecutedNotRecorded
			res.Reference = fmt.Sprintf("%s/%s/%d", r.ID, of.days, len(lines)+1)
			res.Detail = fmt.Sprintf("the report shows it paid again (line %d too): paid twice, or a row repeated", lines[0])
			if len(lines) > 1 {
				res.Detail = fmt.Sprintf("the report shows it paid %d times (lines %s too): paid again, or a row repeated", len(lines)+1, joinLines(lines))
			}
			return res, s.flag(ctx, tx, &res, p.MerchantID, r.ID, r.OrderID, now)
		}
	}
	switch {
	case (row.Currency != "" && !strings.EqualFold(row.Currency, r.Currency)) || row.Amount != r.Amount:
		res.Kind = ReconAmountMismatch
		res.Detail = fmt.Sprintf("the report says %s, refundd %s", fmtMoney(row.Amount, firstOf(row.Currency, r.Currency)), fmtMoney(r.Amount, r.Currency))
	case st == processor.Approved && r.Status == StatusSucceeded,
		st == processor.Declined && (r.Status == StatusFailed || r.Status == StatusCanceled),
		st == processor.Reversed && r.Status == StatusReversed:
		res.Kind = ReconMatched
		if st != processor.Approved {
			return res, nil
		}
		found, err := s.foundPaid(ctx, tx, r, row.Line, now)
		if found {
			res.Detail = "listed paid at last: its missing_at_processor discrepancy is resolved"
		}
		return res, err
	case st == processor.Approved && (r.Status == StatusRequiresReview || r.Status == StatusProcessing):
		// Safe: the processor says it paid; record it as any answer is.
		res.Kind = ReconExecutedNotRecorded
		cur, err := s.apply(ctx, tx, r.ID, r.Version, settled, nil, "reconciliation")
		if err != nil {
			return res, err
		}
		res.Corrected, res.BookStatus = cur.Status == StatusSucceeded, string(cur.Status)
		res.Detail = "the report shows it paid; recorded as succeeded"
		return res, nil
	case st == processor.Approved && slices.Contains(unsent, r.Status):
		// Paid before refundd sent it: recorded as any answer is, or the
		// worker would send it again (see executedUnsent).
		res.Kind = ReconExecutedNotRecorded
		cur, err := s.executedUnsent(ctx, tx, r, settled)
		if err != nil {
			return res, err
		}
		res.Corrected, res.BookStatus = cur.Status == StatusSucceeded, string(cur.Status)
		res.Flagged = true // listed by executedUnsent
		res.Detail = fmt.Sprintf("the report shows it paid, refundd had it %s, not sent; recorded as succeeded", r.Status)
		return res, nil
	case st == processor.Approved && r.Status == StatusFailed:
		// The money has left: released, it could be refunded again. As on
		// any evidence of execution, the refund becomes succeeded if the
		// order still has room for it, and is otherwise listed.
		res.Kind = ReconExecutedNotRecorded
		cur, err := s.reviveIfExecuted(ctx, tx, r, settled)
		if err != nil {
			return res, err
		}
		if cur.Status == StatusSucceeded {
			res.Corrected, res.BookStatus = true, string(cur.Status)
			res.Detail = "the report shows it paid; recorded failed, now succeeded"
			return res, nil
		}
		res.Detail = "the report shows it paid, refundd has it failed, and the order has no room left for it"
	case st == processor.Approved && r.Status == StatusReversed:
		// Its payment is the one refundd recorded: a difference of status,
		// not a payment never recorded, unless another row of the report
		// lists the reversal too. Which it may do after this row: flagged
		// or matched once every row is read (Reconcile).
		res.Kind = ReconStatusMismatch
		res.Detail = "the report shows it paid, refundd has it reversed since"
		return res, nil
	case st == processor.Approved:
		res.Kind = ReconExecutedNotRecorded
		res.Detail = fmt.Sprintf("the report shows it paid, refundd has it %s", r.Status)
	default:
		res.Kind = ReconStatusMismatch
		res.Detail = fmt.Sprintf("the report says %s, refundd has it %s", row.Status, r.Status)
	}
	return res, s.flag(ctx, tx, &res, p.MerchantID, r.ID, r.OrderID, now)
}

// settled is the processor's word, in its report, that a refund was paid.
// It names no references, so the refund keeps its own (recordAnswer): a
// refund the report names by them alone is found again next time.
var settled = processor.Result{Status: processor.Approved, Message: "settled per the processor's report"}

// unlisted calls fn for each refund of the report's processor account
// (all the merchant's for "") that succeeded in [from, to), is succeeded
// still, and that neither this report (seen) nor another recorded one
// listed, in the order they succeeded.
func (s *Service) unlisted(ctx context.Context, tx Tx, merchantID string, rep *SettlementReport, from, to time.Time, seen map[string]bool, fn func(*Refund) error) error {
	if !from.Before(to) {
		return nil
	}
	var after *Refund
	for {
		page, err := tx.ListSucceededRefunds(ctx, SucceededFilter{MerchantID: merchantID, ProcessorAccount: rep.ProcessorAccount,
			From: from, To: to, After: after, Limit: 500})
		if err != nil {
			return err
		}
		var ask []string
		for _, r := range page {
			if !seen[r.ID] {
				ask = append(ask, r.ID)
			}
		}
		elsewhere, err := tx.ListedByOtherReports(ctx, rep, ask)
		if err != nil {
			return err
		}
		for _, r := range page {
			if seen[r.ID] || elsewhere[r.ID] {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1]
	}
}

// uncovered returns the spans of days (first, last) between a report of
// [from, to] and the nearest recorded reports before and after it that no
// report covers.
func uncovered(cov ReportCoverage, from, to time.Time) [][2]time.Time {
	var out [][2]time.Time
	if !cov.Before.IsZero() && cov.Before.Add(oneDay).Before(from) {
		out = append(out, [2]time.Time{cov.Before.Add(oneDay), from.Add(-oneDay)})
	}
	if !cov.After.IsZero() && to.Add(oneDay).Before(cov.After) {
		out = append(out, [2]time.Time{to.Add(oneDay), cov.After.Add(-oneDay)})
	}
	return out
}

// paidThenReversed settles a row showing paid a refund refundd has
// reversed since (left unflagged by reconcileRow): matched when another
// row of the report lists the reversal, so a report that tells both is
// not a difference; flagged status_mismatch otherwise.
func (s *Service) paidThenReversed(ctx context.Context, tx Tx, merchantID string, res *ReconcileResult, reversedOn map[string]int, now time.Time) error {
	if res.Kind != ReconStatusMismatch || res.Flagged || res.BookStatus != string(StatusReversed) {
		return nil
	}
	if st, _ := reportStatus(res.ReportStatus); st != processor.Approved {
		return nil
	}
	if line, ok := reversedOn[res.RefundID]; ok {
		res.Kind, res.Detail = ReconMatched, fmt.Sprintf("paid, and reversed on line %d", line)
		return nil
	}
	r, err := tx.GetRefund(ctx, merchantID, res.RefundID)
	if err != nil {
		return err
	}
	return s.flag(ctx, tx, res, merchantID, r.ID, r.OrderID, now)
}

// foundPaid resolves r's open missing_at_processor discrepancy, if it has
// one, once a report lists r paid as refundd has it: an earlier report
// lacked it (the processor settled it later than the lag allowed), and
// nothing is left for a person. It reports whether it resolved one.
func (s *Service) foundPaid(ctx context.Context, tx Tx, r *Refund, line int, now time.Time) (bool, error) {
	open, err := tx.ListDiscrepancies(ctx, DiscrepancyFilter{MerchantID: r.MerchantID, RefundID: r.ID,
		Kind: ReconMissingAtProcessor, Status: DiscrepancyOpen, Limit: 1})
	if err != nil || len(open) == 0 {
		return false, err
	}
	d := open[0]
	d.ResolvedAt, d.ResolvedBy = &now, ResolvedByRefundd
	d.Resolution = fmt.Sprintf("a later report lists it paid, %s, line %d", fmtMoney(r.Amount, r.Currency), line)
	err = tx.ResolveDiscrepancy(ctx, d)
	if ErrorCode(err) == EConflict {
		return false, nil // a person resolved it meanwhile
	}
	return err == nil, err
}

// flag lists res as a discrepancy (once per refund and kind, or per
// reference when res names one), with an event for a new one.
func (s *Service) flag(ctx context.Context, tx Tx, res *ReconcileResult, merchantID, refundID, orderID string, now time.Time) error {
	res.Flagged = true
	amount := res.ReportAmount
	if res.Kind == ReconMissingAtProcessor {
		amount = res.BookAmount
	}
	d := &Discrepancy{ID: s.cfg.NewID("dsc"), MerchantID: merchantID, Kind: res.Kind, RefundID: refundID, OrderID: orderID,
		Amount: amount, Currency: res.Currency, Detail: res.Detail, Reference: res.Reference, CreatedAt: now}
	inserted, err := tx.InsertDiscrepancy(ctx, d)
	if err != nil || !inserted || refundID == "" {
		return err
	}
	r, err := tx.GetRefund(ctx, merchantID, refundID)
	if err != nil {
		return err
	}
	return s.event(ctx, tx, EventRefundDiscrepancy, r, now)
}

func (rec *Reconciliation) summarize() {
	by := map[string]*ReconcileSummary{}
	for _, r := range rec.Results {
		sm := by[r.Currency]
		if sm == nil {
			sm = &ReconcileSummary{Currency: r.Currency, Counts: map[string]int{}, Totals: map[string]int64{}}
			by[r.Currency] = sm
		}
		sm.Counts[r.Kind]++
		amount := r.ReportAmount
		if r.Kind == ReconMissingAtProcessor {
			amount = r.BookAmount
		}
		sm.Totals[r.Kind] = money.AddCapped(sm.Totals[r.Kind], amount) // a report's rows may add up past an int64
		if r.Flagged {
			rec.Flagged++
		}
	}
	for _, c := range slices.Sorted(func(yield func(string) bool) {
		for k := range by {
			if !yield(k) {
				return
			}
		}
	}) {
		rec.Summary = append(rec.Summary, *by[c])
	}
}

// undatedDays names a report without dates in the reference of a payment
// it lists again: no days tell it from another undated report, so its
// rows do ("undated-" and a digest of them). The same report reconciled
// again lists nothing new; another lists its own payments, which under
// one name for all undated reports it did not.
func undatedDays(rows []ReportRow) string {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%d %q %q %q %d %q %q\n", r.Line, r.RefundID, r.ARN, r.RRN, r.Amount, r.Currency, r.Status)
	}
	return "undated-" + hex.EncodeToString(h.Sum(nil))[:16]
}

func joinLines(lines []int) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = fmt.Sprint(l)
	}
	return strings.Join(s, ", ")
}

func firstOf(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}
