package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// InsertDiscrepancy records d unless its refund already has one of that
// kind (the partial unique index), and reports whether it inserted.
func (t *tx) InsertDiscrepancy(ctx context.Context, d *refund.Discrepancy) (bool, error) {
	n, err := t.exec(ctx, "insert discrepancy", `INSERT INTO discrepancies (id, merchant_id, kind, refund_id, order_id,
		amount, currency, detail, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		d.ID, d.MerchantID, d.Kind, d.RefundID, d.OrderID, d.Amount, d.Currency, d.Detail, d.Reference, d.CreatedAt)
	return n == 1, err
}

// ReduceDiscrepancy takes by off a discrepancy about reference and
// returns it as it is now.
func (t *tx) ReduceDiscrepancy(ctx context.Context, merchantID, kind, reference string, by int64, detail string) (*refund.Discrepancy, error) {
	d, err := scanDiscrepancy(t.q.QueryRow(ctx, `UPDATE discrepancies SET amount = amount - $1, detail = $2
		WHERE merchant_id = $3 AND kind = $4 AND reference = $5 AND reference <> '' AND $1 > 0 AND amount >= $1
		RETURNING `+discrepancySelect, by, detail, merchantID, kind, reference))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no %s discrepancy about %s with %d left", kind, reference, by)
	}
	if err != nil {
		return nil, t.fail("reduce discrepancy", err)
	}
	return d, nil
}

// discrepancySelect is the columns scanDiscrepancy reads.
const discrepancySelect = `id, merchant_id, kind, refund_id, order_id, amount, currency, detail, reference, created_at,
	resolved_at, resolved_by, resolution`

func scanDiscrepancy(s scanner) (*refund.Discrepancy, error) {
	var d refund.Discrepancy
	err := s.Scan(&d.ID, &d.MerchantID, &d.Kind, &d.RefundID, &d.OrderID, &d.Amount, &d.Currency, &d.Detail, &d.Reference, &d.CreatedAt,
		&d.ResolvedAt, &d.ResolvedBy, &d.Resolution)
	d.CreatedAt = d.CreatedAt.UTC()
	if d.ResolvedAt != nil {
		at := d.ResolvedAt.UTC()
		d.ResolvedAt = &at
	}
	return &d, err
}

// ListDiscrepancies returns a merchant's discrepancies newest first.
func (t *tx) ListDiscrepancies(ctx context.Context, f refund.DiscrepancyFilter) ([]*refund.Discrepancy, error) {
	var p params
	conds := []string{"merchant_id = " + p.add(f.MerchantID)}
	if f.Kind != "" {
		conds = append(conds, "kind = "+p.add(f.Kind))
	}
	if f.RefundID != "" {
		conds = append(conds, "refund_id = "+p.add(f.RefundID))
	}
	switch f.Status {
	case refund.DiscrepancyOpen:
		conds = append(conds, "resolved_at IS NULL")
	case refund.DiscrepancyResolved:
		conds = append(conds, "resolved_at IS NOT NULL")
	}
	if f.Cursor != "" {
		conds = append(conds, "id < "+p.add(f.Cursor))
	}
	return queryAll(ctx, t, "list discrepancies", `SELECT `+discrepancySelect+` FROM discrepancies
		WHERE `+strings.Join(conds, " AND ")+` ORDER BY id DESC LIMIT `+p.add(f.Limit), scanDiscrepancy, p...)
}

// GetDiscrepancy returns the merchant's discrepancy id, its row locked
// inside Update so that a concurrent resolution waits for this one.
func (t *tx) GetDiscrepancy(ctx context.Context, merchantID, id string) (*refund.Discrepancy, error) {
	d, err := scanDiscrepancy(t.q.QueryRow(ctx, `SELECT `+discrepancySelect+` FROM discrepancies
		WHERE id = $1 AND merchant_id = $2`+t.forUpdate(), id, merchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EDiscrepancyNotFound, "", "discrepancy %q not found", id)
	}
	if err != nil {
		return nil, t.fail("get discrepancy", err)
	}
	return d, nil
}

// ResolveDiscrepancy records d's resolution while it is open.
func (t *tx) ResolveDiscrepancy(ctx context.Context, d *refund.Discrepancy) error {
	n, err := t.exec(ctx, "resolve discrepancy", `UPDATE discrepancies SET resolved_at = $1, resolved_by = $2, resolution = $3
		WHERE id = $4 AND merchant_id = $5 AND resolved_at IS NULL`, d.ResolvedAt, d.ResolvedBy, d.Resolution, d.ID, d.MerchantID)
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
	if err := t.q.QueryRow(ctx, `SELECT count(*) FROM discrepancies WHERE resolved_at IS NULL`).Scan(&n); err != nil {
		return 0, t.fail("count discrepancies", err)
	}
	return n, nil
}

// RecordReport records a reconciled report and the refunds it listed,
// replacing a report of the same merchant, account and days. The report's
// row first: it locks the key, so that a second run of the same report
// waits for the first before its DELETE, which then sees what the first
// listed (under READ COMMITTED a DELETE run first would not). The refunds
// go in id order (RefundIDs is sorted), so that two runs take their rows'
// locks in one order.
func (t *tx) RecordReport(ctx context.Context, r *refund.SettlementReport) error {
	if _, err := t.exec(ctx, "record report", `INSERT INTO settlement_reports (merchant_id, processor_account, covers_from, day,
		reconciled_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, processor_account, covers_from, day) DO UPDATE
		SET reconciled_at = EXCLUDED.reconciled_at`, r.MerchantID, r.ProcessorAccount, r.From, r.Day, r.ReconciledAt); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "record report", `DELETE FROM reported_refunds
		WHERE merchant_id = $1 AND processor_account = $2 AND report_from = $3 AND report_day = $4`,
		r.MerchantID, r.ProcessorAccount, r.From, r.Day); err != nil {
		return err
	}
	if len(r.RefundIDs) == 0 {
		return nil
	}
	_, err := t.exec(ctx, "record report", `INSERT INTO reported_refunds (merchant_id, processor_account, report_from, report_day, refund_id)
		SELECT $1, $2, $3, $4, id FROM unnest($5::text[]) AS id ON CONFLICT DO NOTHING`,
		r.MerchantID, r.ProcessorAccount, r.From, r.Day, r.RefundIDs)
	return err
}

// ReportCoverage returns what the account's reports cover around the
// days [from, to]: one pass over its reports, a row a day.
func (t *tx) ReportCoverage(ctx context.Context, merchantID, processorAccount string, from, to time.Time) (refund.ReportCoverage, error) {
	var first, before, after *time.Time
	if err := t.q.QueryRow(ctx, `SELECT min(covers_from), max(day) FILTER (WHERE covers_from < $3),
		min(covers_from) FILTER (WHERE day > $4) FROM settlement_reports WHERE merchant_id = $1 AND processor_account = $2`,
		merchantID, processorAccount, from, to).Scan(&first, &before, &after); err != nil {
		return refund.ReportCoverage{}, t.fail("read reports", err)
	}
	day := func(v *time.Time) time.Time {
		if v == nil {
			return time.Time{}
		}
		return v.UTC()
	}
	return refund.ReportCoverage{First: day(first), Before: day(before), After: day(after)}, nil
}

// ListedByOtherReports returns those of refundIDs that a report other
// than r listed.
func (t *tx) ListedByOtherReports(ctx context.Context, r *refund.SettlementReport, refundIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(refundIDs) == 0 {
		return out, nil
	}
	ids, err := queryAll(ctx, t, "read reported", `SELECT DISTINCT refund_id FROM reported_refunds
		WHERE refund_id = ANY($2::text[]) AND merchant_id = $1
		AND NOT (processor_account = $3 AND report_from = $4 AND report_day = $5)`,
		func(s scanner) (string, error) {
			var id string
			return id, s.Scan(&id)
		}, r.MerchantID, refundIDs, r.ProcessorAccount, r.From, r.Day)
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

// Now is the database server's clock: one clock for every node.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, hide(wrap("read the clock", err))
	}
	return now.UTC(), nil
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
	query, args := `SELECT `+refundSelect+` FROM refunds WHERE merchant_id = $1 AND `+field+` = $2 AND `+field+` <> ''`, []any{merchantID, value}
	if processorAccount != "" {
		query, args = query+` AND order_id IN (SELECT id FROM orders WHERE processor_account = $4 AND processor_account <> '')`, append(args, limit, processorAccount)
	} else {
		args = append(args, limit)
	}
	return queryAll(ctx, t, "find refunds", query+` ORDER BY id LIMIT $3`, scanRefund, args...)
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
const recoverSucceededAtSQL = `UPDATE refunds r SET succeeded_at = COALESCE((SELECT t.at FROM refund_transitions t
	WHERE t.refund_id = r.id AND t.to_status = 'succeeded' ORDER BY t.id DESC LIMIT 1), r.updated_at), version = r.version + 1
	WHERE r.merchant_id = $1 AND r.succeeded_at IS NULL AND r.status IN ('succeeded', 'reversed')`
