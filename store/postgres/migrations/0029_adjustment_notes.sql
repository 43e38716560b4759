-- 0029_adjustment_notes: the PostgreSQL twin of
-- store/sqlite/migrations/0029_adjustment_notes.sql. A void or chargeback
-- of an invoiced order gets a credit note, as a refund does; such a note
-- belongs to no refund, and adjustment_id names the void or chargeback
-- (order_adjustments.id) it is for ('' for every other document). A
-- chargeback applied in parts has a note per part: not unique. Nothing
-- looks notes up by it (they are read by order or by id): no index.
ALTER TABLE invoices ADD COLUMN adjustment_id TEXT NOT NULL DEFAULT '';
