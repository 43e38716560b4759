-- 0008_order_adjustments: the PostgreSQL twin of
-- store/sqlite/migrations/0008_order_adjustments.sql.

ALTER TABLE orders ADD COLUMN charged_back_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD CONSTRAINT orders_within_capture CHECK (charged_back_amount >= 0
    AND refunded_amount + pending_refund_amount + voided_amount + charged_back_amount <= captured_amount);

CREATE TABLE order_adjustments (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    merchant_id         TEXT COLLATE "C" NOT NULL REFERENCES merchants (id),
    order_id            TEXT COLLATE "C" NOT NULL REFERENCES orders (id),
    kind                TEXT NOT NULL CHECK (kind IN ('void', 'chargeback')),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    applied_amount      BIGINT NOT NULL CHECK (applied_amount >= 0 AND applied_amount <= amount),
    currency            TEXT NOT NULL,
    reason              TEXT NOT NULL DEFAULT '',
    processor_reference TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX order_adjustments_reference ON order_adjustments (order_id, kind, processor_reference)
    WHERE processor_reference <> '';
CREATE INDEX order_adjustments_order ON order_adjustments (order_id, id);
