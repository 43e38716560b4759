-- 0029_adjustment_notes: a void or chargeback of an invoiced order reduces
-- the supply's consideration, which Saudi VAT documents with a credit note
-- as it does a refund's. Such a note belongs to no refund: adjustment_id
-- names the void or chargeback (order_adjustments.id) it is for ('' for
-- every other document). A chargeback applied in parts has a note per
-- part, so the column is not unique, and nothing looks notes up by it
-- (they are read by order or by id), so it has no index. store/postgres/migrations/0029 is
-- the same change in PostgreSQL types.
ALTER TABLE invoices ADD COLUMN adjustment_id TEXT NOT NULL DEFAULT '';
