-- 0012_approvals: the PostgreSQL twin of store/sqlite/migrations/0012_approvals.sql
-- (requires_approval, refunds.created_by, refund_policies).

ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check
    CHECK (status IN ('requires_approval', 'pending', 'processing', 'requires_review', 'succeeded', 'failed', 'canceled', 'reversed'));
ALTER TABLE refunds ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
-- The worker also expires approvals that waited too long.
DROP INDEX refunds_due;
CREATE INDEX refunds_due ON refunds (next_attempt_at, id)
    WHERE status IN ('requires_approval', 'pending', 'processing', 'requires_review') OR sweeps_left > 0;

CREATE TABLE refund_policies (
    merchant_id        TEXT COLLATE "C" PRIMARY KEY REFERENCES merchants (id),
    approval_threshold JSONB NOT NULL DEFAULT '{}',
    older_than_days    INTEGER NOT NULL DEFAULT 0,
    approval_expiry_s  BIGINT NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
