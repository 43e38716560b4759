package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// Stats counts refunds and deliveries for the whole installation. The
// three aggregates go in one round trip; inside View they share one
// snapshot.
func (t *tx) Stats(ctx context.Context) (*refund.Stats, error) {
	st := &refund.Stats{}
	b := &pgx.Batch{}
	// COLLATE "C" sorts the groups in byte order, as SQLite does; the
	// amounts' sum is capped at the largest int64 (sumAmount).
	b.Queue(`SELECT surface, status, failure_code, currency, count(*), ` + sumAmount + `
		FROM refunds GROUP BY surface, status, failure_code, currency
		ORDER BY surface COLLATE "C", status COLLATE "C", failure_code COLLATE "C", currency COLLATE "C"`).Query(func(rows pgx.Rows) error {
		var err error
		st.Refunds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (refund.RefundCount, error) {
			var c refund.RefundCount
			var status string
			err := r.Scan(&c.Surface, &status, &c.FailureCode, &c.Currency, &c.Count, &c.Amount)
			c.Status = refund.Status(status)
			return c, err
		})
		return err
	})
	b.Queue(`SELECT min(created_at) FROM refunds WHERE status = 'processing'`).QueryRow(func(row pgx.Row) error {
		var oldest *time.Time
		if err := row.Scan(&oldest); err != nil {
			return err
		}
		if oldest != nil {
			st.Oldest = *oldest
		}
		return nil
	})
	b.Queue(`SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'`).QueryRow(func(row pgx.Row) error {
		var due *time.Time // through the due index: a pending delivery's least next_attempt_at
		if err := row.Scan(&due); err != nil {
			return err
		}
		if due != nil {
			st.FirstDue = *due
		}
		return nil
	})
	b.Queue(`SELECT status, count(*) FROM webhook_deliveries GROUP BY status ORDER BY status COLLATE "C"`).Query(func(rows pgx.Rows) error {
		var err error
		st.Deliveries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (refund.DeliveryCount, error) {
			var c refund.DeliveryCount
			var status string
			err := r.Scan(&status, &c.Count)
			c.Status = refund.DeliveryStatus(status)
			return c, err
		})
		return err
	})
	if err := t.q.SendBatch(ctx, b).Close(); err != nil {
		return nil, t.fail("stats", err)
	}
	for _, c := range st.Refunds {
		switch c.Status {
		case refund.StatusPending:
			st.Pending += int(c.Count)
		case refund.StatusProcessing:
			st.Processing += int(c.Count)
		}
	}
	return st, nil
}
