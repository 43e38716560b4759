-- 0007_review: the PostgreSQL twin of store/sqlite/migrations/0007_review.sql
-- (requires_review, discrepancies, merchant references per surface,
-- idempotency keys that store their first answer).

ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check
    CHECK (status IN ('pending', 'processing', 'requires_review', 'succeeded', 'failed', 'canceled', 'reversed'));
-- The worker also polls refunds waiting for review.
DROP INDEX refunds_due;
CREATE INDEX refunds_due ON refunds (next_attempt_at, id) WHERE status IN ('pending', 'processing', 'requires_review');
DROP INDEX refunds_merchant_reference;
CREATE UNIQUE INDEX refunds_merchant_reference ON refunds (merchant_id, surface, merchant_reference) WHERE merchant_reference <> '';

CREATE TABLE discrepancies (
    id          TEXT COLLATE "C" PRIMARY KEY,
    merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (id),
    kind        TEXT NOT NULL,
    refund_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
    order_id    TEXT COLLATE "C" NOT NULL DEFAULT '',
    amount      BIGINT NOT NULL DEFAULT 0,
    currency    TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX discrepancies_refund_kind ON discrepancies (refund_id, kind) WHERE refund_id <> '';
CREATE INDEX discrepancies_merchant ON discrepancies (merchant_id, id);

ALTER TABLE idempotency_keys RENAME COLUMN refund_id TO object_id;
ALTER TABLE idempotency_keys ADD COLUMN reply_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idempotency_keys ADD COLUMN reply_type TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN reply_body BYTEA;
