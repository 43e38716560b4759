package sqlite

import (
	"context"
	"database/sql"

	"github.com/refundd/refundd/refund"
)

func (t *tx) Stats(ctx context.Context) (*refund.Stats, error) {
	st := &refund.Stats{}
	rows, err := t.q.QueryContext(ctx, `SELECT surface, status, failure_code, currency, count(*), sum(amount)
		FROM refunds GROUP BY surface, status, failure_code, currency ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return nil, wrap("stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c refund.RefundCount
		if err := rows.Scan(&c.Surface, &c.Status, &c.FailureCode, &c.Currency, &c.Count, &c.Amount); err != nil {
			return nil, wrap("stats", err)
		}
		st.Refunds = append(st.Refunds, c)
		switch c.Status {
		case refund.StatusPending:
			st.Pending += int(c.Count)
		case refund.StatusProcessing:
			st.Processing += int(c.Count)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("stats", err)
	}
	var oldest sql.NullInt64
	if err := t.q.QueryRowContext(ctx, `SELECT min(created_at) FROM refunds WHERE status = 'processing'`).Scan(&oldest); err != nil {
		return nil, wrap("stats", err)
	}
	if oldest.Valid {
		st.Oldest = fromNanos(oldest.Int64)
	}
	drows, err := t.q.QueryContext(ctx, `SELECT status, count(*) FROM webhook_deliveries GROUP BY status ORDER BY 1`)
	if err != nil {
		return nil, wrap("stats", err)
	}
	defer drows.Close()
	for drows.Next() {
		var c refund.DeliveryCount
		if err := drows.Scan(&c.Status, &c.Count); err != nil {
			return nil, wrap("stats", err)
		}
		st.Deliveries = append(st.Deliveries, c)
	}
	return st, wrapErr("stats", drows.Err())
}
