-- 0022_succeeded_at (PostgreSQL twin of the SQLite file): when each
-- refund became succeeded. Reconciliation asks which refunds succeeded in
-- a report's days: a processor lists a refund by the day it ran, and one
-- approved or retried days after it was made runs on a later
-- day than its creation. The index also keeps that question to the
-- report's days, where filtering by creation walked every refund the
-- merchant ever made.
ALTER TABLE refunds ADD COLUMN succeeded_at TIMESTAMPTZ; -- NULL until it succeeds

-- Refunds that succeeded before this migration: their last move to
-- succeeded, from the transitions every status change records.
UPDATE refunds r SET succeeded_at = t.at
FROM (SELECT DISTINCT ON (refund_id) refund_id, at FROM refund_transitions
      WHERE to_status = 'succeeded' ORDER BY refund_id, id DESC) t
WHERE t.refund_id = r.id;

-- Reconciliation pages through one merchant's refunds that succeeded in
-- a report's days in this index's order (a keyset on succeeded_at, id).
CREATE INDEX refunds_succeeded ON refunds (merchant_id, succeeded_at, id) WHERE succeeded_at IS NOT NULL;
