-- 0009_sweeps: the PostgreSQL twin of store/sqlite/migrations/0009_sweeps.sql.
ALTER TABLE refunds ADD COLUMN sweeps_left INTEGER NOT NULL DEFAULT 0;
-- The worker's claim now also takes succeeded refunds with a look to come.
DROP INDEX refunds_due;
CREATE INDEX refunds_due ON refunds (next_attempt_at, id)
    WHERE status IN ('pending', 'processing', 'requires_review') OR sweeps_left > 0;
