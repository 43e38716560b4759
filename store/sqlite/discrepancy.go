package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// InsertDiscrepancy records d unless its refund already has one of that
// kind (the partial unique index), and reports whether it inserted.
func (t *tx) InsertDiscrepancy(ctx context.Context, d *refund.Discrepancy) (bool, error) {
	n, err := t.exec(ctx, "insert discrepancy", `INSERT INTO discrepancies (id, merchant_id, kind, refund_id, order_id,
		amount, currency, detail, reference, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		d.ID, d.MerchantID, d.Kind, d.RefundID, d.OrderID, d.Amount, d.Currency, d.Detail, d.Reference, nanos(d.CreatedAt))
	return n == 1, err
}

// ReduceDiscrepancy takes by off a discrepancy about reference and
// returns it as it is now.
func (t *tx) ReduceDiscrepancy(ctx context.Context, merchantID, kind, reference string, by int64, detail string) (*refund.Discrepancy, error) {
	d, err := scanDiscrepancy(t.q.QueryRowContext(ctx, `UPDATE discrepancies SET amount = amount - ?1, detail = ?2
		WHERE merchant_id = ?3 AND kind = ?4 AND reference = ?5 AND reference <> '' AND ?1 > 0 AND amount >= ?1
		RETURNING `+discrepancySelect, by, detail, merchantID, kind, reference))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no %s discrepancy about %s with %d left", kind, reference, by)
	}
	return d, wrapErr("reduce discrepancy", err)
}

// discrepancySelect is the columns scanDiscrepancy reads.
const discrepancySelect = `id, merchant_id, kind, refund_id, order_id, amount, currency, detail, reference, created_at,
	resolved_at, resolved_by, resolution`

func scanDiscrepancy(s interface{ Scan(...any) error }) (*refund.Discrepancy, error) {
	var d refund.Discrepancy
	var created int64
	var resolved sql.NullInt64
	if err := s.Scan(&d.ID, &d.MerchantID, &d.Kind, &d.RefundID, &d.OrderID, &d.Amount, &d.Currency, &d.Detail, &d.Reference, &created,
		&resolved, &d.ResolvedBy, &d.Resolution); err != nil {
		return nil, err
	}
	d.CreatedAt, d.ResolvedAt = fromNanos(created), fromNullNanos(resolved)
	return &d, nil
}

// ListDiscrepancies returns a merchant's discrepancies newest first.
func (t *tx) ListDiscrepancies(ctx context.Context, f refund.DiscrepancyFilter) ([]*refund.Discrepancy, error) {
	conds, args := []string{"merchant_id = ?"}, []any{f.MerchantID}
	if f.Kind != "" {
		conds, args = append(conds, "kind = ?"), append(args, f.Kind)
	}
	if f.RefundID != "" {
		conds, args = append(conds, "refund_id = ?"), append(args, f.RefundID)
	}
	switch f.Status {
	case refund.DiscrepancyOpen:
		conds = append(conds, "resolved_at IS NULL")
	case refund.DiscrepancyResolved:
		conds = append(conds, "resolved_at IS NOT NULL")
	}
	if f.Cursor != "" {
		conds, args = append(conds, "id < ?"), append(args, f.Cursor)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+discrepancySelect+`
		FROM discrepancies WHERE `+strings.Join(conds, " AND ")+` ORDER BY id DESC`+limitSQL(f.Limit, 0), args...)
	if err != nil {
		return nil, wrap("list discrepancies", err)
	}
	defer rows.Close()
	var out []*refund.Discrepancy
	for rows.Next() {
		d, err := scanDiscrepancy(rows)
		if err != nil {
			return nil, wrap("list discrepancies", err)
		}
		out = append(out, d)
	}
	return out, wrapErr("list discrepancies", rows.Err())
}

// GetDiscrepancy returns the merchant's discrepancy id. (A write
// transaction holds the database: nothing else can change it meanwhile.)
func (t *tx) GetDiscrepancy(ctx context.Context, merchantID, id string) (*refund.Discrepancy, error) {
	d, err := scanDiscrepancy(t.q.QueryRowContext(ctx, `SELECT `+discrepancySelect+` FROM discrepancies WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EDiscrepancyNotFound, "", "discrepancy %q not found", id)
	}
	return d, wrapErr("get discrepancy", err)
}

// ResolveDiscrepancy records d's resolution while it is open.
func (t *tx) ResolveDiscrepancy(ctx context.Context, d *refund.Discrepancy) error {
	n, err := t.exec(ctx, "resolve discrepancy", `UPDATE discrepancies SET resolved_at = ?, resolved_by = ?, resolution = ?
		WHERE id = ? AND merchant_id = ? AND resolved_at IS NULL`, nullNanos(d.ResolvedAt), d.ResolvedBy, d.Resolution, d.ID, d.MerchantID)
	if err != nil || n == 1 {
		return err
	}
	if _, err := t.GetDiscrepancy(ctx, d.MerchantID, d.ID); err != nil {
		return err
	}
	return refund.Errorf(refund.EConflict, "", "discrepancy %q was resolved meanwhile", d.ID)
}

