-- 0008_order_adjustments: voids and chargebacks reduce what an order can
-- refund under the same guard as refunds:
--   refunded + pending + voided + charged_back <= captured.
-- Each is kept as an adjustment, idempotent by the processor's reference.

ALTER TABLE orders ADD COLUMN charged_back_amount INTEGER NOT NULL DEFAULT 0;

-- The guarded updates keep the invariant; the trigger makes any write
-- that would break it fail, as the CHECK on PostgreSQL does (SQLite cannot
-- add a CHECK to an existing table).
CREATE TRIGGER orders_within_capture BEFORE UPDATE ON orders
WHEN NEW.charged_back_amount < 0
  OR NEW.refunded_amount + NEW.pending_refund_amount + NEW.voided_amount + NEW.charged_back_amount > NEW.captured_amount
BEGIN
    SELECT RAISE(ABORT, 'order refunds, voids and chargebacks exceed the captured amount');
END;

CREATE TABLE order_adjustments (
    id                  TEXT PRIMARY KEY,
    merchant_id         TEXT NOT NULL REFERENCES merchants (id),
    order_id            TEXT NOT NULL REFERENCES orders (id),
    kind                TEXT NOT NULL CHECK (kind IN ('void', 'chargeback')),
    amount              INTEGER NOT NULL CHECK (amount > 0),
    applied_amount      INTEGER NOT NULL CHECK (applied_amount >= 0 AND applied_amount <= amount),
    currency            TEXT NOT NULL,
    reason              TEXT NOT NULL DEFAULT '',
    processor_reference TEXT NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX order_adjustments_reference ON order_adjustments (order_id, kind, processor_reference)
    WHERE processor_reference <> '';
CREATE INDEX order_adjustments_order ON order_adjustments (order_id, id);
