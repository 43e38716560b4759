-- 0011_credit_notes: every refund of an invoiced order gets a credit note,
-- and a reversed refund a debit note (type 'debit', its parent the credit
-- note). Lines are split by ZATCA's rule (VAT = net x rate), so a document's
-- total may differ from net + VAT by its rounding amount: those CHECKs go
-- (a line's rounding stays within two units).
-- Shipping keeps its own net and VAT, as a credit of part of it must.

ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_type_check;
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_check;
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_check1;
ALTER TABLE invoices ADD CONSTRAINT invoices_type_check CHECK (type IN ('invoice', 'refund', 'debit'));
ALTER TABLE invoices ADD CONSTRAINT invoices_parent_check CHECK ((type IN ('refund', 'debit')) = (parent_id IS NOT NULL));
ALTER TABLE invoices ADD COLUMN shipping_excluding_tax BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN shipping_tax_amount BIGINT NOT NULL DEFAULT 0;
DROP INDEX invoices_refund;
CREATE UNIQUE INDEX invoices_refund ON invoices (refund_id, type) WHERE refund_id <> ''; -- one credit note, and one debit note, per refund
ALTER TABLE invoice_lines DROP CONSTRAINT IF EXISTS invoice_lines_check1;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_rounding_check CHECK (abs(net_amount - total_amount_excluding_tax - tax_amount) <= 2);
