package sqlite

import (
	"context"
	"database/sql"
	"math"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// sumAmount sums the amount column in two halves, its high and low 32
// bits: SQLite's sum() fails with "integer overflow" past an int64, and
// refunds of a few orders of the largest amount would then fail every
// scrape of /metrics (or a merchant's overview). joinSum puts it together.
const sumAmount = `sum(amount >> 32), sum(amount & 4294967295)`

// joinSum is the sum of sumAmount's halves, capped at the largest int64
// as money.AddCapped caps a shown total.
func joinSum(hi, lo int64) int64 {
	if hi >= 1<<31 {
		return math.MaxInt64
	}
	return money.AddCapped(hi<<32, lo)
}

func (t *tx) Stats(ctx context.Context) (*refund.Stats, error) {
	st := &refund.Stats{}
	rows, err := t.q.QueryContext(ctx, `SELECT surface, status, failure_code, currency, count(*), `+sumAmount+`
		FROM refunds GROUP BY surface, status, failure_code, currency ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return nil, wrap("stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c refund.RefundCount
		var hi, lo int64
		if err := rows.Scan(&c.Surface, &c.Status, &c.FailureCode, &c.Currency, &c.Count, &hi, &lo); err != nil {
			return nil, wrap("stats", err)
		}
		c.Amount = joinSum(hi, lo)
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
	var due sql.NullInt64 // through the due index: a pending delivery's least next_attempt_at
	if err := t.q.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&due); err != nil {
		return nil, wrap("stats", err)
	}
	if due.Valid {
		st.FirstDue = fromNanos(due.Int64)
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