// CountDiscrepancies counts the open discrepancies, of every merchant.
func (t *tx) CountDiscrepancies(ctx context.Context) (int64, error) {
	var n int64
	err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM discrepancies WHERE resolved_at IS NULL`).Scan(&n)
	return n, wrapErr("count discrepancies", err)
}

// RecordReport records a reconciled report and the refunds it listed,
// replacing a report of the same merchant, account and days.
func (t *tx) RecordReport(ctx context.Context, r *refund.SettlementReport) error {
	if _, err := t.exec(ctx, "record report", `INSERT INTO settlement_reports (merchant_id, processor_account, covers_from, day,
		reconciled_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (merchant_id, processor_account, covers_from, day) DO UPDATE
		SET reconciled_at = excluded.reconciled_at`, r.MerchantID, r.ProcessorAccount, nanos(r.From), nanos(r.Day), nanos(r.ReconciledAt)); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "record report", `DELETE FROM reported_refunds
		WHERE merchant_id = ? AND processor_account = ? AND report_from = ? AND report_day = ?`,
		r.MerchantID, r.ProcessorAccount, nanos(r.From), nanos(r.Day)); err != nil {
		return err
	}
	for _, id := range r.RefundIDs {
		if _, err := t.exec(ctx, "record report", `INSERT INTO reported_refunds (merchant_id, processor_account, report_from, report_day,
			refund_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, r.MerchantID, r.ProcessorAccount, nanos(r.From), nanos(r.Day), id); err != nil {
			return err
		}
	}
	return nil
}

// ReportCoverage returns what the account's reports cover around the
// days [from, to]: one pass over its reports, a row a day.
func (t *tx) ReportCoverage(ctx context.Context, merchantID, processorAccount string, from, to time.Time) (refund.ReportCoverage, error) {
	var first, before, after sql.NullInt64
	if err := t.q.QueryRowContext(ctx, `SELECT min(covers_from), max(day) FILTER (WHERE covers_from < ?3),
		min(covers_from) FILTER (WHERE day > ?4) FROM settlement_reports WHERE merchant_id = ?1 AND processor_account = ?2`,
		merchantID, processorAccount, nanos(from), nanos(to)).Scan(&first, &before, &after); err != nil {
		return refund.ReportCoverage{}, wrap("read reports", err)
	}
	day := func(n sql.NullInt64) time.Time {
		if !n.Valid {
			return time.Time{}
		}
		return fromNanos(n.Int64)
	}
	return refund.ReportCoverage{First: day(first), Before: day(before), After: day(after)}, nil
}

var listedByOtherReportsSQL = `SELECT DISTINCT refund_id FROM reported_refunds WHERE +merchant_id = ?
	AND NOT (processor_account = ? AND report_from = ? AND report_day = ?)
	AND refund_id IN (?` + strings.Repeat(", ?", otherReportsChunk-1) + `)`

// otherReportsChunk is how many ids ListedByOtherReports asks about in one
// statement: SQLite bounds a statement's parameters, and a short chunk is
// padded with ids no refund has, so that there is one statement text.
const otherReportsChunk = 200

// ListedByOtherReports returns those of refundIDs that a report other
// than r listed. `+merchant_id` keeps SQLite on the refund_id index: the
// primary key's merchant prefix would scan all the merchant's listings.
func (t *tx) ListedByOtherReports(ctx context.Context, r *refund.SettlementReport, refundIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for chunk := range slices.Chunk(refundIDs, otherReportsChunk) {
		args := make([]any, 4, 4+otherReportsChunk)
		args[0], args[1], args[2], args[3] = r.MerchantID, r.ProcessorAccount, nanos(r.From), nanos(r.Day)
		for i := range otherReportsChunk {
			id := ""
			if i < len(chunk) {
				id = chunk[i]
			}
			args = append(args, id)
		}
		rows, err := t.q.QueryContext(ctx, listedByOtherReportsSQL, args...)
		if err != nil {
			return nil, wrap("read reported", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, wrap("read reported", err)
			}
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, wrap("read reported", err)
		}
	}
	return out, nil
}

// Now is the database's clock. A SQLite file is only ever opened by
// processes on one machine, so the database's clock is this host's.
func (s *Store) Now(context.Context) (time.Time, error) {
	return time.Now(), nil
}

// FindRefunds finds up to limit of a merchant's refunds by their ARN or
// RRN (field "arn" or "rrn"), oldest first, of one processor account's
// orders when processorAccount is not "".
func (t *tx) FindRefunds(ctx context.Context, merchantID, processorAccount, field, value string, limit int) ([]*refund.Refund, error) {
	if (field != "arn" && field != "rrn") || value == "" || limit <= 0 {
		return nil, nil
	}
	// The literal <> '' lets the partial index on the field answer a
	// bound value.
	query, args := `SELECT `+refundSelect+` FROM refunds WHERE merchant_id = ? AND `+field+` = ? AND `+field+` <> ''`, []any{merchantID, value}
	if processorAccount != "" {
		query, args = query+` AND order_id IN (SELECT id FROM orders WHERE processor_account = ? AND processor_account <> '')`, append(args, processorAccount)
	}
	return t.queryRefunds(ctx, "find refunds", query+` ORDER BY id`+limitSQL(limit, 0), args...)
}

// RecoverSucceededAt fills in when the merchant's succeeded (or since
// reversed) refunds without a time succeeded: those a node older than
// migration 0022 finished after another applied it. Their last move to
// succeeded is in their transitions (updated_at if none were recorded).
// The version moves, so a copy read before cannot write NULL back. The
// partial index refunds_succeeded_unknown (0023) holds only such refunds,
// none once every node runs 0022's code, so this costs a probe.
func (t *tx) RecoverSucceededAt(ctx context.Context, merchantID string) (int64, error) {
	return t.exec(ctx, "recover succeeded times", recoverSucceededAtSQL, merchantID)
}

// recoverSucceededAtSQL is RecoverSucceededAt's statement (its plan is
// tested).
const recoverSucceededAtSQL = `UPDATE refunds SET succeeded_at = COALESCE((SELECT t.at FROM refund_transitions t
	WHERE t.refund_id = refunds.id AND t.to_status = 'succeeded' ORDER BY t.id DESC LIMIT 1), updated_at), version = version + 1
	WHERE merchant_id = ? AND succeeded_at IS NULL AND status IN ('succeeded', 'reversed')`
