package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// sumAmount is sum(amount) as an int64, capped at the largest one as
// money.AddCapped caps a shown total: sum() of a BIGINT is NUMERIC, and
// cast past an int64 it fails the query (every scrape of /metrics, a
// merchant's overview) for a few refunds of the largest orders.
const sumAmount = `LEAST(sum(amount), 9223372036854775807)::BIGINT`

// RefundSummary groups the merchant's refunds since since by local day,
// status, currency and failure code, and counts its open refunds.
func (t *tx) RefundSummary(ctx context.Context, merchantID string, since time.Time, offset time.Duration) (*refund.RefundSummary, error) {
	sum := &refund.RefundSummary{Open: map[refund.Status]int64{}}
	// The day is truncated in UTC after shifting by the zone's offset, so
	// the session's time zone plays no part.
	buckets, err := queryAll(ctx, t, "refund summary", `SELECT
		(date_trunc('day', (created_at AT TIME ZONE 'UTC') + make_interval(secs => $1)) - make_interval(secs => $1)) AT TIME ZONE 'UTC',
		status, currency, failure_code, count(*), `+sumAmount+`
		FROM refunds WHERE merchant_id = $2 AND created_at >= $3 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
		func(r scanner) (refund.SummaryBucket, error) {
			var b refund.SummaryBucket
			err := r.Scan(&b.Day, &b.Status, &b.Currency, &b.FailureCode, &b.Count, &b.Amount)
			return b, err
		}, offset.Seconds(), merchantID, since)
	if err != nil {
		return nil, err
	}
	sum.Buckets = buckets
	rows, err := t.q.Query(ctx, `SELECT status, count(*) FROM refunds WHERE merchant_id = $1
		AND status IN ('requires_approval', 'pending', 'processing', 'requires_review') GROUP BY status`, merchantID)
	if err != nil {
		return nil, t.fail("refund summary", err)
	}
	for rows.Next() {
		var st refund.Status
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, t.fail("refund summary", err)
		}
		sum.Open[st] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.fail("refund summary", err)
	}
	err = t.q.QueryRow(ctx, `SELECT id, created_at FROM refunds WHERE merchant_id = $1
		AND status IN ('pending', 'processing', 'requires_review') ORDER BY created_at, id LIMIT 1`, merchantID).Scan(&sum.OldestID, &sum.OldestOpen)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, t.fail("refund summary", err)
	}
	return sum, nil
}
