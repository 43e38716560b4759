-- 0011_credit_notes: every refund of an invoiced order gets a credit note,
-- and a reversed refund a debit note (type 'debit', its parent the credit
-- note). Lines are split by ZATCA's rule (VAT = net x rate), so a document's
-- total may differ from net + VAT by its rounding amount: those CHECKs go
-- (a line's rounding stays within two units).
-- Shipping keeps its own net and VAT, as a credit of part of it must.
-- ZATCA reporting becomes a queue: pending documents carry their attempts
-- and when the next one is due; 'rejected' is now 'failed'. Every new
-- document is chained per merchant (ZATCA phase 2): counter value, previous
-- hash, hash and signature.

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
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_zatca_status_check;
UPDATE invoices SET zatca_status = 'failed' WHERE zatca_status = 'rejected';
ALTER TABLE invoices ADD CONSTRAINT invoices_zatca_status_check CHECK (zatca_status IN ('not_submitted', 'pending', 'reported', 'failed', 'aborted'));
ALTER TABLE invoices ADD COLUMN zatca_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN zatca_next_at TIMESTAMPTZ; -- pending documents: when the reporting queue tries next
CREATE INDEX invoices_zatca_due ON invoices (zatca_next_at) WHERE zatca_status = 'pending';
ALTER TABLE invoices ADD COLUMN icv BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN previous_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN hash TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN signature TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN public_key TEXT NOT NULL DEFAULT '';

-- Each merchant's document chain: the last counter value and hash, advanced
-- in the transaction that issues a document.
CREATE TABLE invoice_chains (
    merchant_id TEXT COLLATE "C" PRIMARY KEY REFERENCES merchants (id),
    counter     BIGINT NOT NULL,
    last_hash   TEXT NOT NULL
);
