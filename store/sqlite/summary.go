package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/refundd/refundd/refund"
)

const nanosPerDay = int64(24 * time.Hour)

// RefundSummary groups the merchant's refunds since since by local day,
// status, currency and failure code, and counts its open refunds.
func (t *tx) RefundSummary(ctx context.Context, merchantID string, since time.Time, offset time.Duration) (*refund.RefundSummary, error) {
	sum := &refund.RefundSummary{Open: map[refund.Status]int64{}}
	rows, err := t.q.QueryContext(ctx, `SELECT ((created_at + ?1) / ?2) * ?2 - ?1, status, currency, failure_code, count(*), `+sumAmount+`
		FROM refunds WHERE merchant_id = ?3 AND created_at >= ?4 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
		int64(offset), nanosPerDay, merchantID, nanos(since))
	if err != nil {
		return nil, wrap("refund summary", err)
	}
	for rows.Next() {
		var b refund.SummaryBucket
		var day, hi, lo int64
		if err := rows.Scan(&day, &b.Status, &b.Currency, &b.FailureCode, &b.Count, &hi, &lo); err != nil {
			rows.Close()
			return nil, wrap("refund summary", err)
		}
		b.Amount = joinSum(hi, lo)
		b.Day = fromNanos(day)
		sum.Buckets = append(sum.Buckets, b)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, wrap("refund summary", err)
	}
	open, err := t.q.QueryContext(ctx, `SELECT status, count(*) FROM refunds WHERE merchant_id = ?
		AND status IN ('requires_approval', 'pending', 'processing', 'requires_review') GROUP BY status`, merchantID)
	if err != nil {
		return nil, wrap("refund summary", err)
	}
	for open.Next() {
		var st refund.Status
		var n int64
		if err := open.Scan(&st, &n); err != nil {
			open.Close()
			return nil, wrap("refund summary", err)
		}
		sum.Open[st] = n
	}
	err = open.Err()
	open.Close()
	if err != nil {
		return nil, wrap("refund summary", err)
	}
	var created int64
	err = t.q.QueryRowContext(ctx, `SELECT id, created_at FROM refunds WHERE merchant_id = ?
		AND status IN ('pending', 'processing', 'requires_review') ORDER BY created_at, id LIMIT 1`, merchantID).Scan(&sum.OldestID, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, wrap("refund summary", err)
	default:
		sum.OldestOpen = fromNanos(created)
	}
	return sum, nil
}
