-- 0037_discrepancy_per_payment: the PostgreSQL twin of
-- store/sqlite/migrations/0037_discrepancy_per_payment.sql. A refund's
-- discrepancy that names a reference (a payment a report lists again) is
-- kept once per refund, kind and reference; the others once per refund
-- and kind, as before.
DROP INDEX discrepancies_refund_kind;
CREATE UNIQUE INDEX discrepancies_refund_kind ON discrepancies (refund_id, kind) WHERE refund_id <> '' AND reference = '';
CREATE UNIQUE INDEX discrepancies_refund_reference ON discrepancies (refund_id, kind, reference) WHERE refund_id <> '' AND reference <> '';
