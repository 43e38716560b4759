package postgres

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

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

// ListDiscrepancies returns a merchant's discrepancies newest first.
func (t *tx) ListDiscrepancies(ctx context.Context, f refund.DiscrepancyFilter) ([]*refund.Discrepancy, error) {
	var p params
	conds := []string{"merchant_id = " + p.add(f.MerchantID)}
	if f.Kind != "" {
		conds = append(conds, "kind = "+p.add(f.Kind))
	}
	if f.Cursor != "" {
		conds = append(conds, "id < "+p.add(f.Cursor))
	}
	return queryAll(ctx, t, "list discrepancies", `SELECT id, merchant_id, kind, refund_id, order_id, amount, currency,
		detail, reference, created_at FROM discrepancies WHERE `+strings.Join(conds, " AND ")+` ORDER BY id DESC LIMIT `+p.add(f.Limit),
		func(s scanner) (*refund.Discrepancy, error) {
			var d refund.Discrepancy
			err := s.Scan(&d.ID, &d.MerchantID, &d.Kind, &d.RefundID, &d.OrderID, &d.Amount, &d.Currency, &d.Detail, &d.Reference, &d.CreatedAt)
			d.CreatedAt = d.CreatedAt.UTC()
			return &d, err
		}, p...)
}

// CountDiscrepancies counts every discrepancy.
func (t *tx) CountDiscrepancies(ctx context.Context) (int64, error) {
	var n int64
	if err := t.q.QueryRow(ctx, `SELECT count(*) FROM discrepancies`).Scan(&n); err != nil {
		return 0, t.fail("count discrepancies", err)
	}
	return n, nil
}

// MarkReported records the day of the report that listed each refund,
// keeping the earliest. In id order, so that two reconciliations of one
// merchant take the rows' locks in one order; a day no earlier than the
// one kept writes nothing.
func (t *tx) MarkReported(ctx context.Context, merchantID string, days map[string]time.Time) error {
	if len(days) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(days))
	on := make([]time.Time, len(ids))
	for i, id := range ids {
		on[i] = days[id]
	}
	_, err := t.exec(ctx, "mark reported", `INSERT INTO reported_refunds AS r (refund_id, merchant_id, reported_on)
		SELECT id, $1, d FROM unnest($2::text[], $3::timestamptz[]) AS l (id, d) ORDER BY id
		ON CONFLICT (refund_id) DO UPDATE SET reported_on = EXCLUDED.reported_on WHERE EXCLUDED.reported_on < r.reported_on`,
		merchantID, ids, on)
	return err
}

// ReportedBefore returns those of refundIDs that a report of a day before
// day listed.
func (t *tx) ReportedBefore(ctx context.Context, merchantID string, refundIDs []string, day time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	if len(refundIDs) == 0 {
		return out, nil
	}
	ids, err := queryAll(ctx, t, "read reported", `SELECT refund_id FROM reported_refunds
		WHERE refund_id = ANY($2::text[]) AND merchant_id = $1 AND reported_on < $3`,
		func(s scanner) (string, error) {
			var id string
			return id, s.Scan(&id)
		}, merchantID, refundIDs, day)
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

// FindRefund finds a merchant's refund by its ARN or RRN (field "arn" or
// "rrn"), as a processor's report names it. ERefundNotFound.
func (t *tx) FindRefund(ctx context.Context, merchantID, field, value string) (*refund.Refund, error) {
	if (field != "arn" && field != "rrn") || value == "" {
		return nil, refund.Errorf(refund.ERefundNotFound, "", "refund not found")
	}
	return t.getRefund(ctx, `SELECT `+refundSelect+` FROM refunds WHERE merchant_id = $1 AND `+field+` = $2 ORDER BY id LIMIT 1`,
		[]any{merchantID, value}, value)
}
