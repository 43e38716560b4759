-- 0037_discrepancy_per_payment: a discrepancy about a refund is kept once
-- per refund and kind, except one that names a reference: a report that
-- lists a refund paid again is a payment of its own, kept once per refund,
-- kind and reference (the refund, the report's days, which payment), so a
-- second payment is listed even when the refund was listed before, and the
-- same report reconciled again records nothing new. No discrepancy of a
-- refund named a reference before.
DROP INDEX discrepancies_refund_kind;
CREATE UNIQUE INDEX discrepancies_refund_kind ON discrepancies (refund_id, kind) WHERE refund_id <> '' AND reference = '';
CREATE UNIQUE INDEX discrepancies_refund_reference ON discrepancies (refund_id, kind, reference) WHERE refund_id <> '' AND reference <> '';
