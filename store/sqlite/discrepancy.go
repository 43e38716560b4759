package sqlite

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
		amount, currency, detail, reference, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		d.ID, d.MerchantID, d.Kind, d.RefundID, d.OrderID, d.Amount, d.Currency, d.Detail, d.Reference, nanos(d.CreatedAt))
	return n == 1, err
}

// ListDiscrepancies returns a merchant's discrepancies newest first.
func (t *tx) ListDiscrepancies(ctx context.Context, f refund.DiscrepancyFilter) ([]*refund.Discrepancy, error) {
	conds, args := []string{"merchant_id = ?"}, []any{f.MerchantID}
	if f.Kind != "" {
		conds, args = append(conds, "kind = ?"), append(args, f.Kind)
	}
	if f.Cursor != "" {
		conds, args = append(conds, "id < ?"), append(args, f.Cursor)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT id, merchant_id, kind, refund_id, order_id, amount, currency, detail, reference, created_at
		FROM discrepancies WHERE `+strings.Join(conds, " AND ")+` ORDER BY id DESC`+limitSQL(f.Limit, 0), args...)
	if err != nil {
		return nil, wrap("list discrepancies", err)
	}
	defer rows.Close()
	var out []*refund.Discrepancy
	for rows.Next() {
		var d refund.Discrepancy
		var created int64
		if err := rows.Scan(&d.ID, &d.MerchantID, &d.Kind, &d.RefundID, &d.OrderID, &d.Amount, &d.Currency, &d.Detail, &d.Reference, &created); err != nil {
			return nil, wrap("list discrepancies", err)
		}
		d.CreatedAt = fromNanos(created)
		out = append(out, &d)
	}
	return out, wrapErr("list discrepancies", rows.Err())
}

// CountDiscrepancies counts every discrepancy.
func (t *tx) CountDiscrepancies(ctx context.Context) (int64, error) {
	var n int64
	err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM discrepancies`).Scan(&n)
	return n, wrapErr("count discrepancies", err)
}

// MarkReported records the day of the report that listed each refund,
// keeping the earliest.
func (t *tx) MarkReported(ctx context.Context, merchantID string, days map[string]time.Time) error {
	for _, id := range slices.Sorted(maps.Keys(days)) {
		if _, err := t.exec(ctx, "mark reported", `INSERT INTO reported_refunds (refund_id, merchant_id, reported_on)
			VALUES (?, ?, ?) ON CONFLICT (refund_id) DO UPDATE SET reported_on = excluded.reported_on
			WHERE excluded.reported_on < reported_on`, id, merchantID, nanos(days[id])); err != nil {
			return err
		}
	}
	return nil
}

// ReportedBefore returns those of refundIDs that a report of a day before
// day listed, asking for a few hundred at a time (SQLite bounds a
// statement's parameters).
func (t *tx) ReportedBefore(ctx context.Context, merchantID string, refundIDs []string, day time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	for chunk := range slices.Chunk(refundIDs, 500) {
		args := []any{merchantID, nanos(day)}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := t.q.QueryContext(ctx, `SELECT refund_id FROM reported_refunds WHERE merchant_id = ? AND reported_on < ?
			AND refund_id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
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

// FindRefund finds a merchant's refund by its ARN or RRN (field "arn" or
// "rrn"), as a processor's report names it. ERefundNotFound.
func (t *tx) FindRefund(ctx context.Context, merchantID, field, value string) (*refund.Refund, error) {
	if (field != "arn" && field != "rrn") || value == "" {
		return nil, refund.Errorf(refund.ERefundNotFound, "", "refund not found")
	}
	return t.getRefund(ctx, `SELECT `+refundSelect+` FROM refunds WHERE merchant_id = ? AND `+field+` = ? ORDER BY id LIMIT 1`,
		[]any{merchantID, value}, value)
}
